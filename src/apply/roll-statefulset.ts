import type { WorkloadPatch } from '../cluster/port.js';
import type { PodState, WorkloadState } from '../cluster/types.js';
import type { StatefulSetPodStep, StatefulSetPrepareStep } from '../plan/plan-types.js';
import { containerImage, currentWorkload, waitUntil, type StepContext } from './step-context.js';
import { STUCK_REASONS, StepFailure } from './step-failure.js';

/**
 * What statefulset-prepare sends: the image, and (RollingUpdate) the partition at replicas so that no
 * pod can be updated before the partition is in place, with the user's own partition recorded on
 * the StatefulSet (should the checkpoint be lost, the next run does not take the partition this one
 * leaves mid-roll for the user's). Undefined when the StatefulSet already has both. The executor
 * and the server dry run send the same patch.
 */
export function preparePatch(step: StatefulSetPrepareStep, before: WorkloadState): WorkloadPatch | undefined {
  const { workload, image } = step;
  const onDelete = workload.strategy === 'OnDelete';
  const needsImage = containerImage(before, workload.container) !== image;
  const needsHold = !onDelete && needsImage && before.partition < before.replicas;
  if (!needsImage && !needsHold) return undefined;
  return { image: { container: workload.container, image }, ...(onDelete ? {} : { partition: needsImage ? before.replicas : before.partition, userPartition: step.finalPartition }) };
}

/**
 * statefulset-prepare: hold every pod and set the image in one patch; then wait for the controller to
 * compute the update revision. OnDelete StatefulSets get the image only.
 */
export async function prepareStatefulSet(context: StepContext<StatefulSetPrepareStep>): Promise<string> {
  const { cluster, spec, step } = context;
  const ref = { kind: 'StatefulSet' as const, name: step.workload.name };
  const patch = preparePatch(step, await currentWorkload(context, ref));
  if (patch) await cluster.patchWorkload(spec.namespace, ref, patch);
  const after = await waitUntil(context, { kind: 'statefulsets', fieldSelector: `metadata.name=${ref.name}` }, async () => {
    const s = await currentWorkload(context, ref);
    // Judged on a read that shows the image: one older than the patch (a watch cache behind a direct
    // read, the patch of an earlier attempt) has a generation the controller saw long ago, and with
    // it the old template's revision.
    const revision = targetRevision(s, step.workload.container, step.image);
    if (revision !== undefined) return { done: true, status: `update revision ${revision}` };
    return { done: false, status: containerImage(s, step.workload.container) !== step.image ? `${s.name}: waiting to see image ${step.image} on it` : `${s.name}: waiting for the controller to see generation ${s.generation}` };
  });
  return step.workload.strategy === 'OnDelete' ? `${ref.name}: image set (${after.status})` : `${ref.name}: every pod held, image set (${after.status})`;
}

/**
 * The set's update revision when it is the target's: its template has the image and the
 * controller has seen that template (observedGeneration at its generation). Otherwise undefined:
 * right after the image patch, before the controller's next sync, status.updateRevision still
 * names the old template, which the old pods carry.
 */
export function targetRevision(set: WorkloadState, container: string, image: string): string | undefined {
  if (containerImage(set, container) !== image || set.observedGeneration < set.generation) return undefined;
  return set.updateRevision;
}

/** The controller is behind what this read of the set shows (no pod can be judged by its update revision yet). */
function notSeenYet(set: WorkloadState, container: string, image: string): string {
  return containerImage(set, container) !== image ? `${set.name}: waiting to see image ${image} on it` : `${set.name}: waiting for the controller to see generation ${set.generation}`;
}

/**
 * statefulset-pod: move the partition down to this pod (or delete it, OnDelete) and wait until it
 * runs the update revision and is Ready. A pod already there is not touched again. Pods are judged
 * by their controller-revision-hash label against status.updateRevision, not by the StatefulSet's
 * counters, which are wrong during partitioned updates (kubernetes/kubernetes#121397, #106055).
 */
