import { describe, expect, it } from 'vitest';
import { applyUpgrade, type ApplyRequest } from '../../src/apply/apply-upgrade.js';
import { CHECKPOINT_KEY, parseCheckpoint } from '../../src/apply/checkpoint.js';
import type { ApplyEvent } from '../../src/apply/events.js';
import { checkConverged } from '../../src/apply/verify-converged.js';
import { ExitCode } from '../../src/exit-code.js';
import { ANNOTATION_PARTITION } from '../../src/labels.js';
import { parseSpecText, resolveSpec } from '../../src/spec/load-spec.js';
import { MemoryCluster } from './fakes/memory-cluster.js';
import { applyRequest, HELM_SPEC_TEXT, outcomeOf } from './fakes/apply-request.js';
import { skipDefaults } from './fakes/skip-defaults.js';

/**
 * The paths where a wrong executor does harm that nothing else would show: a run that lost its lock
 * goes on, a user's partition is not where the run leaves it, an OnDelete StatefulSet is never rolled.
 */
const NS = 'peerdb';
const LEASE = 'peerdb-peerdb-upgrade';
const STS = 'flow-snapshot-worker';
const img = (version: string) => `ghcr.io/peerdb-io/${STS}:stable-${version}`;
const ONE_STATEFULSET = `apiVersion: peerdb-upgrade/v1alpha1
kind: PeerDBCluster
metadata: { name: peerdb, namespace: ${NS} }
spec:
  version: v0.37.4
  components:
${skipDefaults(STS)}`;

function request(cluster: MemoryCluster, text: string, onEvent?: (event: ApplyEvent) => void): ApplyRequest {
  return applyRequest(cluster, { text, file: 'cluster.yaml', onEvent }).request;
}

const run = async (r: ApplyRequest) => outcomeOf(applyUpgrade(r), 'cluster.yaml');

describe('the lock while a run lives', () => {
  it('is renewed every 15 s of the run clock, and the renewals stop with the run', async () => {
    // Jobs of 40 s: long enough for renewals while they run.
    const cluster = new MemoryCluster({ jobTicks: 40 }).seedHelm(NS, 'v0.36.7');
    expect((await run(request(cluster, HELM_SPEC_TEXT))).code).toBe(0);
    const writes = cluster.callsTo('writeLease').map((c) => c.at);
    expect(writes.length).toBeGreaterThan(4);
    const gaps = writes.slice(1).map((at, i) => at - writes[i]!);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(15_000);
    expect(cluster.clock.pendingTimers).toBe(0);
  });

  it.each([
    ['deleted (unlock --force)', (cluster: MemoryCluster) => void cluster.deleteLease(NS, LEASE, undefined)],
    ['taken over by another run', (cluster: MemoryCluster) => void cluster.addLease(NS, LEASE, { holderIdentity: 'ci@runner-7/77/other-run', leaseDurationSeconds: 60 })],
  ])('stops the run before its next step with exit 5 when the Lease is %s', async (_how, loseLock) => {
    // Jobs of 40 s: a renewal falls while catalog-migrations runs.
    const cluster = new MemoryCluster({ jobTicks: 40 }).seedHelm(NS, 'v0.36.7');
    let lost = false;
    const events: ApplyEvent[] = [];
    const r = request(cluster, HELM_SPEC_TEXT, (event) => {
      events.push(event);
      if (event.type === 'step-start' && event.step.id === 'init-job/catalog-migrations' && !lost) {
        lost = true;
        loseLock(cluster);
      }
    });
    const result = await run(r);
    expect(result.code, result.message).toBe(ExitCode.NeedsPerson);
    expect(result.message).toContain('this run lost its lock');
    expect(result.message).toContain('peerdb-upgrade status -f cluster.yaml');
    // The step running when the lock was lost finishes; nothing after it starts.
    const started = events.filter((e) => e.type === 'step-start').map((e) => (e as { step: { id: string } }).step.id);
    expect(started.at(-1)).toBe('init-job/catalog-migrations');
    expect(cluster.callsTo('patchWorkload')).toEqual([]);
  });
});

