/**
 * Issue 10 defect 9: a StatefulSet pod step must not cost more with more replicas. The real
 * executor step (rollStatefulSetPod) runs through the real adapter (KubeCluster) against a small
 * API server on loopback (fakes/fake-apiserver.ts) that counts requests and pod objects sent; the
 * same steps at 10 and at 1000 replicas must cost the same, and the re-check before each partition
 * move must still see what the API server says now.
 */
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/apply/clock.js';
import { rollStatefulSetPod } from '../../src/apply/roll-statefulset.js';
import type { StepContext } from '../../src/apply/step-context.js';
import { INFORMER_MAX_FAILURES } from '../../src/cluster/informer.js';
import type { KubeCluster } from '../../src/cluster/kube-adapter.js';
import type { Plan, StatefulSetPodStep } from '../../src/plan/plan-types.js';
import type { ClusterSpec } from '../../src/spec/schema.js';
import { fakeApiServerPerTest, NEW_IMAGE, NS, STS, untilWatched, type FakeApiServer } from './fakes/fake-apiserver.js';

/** A fake API server with `replicas` pods and the real adapter against it; both closed after each test. */
const start = fakeApiServerPerTest();
let server: FakeApiServer | undefined;
let cluster: KubeCluster | undefined;

function podStep(ordinal: number): StatefulSetPodStep {
  return {
    id: `statefulset-pod/${STS}/${ordinal}`,
    kind: 'statefulset-pod',
    title: `${STS}-${ordinal}`,
    component: STS,
    ordinal,
    workload: { kind: 'StatefulSet', name: STS, container: STS, strategy: 'RollingUpdate' },
    image: NEW_IMAGE,
    changes: [],
    timeoutMs: 20_000,
    finalPartition: 0,
  };
}

function context(c: KubeCluster, replicas: number, ordinal: number): StepContext<StatefulSetPodStep> {
  const steps = Array.from({ length: replicas }, (_, i) => podStep(replicas - 1 - i));
  return {
    cluster: c,
    spec: { namespace: NS } as ClusterSpec,
    plan: { steps } as unknown as Plan,
    step: podStep(ordinal),
    runId: 'run',
    clock: systemClock,
    signal: new AbortController().signal,
    emit: () => undefined,
    startedAt: Date.now(),
    runDeadline: undefined,
  };
}

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Rolls the top `steps` pods; returns requests and pod objects per step over the steps after the first. */
async function roll(replicas: number, steps: number) {
  ({ server, cluster } = await start(replicas));
  await rollStatefulSetPod(context(cluster, replicas, replicas - 1));
  server.reset();
  for (let k = 2; k <= steps; k++) await rollStatefulSetPod(context(cluster, replicas, replicas - k));
  const n = steps - 1;
  const requests = Object.values(server.requests).reduce((a, b) => a + b, 0);
  return { requestsPerStep: requests / n, podsPerStep: server.podsSent / n, byVerb: { ...server.requests } };
}

