import { durationMs } from '../spec/duration.js';
import type { WorkloadState } from '../cluster/types.js';
import type { Component } from '../spec/schema.js';
import type { Change, ComponentStep, StatefulSetPodStep, StepWorkload } from './plan-types.js';
import type { ResolvedComponent } from './resolve-components.js';

/**
 * The partition to leave when the roll is done: the user's own, as recorded (by an unfinished
 * run's checkpoint, else on the StatefulSet itself by the run that rolls it) or as found.
 */
export function userPartitionOf(state: WorkloadState, recorded: number | undefined): number {
  return Math.min(recorded ?? state.userPartition ?? state.partition, state.replicas);
}

/** Plan, apply and status say what happens to a partition the user set. */
export function partitionWarnings(component: Component, r: ResolvedComponent, steps: readonly ComponentStep[], recorded: number | undefined): string[] {
  const s = r.state;
  if (!s || r.workloadKind !== 'StatefulSet' || s.strategy === 'OnDelete' || steps.length === 0) return [];
  const out: string[] = [];
  const user = userPartitionOf(s, recorded);
  const found = recorded ?? s.userPartition;
  if (found !== undefined && found !== s.partition) {
    out.push(`${component.name}: StatefulSet/${s.name} has partition ${s.partition}, left by an unfinished run; the partition it found, ${user}, is the one kept`);
  }
  if (user > 0) {
    out.push(
      `${component.name}: StatefulSet/${s.name} has your updateStrategy.rollingUpdate.partition ${user}: every pod is upgraded (pods below the partition too, or the upgrade would not be done) and the partition is set back to ${user} at the end`,
    );
  }
  return out;
}

/**
 * The steps that roll one component; none when it already runs the target (and is settled).
 * `recordedPartition`: the user's partition as an unfinished run recorded it.
 */
export function componentSteps(component: Component, r: ResolvedComponent, recordedPartition?: number): ComponentStep[] {
  const object = `${r.workloadKind}/${r.workloadName}`;
  const base = {
    component: component.name,
    workload: { kind: r.workloadKind, name: r.workloadName, container: r.containerName, strategy: r.state?.strategy ?? 'RollingUpdate' } satisfies StepWorkload,
    image: r.targetImage,
    timeoutMs: durationMs(component.readyTimeout),
  };
  const needsImage = r.currentImage !== r.targetImage;
  const imageChange: Change = { object, field: `container ${r.containerName} image`, from: r.currentImage ?? null, to: r.targetImage };

  if (r.workloadKind === 'Deployment') {
    const s = r.state;
    const unfinished = s !== undefined && (s.observedGeneration < s.generation || s.updatedReplicas < s.replicas || s.availableReplicas < s.replicas);
    if (!needsImage && !unfinished) return [];
    return [
      {
        id: `deployment-rollout/${component.name}`,
        kind: 'deployment-rollout',
        title: needsImage ? `roll out ${object} to ${r.targetImage}` : `wait for the rollout of ${object} to finish`,
        ...base,
        changes: needsImage ? [imageChange] : [],
      },
    ];
  }

  // StatefulSet: partitioned rolling, highest ordinal first, one pod at a time.
  const s = r.state;
  // Offline, a StatefulSet already on the target image is assumed rolled.
  if (!s && !needsImage) return [];
  const onDelete = base.workload.strategy === 'OnDelete';
  // Every pod is rolled, also those below a partition the user set: an upgrade that leaves pods on
  // the old version is not done (and catalog migrations are forward-only). The user's partition
  // is set back once the last pod is done.
  const finalPartition = s && !onDelete ? userPartitionOf(s, recordedPartition) : 0;
  const steps: ComponentStep[] = [];
  if (needsImage) {
    const changes: Change[] = [imageChange];
    if (!onDelete) changes.push({ object, field: 'updateStrategy.rollingUpdate.partition', from: s?.partition ?? 0, to: r.replicas });
    steps.push({
      id: `statefulset-prepare/${component.name}`,
      kind: 'statefulset-prepare',
      title: onDelete ? `set the image of ${object} (OnDelete: no pod restarts yet)` : `hold every pod of ${object} (partition ${r.replicas}) and set the image`,
      ...base,
      changes,
      finalPartition,
    });
  }
  let partition = needsImage ? r.replicas : (s?.partition ?? 0);
  // Before the controller has seen the template (a patch just made, by someone or by a run that
  // died), status.updateRevision is still the old template's: no pod is judged done by it.
  const seen = s !== undefined && s.observedGeneration >= s.generation && s.updateRevision !== undefined;
  // A run that died after its last pod was Ready, before it set the user's partition back: the
  // record it put on the StatefulSet is still there. The last pod step does that part again.
  const restorePending = !onDelete && s?.userPartition !== undefined;
  for (let ordinal = r.replicas - 1; ordinal >= 0; ordinal--) {
    const pod = s?.pods.find((p) => p.ordinal === ordinal);
    const done = !needsImage && seen && pod !== undefined && pod.revision === s.updateRevision && pod.ready && !pod.deleting;
    const restoreOnly = done && ordinal === 0 && restorePending && steps.every((x) => x.kind !== 'statefulset-pod');
    if (done && !restoreOnly) {
      partition = Math.min(partition, ordinal);
      continue;
    }
    const podName = `${r.workloadName}-${ordinal}`;
    const changes: Change[] = [{ object: `Pod/${podName}`, field: 'image', from: needsImage ? (r.currentImage ?? null) : 'previous revision', to: r.targetImage }];
    if (!onDelete && partition > ordinal) changes.unshift({ object, field: 'updateStrategy.rollingUpdate.partition', from: partition, to: ordinal });
    if (restoreOnly) changes.splice(0, changes.length, ...(s.partition !== finalPartition ? [{ object, field: 'updateStrategy.rollingUpdate.partition', from: s.partition, to: finalPartition }] : []));
    const step: StatefulSetPodStep = {
      id: `statefulset-pod/${component.name}/${ordinal}`,
      kind: 'statefulset-pod',
      title: restoreOnly
        ? `set the partition of ${object} back to yours (${finalPartition}): every pod is updated, an earlier run did not finish`
        : onDelete
          ? `delete ${podName} and wait for it to return updated and Ready`
          : `update ${podName} and wait for it to be Ready`,
      ...base,
      ordinal,
      changes,
      finalPartition,
    };
    steps.push(step);
    partition = Math.min(partition, ordinal);
  }
  // The last pod step sets the user's partition back.
  const last = steps.at(-1);
  if (!onDelete && finalPartition > 0 && last?.kind === 'statefulset-pod' && last.changes.some((c) => c.field === 'image')) {
    steps[steps.length - 1] = { ...last, changes: [...last.changes, { object, field: 'updateStrategy.rollingUpdate.partition', from: last.ordinal, to: finalPartition }] };
  }
  return steps;
}

/** Pods a plan restarts: one per pod step, every replica of a Deployment whose image changes. */
export function podRestarts(steps: readonly ComponentStep[], resolved: ReadonlyMap<string, ResolvedComponent>): number {
  let restarts = 0;
  for (const step of steps) {
    if (step.kind === 'statefulset-pod') restarts += 1;
    if (step.kind === 'deployment-rollout' && step.changes.length > 0) restarts += resolved.get(step.component)?.replicas ?? 0;
  }
  return restarts;
}