describe('a StatefulSet with a partition of its own', () => {
  it('updates every pod, those below the user partition too, one at a time, and sets the user partition back', async () => {
    // Issue 10: an upgrade that leaves pods on the old version is not done; the user's partition is
    // set back once the last pod is Ready (plan, apply and status say so).
    const cluster = new MemoryCluster().addNamespace(NS).addStatefulSet(NS, STS, { image: img('v0.36.7'), replicas: 4, partition: 2 });
    const result = await run(request(cluster, ONE_STATEFULSET));
    expect(result.code, result.message).toBe(0);
    const sts = cluster.peekWorkload(NS, { kind: 'StatefulSet', name: STS })!;
    expect(sts.partition).toBe(2);
    expect(sts.userPartition).toBeUndefined();
    expect(cluster.partitionHistory(NS, STS)).toEqual([4, 3, 2, 1, 0, 2]);
    expect(cluster.podUpdates(NS, STS).map((u) => u.ordinal)).toEqual([3, 2, 1, 0]);
    expect(sts.pods.map((p) => [p.ordinal, p.revision === sts.updateRevision && p.ready])).toEqual([
      [3, true],
      [2, true],
      [1, true],
      [0, true],
    ]);
  });

  it('puts the user partition back when someone lowered it while the last pod was rolled', async () => {
    const cluster = new MemoryCluster().addNamespace(NS).addStatefulSet(NS, STS, { image: img('v0.36.7'), replicas: 4, partition: 2 });
    let lowered = false;
    const r = request(cluster, ONE_STATEFULSET, (event) => {
      if (event.type === 'step-progress' && event.step.id === `statefulset-pod/${STS}/2` && !lowered) {
        lowered = true;
        void cluster.patchWorkload(NS, { kind: 'StatefulSet', name: STS }, { partition: 0 });
      }
    });
    const result = await run(r);
    expect(result.code, result.message).toBe(0);
    expect(lowered).toBe(true);
    expect(cluster.peekWorkload(NS, { kind: 'StatefulSet', name: STS })!.partition).toBe(2);
  });
});