describe('a StatefulSet pod step costs the same at 10 and at 1000 replicas', () => {
  it('moves no more pods over the wire, and sends no more requests, per step at 1000 replicas than at 10', async () => {
    const small = await roll(10, 6);
    await server!.close();
    cluster!.close();
    const big = await roll(1000, 6);
    // Each step sees its own pod's few events (terminating, gone, created, Ready), not the set.
    // (Today's LIST per look moves every pod: about 1000 per step at 1000 replicas.)
    expect(big.podsPerStep).toBeLessThanOrEqual(small.podsPerStep + 2);
    expect(small.podsPerStep).toBeLessThan(10);
    expect(big.requestsPerStep).toBeLessThanOrEqual(small.requestsPerStep);
    // The partition patch is the one request a step needs; reads come from the watches.
    expect(big.byVerb).toEqual({ patch: 1 * 5 });
  }, 60_000);

  it('still waits for a pod above that is not Ready now (re-checked through the watch, not remembered)', async () => {
    const replicas = 10;
    ({ server, cluster } = await start(replicas));
    await rollStatefulSetPod(context(cluster, replicas, 9));
    await rollStatefulSetPod(context(cluster, replicas, 8));
    // Someone breaks pod 9 after its step (the watch delivers that within milliseconds): the step
    // for 7 must not move the partition. (A LIST-based check has a blind window too: from the
    // LIST's answer to the PATCH, which at 1000 pods is the longer one.)
    server.setReady(9, false);
    await pause(50);
    server.reset();
    const step = rollStatefulSetPod(context(cluster, replicas, 7));
    await pause(300);
    expect(server.requests.patch ?? 0).toBe(0);
    server.setReady(9, true);
    await step;
    expect(server.requests.patch).toBe(1);
  }, 30_000);

  it('re-lists when the API server says 410 Gone, and reads directly while a watch is away', async () => {
    const replicas = 10;
    ({ server, cluster } = await start(replicas));
    await rollStatefulSetPod(context(cluster, replicas, 9));
    server.expireWatches();
    server.cutWatches();
    server.reset();
    await rollStatefulSetPod(context(cluster, replicas, 8));
    await rollStatefulSetPod(context(cluster, replicas, 7));
    // The watches came back through a LIST each (410 on the re-watch), and the steps completed.
    expect(server.requests.list ?? 0).toBeGreaterThanOrEqual(1);
    expect(server.requests.patch).toBe(2);
    const s = await cluster.getWorkload(NS, { kind: 'StatefulSet', name: STS });
    expect(s!.pods.filter((p) => p.revision === 'new' && p.ready).map((p) => p.ordinal)).toEqual([9, 8, 7]);
  }, 30_000);

  it('gives up a watch that keeps failing after a bounded number of tries, and reads directly from then on', async () => {
    const replicas = 10;
    const sleeps: number[] = [];
    ({ server, cluster } = await start(replicas, { before: (s) => s.breakWatches(), sleep: async (ms) => void sleeps.push(ms) }));
    await rollStatefulSetPod(context(cluster, replicas, 9));
    await rollStatefulSetPod(context(cluster, replicas, 8));
    // Two informers (the StatefulSet's, its pods'), each tried INFORMER_MAX_FAILURES times at most.
    // Counted apart from the waits' one-off watches, whose number depends on how fast this machine
    // is (a bound on all watches together failed at 21 of 20 under load).
    expect(server.requests['informer-watch']).toBeGreaterThan(0);
    expect(server.requests['informer-watch']).toBeLessThanOrEqual(2 * INFORMER_MAX_FAILURES);
    const s = await cluster.getWorkload(NS, { kind: 'StatefulSet', name: STS });
    expect(s!.pods.filter((p) => p.revision === 'new' && p.ready).map((p) => p.ordinal)).toEqual([9, 8]);
  }, 60_000);
});