export async function rollStatefulSetPod(context: StepContext<StatefulSetPodStep>): Promise<string> {
  const { cluster, spec, step } = context;
  const { workload, ordinal } = step;
  const podName = `${workload.name}-${ordinal}`;
  const ref = { kind: 'StatefulSet' as const, name: workload.name };
  const onDelete = workload.strategy === 'OnDelete';

  const s = await currentWorkload(context, ref, { podName });
  // From here on the StatefulSet and its pods come from watches the port keeps current: a step
  // costs the same at 10 replicas as at 1000, and the re-check below still sees what is true now.
  cluster.follow(spec.namespace, ref, s.selector);
  if (containerImage(s, workload.container) !== step.image) {
    throw new StepFailure(`StatefulSet ${s.name} no longer has image ${step.image} (now ${containerImage(s, workload.container)}): changed by someone else`);
  }
  // A pod is updated when it carries the target's revision (targetRevision): never a revision read
  // off a set whose controller has not seen the image yet.
  const updated = (p: PodState | undefined, set: WorkloadState) => {
    const revision = targetRevision(set, workload.container, step.image);
    return p !== undefined && revision !== undefined && p.revision === revision && !p.deleting;
  };
  const pod = s.pods.find((p) => p.ordinal === ordinal);

  if (!(updated(pod, s) && pod!.ready)) {
    // The order is ours to keep, not the StatefulSet controller's: every pod above this one must be
    // Ready on the update revision now (looked at again, not remembered from its own step) before
    // this one is let go.
    await waitUntil(context, { kind: 'pods', labelSelector: s.selector }, async () => {
      const current = await currentWorkload(context, ref);
      if (targetRevision(current, workload.container, step.image) === undefined) return { done: false, status: notSeenYet(current, workload.container, step.image) };
      const above = current.pods.filter((p) => p.ordinal !== undefined && p.ordinal > ordinal && p.ordinal < current.replicas).sort((a, b) => b.ordinal! - a.ordinal!);
      const missing = Array.from({ length: Math.max(0, current.replicas - ordinal - 1) }, (_, i) => current.replicas - 1 - i).find((o) => !above.some((p) => p.ordinal === o));
      if (missing !== undefined) return { done: false, status: `${workload.name}-${missing} (already updated) is missing; waiting for it before ${podName}` };
      const behind = above.find((p) => !(updated(p, current) && p.ready));
      if (!behind) return { done: true, status: 'every pod above is Ready on the update revision' };
      if (!updated(behind, current) && !behind.deleting && (onDelete || current.partition > behind.ordinal!)) {
        // Held: the controller never replaces it (the partition is above it; OnDelete and nobody
        // deletes it), so waiting cannot help. Its step is recorded done without being so (by an
        // earlier version that judged pods off a set its controller had not caught up with): what
        // that step does is done now, every pod above it being Ready on the update revision.
        if (onDelete) await cluster.deletePod(spec.namespace, behind.name);
        else await cluster.patchWorkload(spec.namespace, ref, { partition: behind.ordinal! });
        const what = onDelete ? 'deleted it' : `partition ${current.partition} held it; moved to ${behind.ordinal}`;
        context.emit({ type: 'warning', message: `${step.id}: ${behind.name} is not on the update revision although its step is recorded done (${what})`, at: context.clock.now() });
        return { done: false, status: `${behind.name} (released: ${what}) is not on the update revision yet; waiting for it before ${podName}` };
      }
      if (behind.waitingReason && STUCK_REASONS.has(behind.waitingReason)) {
        throw new StepFailure(`${behind.name}: ${behind.waitingReason}${behind.waitingMessage ? ` (${behind.waitingMessage})` : ''}; ${podName} is not updated until it is Ready`);
      }
      const why = !updated(behind, current) ? `not on the update revision${behind.deleting ? ' (terminating)' : ''}` : `not Ready${behind.waitingReason ? ` (${behind.waitingReason})` : ''}`;
      return { done: false, status: `${behind.name} (already updated) is ${why}; waiting for it before ${podName}` };
    });
    const before = await currentWorkload(context, ref, { podName });
    const again = before.pods.find((p) => p.ordinal === ordinal);
    if (onDelete) {
      if (again && !updated(again, before) && !again.deleting) await cluster.deletePod(spec.namespace, podName);
    } else if (before.partition > ordinal) {
      // The last pod's move to the user's own partition ends the roll's use of it: its record goes too.
      const ends = ordinal === step.finalPartition && before.userPartition !== undefined && isLastPodStep(context);
      await cluster.patchWorkload(spec.namespace, ref, { partition: ordinal, ...(ends ? { userPartition: null } : {}) });
    }
  }

  await waitUntil(context, { kind: 'pods', labelSelector: s.selector, fieldSelector: `metadata.name=${podName}` }, async () => {
    const current = await currentWorkload(context, ref, { podName });
    const p = current.pods.find((x) => x.ordinal === ordinal);
    if (targetRevision(current, workload.container, step.image) === undefined) return { done: false, status: notSeenYet(current, workload.container, step.image) };
    if (!p) return { done: false, status: `${podName}: not created yet` };
    if (updated(p, current) && p.ready) return { done: true, status: `${podName} Ready on revision ${current.updateRevision}` };
    if (p.revision === current.updateRevision && p.waitingReason && STUCK_REASONS.has(p.waitingReason)) {
      throw new StepFailure(`${podName}: ${p.waitingReason}${p.waitingMessage ? ` (${p.waitingMessage})` : ''}`);
    }
    if (!updated(p, current)) return { done: false, status: `${podName}: ${p.deleting ? 'terminating' : 'waiting to be replaced'} (revision ${p.revision ?? 'none'})` };
    return { done: false, status: `${podName}: not Ready${p.waitingReason ? ` (${p.waitingReason})` : ` (${p.phase})`}` };
  });

  // The last pod step of the roll sets the user's own partition back (finalPartition, normally 0)
  // and removes the record of it that statefulset-prepare put on the StatefulSet.
  if (!onDelete && isLastPodStep(context)) {
    const last = await currentWorkload(context, ref, { podName });
    if (last.partition !== step.finalPartition || last.userPartition !== undefined) {
      await cluster.patchWorkload(spec.namespace, ref, { partition: step.finalPartition, ...(last.userPartition !== undefined ? { userPartition: null } : {}) });
    }
  }
  return `${podName} updated and Ready`;
}

