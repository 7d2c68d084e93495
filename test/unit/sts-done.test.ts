/**
 * A StatefulSet step is recorded done only on what the cluster shows: a pod step when its pod is
 * Ready on the update revision of the template that carries the target image, which the controller
 * has seen (observedGeneration at the generation of that template); statefulset-prepare when the
 * controller has seen the image. Right after the image patch, until the controller's next sync,
 * status.updateRevision still names the OLD template, which the old pods carry: judged by it, an old
 * pod looks updated.
 *
 * The fault-injection e2e run once ended with statefulset-pod/flow-snapshot-worker/2 recorded done,
 * no partition below 3 ever written and every pod on the old image (issue-14 notes, "seed 9"):
 * the steps below are how that checkpoint arises, each failing before the fix.
 */
import { describe, expect, it } from 'vitest';
import { applyUpgrade } from '../../src/apply/apply-upgrade.js';
import { CHECKPOINT_KEY, parseCheckpoint, serializeCheckpoint, type Checkpoint } from '../../src/apply/checkpoint.js';
import type { ApplyEvent } from '../../src/apply/events.js';
import { prepareStatefulSet, rollStatefulSetPod } from '../../src/apply/roll-statefulset.js';
import type { StepContext } from '../../src/apply/step-context.js';
import type { ClusterPort } from '../../src/cluster/port.js';
import type { WorkloadRef, WorkloadState } from '../../src/cluster/types.js';
import type { StatefulSetPodStep, StatefulSetPrepareStep, Step } from '../../src/plan/plan-types.js';
import { ExitCode } from '../../src/exit-code.js';
import { applyRequest, outcomeOf } from './fakes/apply-request.js';
import { MemoryCluster } from './fakes/memory-cluster.js';
import { stepContext } from './fakes/step-context.js';

const NS = 'peerdb';
const STS = 'flow-snapshot-worker';
const REF: WorkloadRef = { kind: 'StatefulSet', name: STS };
const FROM = 'v0.36.7';
const TO = 'v0.37.4';
const OLD = `ghcr.io/peerdb-io/${STS}:stable-${FROM}`;
const NEW = `ghcr.io/peerdb-io/${STS}:stable-${TO}`;
const WORKLOAD = { kind: 'StatefulSet' as const, name: STS, container: STS, strategy: 'RollingUpdate' as const };

function prepareStep(): StatefulSetPrepareStep {
  return { id: `statefulset-prepare/${STS}`, kind: 'statefulset-prepare', title: 'prepare', component: STS, workload: WORKLOAD, image: NEW, changes: [], timeoutMs: 600_000, finalPartition: 0 };
}

function podStep(ordinal: number): StatefulSetPodStep {
  return { id: `statefulset-pod/${STS}/${ordinal}`, kind: 'statefulset-pod', title: `${STS}-${ordinal}`, component: STS, ordinal, workload: WORKLOAD, image: NEW, changes: [], timeoutMs: 600_000, finalPartition: 0 };
}

function context<S extends Step>(cluster: ClusterPort & { clock: MemoryCluster['clock'] }, step: S, replicas: number): StepContext<S> {
  return stepContext(cluster, cluster.clock, NS, step, [prepareStep(), ...Array.from({ length: replicas }, (_, i) => podStep(replicas - 1 - i))]);
}

function seeded(replicas = 3, partition = 0): MemoryCluster {
  return new MemoryCluster({ namespaces: [NS] }).addStatefulSet(NS, STS, { image: OLD, replicas, partition });
}

/**
 * The port as a watch cache behind an earlier read answers it: the next reads of the StatefulSet
 * (`stale.length` of them, after `fresh` reads answered as they are) return what the set was.
 */
function lagging(cluster: MemoryCluster, stale: WorkloadState[], fresh = 1): MemoryCluster {
  let reads = 0;
  return new Proxy(cluster, {
    get(target, key, receiver) {
      if (key !== 'getWorkload') return Reflect.get(target, key, receiver);
      return async (namespace: string, ref: WorkloadRef, options: { podName?: string } = {}) => {
        const now = await target.getWorkload(namespace, ref, options);
        if (ref.kind !== 'StatefulSet' || ref.name !== STS) return now;
        reads++;
        const old = reads > fresh ? stale.shift() : undefined;
        if (!old) return now;
        return { ...old, pods: options.podName === undefined ? old.pods : old.pods.filter((p) => p.name === options.podName) };
      };
    },
  });
}

/**
 * Whether pod `ordinal` runs the target image (its own spec, not the set's status: a fact apart
 * from what the tool judges by), is Ready and not terminating.
 */
function podOnTarget(cluster: MemoryCluster, ordinal: number): boolean {
  const pod = cluster.peekWorkload(NS, REF)!.pods.find((p) => p.ordinal === ordinal);
  return pod !== undefined && pod.images.includes(NEW) && !pod.images.includes(OLD) && pod.ready && !pod.deleting;
}

