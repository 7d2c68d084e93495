import { describe, expect, it } from 'vitest';
import { applyUpgrade } from '../../src/apply/apply-upgrade.js';
import { runMaintenance } from '../../src/apply/run-maintenance.js';
import { mirrorsPaused } from '../../src/apply/checkpoint.js';
import { CHECKPOINT_KEY, parseCheckpoint, type Checkpoint } from '../../src/apply/checkpoint.js';
import type { ApplyEvent } from '../../src/apply/events.js';
import { ExitCode } from '../../src/exit-code.js';
import { parseSpecText, resolveSpec, type LoadedSpec } from '../../src/spec/load-spec.js';
import { computePlan } from '../../src/plan/compute-plan.js';
import { observeCluster } from '../../src/apply/observe-cluster.js';
import { observedFingerprint } from '../../src/plan/plan-input.js';
import { readSavedPlan, savePlan } from '../../src/plan/saved-plan.js';
import { fault, MemoryCluster } from './fakes/memory-cluster.js';
import { applyRequest, HELM_SPEC_TEXT, outcomeOf, TEST_HOST } from './fakes/apply-request.js';
import type { JobManifest } from '../../src/cluster/types.js';
import { HELM_STEP_IDS } from '../helm-step-ids.js';
import { skipDefaults } from './fakes/skip-defaults.js';
import { planWords } from '../../src/cli/plan-words.js';

/** The CLI's words for a plan of plans/helm-default.yaml. */
const WORDS = planWords({ specFile: 'helm-default.yaml' });

const NS = 'peerdb';
const FROM = 'v0.36.7';
const TO = 'v0.37.4';
const img = (name: string, version: string) => `ghcr.io/peerdb-io/${name}:stable-${version}`;

function load(text = HELM_SPEC_TEXT): LoadedSpec {
  return parseSpecText('helm-default.yaml', text);
}

function checkpointOf(cluster: MemoryCluster): Checkpoint {
  const cm = cluster.peekConfigMap(NS, 'peerdb-peerdb-upgrade');
  if (!cm) throw new Error('no checkpoint');
  return parseCheckpoint(cm.data[CHECKPOINT_KEY]!, 'test');
}

/** The final state every successful upgrade must reach. */
async function expectUpgraded(cluster: MemoryCluster): Promise<void> {
  for (const name of ['flow-api', 'flow-worker', 'peerdb-server', 'peerdb-ui']) {
    const d = (await cluster.getWorkload(NS, { kind: 'Deployment', name }))!;
    expect(d.containers[0]!.image).toBe(img(name, TO));
  }
  const sts = (await cluster.getWorkload(NS, { kind: 'StatefulSet', name: 'flow-snapshot-worker' }))!;
  expect(sts.containers[0]!.image).toBe(img('flow-snapshot-worker', TO));
  expect(sts.partition).toBe(0);
  expect(sts.pods.map((p) => [p.ordinal, p.revision === sts.updateRevision, p.ready])).toEqual([
    [2, true, true],
    [1, true, true],
    [0, true, true],
  ]);
  const checkpoint = checkpointOf(cluster);
  expect(checkpoint.run.state).toBe('done');
  expect(checkpoint.steps.every((s) => s.s === 'done')).toBe(true);
  expect(cluster.peekLease(NS, 'peerdb-peerdb-upgrade')).toBeUndefined();
  for (const [name, count] of Object.entries(cluster.created('Job'))) expect(count, `Job ${name} created ${count} times`).toBe(1);
}

/** No StatefulSet pod was updated while a pod of a higher ordinal was not Ready. */
function expectNoPartitionSkipped(cluster: MemoryCluster): void {
  const updates = cluster.podUpdates(NS, 'flow-snapshot-worker');
  expect(updates.map((u) => u.ordinal)).toEqual([2, 1, 0]);
  for (const update of updates) {
    const higher = [2, 1, 0].filter((o) => o > update.ordinal!);
    for (const o of higher) expect(update.readyOrdinals, `pod ${update.ordinal} updated before pod ${o} was Ready`).toContain(o);
  }
  const partitions = cluster.partitionHistory(NS, 'flow-snapshot-worker');
  expect(partitions).toEqual([3, 2, 1, 0]);
}