describe("a StatefulSet's partition when the run's checkpoint is lost", () => {
  it.each([
    ['no partition of their own', 0, 2],
    ['a partition of their own', 2, 1],
  ])("keeps the user's partition for a user with %s: the partition the dead run left is not taken for theirs", async (_what, userPartition, stopAt) => {
    const cluster = new MemoryCluster().addNamespace(NS).addStatefulSet(NS, STS, { image: img('v0.36.7'), replicas: 4, partition: userPartition });
    // A run stopped (Ctrl-C) mid-roll, the partition moved down to `stopAt`; then its checkpoint is deleted.
    const first = applyRequest(cluster, { text: ONE_STATEFULSET, file: 'cluster.yaml', abortAfterStep: `statefulset-pod/${STS}/${stopAt}` }).request;
    expect((await run(first)).code).not.toBe(0);
    expect(cluster.peekWorkload(NS, { kind: 'StatefulSet', name: STS })!.partition).toBe(stopAt);
    cluster.loseConfigMap(NS, 'peerdb-peerdb-upgrade');
    const second = await run(request(cluster, ONE_STATEFULSET));
    expect(second.code, second.message).toBe(0);
    const sts = cluster.peekWorkload(NS, { kind: 'StatefulSet', name: STS })!;
    expect(sts.partition).toBe(userPartition);
    expect(sts.pods.every((p) => p.revision === sts.updateRevision && p.ready)).toBe(true);
    // The record the runs put on the StatefulSet is gone with the roll.
    expect(sts.userPartition).toBeUndefined();
  });

  it('sets the partition back when a run died after its last pod was Ready, before it did so itself (the record left on the StatefulSet says what to)', async () => {
    // Every pod on the target, the partition at 0 where the dead run's last move left it, its record of the user's 2.
    const cluster = new MemoryCluster().addNamespace(NS).addStatefulSet(NS, STS, { image: img('v0.37.4'), replicas: 3 });
    await cluster.patchWorkload(NS, { kind: 'StatefulSet', name: STS }, { userPartition: 2 });
    const events: ApplyEvent[] = [];
    const result = await run(request(cluster, ONE_STATEFULSET, (e) => events.push(e)));
    expect(result.code, result.message).toBe(0);
    const started = events.flatMap((e) => (e.type === 'step-start' ? [e.step] : []));
    expect(started.map((s) => s.id)).toEqual([`statefulset-pod/${STS}/0`, 'complete']);
    expect(started[0]).toMatchObject({ title: expect.stringContaining('back to yours (2)'), changes: [{ field: 'updateStrategy.rollingUpdate.partition', from: 0, to: 2 }] });
    const sts = cluster.peekWorkload(NS, { kind: 'StatefulSet', name: STS })!;
    expect([sts.partition, sts.userPartition]).toEqual([2, undefined]);
    // No pod was restarted for it.
    expect(cluster.podUpdates(NS, STS)).toEqual([]);
  });

  it('is not called done while the record of the user\'s partition is still on the StatefulSet: its next run would take it for theirs', async () => {
    // Every pod on the target and Ready, the partition set back to 0; the record of a run (user's 2) left behind.
    const cluster = new MemoryCluster().addNamespace(NS).addStatefulSet(NS, STS, { image: img('v0.37.4'), replicas: 3 });
    await cluster.patchWorkload(NS, { kind: 'StatefulSet', name: STS }, { userPartition: 2 });
    const spec = resolveSpec(parseSpecText('cluster.yaml', ONE_STATEFULSET).document);
    const found = await checkConverged(cluster, spec, undefined);
    expect(found.problems).toEqual([expect.stringMatching(new RegExp(`^StatefulSet/${STS}: still annotated ${ANNOTATION_PARTITION}=2 .*partition is 0, not 2`))]);
    expect(found.stuck).toBe(true);
    // Without the record, the same StatefulSet is done.
    await cluster.patchWorkload(NS, { kind: 'StatefulSet', name: STS }, { userPartition: null });
    expect(await checkConverged(cluster, spec, undefined)).toEqual({ problems: [], stuck: false });
  });
});

describe('an OnDelete StatefulSet', () => {
  it('is rolled by deleting one pod at a time, highest ordinal first, each Ready on the new revision before the next', async () => {
    const cluster = new MemoryCluster().addNamespace(NS).addStatefulSet(NS, STS, { image: img('v0.36.7'), replicas: 3, strategy: 'OnDelete' });
    const result = await run(request(cluster, ONE_STATEFULSET));
    expect(result.code, result.message).toBe(0);
    const deletions = cluster.events.filter((e) => e.type === 'pod-deleted' && e.name === STS);
    expect(deletions.map((d) => [d.ordinal, d.by])).toEqual([
      [2, 'api'],
      [1, 'api'],
      [0, 'api'],
    ]);
    for (const deletion of deletions) {
      for (const higher of deletion.pods!.filter((p) => p.ordinal > deletion.ordinal!)) {
        expect(higher, `pod ${deletion.ordinal} deleted before pod ${higher.ordinal} was Ready on the new revision`).toMatchObject({ revision: deletion.updateRevision, ready: true, deleting: false });
      }
    }
    const sts = cluster.peekWorkload(NS, { kind: 'StatefulSet', name: STS })!;
    expect(sts.pods.every((p) => p.revision === sts.updateRevision && p.ready)).toBe(true);
    expect(cluster.partitionHistory(NS, STS)).toEqual([]);
    const checkpoint = parseCheckpoint(cluster.peekConfigMap(NS, LEASE)!.data[CHECKPOINT_KEY]!, 'test');
    expect(checkpoint.run.state).toBe('done');
  });
});