describe('the watch-fed caches between reads they did not answer, and at the end of a run', () => {
  const selector = `app.kubernetes.io/name=${STS}`;
  const sts = { kind: 'StatefulSet', name: STS } as const;

  it('ends a wait at once when the cache holds news the caller never read (its read went to the API server)', async () => {
    ({ server, cluster } = await start(3));
    // As a resumed step does: one direct read, then the caches are opened.
    const before = await cluster.getWorkload(NS, sts, { podName: `${STS}-0` });
    expect(before!.pods[0]!.ready).toBe(true);
    cluster.follow(NS, sts, selector);
    // The pod changes after that read; the new watch delivers it to the cache before the wait starts.
    server.setReady(0, false);
    await pause(500);
    const outcome = await Promise.race([
      cluster.waitForChange(NS, 'pods', { labelSelector: selector, fieldSelector: `metadata.name=${STS}-0` }, 60_000).then(() => 'returned'),
      new Promise((r) => setTimeout(() => r('still waiting after 10 s'), 10_000)),
    ]);
    // Waiting for the next event instead would wait for a change that already happened.
    expect(outcome).toBe('returned');
    const after = await cluster.getWorkload(NS, sts, { podName: `${STS}-0` });
    expect(after!.pods[0]!.ready).toBe(false);
  }, 30_000);

  it('stops every watch when closed: no request after close(), even from a watch that was retrying', async () => {
    ({ server, cluster } = await start(3, { before: (s) => s.breakWatches() }));
    cluster.follow(NS, sts, selector);
    for (let i = 0; i < 100 && (server.requests['informer-watch'] ?? 0) < 2; i++) await pause(50);
    expect(server.requests['informer-watch']).toBeGreaterThanOrEqual(2);
    cluster.close();
    const atClose = { ...server.requests };
    // The informers back off 0.2–0.8 s between tries here: without close() they would try again.
    await pause(2_500);
    expect(server.requests).toEqual(atClose);
  }, 30_000);
});