describe('apply against an in-memory cluster', () => {
  it('upgrades a Helm installation: Jobs in order, pods one at a time from the highest ordinal', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM, { snapshotReplicas: 3 });
    const { request: r, events } = applyRequest(cluster);
    const outcome = (await applyUpgrade(r)) as { kind: string };
    expect(outcome.kind).toBe('done');
    await expectUpgraded(cluster);
    expectNoPartitionSkipped(cluster);
    const jobs = cluster.events.filter((e) => e.type === 'job-created').map((e) => e.name);
    expect(jobs.map((n) => n!.replace(/-v0-37-4-[0-9a-f]{6}$/, ''))).toEqual(['peerdb-maintenance-start', 'peerdb-init-catalog-migrations', 'peerdb-maintenance-end']);
    expect(events.filter((e) => e.type === 'step-done').map((e) => (e as { step: { id: string } }).step.id).at(-1)).toBe('complete');
  });

  it('has nothing to do when the installation already runs the target', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, TO);
    expect(((await applyUpgrade(applyRequest(cluster).request)) as { kind: string }).kind).toBe('nothing-to-do');
    // Reads only: flow-api GETs (and the mirror status query, a POST that changes nothing) included.
    const reads = (c: { method: string; args: readonly unknown[] }) =>
      c.method.startsWith('get') || ['listPods', 'listWorkloads'].includes(c.method) || (c.method === 'podHttp' && ['GET', 'POST /v1/mirrors/status'].includes(podRequest(c.args)));
    expect(cluster.calls.filter((c) => !reads(c))).toEqual([]);
  });

  // Every step boundary but the last: after complete there is nothing left to interrupt.
  const boundaries = HELM_STEP_IDS.filter((id) => id !== 'complete');

  it.each(boundaries)('an interruption after %s, then --resume, ends upgraded with every Job created once', async (step) => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM, { snapshotReplicas: 3 });
    const first = await outcomeOf(applyUpgrade(applyRequest(cluster, { abortAfterStep: step }).request));
    if (step === 'preflight') {
      // Preflight runs before the lock and the checkpoint; the first step boundary after it is the next.
      expect([0, ExitCode.Interrupted]).toContain(first.code);
    } else {
      expect(first.code).toBe(ExitCode.Interrupted);
      expect(first.message).toContain('apply -f helm-default.yaml --resume');
      expect(checkpointOf(cluster).run.state).toBe('interrupted');
      expect(cluster.peekLease(NS, 'peerdb-peerdb-upgrade')).toBeUndefined();
      const refused = await outcomeOf(applyUpgrade(applyRequest(cluster).request));
      expect(refused.code).toBe(ExitCode.Error);
      expect(refused.message).toContain('--resume');
    }
    const resumed = await outcomeOf(applyUpgrade(applyRequest(cluster, { mode: 'resume' }).request));
    expect(resumed.code).toBe(0);
    await expectUpgraded(cluster);
    expectNoPartitionSkipped(cluster);
  });

  it('survives a crash mid-StatefulSet (every call fails), resuming after the lease expires', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM, { snapshotReplicas: 3 });
    let crashed = false;
    const heal = cluster.inject((call) => {
      const podStep = cluster.calls.some((c) => c.method === 'patchWorkload' && (c.args[2] as { partition?: number }).partition === 1);
      if (podStep) crashed = true;
      return crashed ? fault('network', `crash during ${call.method}`) : undefined;
    }, { times: 10_000 });
    // A crash, not an outage: the run does not wait for the API server to come back.
    const first = await outcomeOf(applyUpgrade(applyRequest(cluster, { outageMs: 0 }).request));
    expect(first.code).not.toBe(0);
    expect(cluster.peekLease(NS, 'peerdb-peerdb-upgrade')).toBeDefined();
    heal();
    // The dead run's lease holds until it expires (same process here, so the pid looks alive).
    const locked = await outcomeOf(applyUpgrade(applyRequest(cluster, { mode: 'resume' }).request));
    expect(locked.code, locked.message).toBe(ExitCode.Locked);
    cluster.advance(61_000);
    const resumed = await outcomeOf(applyUpgrade(applyRequest(cluster, { mode: 'resume' }).request));
    expect(resumed.code, resumed.message).toBe(0);
    await expectUpgraded(cluster);
  });

  it('plans from what the run before it left when it had to wait for the lock, not from what it read beside its first look', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM, { snapshotReplicas: 3 });
    let crashed = false;
    const heal = cluster.inject((call) => {
      if (cluster.calls.some((c) => c.method === 'patchWorkload' && (c.args[2] as { partition?: number }).partition === 1)) crashed = true;
      return crashed ? fault('network', `crash during ${call.method}`) : undefined;
    }, { times: 10_000 });
    expect((await outcomeOf(applyUpgrade(applyRequest(cluster, { outageMs: 0 }).request))).code).not.toBe(0);
    heal();
    const name = 'peerdb-peerdb-upgrade';
    expect(cluster.peekLease(NS, name)).toBeDefined();
    // While the next run waits for the lock, the holder ends: its checkpoint says so, the lock goes.
    let ended = false;
    cluster.clock.onAdvance(() => {
      if (ended) return;
      ended = true;
      const stored = cluster.peekConfigMap(NS, name)!;
      const checkpoint = JSON.parse(stored.data[CHECKPOINT_KEY]!) as Checkpoint;
      cluster.addConfigMap(NS, name, { ...stored.data, [CHECKPOINT_KEY]: JSON.stringify({ ...checkpoint, run: { ...checkpoint.run, state: 'aborted' } }) }, stored.labels);
      void cluster.deleteLease(NS, name, undefined);
    });
    // Read beside the first look, the checkpoint was unfinished ("use --resume"); read again after
    // the wait, it is ended, and a fresh run goes ahead.
    const next = await outcomeOf(applyUpgrade(applyRequest(cluster, { lockTimeoutMs: 60_000 }).request));
    expect(ended).toBe(true);
    expect(next.code, next.message).toBe(0);
    await expectUpgraded(cluster);
  });

  it('rides out an API server outage mid-StatefulSet: the step is run again once the server answers, and finishes', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM, { snapshotReplicas: 3 });
    let downSince: number | undefined;
    cluster.inject((call) => {
      const podStep = cluster.calls.some((c) => c.method === 'patchWorkload' && (c.args[2] as { partition?: number }).partition === 1);
      if (podStep && downSince === undefined) downSince = cluster.clock.now();
      // Away for 60 s of the run's time, then back.
      return downSince !== undefined && cluster.clock.now() - downSince < 60_000 ? fault('network', `outage during ${call.method}`) : undefined;
    }, { times: 100_000 });
    const run = applyRequest(cluster, { outageMs: 180_000 });
    const result = await outcomeOf(applyUpgrade(run.request));
    expect(result.code, result.message).toBe(0);
    expect(run.events.some((e) => e.type === 'warning' && /waiting for the API server/.test((e as { message: string }).message))).toBe(true);
    await expectUpgraded(cluster);
  });

  it('a pod step reads every pod of the StatefulSet at most twice, whatever the replicas (waits read only the pod itself)', async () => {
    const fullListingsPerPodStep = async (replicas: number) => {
      const cluster = new MemoryCluster().seedHelm(NS, FROM, { snapshotReplicas: replicas });
      const run = applyRequest(cluster);
      const marks: number[] = [];
      const emit = run.request.emit;
      const result = await outcomeOf(applyUpgrade({ ...run.request, emit: (e) => {
        if ((e.type === 'step-start' || e.type === 'step-done') && e.step.kind === 'statefulset-pod') marks.push(cluster.calls.length);
        emit(e);
      } }));
      expect(result.code, result.message).toBe(0);
      const full: number[] = [];
      for (let i = 0; i + 1 < marks.length; i += 2) {
        full.push(cluster.calls.slice(marks[i], marks[i + 1]).filter((c) => c.method === 'getWorkload' && (c.args[1] as { kind: string }).kind === 'StatefulSet' && (c.args[2] as { podName?: string } | undefined)?.podName === undefined).length);
      }
      return full;
    };
    const small = await fullListingsPerPodStep(5);
    const large = await fullListingsPerPodStep(40);
    expect(Math.max(...small)).toBeLessThanOrEqual(2);
    expect(Math.max(...large)).toBeLessThanOrEqual(2);
  });

  it('retries a checkpoint write that conflicts', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    let conflicts = 0;
    cluster.inject((call) => {
      if (call.method === 'writeConfigMap' && conflicts < 2 && cluster.peekConfigMap(NS, 'peerdb-peerdb-upgrade')) {
        conflicts += 1;
        cluster.touchConfigMap(NS, 'peerdb-peerdb-upgrade');
        return fault('conflict');
      }
      return undefined;
    }, { times: 2 });
    expect(((await applyUpgrade(applyRequest(cluster).request)) as { kind: string }).kind).toBe('done');
    expect(conflicts).toBe(2);
    await expectUpgraded(cluster);
  });

  it('survives writes that went through but whose answers were lost (the retry conflicts with itself)', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    cluster.failNext('writeLease', fault('conflict'), { applied: true });
    cluster.failNext('writeConfigMap', fault('already-exists'), { applied: true });
    cluster.failNext('createJob', fault('already-exists'), { applied: true });
    cluster.failNext('deleteLease', fault('conflict'), { applied: false });
    expect(((await applyUpgrade(applyRequest(cluster).request)) as { kind: string }).kind).toBe('done');
    await expectUpgraded(cluster);
  });

  it('plans again when a late write of an earlier run moves the checkpoint while it plans', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    // The first run is interrupted; the resume's first look at the checkpoint is then overtaken.
    expect((await outcomeOf(applyUpgrade(applyRequest(cluster, { abortAfterStep: 'deployment-rollout/flow-api' }).request))).code).toBe(ExitCode.Interrupted);
    let moved = false;
    cluster.inject((call) => {
      if (call.method === 'writeLease' && !moved) {
        moved = true;
        cluster.touchConfigMap(NS, 'peerdb-peerdb-upgrade');
      }
      return undefined;
    }, { times: 100 });
    const { request: r, events } = applyRequest(cluster, { mode: 'resume' });
    const resumed = await outcomeOf(applyUpgrade(r));
    expect(resumed.code, resumed.message).toBe(0);
    expect(events.some((e) => e.type === 'info' && e.message.includes('planning again'))).toBe(true);
    await expectUpgraded(cluster);
  });

  it('exits 3 naming the holder when another run holds the lock', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    const now = new Date(cluster.clock.now()).toISOString();
    cluster.addLease(NS, 'peerdb-peerdb-upgrade', { holderIdentity: 'ci@runner-7/4242/20250101T000000Z-abcdef', leaseDurationSeconds: 60, acquireTime: now, renewTime: now, annotations: { 'peerdb-upgrade.peerdb.io/host': 'runner-7', 'peerdb-upgrade.peerdb.io/plan': 'abc' } });
    const result = await outcomeOf(applyUpgrade(applyRequest(cluster).request));
    expect(result.code).toBe(ExitCode.Locked);
    expect(result.message).toContain('ci@runner-7/4242/20250101T000000Z-abcdef (host runner-7');
    expect(result.message).toContain('--force 20250101T000000Z-abcdef');
    expect(cluster.created('Job')).toEqual({});
  });

  it('writes the checkpoint once per step: the creating write marks the first step running, complete records the one before it', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM, { snapshotReplicas: 3 });
    const { request, events } = applyRequest(cluster);
    expect(((await applyUpgrade(request)) as { kind: string }).kind).toBe('done');
    const writes = cluster.calls.filter((c) => c.method === 'writeConfigMap').map((c) => ({ rv: c.args[3], checkpoint: parseCheckpoint((c.args[2] as { data: Record<string, string> }).data[CHECKPOINT_KEY]!, 'test') }));
    const ran = events.filter((e) => e.type === 'step-start').map((e) => (e as { step: { id: string } }).step.id);
    expect(ran[0]).toBe('maintenance-start');
    // One write per step run (preflight ran before the lock): not two at the start, nor at the end.
    expect(writes).toHaveLength(ran.length);
    const stateOf = (c: Checkpoint, id: string) => c.steps.find((s) => s.id === id)?.s;
    // The creating write (no resourceVersion): maintenance start already running, before its Job.
    expect(writes[0]!.rv).toBeUndefined();
    expect(stateOf(writes[0]!.checkpoint, 'maintenance-start')).toBe('running');
    expect(writes[0]!.checkpoint.steps.find((s) => s.id === 'maintenance-start')?.a).toBe(1);
    const firstJob = cluster.calls.findIndex((c) => c.method === 'createJob');
    expect(cluster.calls.slice(0, firstJob).filter((c) => c.method === 'writeConfigMap')).toHaveLength(1);
    // Before complete: verify-mirrors running in the cluster; complete's write records both.
    const last = writes.at(-1)!.checkpoint;
    expect(stateOf(writes.at(-2)!.checkpoint, 'verify-mirrors')).toBe('running');
    expect(stateOf(last, 'verify-mirrors')).toBe('done');
    expect(last.run.state).toBe('done');
    // Every write a whole checkpoint: each step running or done in order, none skipped.
    for (const { checkpoint } of writes) {
      const states = checkpoint.steps.map((s) => s.s);
      const firstNotDone = states.findIndex((x) => x !== 'done');
      if (firstNotDone >= 0) expect(states.slice(firstNotDone + 1).every((x) => x === 'pending')).toBe(true);
    }
  });

  it('a failure of the final check is recorded with the step before it done', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    // A Job of the run still active when complete looks (someone re-ran it): complete fails.
    cluster.inject((call) => {
      if (call.method === 'listJobs' && cluster.calls.some((c) => c.method === 'podHttp' && (c.args[3] as { path: string }).path === '/v1/mirrors/list') && cluster.events.some((e) => e.type === 'job-succeeded' && e.name?.startsWith('peerdb-maintenance-end'))) {
        return fault('forbidden', 'forbidden: jobs.batch is forbidden (injected)');
      }
      return undefined;
    }, { times: 1 });
    const result = await outcomeOf(applyUpgrade(applyRequest(cluster).request));
    expect(result.code, result.message).not.toBe(0);
    expect(result.message).toMatch(/^step complete failed: .*forbidden/);
    const checkpoint = checkpointOf(cluster);
    expect(checkpoint.steps.find((s) => s.id === 'verify-mirrors')?.s).toBe('done');
    expect(checkpoint.steps.find((s) => s.id === 'complete')?.s).toBe('failed');
  });

  it('reads the Lease once on the way to taking it: the read before planning answers for the take', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    expect(((await applyUpgrade(applyRequest(cluster).request)) as { kind: string }).kind).toBe('done');
    const firstWrite = cluster.calls.findIndex((c) => c.method === 'writeLease');
    expect(cluster.calls.slice(0, firstWrite).filter((c) => c.method === 'getLease')).toHaveLength(1);
    expect(cluster.calls[firstWrite]!.args[3]).toBeUndefined(); // a create: refused if a Lease appeared since
  });

  it('reads the checkpoint once before its first write: that write, at the version planned from, is the check that it did not move', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    expect(((await applyUpgrade(applyRequest(cluster).request)) as { kind: string }).kind).toBe('done');
    const firstWrite = cluster.calls.findIndex((c) => c.method === 'writeConfigMap');
    expect(cluster.calls.slice(0, firstWrite).filter((c) => c.method === 'getConfigMap')).toHaveLength(1);
  });

  it('exits 3 when another run took the lock after the read before planning (while the user confirmed)', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    const other = 'ci@runner-7/77/20250101T000000Z-other1';
    const confirm = async () => {
      const now = new Date(cluster.clock.now()).toISOString();
      cluster.addLease(NS, 'peerdb-peerdb-upgrade', { holderIdentity: other, leaseDurationSeconds: 60, acquireTime: now, renewTime: now });
      return true;
    };
    const result = await outcomeOf(applyUpgrade(applyRequest(cluster, { confirm }).request));
    expect(result.code, result.message).toBe(ExitCode.Locked);
    expect(result.message).toContain(other);
    expect(cluster.peekLease(NS, 'peerdb-peerdb-upgrade')?.holderIdentity).toBe(other);
    expect(cluster.peekConfigMap(NS, 'peerdb-peerdb-upgrade')).toBeUndefined();
    expect(cluster.created('Job')).toEqual({});
  });

  it('exits 3 when a stale Lease seen before planning was renewed by its holder before the take', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    const other = 'ci@runner-7/77/20250101T000000Z-other1';
    const old = new Date(cluster.clock.now() - 120_000).toISOString();
    cluster.addLease(NS, 'peerdb-peerdb-upgrade', { holderIdentity: other, leaseDurationSeconds: 60, acquireTime: old, renewTime: old });
    const confirm = async () => {
      // The holder was only slow (a long GC pause, a network partition): it renews at the version it holds.
      const lease = cluster.peekLease(NS, 'peerdb-peerdb-upgrade')!;
      const now = new Date(cluster.clock.now()).toISOString();
      await cluster.writeLease(NS, 'peerdb-peerdb-upgrade', { holderIdentity: other, leaseDurationSeconds: 60, acquireTime: old, renewTime: now, annotations: {}, labels: {} }, lease.resourceVersion);
      return true;
    };
    const result = await outcomeOf(applyUpgrade(applyRequest(cluster, { confirm }).request));
    expect(result.code, result.message).toBe(ExitCode.Locked);
    expect(cluster.peekLease(NS, 'peerdb-peerdb-upgrade')?.holderIdentity).toBe(other);
    expect(cluster.peekConfigMap(NS, 'peerdb-peerdb-upgrade')).toBeUndefined();
    expect(cluster.created('Job')).toEqual({});
  });

  it('a failing init Job after maintenance-start exits 5 with the log tail and both ways out', async () => {
    const text = HELM_SPEC_TEXT.replace('      preset: catalog-migrations\n', '      preset: catalog-migrations\n    - name: smoke\n      image: busybox:fail\n');
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    const { request: r } = applyRequest(cluster, { text });
    const jobName = r.spec.initJobs.length === 2 ? undefined : 'x';
    expect(jobName).toBeUndefined();
    cluster.inject((call) => {
      if (call.method === 'jobLogTail') cluster.jobLogs.set(call.args[1] as string, 'line 1\nerror: schema check failed');
      return undefined;
    }, { times: 100 });
    const result = await outcomeOf(applyUpgrade(r));
    expect(result.code).toBe(ExitCode.NeedsPerson);
    expect(result.message).toMatch(/step init-job\/smoke failed: Job peerdb-init-smoke-v0-37-4-[0-9a-f]{6} failed \(BackoffLimitExceeded[^;]*; 2 failed pods\)/);
    expect(result.message).toContain('  | error: schema check failed');
    expect(result.message).toContain('MIRRORS ARE PAUSED');
    expect(result.message).toContain('peerdb-upgrade apply -f helm-default.yaml --resume');
    expect(result.message).toContain('peerdb-upgrade maintenance end -f helm-default.yaml');
    expect(checkpointOf(cluster).run.state).toBe('needs-person');
  });

  it('maintenance end after such a failure resumes the mirrors on the running version and closes the run', async () => {
    const text = HELM_SPEC_TEXT.replace('      preset: catalog-migrations\n', '      preset: catalog-migrations\n    - name: smoke\n      image: busybox:fail\n');
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    const { request: r } = applyRequest(cluster, { text });
    expect((await outcomeOf(applyUpgrade(r))).code).toBe(ExitCode.NeedsPerson);
    expect(mirrorsPaused(checkpointOf(cluster))).toBe(true);
    const result = await runMaintenance({ cluster, spec: r.spec, mode: 'end', lockTimeoutMs: 0, clock: cluster.clock, host: TEST_HOST, signal: new AbortController().signal, emit: () => undefined });
    expect(result.version).toBe(FROM);
    expect(result.job).toMatch(/^peerdb-maintenance-end-v0-36-7-[0-9a-f]{6}$/);
    expect(cluster.peekJob(NS, result.job)?.conditions.some((c) => c.type === 'Complete' && c.status === 'True')).toBe(true);
    const closed = checkpointOf(cluster);
    expect(closed.run.state).toBe('aborted');
    expect(mirrorsPaused(closed)).toBe(false);
    expect(closed.history.at(-1)).toMatchObject({ run: closed.run.id, result: 'aborted' });
    expect(cluster.peekLease(NS, 'peerdb-peerdb-upgrade')).toBeUndefined();
  });

  it("shows a running Job's last log line while it waits (maintenance start can wait for snapshots)", async () => {
    const text = HELM_SPEC_TEXT.replace('      preset: catalog-migrations\n', '      preset: catalog-migrations\n    - name: smoke\n      image: busybox:imagepull\n      timeout: 2m\n');
    // Jobs that run 30 s: the log is first read once a Job has run 15 s.
    const cluster = new MemoryCluster({ jobTicks: 30 }).seedHelm(NS, FROM);
    cluster.inject((call) => {
      if (call.method === 'jobLogTail') cluster.jobLogs.set(call.args[1] as string, 'starting\nwaiting for snapshot of mirror orders_cdc to finish');
      return undefined;
    }, { times: 1000 });
    const { request: r, events } = applyRequest(cluster, { text });
    await outcomeOf(applyUpgrade(r));
    const progress = events.filter((e) => e.type === 'step-progress').map((e) => (e as { message: string }).message);
    expect(progress.some((m) => m.startsWith('Job peerdb-maintenance-start-') && m.endsWith(': waiting for snapshot of mirror orders_cdc to finish'))).toBe(true);
  });

  it("reads a Job's log and PeerDB's maintenance detail only once the Job has run a while: a quick Job costs neither", async () => {
    const logReads = (c: MemoryCluster) => c.calls.filter((call) => call.method === 'jobLogTail');
    const detailReads = (c: MemoryCluster) => c.calls.filter((call) => call.method === 'podHttp' && (call.args[3] as { path: string }).path === '/v1/instance/maintenance/status');
    // Jobs of 2 s (the default): no log tail, no flow-api detail (each a pod LIST, a GET, a port-forward).
    const quick = new MemoryCluster().seedHelm(NS, FROM);
    expect(((await applyUpgrade(applyRequest(quick).request)) as { kind: string }).kind).toBe('done');
    expect(logReads(quick)).toEqual([]);
    expect(detailReads(quick)).toEqual([]);
    // Jobs of 40 s: each Job's log is first read 15 s after its step started, PeerDB's detail 5 s
    // after maintenance start started, and then at their intervals (15 s, 10 s), not at every look.
    const slow = new MemoryCluster({ jobTicks: 40 }).seedHelm(NS, FROM);
    const { request, events } = applyRequest(slow);
    expect(((await applyUpgrade(request)) as { kind: string }).kind).toBe('done');
    const started = new Map(events.filter((e) => e.type === 'step-start').map((e) => [(e as { step: { id: string } }).step.id, e.at]));
    const startAt = started.get('maintenance-start')!;
    const startLogs = logReads(slow).filter((c) => c.at >= startAt && c.at < started.get(HELM_STEP_IDS[2]!)!);
    expect(startLogs.length).toBeGreaterThanOrEqual(2);
    expect(startLogs[0]!.at - startAt).toBeGreaterThanOrEqual(15_000);
    expect(startLogs[1]!.at - startLogs[0]!.at).toBeGreaterThanOrEqual(15_000);
    const details = detailReads(slow);
    expect(details.length).toBeGreaterThanOrEqual(3);
    expect(details[0]!.at - startAt).toBeGreaterThanOrEqual(5_000);
    expect(details[1]!.at - details[0]!.at).toBeGreaterThanOrEqual(10_000);
    expect(logReads(slow).length).toBeLessThanOrEqual(3 * 3);
  });

  it('a failing Job without maintenance exits 4', async () => {
    const text = HELM_SPEC_TEXT.replace(/  maintenance:\n(    .*\n)+/, '').replace('      preset: catalog-migrations\n', '      preset: catalog-migrations\n    - name: smoke\n      image: busybox:fail\n');
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    const result = await outcomeOf(applyUpgrade(applyRequest(cluster, { text }).request));
    expect(result.code).toBe(ExitCode.StepFailed);
    expect(result.message).not.toContain('MIRRORS ARE PAUSED');
  });

  it('fails a crash-looping pod fast, with the reason, long before its readyTimeout', async () => {
    const text = HELM_SPEC_TEXT.replace(/  maintenance:\n(    .*\n)+  initJobs:\n(    .*\n)+/, '').replace('  version: v0.37.4', '  version: v0.37.4\n  images:\n    tagPrefix: crashloop-');
    // The simulated kubelet crash-loops containers whose image tag says crashloop: the target's.
    const cluster = new MemoryCluster().seedHelm(NS, FROM, { snapshotReplicas: 2 });
    const started = cluster.clock.now();
    const result = await outcomeOf(applyUpgrade(applyRequest(cluster, { text }).request));
    expect(result.code, result.message).toBe(ExitCode.StepFailed);
    expect(result.message).toMatch(/^step deployment-rollout\/flow-api failed: pod flow-api-[a-z0-9-]+: CrashLoopBackOff/);
    expect(cluster.clock.now() - started).toBeLessThan(2 * 60_000);
  });

  it('resumes after a fix to an unfinished step, and refuses a change to a finished one or to the target', async () => {
    const broken = HELM_SPEC_TEXT.replace('      preset: catalog-migrations\n', '      preset: catalog-migrations\n    - name: smoke\n      image: busybox:fail\n');
    const fixed = broken.replace('busybox:fail', 'busybox:1.36');
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    expect((await outcomeOf(applyUpgrade(applyRequest(cluster, { text: broken }).request))).code).toBe(ExitCode.NeedsPerson);

    const finishedChanged = fixed.replace('timeout: 2h', 'timeout: 3h').replace('backoffLimit: 4', 'backoffLimit: 5');
    const refused = await outcomeOf(applyUpgrade(applyRequest(cluster, { text: finishedChanged, mode: 'resume' }).request));
    expect(refused.code).toBe(ExitCode.Error);
    expect(refused.message).toContain('maintenance-start is finished but the spec now plans it differently');

    const newTarget = fixed.replace('version: v0.37.4', 'version: v0.37.5');
    const refusedTarget = await outcomeOf(applyUpgrade(applyRequest(cluster, { text: newTarget, mode: 'resume' }).request));
    expect(refusedTarget.message).toContain('the unfinished run upgrades to v0.37.4; the spec now says v0.37.5');

    const resumed = await outcomeOf(applyUpgrade(applyRequest(cluster, { text: fixed, mode: 'resume' }).request));
    expect(resumed.code, resumed.message).toBe(0);
    await expectUpgraded(cluster);
    expect(Object.keys(cluster.created('Job')).filter((n) => n.includes('smoke'))).toHaveLength(2);
  });

  it('applies a saved plan exactly, and refuses it with what differs once the cluster moved on', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    const loaded = load();
    const spec = resolveSpec(loaded.document);
    const observed = await observeCluster(spec, cluster);
    const plan = computePlan(spec, { mode: 'live', observed });
    const file = savePlan({ plan, spec: loaded, allowDowngrade: false, observedFingerprint: observedFingerprint(observed), toolVersion: 'test', now: new Date(0), words: WORDS });
    const saved = readSavedPlan('plan.json', file);

    // Someone upgrades flow-api by hand after the plan was reviewed.
    await cluster.patchWorkload(NS, { kind: 'Deployment', name: 'flow-api' }, { image: { container: 'flow-api', image: img('flow-api', TO) } });
    cluster.settle();
    const stale = await outcomeOf(applyUpgrade(applyRequest(cluster, { savedPlan: saved }).request));
    expect(stale.code).toBe(ExitCode.Error);
    expect(stale.message).toContain('the cluster changed since the plan was made');
    expect(stale.message).toContain('- deployment-rollout/flow-api: no longer needed');
    expect(cluster.created('Job')).toEqual({});

    const fresh = new MemoryCluster().seedHelm(NS, FROM);
    let asked = false;
    const outcome = (await applyUpgrade(applyRequest(fresh, { savedPlan: saved, confirm: async () => (asked = true) }).request)) as { kind: string; plan: { hash: string } };
    expect(outcome.kind).toBe('done');
    expect(outcome.plan.hash).toBe(plan.hash);
    expect(asked).toBe(false);
    await expectUpgraded(fresh);
  });

  it('a server dry run changes nothing, not even the checkpoint or the lock', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    const before = cluster.resourceVersion;
    const outcome = (await applyUpgrade(applyRequest(cluster, { dryRun: true }).request)) as { kind: string; results: { ok: boolean }[] };
    expect(outcome.kind).toBe('dry-run');
    expect(outcome.results.every((r) => r.ok)).toBe(true);
    expect(cluster.resourceVersion).toBe(before);
    expect(cluster.peekConfigMap(NS, 'peerdb-peerdb-upgrade')).toBeUndefined();
  });

  it('a server dry run reports what the API server would refuse', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    cluster.inject((call) => (call.method === 'createJob' && (call.args[1] as { metadata: { name: string } }).metadata.name.includes('catalog') ? fault('forbidden', 'forbidden: exceeded quota: jobs, requested: count/jobs.batch=1, used: 2, limited: 2') : undefined), { times: 5 });
    const outcome = (await applyUpgrade(applyRequest(cluster, { dryRun: true }).request)) as { kind: string; results: { ok: boolean; step: { id: string }; message: string }[] };
    const refused = outcome.results.filter((r) => !r.ok);
    expect(refused.map((r) => r.step.id)).toEqual(['init-job/catalog-migrations']);
    expect(refused[0]!.message).toContain('exceeded quota');
    expect(cluster.created('Job')).toEqual({});
  });

  it('refuses in preflight, with nothing changed, when a permission is missing', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM).deny('patch', 'statefulsets', { group: 'apps' });
    const before = cluster.resourceVersion;
    const result = await outcomeOf(applyUpgrade(applyRequest(cluster).request));
    expect(result.code).toBe(ExitCode.Error);
    expect(result.message).toContain('preflight: missing permissions in namespace peerdb: patch statefulsets.apps');
    expect(cluster.resourceVersion).toBe(before);
  });

  it('refuses in preflight while a pod is not Ready, naming it and a command that waits for it; nothing changed', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    cluster.setPod(NS, 'flow-snapshot-worker-1', { ready: false, phase: 'Running' });
    const before = cluster.resourceVersion;
    const result = await outcomeOf(applyUpgrade(applyRequest(cluster).request));
    expect(result.code).toBe(ExitCode.Error);
    expect(result.message).toContain('preflight: the installation is not healthy enough to start an upgrade: pod flow-snapshot-worker-1 not Ready');
    expect(result.message).toContain('wait with `kubectl -n peerdb rollout status statefulset/flow-snapshot-worker --timeout=10m`), then run again; nothing was changed');
    expect(cluster.resourceVersion).toBe(before);
  });

  it('an OnDelete StatefulSet, which rollout status refuses, is waited for pod by pod', async () => {
    const cluster = new MemoryCluster();
    cluster.addNamespace(NS).addStatefulSet(NS, 'flow-snapshot-worker', { image: img('flow-snapshot-worker', FROM), replicas: 3, strategy: 'OnDelete' });
    cluster.setPod(NS, 'flow-snapshot-worker-0', { ready: false, phase: 'Pending', waitingReason: 'ContainerCreating' });
    cluster.setPod(NS, 'flow-snapshot-worker-2', { ready: false, phase: 'Running' });
    const text = HELM_SPEC_TEXT.replace(/  maintenance:\n(    .*\n)+  initJobs:\n(    .*\n)+/, `  components:\n    - { name: flow-snapshot-worker, workload: StatefulSet/flow-snapshot-worker }\n${skipDefaults('flow-snapshot-worker')}`);
    const result = await outcomeOf(applyUpgrade(applyRequest(cluster, { text }).request));
    expect(result.code).toBe(ExitCode.Error);
    // Pods in the order a roll takes them, the highest ordinal first.
    expect(result.message).toContain('pod flow-snapshot-worker-2 not Ready; pod flow-snapshot-worker-0 not Ready (ContainerCreating)');
    expect(result.message).toContain('`kubectl -n peerdb wait --for=condition=Ready pod/flow-snapshot-worker-2 pod/flow-snapshot-worker-0 --timeout=10m`');
  });

  it('a pod that does not start is still told to be fixed, and the Deployment it belongs to is waited on', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    const [pod] = cluster.peekPods(NS).filter((p) => p.name.startsWith('peerdb-ui-'));
    cluster.setPod(NS, pod!.name, { ready: false, phase: 'Running', waitingReason: 'CrashLoopBackOff' });
    cluster.tick(); // the Deployment controller counts it
    const result = await outcomeOf(applyUpgrade(applyRequest(cluster).request));
    expect(result.code).toBe(ExitCode.Error);
    expect(result.message).toContain('Deployment/peerdb-ui: 0/1 Ready');
    expect(result.message).toContain('fix these first (pods that are only starting need no fix: wait with `kubectl -n peerdb rollout status deployment/peerdb-ui --timeout=10m`)');
  });

  it('keeps the checkpoint of a 1000-replica StatefulSet far below the 1 MiB ConfigMap limit', async () => {
    const cluster = new MemoryCluster();
    cluster.addNamespace(NS).addStatefulSet(NS, 'flow-snapshot-worker', { image: img('flow-snapshot-worker', FROM), replicas: 1000 });
    const text = HELM_SPEC_TEXT.replace(/  maintenance:\n(    .*\n)+  initJobs:\n(    .*\n)+/, `  components:\n    - { name: flow-snapshot-worker, workload: StatefulSet/flow-snapshot-worker }\n${skipDefaults('flow-snapshot-worker')}`);
    const r = applyRequest(cluster, { text, abortAfterStep: 'statefulset-prepare/flow-snapshot-worker' }).request;
    expect((await outcomeOf(applyUpgrade(r))).code).toBe(ExitCode.Interrupted);
    const size = cluster.peekConfigMap(NS, 'peerdb-peerdb-upgrade')!.data[CHECKPOINT_KEY]!.length;
    expect(size).toBeLessThan(256 * 1024);
  }, 60_000);
});