/** No pod step of this component with a lower ordinal is planned. */
function isLastPodStep(context: Pick<StepContext<StatefulSetPodStep>, 'step' | 'plan'>): boolean {
  const { step, plan } = context;
  return !plan.steps.some((x) => x.kind === 'statefulset-pod' && x.component === step.component && x.ordinal < step.ordinal);
}

/**
 * For a resumed run, before the last pod step of a StatefulSet is skipped as done: the pods it and
 * the steps before it rolled that are not on the target's revision now (each step's record says it
 * was), which means a record written by an earlier version that judged pods off a set whose
 * controller had not caught up with the image. Undefined when the record holds, or when the set
 * cannot say (not on the image, the controller behind: the final check looks again). The other
 * pod steps need no such look: the next pod step checks every pod above it (rollStatefulSetPod).
 */
export async function lastPodStepUndone(context: Pick<StepContext<StatefulSetPodStep>, 'cluster' | 'spec' | 'step' | 'plan'>): Promise<string | undefined> {
  const { cluster, spec, step } = context;
  if (!isLastPodStep(context)) return undefined;
  const s = await cluster.getWorkload(spec.namespace, { kind: 'StatefulSet', name: step.workload.name });
  const revision = s && targetRevision(s, step.workload.container, step.image);
  if (!s || revision === undefined) return undefined;
  const off = s.pods.filter((p) => p.ordinal !== undefined && p.ordinal >= step.ordinal && p.ordinal < s.replicas && p.revision !== revision && !p.deleting);
  return off.length ? `${off.map((p) => p.name).join(', ')} ${off.length === 1 ? 'is' : 'are'} not on the update revision ${revision}` : undefined;
}