describe('statefulset-pod is done only when its pod is Ready on the target revision the controller computed', () => {
  it('right after the image patch (status.updateRevision still the old template\'s) an old pod is not taken for updated', async () => {
    const cluster = seeded(3);
    // The prepare patch, as the step sends it; the controller has not synced since (no tick).
    await cluster.patchWorkload(NS, REF, { image: { container: STS, image: NEW }, partition: 3 });
    const before = cluster.peekWorkload(NS, REF)!;
    expect(before.observedGeneration).toBeLessThan(before.generation);
    expect(before.pods.find((p) => p.ordinal === 2)!.revision).toBe(before.updateRevision);

    await rollStatefulSetPod(context(cluster, podStep(2), 3));
    // Before the fix: done at once, no partition written, pod 2 still on the old image.
    expect(cluster.partitionHistory(NS, STS)).toEqual([3, 2]);
    expect(podOnTarget(cluster, 2)).toBe(true);
    expect(cluster.podUpdates(NS, STS).map((u) => u.ordinal)).toEqual([2]);
  });

  it('a pod above is not taken for Ready on the update revision from a set whose controller is behind: the partition is not lowered past it', async () => {
    const cluster = seeded(3);
    await cluster.patchWorkload(NS, REF, { image: { container: STS, image: NEW }, partition: 3 });
    // A resumed run whose step for pod 2 was recorded done (as in the e2e seed 9) runs pod 1's step
    // while the controller is behind the image patch.
    await rollStatefulSetPod(context(cluster, podStep(1), 3));
    // Before the fix, pod 2 (old) counted as updated and Ready: the partition went to 1 past it and
    // pod 1 was updated first. Now pod 2, held by partition 3, is let go first (see below), then 1.
    expect(cluster.partitionHistory(NS, STS)).toEqual([3, 2, 1]);
    expect(cluster.podUpdates(NS, STS).map((u) => u.ordinal)).toEqual([2, 1]);
    expect([podOnTarget(cluster, 2), podOnTarget(cluster, 1), podOnTarget(cluster, 0)]).toEqual([true, true, false]);
  });

  it('OnDelete: a pod above left on the old revision (its step recorded done) is deleted before this one, not waited for', async () => {
    const cluster = new MemoryCluster({ namespaces: [NS] }).addStatefulSet(NS, STS, { image: OLD, replicas: 3, strategy: 'OnDelete' });
    await cluster.patchWorkload(NS, REF, { image: { container: STS, image: NEW } });
    cluster.tick();
    const step = { ...podStep(1), workload: { ...WORKLOAD, strategy: 'OnDelete' as const } };
    await rollStatefulSetPod(context(cluster, step, 3));
    expect([podOnTarget(cluster, 2), podOnTarget(cluster, 1), podOnTarget(cluster, 0)]).toEqual([true, true, false]);
    const deletions = cluster.callsTo('deletePod').map((c) => c.args[1]);
    expect(deletions).toEqual([`${STS}-2`, `${STS}-1`]);
  });

  it('a stale read of the set (a watch cache behind) right after the partition patch does not end the step', async () => {
    const cluster = seeded(3);
    await cluster.patchWorkload(NS, REF, { image: { container: STS, image: NEW }, partition: 3 });
    cluster.tick();
    // What a cache that has seen the image patch but not the controller's status has: old pods match
    // the old update revision.
    const unsynced = cluster.peekWorkload(NS, REF)!;
    const behind = { ...unsynced, observedGeneration: unsynced.generation - 1, updateRevision: unsynced.currentRevision };
    // First read fresh (pod 2 old: the step goes on to the partition move), then three stale ones.
    const port = lagging(cluster, [behind, behind, behind], 1);
    await rollStatefulSetPod(context(port, podStep(2), 3));
    expect(cluster.partitionHistory(NS, STS)).toEqual([3, 2]);
    expect(podOnTarget(cluster, 2)).toBe(true);
  });
});