function podRequest(args: readonly unknown[]): string {
  const r = args[3] as { method: string; path: string };
  return r.method === 'GET' ? 'GET' : `${r.method} ${r.path}`;
}

describe('concurrent rollouts (spec.rollout.concurrent)', () => {
  const withRollout = (rollout: string) => HELM_SPEC_TEXT.replace('  initJobs:\n', `  rollout:\n${rollout}  initJobs:\n`);
  const ids = (events: ApplyEvent[], type: string) => events.filter((e) => e.type === type).map((e) => (e as { step: { id: string } }).step.id);

  it('rolls every Deployment side by side, then the StatefulSet one pod at a time', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM, { snapshotReplicas: 3 });
    const run = applyRequest(cluster, { text: withRollout('    concurrent: deployments\n') });
    const outcome = await outcomeOf(applyUpgrade(run.request));
    expect(outcome.code, outcome.message).toBe(0);
    await expectUpgraded(cluster);
    expectNoPartitionSkipped(cluster);
    const started = ids(run.events, 'step-start');
    const done = ids(run.events, 'step-done');
    const deployments = ['flow-api', 'flow-worker', 'peerdb-server', 'peerdb-ui'].map((n) => `deployment-rollout/${n}`);
    // All four started before the first of them finished: side by side, not one after another.
    const firstDone = Math.min(...deployments.map((id) => run.events.findIndex((e) => e.type === 'step-done' && (e as { step: { id: string } }).step.id === id)));
    for (const id of deployments) expect(run.events.findIndex((e) => e.type === 'step-start' && (e as { step: { id: string } }).step.id === id)).toBeLessThan(firstDone);
    // The group comes where the first Deployment stood, before the StatefulSet; maintenance ends after all.
    expect(started.indexOf('statefulset-prepare/flow-snapshot-worker')).toBeGreaterThan(Math.max(...deployments.map((id) => done.indexOf(id))) - 1);
    expect(done.indexOf('maintenance-end')).toBeGreaterThan(done.indexOf('statefulset-pod/flow-snapshot-worker/0'));
  });

  it('writes the checkpoint once per step run here too: the write before a group marks the first step of every lane running', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM, { snapshotReplicas: 3 });
    const run = applyRequest(cluster, { text: withRollout('    concurrent: deployments\n') });
    const outcome = await outcomeOf(applyUpgrade(run.request));
    expect(outcome.code, outcome.message).toBe(0);
    const writes = cluster.calls.filter((c) => c.method === 'writeConfigMap').map((c) => parseCheckpoint((c.args[2] as { data: Record<string, string> }).data[CHECKPOINT_KEY]!, 'test'));
    expect(writes).toHaveLength(ids(run.events, 'step-start').length);
    // The last write before the first Deployment is patched: every lane already running.
    const firstPatch = cluster.calls.findIndex((c) => c.method === 'patchWorkload');
    const before = cluster.calls.slice(0, firstPatch).filter((c) => c.method === 'writeConfigMap').length;
    const deployments = ['flow-api', 'flow-worker', 'peerdb-server', 'peerdb-ui'].map((n) => `deployment-rollout/${n}`);
    expect(deployments.map((id) => writes[before - 1]!.steps.find((s) => s.id === id)?.s)).toEqual(['running', 'running', 'running', 'running']);
  });

  it("runs a named group's StatefulSet pods one at a time beside the other members", async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM, { snapshotReplicas: 3 });
    const run = applyRequest(cluster, { text: withRollout('    concurrent: [[flow-worker, flow-snapshot-worker]]\n') });
    const outcome = await outcomeOf(applyUpgrade(run.request));
    expect(outcome.code, outcome.message).toBe(0);
    await expectUpgraded(cluster);
    expectNoPartitionSkipped(cluster);
    const at = (type: string, id: string) => run.events.findIndex((e) => e.type === type && (e as { step: { id: string } }).step.id === id);
    // The StatefulSet started before flow-worker was done: side by side.
    expect(at('step-start', 'statefulset-prepare/flow-snapshot-worker')).toBeLessThan(at('step-done', 'deployment-rollout/flow-worker'));
    // flow-api (not in the group) finished before the group began; peerdb-server started after it ended.
    expect(at('step-done', 'deployment-rollout/flow-api')).toBeLessThan(at('step-start', 'deployment-rollout/flow-worker'));
    expect(at('step-start', 'deployment-rollout/peerdb-server')).toBeGreaterThan(at('step-done', 'statefulset-pod/flow-snapshot-worker/0'));
    expect(at('step-start', 'deployment-rollout/peerdb-server')).toBeGreaterThan(at('step-done', 'deployment-rollout/flow-worker'));
  });

  it('resumes a group interrupted half way: finished steps are skipped, each lane goes on from its own next step', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM, { snapshotReplicas: 3 });
    const text = withRollout('    concurrent: [[flow-worker, flow-snapshot-worker]]\n');
    const first = applyRequest(cluster, { text, abortAfterStep: 'statefulset-pod/flow-snapshot-worker/2' });
    const interrupted = await outcomeOf(applyUpgrade(first.request));
    expect(interrupted.code, interrupted.message).toBe(ExitCode.Interrupted);
    // Both lanes were under way when the run stopped.
    expect(ids(first.events, 'step-start')).toEqual(expect.arrayContaining(['deployment-rollout/flow-worker', 'statefulset-pod/flow-snapshot-worker/2']));
    const half = checkpointOf(cluster);
    const state = (id: string) => half.steps.find((s) => s.id === id)?.s;
    expect(state('statefulset-pod/flow-snapshot-worker/2')).toBe('done');
    expect(state('statefulset-pod/flow-snapshot-worker/1')).toBe('pending');
    expect(half.steps.some((s) => s.s === 'running')).toBe(false);

    const resumed = applyRequest(cluster, { text, mode: 'resume' });
    const outcome = await outcomeOf(applyUpgrade(resumed.request));
    expect(outcome.code, outcome.message).toBe(0);
    await expectUpgraded(cluster);
    expectNoPartitionSkipped(cluster);
    const skipped = ids(resumed.events, 'step-skip');
    expect(skipped).toContain('statefulset-pod/flow-snapshot-worker/2');
    expect(ids(resumed.events, 'step-start')).not.toContain('statefulset-pod/flow-snapshot-worker/2');
    expect(ids(resumed.events, 'step-start')).toContain('statefulset-pod/flow-snapshot-worker/1');
  });

  it('a failing lane stops the group: the others finish the step they are on, and maintenance is not ended', async () => {
    // flow-api is the group's first lane: run one after another, the others would not have started.
    // The target flow-api image crash-loops (markers are read in the tag only, as by the Go simulator).
    const cluster = new MemoryCluster().seedHelm(NS, FROM, { snapshotReplicas: 3 }).misbehave(img('flow-api', TO), 'crashloop');
    const text = withRollout('    concurrent: deployments\n');
    const run = applyRequest(cluster, { text });
    const outcome = await outcomeOf(applyUpgrade(run.request));
    expect(outcome.code, outcome.message).toBe(ExitCode.NeedsPerson);
    expect(outcome.message).toContain('deployment-rollout/flow-api failed');
    const checkpoint = checkpointOf(cluster);
    const state = (id: string) => checkpoint.steps.find((s) => s.id === id)?.s;
    expect(state('deployment-rollout/flow-api')).toBe('failed');
    for (const name of ['flow-worker', 'peerdb-server', 'peerdb-ui']) expect(state(`deployment-rollout/${name}`)).toBe('done');
    expect(state('statefulset-prepare/flow-snapshot-worker')).toBe('pending');
    expect(state('maintenance-end')).toBe('pending');
  });
});