describe('a run keeps the whole namespace in watch-fed caches (issue 14 item 3)', () => {
  const selector = `app.kubernetes.io/name=${STS}`;
  const sts = { kind: 'StatefulSet', name: STS } as const;

  it('answers reads of a StatefulSet, one of its pods and pods by any selector from the caches: no request per read, selectors matched as the API server does', async () => {
    ({ server, cluster } = await start(10));
    cluster.watchNamespace(NS);
    // The first read waits for the caches to be filled (a LIST and a WATCH per kind).
    expect((await cluster.getWorkload(NS, sts))!.pods).toHaveLength(10);
    server.reset();
    const all = await cluster.getWorkload(NS, sts);
    const one = await cluster.getWorkload(NS, sts, { podName: `${STS}-3` });
    const matching = await cluster.listPods(NS, selector);
    const setBased = await cluster.listPods(NS, `app.kubernetes.io/name in (${STS},other),!tier`);
    const none = await cluster.listPods(NS, `${selector},tier=db`);
    const notIn = await cluster.listPods(NS, `app.kubernetes.io/name notin (${STS})`);
    expect(all!.pods.map((p) => p.ordinal)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(one!.pods.map((p) => p.name)).toEqual([`${STS}-3`]);
    expect([matching.length, setBased.length, none.length, notIn.length]).toEqual([10, 10, 0, 0]);
    expect(server.log).toEqual([]);
  }, 30_000);

  it('answers the first reads from the LISTs while the WATCHes are still being opened, and goes to the API server after a write of its own until they are', async () => {
    ({ server, cluster } = await start(10));
    const release = server.holdWatches();
    try {
      cluster.watchNamespace(NS);
      // Unanswered watches: a read that waited for them would end in a GET after INITIAL_SYNC_MS.
      const first = await cluster.getWorkload(NS, sts);
      expect(first!.pods).toHaveLength(10);
      expect(await cluster.listPods(NS, selector)).toHaveLength(10);
      await untilWatched(server, 2);
      expect(server.log.filter((r) => r.verb === 'get' || r.verb === 'list').map((r) => r.path.split('/').at(-1)).sort()).toEqual(['deployments', 'jobs', 'pods', 'statefulsets']);
      server.reset();
      // After a write, what the LIST holds is past: the set and its pods are read from the API server.
      await cluster.patchWorkload(NS, sts, { partition: 9 });
      const after = await cluster.getWorkload(NS, sts);
      expect(after!.partition).toBe(9);
      expect(server.log.map((r) => r.verb)).toEqual(['patch', 'get', 'list']);
    } finally {
      release();
    }
  }, 30_000);

  it('rolls pods with the partition patch as the only request of a step', async () => {
    const replicas = 10;
    ({ server, cluster } = await start(replicas));
    cluster.watchNamespace(NS);
    await rollStatefulSetPod(context(cluster, replicas, 9));
    server.reset();
    for (const ordinal of [8, 7, 6]) await rollStatefulSetPod(context(cluster, replicas, ordinal));
    expect(server.log.map((r) => r.verb)).toEqual(['patch', 'patch', 'patch']);
    const s = await cluster.getWorkload(NS, sts);
    expect(s!.pods.filter((p) => p.revision === 'new' && p.ready).map((p) => p.ordinal)).toEqual([9, 8, 7, 6]);
  }, 30_000);

  it('reads the set and its pods from the caches right after a patch that holds every pod: no pod can change, so no pod event is waited for', async () => {
    ({ server, cluster } = await start(10));
    cluster.watchNamespace(NS);
    await cluster.getWorkload(NS, sts);
    await untilWatched(server, 2);
    server.reset();
    // statefulset-prepare's patch: every pod held (partition = replicas), the image set.
    await cluster.patchWorkload(NS, sts, { partition: 10, image: { container: STS, image: 'flow:new' } });
    const after = await cluster.getWorkload(NS, sts);
    expect(after!.pods).toHaveLength(10);
    // Waiting for a pod event that never comes ended in a read from the API server.
    expect(server.log.map((r) => r.verb)).toEqual(['patch']);
  }, 30_000);

  it('never answers a read with older news than a direct read gave a moment before: a watch just reconnected must first replay past it', async () => {
    // Informer back-off is 1 s here, so the read right after the cut finds the watches away.
    ({ server, cluster } = await start(3, { sleep: () => pause(1_000) }));
    cluster.watchNamespace(NS);
    expect((await cluster.getWorkload(NS, sts))!.pods.every((p) => p.ready)).toBe(true);
    await untilWatched(server, 4);
    // The watches are cut; they come back answered at once, but their replay of what they missed
    // (pod 0 no longer Ready) comes only 3 s later, as a slow API server's would.
    server.delayReplay(3_000);
    server.cutWatches();
    await pause(100);
    server.setReady(0, false);
    server.reset();
    const direct = await cluster.getWorkload(NS, sts);
    expect(server.log.some((r) => r.verb === 'list' && r.path.endsWith('/pods'))).toBe(true);
    expect(direct!.pods.find((p) => p.ordinal === 0)!.ready).toBe(false);
    // The watches are connected again by now, their caches still holding pod 0 Ready.
    await pause(1_500);
    const later = await cluster.getWorkload(NS, sts);
    expect(later!.pods.find((p) => p.ordinal === 0)!.ready).toBe(false);
  }, 30_000);

  it('gives up at once a kind it cannot list (this API server serves no Deployments or Jobs) and reads those directly, each read asked once', async () => {
    ({ server, cluster } = await start(3));
    cluster.watchNamespace(NS);
    await cluster.getWorkload(NS, sts);
    // Time for a retry to show (an informer that failed backs off 0.2 s, then 0.4 s).
    await pause(1_000);
    // Refused (404 here, as 403 would be): one LIST each, never retried, never watched.
    const asked = (verb: string, kind: string) => server!.log.filter((r) => r.verb === verb && r.path.endsWith(`/${kind}`)).length;
    expect([asked('list', 'deployments'), asked('watch', 'deployments'), asked('list', 'jobs'), asked('watch', 'jobs')]).toEqual([1, 0, 1, 0]);
    server.reset();
    expect(await cluster.getWorkload(NS, { kind: 'Deployment', name: 'flow-api' })).toBeUndefined();
    expect(await cluster.getJob(NS, 'peerdb-maintenance-start')).toBeUndefined();
    expect(server.log).toEqual([
      { verb: 'get', path: `/apis/apps/v1/namespaces/${NS}/deployments/flow-api` },
      { verb: 'get', path: `/apis/batch/v1/namespaces/${NS}/jobs/peerdb-maintenance-start` },
    ]);
  }, 30_000);
});