describe('statefulset-prepare is done only on a read that shows the image and its generation seen', () => {
  it('a read older than the image patch (a cache behind a direct read) does not end it', async () => {
    const cluster = seeded(3);
    const prePatch = cluster.peekWorkload(NS, REF)!;
    // An earlier attempt's patch landed (its answer lost, or the run killed after sending it); the
    // controller has not synced yet.
    await cluster.patchWorkload(NS, REF, { image: { container: STS, image: NEW }, partition: 3 });
    // The step's first read (direct) shows the image, so it sends nothing; the next comes from a
    // cache that has not seen the patch yet.
    const port = lagging(cluster, [prePatch], 1);
    const message = await prepareStatefulSet(context(port, prepareStep(), 3));
    const now = cluster.peekWorkload(NS, REF)!;
    // Before the fix: done on the pre-patch read, "update revision <old>", the controller not synced.
    expect(now.observedGeneration).toBeGreaterThanOrEqual(now.generation);
    expect(message).toContain(`update revision ${now.updateRevision}`);
    expect(now.updateRevision).not.toBe(prePatch.updateRevision);
  });

  it('and then the pod steps roll every pod in order (the seed-9 chain: prepare on a stale read, pod 2 in the controller\'s lag)', async () => {
    const cluster = seeded(3);
    const prePatch = cluster.peekWorkload(NS, REF)!;
    await cluster.patchWorkload(NS, REF, { image: { container: STS, image: NEW }, partition: 3 });
    const port = lagging(cluster, [prePatch], 1);
    await prepareStatefulSet(context(port, prepareStep(), 3));
    for (const ordinal of [2, 1, 0]) {
      await rollStatefulSetPod(context(cluster, podStep(ordinal), 3));
      expect(podOnTarget(cluster, ordinal), `pod ${ordinal} when its step returned`).toBe(true);
    }
    expect(cluster.partitionHistory(NS, STS)).toEqual([3, 2, 1, 0]);
  });
});

function checkpointOf(cluster: MemoryCluster): Checkpoint {
  return parseCheckpoint(cluster.peekConfigMap(NS, 'peerdb-peerdb-upgrade')!.data[CHECKPOINT_KEY]!, 'test');
}

/** Checks, at the moment each StatefulSet pod step is reported done (just after its checkpoint write), that its pod is on the target. */
function doneIsTrue(cluster: MemoryCluster, wrong: string[]) {
  return (event: ApplyEvent) => {
    if (event.type !== 'step-done' || event.step.kind !== 'statefulset-pod' || event.step.component !== STS) return;
    if (!podOnTarget(cluster, event.step.ordinal)) wrong.push(`${event.step.id} recorded done with ${STS}-${event.step.ordinal} not Ready on the target`);
  };
}

