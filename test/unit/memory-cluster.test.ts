import { describe, expect, it } from 'vitest';
import { isClusterError } from '../../src/cluster/cluster-error.js';
import type { LeaseSpec } from '../../src/cluster/port.js';
import type { JobManifest, WorkloadRef } from '../../src/cluster/types.js';
import { FakeClock, MemoryCluster, fault, parseSelector } from './fakes/memory-cluster.js';

const NS = 'peerdb';
const STS: WorkloadRef = { kind: 'StatefulSet', name: 'flow-snapshot-worker' };
const API: WorkloadRef = { kind: 'Deployment', name: 'flow-api' };
const img = (name: string, version: string) => `ghcr.io/peerdb-io/${name}:stable-${version}`;

function job(name: string, image = 'ghcr.io/peerdb-io/flow-worker:stable-v0.37.4', extra: Partial<JobManifest['spec']> = {}): JobManifest {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: NS, labels: { 'app.kubernetes.io/managed-by': 'peerdb-upgrade' }, annotations: {} },
    spec: {
      backoffLimit: 2,
      activeDeadlineSeconds: 600,
      template: { metadata: { labels: { step: 'x' } }, spec: { restartPolicy: 'Never', containers: [{ name: 'main', image }] } },
      ...extra,
    },
  };
}

const lease = (holder: string): LeaseSpec => ({
  holderIdentity: holder,
  leaseDurationSeconds: 60,
  acquireTime: '2025-01-01T00:00:00.000Z',
  renewTime: '2025-01-01T00:00:00.000Z',
  annotations: { run: holder },
  labels: {},
});

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** Pod ordinal → revision, highest first. */
async function revisions(cluster: MemoryCluster, ref = STS): Promise<Record<number, string | undefined>> {
  const w = (await cluster.getWorkload(NS, ref))!;
  return Object.fromEntries(w.pods.map((p) => [p.ordinal!, p.revision]));
}

function helm(options: ConstructorParameters<typeof MemoryCluster>[0] = {}, replicas = 3): MemoryCluster {
  return new MemoryCluster(options).seedHelm(NS, 'v0.36.7', { snapshotReplicas: replicas });
}

describe('seeding', () => {
  it('seedHelm adds the chart’s five workloads, Ready, with env, secrets and pods', async () => {
    const cluster = helm();
    expect(cluster.target).toEqual({ context: 'memory', server: 'memory://', namespace: 'default', user: 'tester' });
    const sts = (await cluster.getWorkload(NS, STS))!;
    expect(sts).toMatchObject({ kind: 'StatefulSet', replicas: 3, statusReplicas: 3, readyReplicas: 3, updatedReplicas: 3, strategy: 'RollingUpdate', partition: 0, selector: 'app=flow-snapshot-worker' });
    expect(sts.containers[0]!.image).toBe(img('flow-snapshot-worker', 'v0.36.7'));
    expect(sts.currentRevision).toBe(sts.updateRevision);
    expect(sts.pods.map((p) => [p.name, p.ordinal, p.ready, p.revision])).toEqual([2, 1, 0].map((o) => [`flow-snapshot-worker-${o}`, o, true, sts.updateRevision]));
    expect(sts.pods[0]!.images).toEqual([img('flow-snapshot-worker', 'v0.36.7')]);

    const worker = (await cluster.getWorkload(NS, { kind: 'Deployment', name: 'flow-worker' }))!;
    expect(worker.imagePullSecrets).toEqual(['ghcr']);
    expect(worker.containers[0]!.env).toContainEqual({ name: 'PEERDB_CATALOG_PASSWORD', valueFrom: { secretKeyRef: { name: 'peerdb-catalog', key: 'password' } } });
    expect(worker.containers[0]!.envFrom).toEqual([{ configMapRef: { name: 'peerdb-config' } }]);
    for (const name of ['flow-api', 'flow-worker', 'peerdb-server', 'peerdb-ui']) {
      const d = (await cluster.getWorkload(NS, { kind: 'Deployment', name }))!;
      expect(d).toMatchObject({ replicas: 1, statusReplicas: 1, readyReplicas: 1, availableReplicas: 1, updatedReplicas: 1, generation: 1, observedGeneration: 1, pods: [] });
      expect(d.containers[0]).toMatchObject({ name, image: img(name, 'v0.36.7') });
      expect(await cluster.listPods(NS, d.selector)).toHaveLength(1);
    }
    expect(await cluster.getWorkload(NS, { kind: 'Deployment', name: 'flow-snapshot-worker' })).toBeUndefined();
  });

  it('seeds a StatefulSet mid-rollout from podImages', async () => {
    const cluster = new MemoryCluster().addStatefulSet(NS, 'w', { image: 'w:new', replicas: 3, partition: 2, podImages: ['w:old', 'w:old'] });
    const w = (await cluster.getWorkload(NS, { kind: 'StatefulSet', name: 'w' }))!;
    expect(w.pods.map((p) => p.images[0])).toEqual(['w:new', 'w:old', 'w:old']);
    expect(w.pods[0]!.revision).toBe(w.updateRevision);
    expect(w.pods[2]!.revision).toBe(w.currentRevision);
    expect(w.currentRevision).not.toBe(w.updateRevision);
  });
});