describe('image pre-pull (spec.rollout.prePull)', () => {
  const PRE_PULL = HELM_SPEC_TEXT.replace('  initJobs:\n', '  rollout:\n    prePull: { timeout: 5m }\n  initJobs:\n');
  const prePullJobs = (cluster: MemoryCluster) => Object.keys(cluster.created('Job')).filter((n) => n.includes('-pre-pull-'));

  it('pulls every image onto every node of the installation before maintenance starts, and leaves no Job behind', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM, { snapshotReplicas: 3 });
    const run = applyRequest(cluster, { text: PRE_PULL });
    const outcome = await outcomeOf(applyUpgrade(run.request));
    expect(outcome.code, outcome.message).toBe(0);
    await expectUpgraded(cluster);
    const images = [...new Set(['flow-maintenance', 'peerdb-server', 'flow-api', 'flow-worker', 'flow-snapshot-worker', 'peerdb-ui'].map((n) => img(n, TO)))];
    const nodes = [...new Set(cluster.peekPods(NS).map((p) => p.node))].filter(Boolean);
    expect(nodes.length).toBeGreaterThan(1);
    // One Job per node and image, each pinned to its node, each running the image with a command no image has.
    const created = cluster.calls.filter((c) => c.method === 'createJob').map((c) => c.args[1] as JobManifest).filter((m) => m.metadata.name.includes('-pre-pull-'));
    expect(created).toHaveLength(images.length * nodes.length);
    expect(new Set(created.map((m) => `${m.spec.template.spec.nodeName} ${m.spec.template.spec.containers[0]!.image}`)).size).toBe(images.length * nodes.length);
    for (const m of created) expect(m.spec.template.spec.containers[0]!.command).toEqual(['/peerdb-upgrade-pre-pull/runs-nothing']);
    // All of them before maintenance starts, and none left once the step is done.
    const calls = cluster.calls.map((c) => `${c.method} ${(c.args[1] as { metadata?: { name?: string } })?.metadata?.name ?? c.args[1]}`);
    const startJob = calls.findIndex((c) => c.startsWith('createJob') && c.includes('maintenance-start'));
    const lastPrePull = calls.map((c, i) => (c.startsWith('createJob') && c.includes('-pre-pull-') ? i : -1)).reduce((a, b) => Math.max(a, b));
    expect(lastPrePull).toBeLessThan(startJob);
    const deleted = calls.filter((c) => c.startsWith('deleteJob') && c.includes('-pre-pull-'));
    expect(deleted).toHaveLength(created.length);
    expect(prePullJobs(cluster).filter((n) => cluster.peekJob(NS, n) !== undefined)).toEqual([]);
    expect(run.events.find((e) => e.type === 'step-done' && (e as { step: { id: string } }).step.id === 'pre-pull')).toMatchObject({ message: expect.stringMatching(/^pulled 18 of 18 \(6 images onto 3 nodes\)/) });
  });

  it('goes on without it when the API server refuses its Jobs: nothing paused by it, nothing left', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    cluster.inject((call) => (call.method === 'createJob' && (call.args[1] as JobManifest).metadata.name.includes('-pre-pull-') ? fault('forbidden', 'jobs.batch is forbidden (quota)') : undefined), { times: 1 });
    const run = applyRequest(cluster, { text: PRE_PULL });
    const outcome = await outcomeOf(applyUpgrade(run.request));
    expect(outcome.code, outcome.message).toBe(0);
    await expectUpgraded(cluster);
    expect(run.events.some((e) => e.type === 'warning' && /pre-pull: .*going on without it/.test((e as { message: string }).message))).toBe(true);
    expect(prePullJobs(cluster).filter((n) => cluster.peekJob(NS, n) !== undefined)).toEqual([]);
  });

  it('interrupted while pulling: its Jobs are deleted and maintenance never started', async () => {
    const cluster = new MemoryCluster().seedHelm(NS, FROM);
    const controller = new AbortController();
    cluster.inject((call) => {
      if (call.method === 'listJobPods') controller.abort();
      return undefined;
    }, { times: 1 });
    const run = applyRequest(cluster, { text: PRE_PULL, signal: controller.signal });
    const outcome = await outcomeOf(applyUpgrade(run.request));
    expect(outcome.code, outcome.message).toBe(ExitCode.Interrupted);
    expect(prePullJobs(cluster).length).toBeGreaterThan(0);
    expect(prePullJobs(cluster).filter((n) => cluster.peekJob(NS, n) !== undefined)).toEqual([]);
    expect(Object.keys(cluster.created('Job')).some((n) => n.includes('maintenance-start'))).toBe(false);
    expect(outcome.message).not.toContain('MIRRORS');
  });
});