describe('a run records a pod step done only when the cluster shows it', () => {
  it('a run planned right after someone set the image (the controller not caught up) still rolls every pod', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM, { snapshotReplicas: 3 });
    // A run whose checkpoint is gone held every pod and set the image a moment ago: no tick since.
    await cluster.patchWorkload(NS, REF, { image: { container: STS, image: NEW }, partition: 3 });
    const wrong: string[] = [];
    const outcome = await outcomeOf(applyUpgrade(applyRequest(cluster, { onEvent: doneIsTrue(cluster, wrong) }).request));
    // Before the fix the planner took the old pods for done (no pod step) and the final check failed.
    expect(outcome.code, outcome.message).toBe(0);
    expect(wrong).toEqual([]);
    // (Then 3 again: the partition found is taken for the user's, as for any run without a record of its own.)
    expect(cluster.partitionHistory(NS, STS)).toEqual([3, 2, 1, 0, 3]);
    expect([2, 1, 0].map((o) => podOnTarget(cluster, o))).toEqual([true, true, true]);
  });

  it.each([
    ['statefulset-prepare', `statefulset-prepare/${STS}`],
    ['the pod step of the highest ordinal', `statefulset-pod/${STS}/2`],
    ['a middle pod step', `statefulset-pod/${STS}/1`],
  ])('stopped after %s (the next step marked running in the same write, or not), the resume records each pod done only when it is', async (_what, after) => {
    // The user's partition 2 is recorded and set back at the end; it moves no pod step.
    const cluster = new MemoryCluster().seedHelm(NS, FROM, { snapshotReplicas: 3 });
    const wrong: string[] = [];
    const first = await outcomeOf(applyUpgrade(applyRequest(cluster, { abortAfterStep: after, onEvent: doneIsTrue(cluster, wrong) }).request));
    expect(first.code).toBe(ExitCode.Interrupted);
    const resumed = await outcomeOf(applyUpgrade(applyRequest(cluster, { mode: 'resume', onEvent: doneIsTrue(cluster, wrong) }).request));
    expect(resumed.code, resumed.message).toBe(0);
    expect(wrong).toEqual([]);
    expect(checkpointOf(cluster).run.state).toBe('done');
    expect(cluster.partitionHistory(NS, STS)).toEqual([3, 2, 1, 0]);
  });

  it('resumes the checkpoint seed 9 ended with (pod 2 recorded done, never updated, held by partition 3): pod 2 is rolled before pod 1', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM, { snapshotReplicas: 3 });
    const first = await outcomeOf(applyUpgrade(applyRequest(cluster, { abortAfterStep: `statefulset-prepare/${STS}` }).request));
    expect(first.code).toBe(ExitCode.Interrupted);
    // What an earlier version wrote: the step for pod 2 done, no partition below 3 written.
    const cm = cluster.peekConfigMap(NS, 'peerdb-peerdb-upgrade')!;
    const checkpoint = checkpointOf(cluster);
    const two = checkpoint.steps.find((r) => r.id === `statefulset-pod/${STS}/2`)!;
    Object.assign(two, { s: 'done', a: 1, t0: checkpoint.run.updated_at, t1: checkpoint.run.updated_at });
    cluster.touchConfigMap(NS, 'peerdb-peerdb-upgrade', { ...cm.data, [CHECKPOINT_KEY]: serializeCheckpoint(checkpoint) });
    expect(cluster.peekWorkload(NS, REF)!.partition).toBe(3);
    expect(podOnTarget(cluster, 2)).toBe(false);

    const events: ApplyEvent[] = [];
    const resumed = await outcomeOf(applyUpgrade(applyRequest(cluster, { mode: 'resume', onEvent: (e) => void events.push(e) }).request));
    // Before: the step for pod 1 waited for pod 2 until its timeout, and so would every resume.
    expect(resumed.code, resumed.message).toBe(0);
    expect(cluster.partitionHistory(NS, STS)).toEqual([3, 2, 1, 0]);
    expect(cluster.podUpdates(NS, STS).map((u) => u.ordinal)).toEqual([2, 1, 0]);
    expect([2, 1, 0].map((o) => podOnTarget(cluster, o))).toEqual([true, true, true]);
    expect(events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message)).toContainEqual(expect.stringContaining(`${STS}-2 is not on the update revision although its step is recorded done`));
  });

  it('resumes a checkpoint whose last pod step is recorded done while its pod is not on the target: the step runs again', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM, { snapshotReplicas: 3 });
    const first = await outcomeOf(applyUpgrade(applyRequest(cluster, { abortAfterStep: `statefulset-pod/${STS}/1` }).request));
    expect(first.code).toBe(ExitCode.Interrupted);
    const cm = cluster.peekConfigMap(NS, 'peerdb-peerdb-upgrade')!;
    const checkpoint = checkpointOf(cluster);
    Object.assign(checkpoint.steps.find((r) => r.id === `statefulset-pod/${STS}/0`)!, { s: 'done', a: 1, t0: checkpoint.run.updated_at, t1: checkpoint.run.updated_at });
    cluster.touchConfigMap(NS, 'peerdb-peerdb-upgrade', { ...cm.data, [CHECKPOINT_KEY]: serializeCheckpoint(checkpoint) });
    expect(podOnTarget(cluster, 0)).toBe(false);

    const events: ApplyEvent[] = [];
    const resumed = await outcomeOf(applyUpgrade(applyRequest(cluster, { mode: 'resume', onEvent: (e) => void events.push(e) }).request));
    // Before: skipped as done; the final check then failed (pod 0 below partition 1), on every resume.
    expect(resumed.code, resumed.message).toBe(0);
    expect([2, 1, 0].map((o) => podOnTarget(cluster, o))).toEqual([true, true, true]);
    expect(cluster.partitionHistory(NS, STS)).toEqual([3, 2, 1, 0]);
    expect(events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message)).toContainEqual(`statefulset-pod/${STS}/0 is recorded done, but ${STS}-0 is not on the update revision ${cluster.peekWorkload(NS, REF)!.updateRevision}: running it again`);
    // A record that holds is skipped as before, after one look (from the watch cache in a real run).
    const skipped = events.filter((e) => e.type === 'step-skip').map((e) => (e as { step: { id: string } }).step.id);
    expect(skipped).toContain(`statefulset-pod/${STS}/2`);
  });

  it('a user partition recorded by the run (2, while the set is held at replicas with old pods) does not make a pod step done: every pod is rolled, then 2 is set back', async () => {
    const cluster = new MemoryCluster({ namespaces: [NS] }).seedHelm(NS, FROM, { snapshotReplicas: 3 });
    await cluster.patchWorkload(NS, REF, { partition: 2 });
    cluster.settle();
    const wrong: string[] = [];
    const first = await outcomeOf(applyUpgrade(applyRequest(cluster, { abortAfterStep: `statefulset-prepare/${STS}`, onEvent: doneIsTrue(cluster, wrong) }).request));
    expect(first.code).toBe(ExitCode.Interrupted);
    expect(Object.values(checkpointOf(cluster).partitions ?? {})).toContain(2);
    expect(cluster.peekWorkload(NS, REF)!.partition).toBe(3);
    const resumed = await outcomeOf(applyUpgrade(applyRequest(cluster, { mode: 'resume', onEvent: doneIsTrue(cluster, wrong) }).request));
    expect(resumed.code, resumed.message).toBe(0);
    expect(wrong).toEqual([]);
    expect(cluster.podUpdates(NS, STS).map((u) => u.ordinal)).toEqual([2, 1, 0]);
    expect(cluster.peekWorkload(NS, REF)!.partition).toBe(2);
  });
});