describe('StatefulSet rolling updates', () => {
  it('updates only pods at or above the partition, highest ordinal first, one at a time', async () => {
    const cluster = helm({}, 4);
    await cluster.patchWorkload(NS, STS, { partition: 4 });
    await cluster.patchWorkload(NS, STS, { image: { container: 'flow-snapshot-worker', image: img('flow-snapshot-worker', 'v0.37.4') } });
    const before = (await cluster.getWorkload(NS, STS))!;
    // Status is the controller's: it lags the patch until the controller has synced.
    expect(before.generation).toBe(3);
    expect(before.observedGeneration).toBe(1);
    const oldRevision = before.updateRevision!;

    cluster.tick(5);
    const synced = (await cluster.getWorkload(NS, STS))!;
    expect(synced.observedGeneration).toBe(3);
    const newRevision = synced.updateRevision!;
    expect(newRevision).not.toBe(oldRevision);
    expect(newRevision).toMatch(/^flow-snapshot-worker-[0-9a-f]{10}$/);
    expect(await revisions(cluster)).toEqual({ 3: oldRevision, 2: oldRevision, 1: oldRevision, 0: oldRevision });

    await cluster.patchWorkload(NS, STS, { partition: 2 });
    cluster.tick(); // pod 3 terminating
    let w = (await cluster.getWorkload(NS, STS))!;
    expect(w.pods.find((p) => p.ordinal === 3)).toMatchObject({ deleting: true, revision: oldRevision });
    cluster.tick(); // pod 3 recreated on the update revision, not Ready yet
    w = (await cluster.getWorkload(NS, STS))!;
    expect(w.pods.find((p) => p.ordinal === 3)).toMatchObject({ deleting: false, revision: newRevision, ready: false, images: [img('flow-snapshot-worker', 'v0.37.4')] });
    expect(w.pods.find((p) => p.ordinal === 2)).toMatchObject({ deleting: false, revision: oldRevision });
    cluster.settle();
    expect(await revisions(cluster)).toEqual({ 3: newRevision, 2: newRevision, 1: oldRevision, 0: oldRevision });
    w = (await cluster.getWorkload(NS, STS))!;
    expect(w).toMatchObject({ readyReplicas: 4, updatedReplicas: 2, currentRevision: oldRevision, partition: 2 });

    await cluster.patchWorkload(NS, STS, { partition: 0 });
    cluster.settle();
    w = (await cluster.getWorkload(NS, STS))!;
    expect(w).toMatchObject({ readyReplicas: 4, updatedReplicas: 4, currentRevision: newRevision, updateRevision: newRevision });
    expect(cluster.podUpdates(NS, STS.name).map((e) => e.ordinal)).toEqual([3, 2, 1, 0]);
    expect(cluster.partitionHistory(NS, STS.name)).toEqual([4, 2, 0]);
  });

  it('never updates a pod before every pod above it runs the update revision and is Ready', async () => {
    const cluster = helm({ readyAfterTicks: 3 }, 5);
    await cluster.patchWorkload(NS, STS, { image: { container: 'flow-snapshot-worker', image: img('flow-snapshot-worker', 'v0.37.4') } });
    cluster.settle();
    const updates = cluster.podUpdates(NS, STS.name);
    expect(updates.map((e) => e.ordinal)).toEqual([4, 3, 2, 1, 0]);
    for (const update of updates) {
      const above = update.pods!.filter((p) => p.ordinal > update.ordinal!);
      expect(above.every((p) => p.ready && !p.deleting && p.revision === update.to)).toBe(true);
      expect(update.pods!.filter((p) => p.deleting)).toEqual([]);
    }
    // Each pod is Ready readyAfterTicks after it came back.
    const ready = cluster.events.filter((e) => e.type === 'pod-ready' && e.name === STS.name);
    const created = cluster.events.filter((e) => e.type === 'pod-created' && e.name === STS.name);
    expect(ready.map((e, i) => e.tick - created[i]!.tick)).toEqual([3, 3, 3, 3, 3]);
  });

  it('a pod that crash-loops on the new image blocks the rollout', async () => {
    const cluster = helm();
    await cluster.patchWorkload(NS, STS, { image: { container: 'flow-snapshot-worker', image: 'ghcr.io/peerdb-io/flow-snapshot-worker:crashloop' } });
    cluster.tick(20);
    const w = (await cluster.getWorkload(NS, STS))!;
    expect(w.pods[0]).toMatchObject({ ordinal: 2, ready: false, waitingReason: 'CrashLoopBackOff', phase: 'Running' });
    expect(w.pods[0]!.restartCount).toBeGreaterThanOrEqual(4); // back-off: restarts at ages 1, 2, 4, 8, 16
    expect(w.pods.slice(1).every((p) => p.ready && p.revision === w.currentRevision)).toBe(true);
    expect(cluster.podUpdates(NS, STS.name)).toHaveLength(1);
    // Rolling the image back does not replace the broken pod by itself (a forced rollback needs a delete).
    await cluster.patchWorkload(NS, STS, { image: { container: 'flow-snapshot-worker', image: img('flow-snapshot-worker', 'v0.36.7') } });
    cluster.tick(5);
    expect((await cluster.getWorkload(NS, STS))!.pods[0]!.waitingReason).toBe('CrashLoopBackOff');
    await cluster.deletePod(NS, 'flow-snapshot-worker-2');
    cluster.settle();
    expect((await cluster.getWorkload(NS, STS))!).toMatchObject({ readyReplicas: 3, updatedReplicas: 3 });
  });

  it('a bad image shows ImagePullBackOff', async () => {
    const cluster = helm();
    await cluster.patchWorkload(NS, STS, { image: { container: 'flow-snapshot-worker', image: 'registry.invalid/flow-snapshot-worker:badimage' } });
    cluster.tick(5);
    expect((await cluster.getWorkload(NS, STS))!.pods[0]).toMatchObject({ ready: false, phase: 'Pending', waitingReason: 'ImagePullBackOff' });
  });

  it('a pod that is not Ready at a lower ordinal blocks the controller (OrderedReady)', async () => {
    const cluster = helm();
    cluster.setPod(NS, 'flow-snapshot-worker-0', { ready: false });
    await cluster.patchWorkload(NS, STS, { image: { container: 'flow-snapshot-worker', image: img('flow-snapshot-worker', 'v0.37.4') } });
    cluster.tick(10);
    expect(cluster.podUpdates(NS, STS.name)).toEqual([]);
    cluster.setPod(NS, 'flow-snapshot-worker-0', { ready: true });
    cluster.tick();
    expect(cluster.podUpdates(NS, STS.name).map((e) => e.ordinal)).toEqual([2]);
  });

  it('OnDelete replaces pods only when they are deleted, on the update revision', async () => {
    const cluster = new MemoryCluster().addStatefulSet(NS, 'w', { image: 'w:1', replicas: 3, strategy: 'OnDelete' });
    const ref: WorkloadRef = { kind: 'StatefulSet', name: 'w' };
    await cluster.patchWorkload(NS, ref, { image: { container: 'w', image: 'w:2' } });
    cluster.tick(10);
    let w = (await cluster.getWorkload(NS, ref))!;
    expect(w.strategy).toBe('OnDelete');
    expect(w.pods.every((p) => p.revision === w.currentRevision && p.images[0] === 'w:1')).toBe(true);
    expect(cluster.podUpdates(NS, 'w')).toEqual([]);

    await cluster.deletePod(NS, 'w-1');
    expect((await cluster.getWorkload(NS, ref))!.pods[1]).toMatchObject({ ordinal: 1, deleting: true });
    cluster.tick();
    expect((await cluster.getWorkload(NS, ref))!.pods[1]).toMatchObject({ ordinal: 1, deleting: false, ready: false, revision: w.updateRevision, images: ['w:2'] });
    cluster.settle();
    w = (await cluster.getWorkload(NS, ref))!;
    expect(w.pods.map((p) => p.images[0])).toEqual(['w:1', 'w:2', 'w:1']);
    expect(w).toMatchObject({ readyReplicas: 3, updatedReplicas: 1 });
    // As on a real cluster, OnDelete never moves currentRevision.
    await cluster.deletePod(NS, 'w-0');
    await cluster.deletePod(NS, 'w-2');
    cluster.settle();
    w = (await cluster.getWorkload(NS, ref))!;
    expect(w.updatedReplicas).toBe(3);
    expect(w.currentRevision).not.toBe(w.updateRevision);
  });

  it('a partition patch turns an OnDelete StatefulSet into RollingUpdate (as the strategic merge patch does)', async () => {
    const cluster = new MemoryCluster().addStatefulSet(NS, 'w', { image: 'w:1', replicas: 2, strategy: 'OnDelete' });
    const ref: WorkloadRef = { kind: 'StatefulSet', name: 'w' };
    await cluster.patchWorkload(NS, ref, { partition: 2 });
    expect((await cluster.getWorkload(NS, ref))!).toMatchObject({ strategy: 'RollingUpdate', partition: 2 });
    expect(cluster.events.filter((e) => e.type === 'strategy')).toHaveLength(1);
  });

  it('a no-op patch writes nothing; a real one bumps generation and resourceVersion', async () => {
    const cluster = helm();
    const before = (await cluster.getWorkload(NS, STS))!;
    const rv = cluster.resourceVersion;
    await cluster.patchWorkload(NS, STS, { partition: 0, image: { container: 'flow-snapshot-worker', image: before.containers[0]!.image } });
    expect(cluster.resourceVersion).toBe(rv);
    expect((await cluster.getWorkload(NS, STS))!.generation).toBe(1);
    await cluster.patchWorkload(NS, STS, { partition: 1 });
    expect(Number(cluster.resourceVersion)).toBe(Number(rv) + 1);
    expect((await cluster.getWorkload(NS, STS))!.generation).toBe(2);
  });
});

describe('Deployment rollouts', () => {
  it('observedGeneration catches up, then pods roll with a surge', async () => {
    const cluster = helm();
    await cluster.patchWorkload(NS, API, { image: { container: 'flow-api', image: img('flow-api', 'v0.37.4') } });
    let d = (await cluster.getWorkload(NS, API))!;
    expect(d).toMatchObject({ generation: 2, observedGeneration: 1, updatedReplicas: 1 }); // stale status

    cluster.tick();
    d = (await cluster.getWorkload(NS, API))!;
    expect(d).toMatchObject({ observedGeneration: 2, replicas: 1, statusReplicas: 2, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 });
    expect(d.conditions).toContainEqual(expect.objectContaining({ type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated' }));
    const pods = await cluster.listPods(NS, d.selector);
    expect(pods.map((p) => [p.images[0], p.ready])).toEqual(expect.arrayContaining([[img('flow-api', 'v0.36.7'), true], [img('flow-api', 'v0.37.4'), false]]));

    cluster.settle();
    d = (await cluster.getWorkload(NS, API))!;
    expect(d).toMatchObject({ replicas: 1, statusReplicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 });
    expect(d.conditions).toContainEqual(expect.objectContaining({ type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' }));
    expect((await cluster.listPods(NS, d.selector)).map((p) => p.images[0])).toEqual([img('flow-api', 'v0.37.4')]);
  });

  it('keeps availability with several replicas and ends with all pods new', async () => {
    const cluster = new MemoryCluster().addDeployment(NS, 'd', { image: 'd:1', replicas: 4 });
    const ref: WorkloadRef = { kind: 'Deployment', name: 'd' };
    await cluster.patchWorkload(NS, ref, { image: { container: 'd', image: 'd:2' } });
    for (let i = 0; i < 30; i++) {
      cluster.tick();
      const d = (await cluster.getWorkload(NS, ref))!;
      expect(d.availableReplicas).toBeGreaterThanOrEqual(3); // maxUnavailable 25%
      expect(d.statusReplicas).toBeLessThanOrEqual(5); // maxSurge 25%
    }
    expect((await cluster.listPods(NS, 'app=d')).map((p) => p.images[0])).toEqual(['d:2', 'd:2', 'd:2', 'd:2']);
  });

  it('a crash-looping new pod never becomes Ready and the rollout exceeds its progress deadline', async () => {
    const cluster = helm();
    await cluster.patchWorkload(NS, API, { image: { container: 'flow-api', image: 'flow-api:crashloop' } });
    await cluster.clock.sleep(300_000);
    let d = (await cluster.getWorkload(NS, API))!;
    expect(d).toMatchObject({ statusReplicas: 2, updatedReplicas: 1, readyReplicas: 1 });
    expect(d.conditions).toContainEqual(expect.objectContaining({ type: 'Progressing', status: 'True' }));
    expect((await cluster.listPods(NS, 'app=flow-api,pod-template-hash')).find((p) => !p.ready)?.waitingReason).toBe('CrashLoopBackOff');
    await cluster.clock.sleep(400_000);
    d = (await cluster.getWorkload(NS, API))!;
    expect(d.conditions).toContainEqual(expect.objectContaining({ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }));
  });

  it('Recreate removes the old pods before starting new ones', async () => {
    const cluster = new MemoryCluster().addDeployment(NS, 'd', { image: 'd:1', replicas: 2, strategy: 'Recreate' });
    await cluster.patchWorkload(NS, { kind: 'Deployment', name: 'd' }, { image: { container: 'd', image: 'd:2' } });
    cluster.tick();
    expect((await cluster.listPods(NS, 'app=d')).every((p) => p.deleting && p.images[0] === 'd:1')).toBe(true);
    cluster.settle();
    expect((await cluster.listPods(NS, 'app=d')).map((p) => p.images[0])).toEqual(['d:2', 'd:2']);
  });
});

describe('Jobs', () => {
  it('a Job gets a pod and completes after jobTicks', async () => {
    const cluster = helm();
    const created = await cluster.createJob(NS, job('migrate'));
    expect(created).toMatchObject({ name: 'migrate', active: 0, succeeded: 0, conditions: [], deleting: false });
    cluster.tick();
    expect(await cluster.getJob(NS, 'migrate')).toMatchObject({ active: 1, conditions: [] });
    const pods = await cluster.listJobPods(NS, 'migrate');
    expect(pods).toHaveLength(1);
    expect(await cluster.listPods(NS, 'job-name=migrate,step=x')).toHaveLength(1);
    cluster.tick();
    const done = (await cluster.getJob(NS, 'migrate'))!;
    expect(done).toMatchObject({ active: 0, succeeded: 1, failed: 0 });
    expect(done.conditions).toContainEqual(expect.objectContaining({ type: 'Complete', status: 'True' }));
    expect((await cluster.listJobPods(NS, 'migrate'))[0]!.phase).toBe('Succeeded');
    expect(cluster.created('Job')).toEqual({ migrate: 1 });
  });

  it('an image with "fail" fails with BackoffLimitExceeded after backoffLimit+1 pods', async () => {
    const cluster = helm({ jobTicks: 3 });
    await cluster.createJob(NS, job('broken', 'flow-worker:fail'));
    cluster.tick(2);
    expect((await cluster.getJob(NS, 'broken'))!.conditions).toEqual([]);
    cluster.tick();
    const failed = (await cluster.getJob(NS, 'broken'))!;
    expect(failed).toMatchObject({ active: 0, failed: 3, succeeded: 0 });
    expect(failed.conditions).toContainEqual(expect.objectContaining({ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }));
    expect((await cluster.listJobPods(NS, 'broken')).map((p) => p.phase)).toEqual(['Failed', 'Failed', 'Failed']);
    cluster.jobLogs.set('broken', 'line 1\nline 2\npanic: boom\n');
    expect(await cluster.jobLogTail(NS, 'broken', 2)).toBe('line 2\npanic: boom');
    expect(await cluster.jobLogTail(NS, 'nope', 2)).toBeUndefined();
  });

  it('an image that cannot be pulled never finishes, until activeDeadlineSeconds', async () => {
    const cluster = helm();
    await cluster.createJob(NS, job('stuck', 'flow-worker:imagepull', { activeDeadlineSeconds: 120 }));
    await cluster.clock.sleep(60_000);
    expect(await cluster.getJob(NS, 'stuck')).toMatchObject({ active: 1, conditions: [] });
    expect((await cluster.listJobPods(NS, 'stuck'))[0]).toMatchObject({ waitingReason: 'ImagePullBackOff', phase: 'Pending' });
    await cluster.clock.sleep(120_000);
    expect((await cluster.getJob(NS, 'stuck'))!.conditions).toContainEqual(expect.objectContaining({ type: 'Failed', reason: 'DeadlineExceeded' }));
  });

  it('a name taken is already-exists; delete removes the Job and its pods', async () => {
    const cluster = helm();
    await cluster.createJob(NS, job('j'));
    cluster.tick();
    const error = await caught(cluster.createJob(NS, job('j')));
    expect(isClusterError(error, 'already-exists')).toBe(true);
    await cluster.deleteJob(NS, 'j');
    expect(await cluster.getJob(NS, 'j')).toBeUndefined();
    expect((await cluster.listJobPods(NS, 'j'))[0]!.deleting).toBe(true);
    cluster.tick();
    expect(await cluster.listJobPods(NS, 'j')).toEqual([]);
    await cluster.deleteJob(NS, 'j'); // a missing Job is fine, as with the adapter
    await cluster.createJob(NS, job('j'));
    expect(cluster.created('Job')).toEqual({ j: 2 });
  });

  it('with jobDeletionTicks a deleted Job shows deleting: true and its name stays taken meanwhile', async () => {
    const cluster = helm({ jobDeletionTicks: 2 });
    await cluster.createJob(NS, job('j'));
    await cluster.deleteJob(NS, 'j');
    expect(await cluster.getJob(NS, 'j')).toMatchObject({ deleting: true });
    expect(isClusterError(await caught(cluster.createJob(NS, job('j'))), 'already-exists')).toBe(true);
    cluster.tick(2);
    expect(await cluster.getJob(NS, 'j')).toBeUndefined();
  });

  it('validates like the API server: name length, namespace, missing namespace', async () => {
    const cluster = helm();
    expect(isClusterError(await caught(cluster.createJob(NS, job('x'.repeat(64)))), 'invalid')).toBe(true);
    expect(isClusterError(await caught(cluster.createJob('other', job('j'))), 'bad-request')).toBe(true);
    const elsewhere = { ...job('j'), metadata: { ...job('j').metadata, namespace: 'missing' } };
    expect(isClusterError(await caught(cluster.createJob('missing', elsewhere)), 'not-found')).toBe(true);
  });
});

describe('ConfigMaps and Leases: optimistic concurrency', () => {
  it('creates once, replaces only at the current resourceVersion', async () => {
    const cluster = helm();
    const content = { data: { checkpoint: '{}' }, labels: { 'app.kubernetes.io/managed-by': 'peerdb-upgrade' } };
    const first = await cluster.writeConfigMap(NS, 'cp', content, undefined);
    expect(first.resourceVersion).toBe(cluster.resourceVersion);
    expect(isClusterError(await caught(cluster.writeConfigMap(NS, 'cp', content, undefined)), 'already-exists')).toBe(true);
    const second = await cluster.writeConfigMap(NS, 'cp', { ...content, data: { checkpoint: '{"a":1}' } }, first.resourceVersion);
    expect(Number(second.resourceVersion)).toBeGreaterThan(Number(first.resourceVersion));
    expect(isClusterError(await caught(cluster.writeConfigMap(NS, 'cp', content, first.resourceVersion)), 'conflict')).toBe(true);
    expect(isClusterError(await caught(cluster.writeConfigMap(NS, 'other', content, '5')), 'not-found')).toBe(true);
    expect(await cluster.getConfigMap(NS, 'cp')).toEqual({ name: 'cp', resourceVersion: second.resourceVersion, data: { checkpoint: '{"a":1}' }, labels: content.labels });
    // Another writer moves it on.
    cluster.touchConfigMap(NS, 'cp');
    expect(isClusterError(await caught(cluster.writeConfigMap(NS, 'cp', content, second.resourceVersion)), 'conflict')).toBe(true);
    expect(cluster.created('ConfigMap')).toEqual({ cp: 1 });
  });

  it('refuses a ConfigMap over 1 MiB and invalid labels', async () => {
    const cluster = helm();
    const big = await caught(cluster.writeConfigMap(NS, 'cp', { data: { c: 'x'.repeat(1024 * 1024) }, labels: {} }, undefined));
    expect(isClusterError(big, 'invalid')).toBe(true);
    const label = await caught(cluster.writeConfigMap(NS, 'cp', { data: {}, labels: { version: 'a/b' } }, undefined));
    expect(isClusterError(label, 'invalid')).toBe(true);
  });

  it('every write takes the next resourceVersion of one global counter', async () => {
    const cluster = helm();
    const a = await cluster.writeConfigMap(NS, 'a', { data: {}, labels: {} }, undefined);
    const l = await cluster.writeLease(NS, 'lock', lease('me'), undefined);
    await cluster.createJob(NS, job('j'));
    const b = await cluster.writeConfigMap(NS, 'b', { data: {}, labels: {} }, undefined);
    expect(Number(l.resourceVersion)).toBe(Number(a.resourceVersion) + 1);
    expect(Number(b.resourceVersion)).toBe(Number(a.resourceVersion) + 3);
    cluster.tick(); // controllers write too
    expect(Number(cluster.resourceVersion)).toBeGreaterThan(Number(b.resourceVersion));
  });

  it('Leases: create, renew at the resourceVersion, delete with a precondition', async () => {
    const cluster = helm();
    const mine = await cluster.writeLease(NS, 'lock', lease('me'), undefined);
    expect(mine).toMatchObject({ holderIdentity: 'me', leaseDurationSeconds: 60, acquireTime: '2025-01-01T00:00:00.000000Z', annotations: { run: 'me' } });
    expect(isClusterError(await caught(cluster.writeLease(NS, 'lock', lease('other'), undefined)), 'already-exists')).toBe(true);
    const renewed = await cluster.writeLease(NS, 'lock', { ...lease('me'), renewTime: '2025-01-01T00:00:15.000Z' }, mine.resourceVersion);
    expect(isClusterError(await caught(cluster.writeLease(NS, 'lock', lease('other'), mine.resourceVersion)), 'conflict')).toBe(true);
    expect(isClusterError(await caught(cluster.deleteLease(NS, 'lock', mine.resourceVersion)), 'conflict')).toBe(true);
    await cluster.deleteLease(NS, 'lock', renewed.resourceVersion);
    expect(await cluster.getLease(NS, 'lock')).toBeUndefined();
    await cluster.deleteLease(NS, 'lock', renewed.resourceVersion); // gone already: no error, as with the adapter
    expect(cluster.created('Lease')).toEqual({ lock: 1 });
  });
});

describe('dry runs persist nothing but validate', () => {
  it('patch, create, write and delete with dryRun change nothing', async () => {
    const cluster = helm();
    cluster.addConfigMap(NS, 'cp', { k: 'v' });
    cluster.addLease(NS, 'lock', lease('me'));
    const rv = cluster.resourceVersion;
    const dry = { dryRun: true };
    await cluster.patchWorkload(NS, STS, { partition: 3, image: { container: 'flow-snapshot-worker', image: 'x:2' } }, dry);
    await cluster.patchWorkload(NS, API, { image: { container: 'flow-api', image: 'x:2' } }, dry);
    expect(await cluster.createJob(NS, job('j'), dry)).toMatchObject({ name: 'j' });
    await cluster.writeConfigMap(NS, 'cp', { data: { k: 'changed' }, labels: {} }, cluster.peekConfigMap(NS, 'cp')!.resourceVersion, dry);
    await cluster.writeConfigMap(NS, 'new', { data: {}, labels: {} }, undefined, dry);
    await cluster.writeLease(NS, 'lease2', lease('me'), undefined, dry);
    await cluster.deleteLease(NS, 'lock', undefined, dry);
    await cluster.deletePod(NS, 'flow-snapshot-worker-0', dry);
    expect(cluster.resourceVersion).toBe(rv);
    expect(await cluster.getJob(NS, 'j')).toBeUndefined();
    expect(await cluster.getConfigMap(NS, 'new')).toBeUndefined();
    expect((await cluster.getConfigMap(NS, 'cp'))!.data).toEqual({ k: 'v' });
    expect(await cluster.getLease(NS, 'lock')).toBeDefined();
    expect((await cluster.getWorkload(NS, STS))!).toMatchObject({ partition: 0, generation: 1 });
    cluster.settle();
    expect((await cluster.getWorkload(NS, STS))!.pods.every((p) => !p.deleting && p.images[0] === img('flow-snapshot-worker', 'v0.36.7'))).toBe(true);
    expect(cluster.created('Job')).toEqual({});
  });

  it('a dry run still reports what the real call would: not found, unknown container, conflicts', async () => {
    const cluster = helm();
    const dry = { dryRun: true };
    expect(isClusterError(await caught(cluster.patchWorkload(NS, { kind: 'Deployment', name: 'nope' }, { image: { container: 'x', image: 'x' } }, dry)), 'not-found')).toBe(true);
    expect(isClusterError(await caught(cluster.patchWorkload(NS, API, { image: { container: 'sidecar', image: 'x' } }, dry)), 'invalid')).toBe(true);
    expect(isClusterError(await caught(cluster.patchWorkload(NS, API, { partition: 1 }, dry)), 'invalid')).toBe(true);
    expect(isClusterError(await caught(cluster.patchWorkload(NS, STS, { partition: -1 }, dry)), 'invalid')).toBe(true);
    cluster.addConfigMap(NS, 'cp', {});
    expect(isClusterError(await caught(cluster.writeConfigMap(NS, 'cp', { data: {}, labels: {} }, '1', dry)), 'conflict')).toBe(true);
    expect(isClusterError(await caught(cluster.writeConfigMap(NS, 'cp', { data: {}, labels: {} }, undefined, dry)), 'already-exists')).toBe(true);
  });
});

describe('failure injection and access', () => {
  it('failNext fires once; the calls log records it', async () => {
    const cluster = helm();
    cluster.failNext('writeConfigMap', fault('conflict'));
    const error = await caught(cluster.writeConfigMap(NS, 'cp', { data: {}, labels: {} }, undefined));
    expect(isClusterError(error, 'conflict')).toBe(true);
    expect(await cluster.getConfigMap(NS, 'cp')).toBeUndefined();
    await cluster.writeConfigMap(NS, 'cp', { data: {}, labels: {} }, undefined);
    expect(cluster.callsTo('writeConfigMap').map((c) => c.error)).toEqual(['conflict', undefined]);
    expect(cluster.calls.at(-1)).toMatchObject({ method: 'writeConfigMap', args: [NS, 'cp', { data: {}, labels: {} }, undefined, {}] });
  });

  it('times and applied: a create that happened although its response was lost', async () => {
    const cluster = helm();
    cluster.failNext('createJob', fault('network'), { applied: true });
    expect(isClusterError(await caught(cluster.createJob(NS, job('j'))), 'network')).toBe(true);
    expect(await cluster.getJob(NS, 'j')).toBeDefined();
    expect(isClusterError(await caught(cluster.createJob(NS, job('j'))), 'already-exists')).toBe(true);
    expect(cluster.created('Job')).toEqual({ j: 1 });

    cluster.failNext('getWorkload', fault('server'), { times: 2 });
    expect(isClusterError(await caught(cluster.getWorkload(NS, API)), 'server')).toBe(true);
    expect(isClusterError(await caught(cluster.getWorkload(NS, API)), 'server')).toBe(true);
    expect(await cluster.getWorkload(NS, API)).toBeDefined();
  });

  it('inject: a predicate picks the calls to fail until removed', async () => {
    const cluster = helm();
    const remove = cluster.inject(({ method, args }) => (method === 'patchWorkload' && (args[1] as WorkloadRef).kind === 'StatefulSet' ? fault('forbidden') : undefined));
    expect(isClusterError(await caught(cluster.patchWorkload(NS, STS, { partition: 1 })), 'forbidden')).toBe(true);
    await cluster.patchWorkload(NS, API, { image: { container: 'flow-api', image: 'x:1' } });
    expect(isClusterError(await caught(cluster.patchWorkload(NS, STS, { partition: 1 })), 'forbidden')).toBe(true);
    remove();
    await cluster.patchWorkload(NS, STS, { partition: 1 });
  });

  it('an injected not-found reads as absent, as the adapter maps a 404; jobLogTail and waitForChange never throw', async () => {
    const cluster = helm();
    cluster.failNext('getWorkload', fault('not-found'));
    expect(await cluster.getWorkload(NS, API)).toBeUndefined();
    cluster.failNext('jobLogTail', fault('server'));
    expect(await cluster.jobLogTail(NS, 'j', 10)).toBeUndefined();
    cluster.failNext('waitForChange', fault('gone'));
    await cluster.waitForChange(NS, 'pods', {}, 5000);
  });

  it('deny: deniedAccess reports it and the matching calls are forbidden', async () => {
    const cluster = helm();
    cluster.deny('patch', 'statefulsets').deny('get', 'pods/log');
    const checks = [
      { verb: 'patch', group: 'apps', resource: 'statefulsets' },
      { verb: 'patch', group: 'apps', resource: 'deployments' },
      { verb: 'get', group: '', resource: 'pods', subresource: 'log' },
      { verb: 'get', group: '', resource: 'pods' },
    ];
    expect(await cluster.deniedAccess(NS, checks)).toEqual([checks[0], checks[2]]);
    const error = await caught(cluster.patchWorkload(NS, STS, { partition: 1 }));
    expect(isClusterError(error, 'forbidden')).toBe(true);
    expect((error as Error).message).toContain('cannot patch resource "statefulsets"');
    await cluster.patchWorkload(NS, API, { image: { container: 'flow-api', image: 'x:1' } });
  });
});

describe('simulated time', () => {
  it('waitForChange advances min(timeout, tickMs) and ticks; an aborted signal returns at once', async () => {
    const clock = new FakeClock(0);
    const cluster = new MemoryCluster({ clock });
    expect(cluster.clock).toBe(clock);
    await cluster.waitForChange(NS, 'pods', { labelSelector: 'app=x' }, 60_000);
    expect([clock.now(), cluster.tickCount]).toEqual([1000, 1]);
    await cluster.waitForChange(NS, 'pods', {}, 250);
    expect([clock.now(), cluster.tickCount]).toEqual([1250, 2]);
    const aborted = AbortSignal.abort();
    await cluster.waitForChange(NS, 'pods', {}, 60_000, aborted);
    await clock.sleep(60_000, aborted);
    expect([clock.now(), cluster.tickCount]).toEqual([1250, 2]);
  });

  it('sleep advances time and runs one tick per second of it, at least one', async () => {
    const cluster = new MemoryCluster();
    const start = cluster.clock.now();
    await cluster.clock.sleep(5_000);
    expect(cluster.tickCount).toBe(5);
    await cluster.clock.sleep(200);
    expect(cluster.tickCount).toBe(6);
    expect(cluster.clock.now() - start).toBe(5_200);
    expect(cluster.clock.sleeps).toEqual([5_000, 200]);
  });

  it('a poll loop on waitForChange drives a whole StatefulSet rollout', async () => {
    const cluster = helm();
    await cluster.patchWorkload(NS, STS, { image: { container: 'flow-snapshot-worker', image: img('flow-snapshot-worker', 'v0.37.4') } });
    for (let i = 0; i < 100; i++) {
      const w = (await cluster.getWorkload(NS, STS))!;
      if (w.observedGeneration === w.generation && w.currentRevision === w.updateRevision && w.readyReplicas === 3) break;
      await cluster.waitForChange(NS, 'pods', { labelSelector: w.selector }, 30_000);
    }
    const w = (await cluster.getWorkload(NS, STS))!;
    expect(w.pods.every((p) => p.images[0] === img('flow-snapshot-worker', 'v0.37.4') && p.ready)).toBe(true);
  });
});

describe('label selectors', () => {
  it('understands =, !=, in, notin, exists and does-not-exist', () => {
    const labels = { app: 'a', tier: 'db' };
    expect(parseSelector('')(labels)).toBe(true);
    expect(parseSelector('app=a,tier==db')(labels)).toBe(true);
    expect(parseSelector('app!=a')(labels)).toBe(false);
    expect(parseSelector('tier in (web, db),app')(labels)).toBe(true);
    expect(parseSelector('tier notin (db)')(labels)).toBe(false);
    expect(parseSelector('!missing,app')(labels)).toBe(true);
    expect(() => parseSelector('a=b=c')).toThrow(/unable to parse/);
  });
});
