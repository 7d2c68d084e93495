/**
 * Issue 14 (pause window): a Job step is done as soon as the Job's own pods show its work
 * succeeded, without waiting the ~1 s the Job controller takes to write Complete — but only pods
 * of this very Job object count, completions are respected, a Failed condition still fails the
 * step, and the end of a run still checks every Job of the run against the cluster.
 */
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/apply/clock.js';
import type { KubeCluster } from '../../src/cluster/kube-adapter.js';
import { fakeApiServerPerTest, NS as FAKE_NS, STS, untilWatched } from './fakes/fake-apiserver.js';
import { jobSucceededByPods } from '../../src/apply/job-outcome.js';
import { runJobStep } from '../../src/apply/run-job.js';
import type { StepContext } from '../../src/apply/step-context.js';
import { StepFailure } from '../../src/apply/step-failure.js';
import { checkConverged } from '../../src/apply/verify-converged.js';
import { applyUpgrade } from '../../src/apply/apply-upgrade.js';
import { runMaintenance } from '../../src/apply/run-maintenance.js';
import type { ApplyEvent } from '../../src/apply/events.js';
import type { JobState, WatchSpec } from '../../src/cluster/port.js';
import type { JobManifest, PodState } from '../../src/cluster/types.js';
import { LABEL_RUN } from '../../src/labels.js';
import { buildJob } from '../../src/plan/build-job.js';
import type { JobStep } from '../../src/plan/plan-types.js';
import type { ClusterSpec } from '../../src/spec/schema.js';
import { applyRequest, TEST_HOST } from './fakes/apply-request.js';
import { MemoryCluster } from './fakes/memory-cluster.js';
import { specFromPlans } from './fakes/specs.js';
import { stepContext } from './fakes/step-context.js';

const NS = 'peerdb';
/** Far beyond any step here: the Job controller has not written the outcome when the step ends. */
const LATE = 500;

function jobStep(extra: Record<string, unknown> = {}, image = 'ghcr.io/peerdb-io/peerdb-server:stable-v0.37.4'): JobStep {
  const base = buildJob({ cluster: 'peerdb', namespace: NS, purpose: 'init-catalog-migrations', targetVersion: 'v0.37.4', containerName: 'migrate', image, backoffLimit: 1, timeoutMs: 600_000 });
  const manifest = { ...base, spec: { ...base.spec, ...extra } } as JobManifest;
  return { id: 'init-job/catalog-migrations', kind: 'init-job', title: 'catalog migrations', changes: [], job: manifest.metadata.name, image, manifest, timeoutMs: 600_000 };
}

function context(cluster: MemoryCluster, step: JobStep): StepContext<JobStep> {
  return stepContext(cluster, cluster.clock, NS, step);
}

const conditionTypes = (cluster: MemoryCluster, name: string) => cluster.peekJob(NS, name)!.conditions.filter((c) => c.status === 'True').map((c) => c.type);
const ownPods = (cluster: MemoryCluster, name: string) => cluster.peekPods(NS, `job-name=${name}`).filter((p) => p.controllerUid === cluster.peekJob(NS, name)!.uid);

describe('a Job step is done when its pods succeeded, before the Job controller says Complete', () => {
  it('(a) finishes as soon as its pod has Succeeded although the Job has no Complete condition yet', async () => {
    const cluster = new MemoryCluster({ namespaces: [NS], jobConditionLagTicks: LATE });
    const step = jobStep();
    const message = await runJobStep(context(cluster, step));
    expect(message).toBe(`Job ${step.job} completed (1 pod succeeded)`);
    expect(conditionTypes(cluster, step.job)).toEqual([]);
    expect(ownPods(cluster, step.job).map((p) => p.phase)).toEqual(['Succeeded']);
    // The wait woke on the Job and on its pods, one call each time (no poll of its own).
    const waits = cluster.callsTo('waitForAnyChange').map((c) => c.args[1] as WatchSpec[]);
    expect(waits.length).toBeGreaterThan(0);
    for (const w of waits) expect(w.map((x) => x.kind).sort()).toEqual(['jobs', 'pods']);
    expect(cluster.callsTo('waitForChange')).toEqual([]);
  });

  it('still finishes on the Complete condition when the controller is as quick as the pod', async () => {
    const cluster = new MemoryCluster({ namespaces: [NS] });
    const step = jobStep();
    expect(await runJobStep(context(cluster, step))).toBe(`Job ${step.job} completed`);
    expect(conditionTypes(cluster, step.job)).toContain('Complete');
  });

  it('(b) a Succeeded pod of an OLDER Job of the same name (another uid) does not finish the step', async () => {
    const cluster = new MemoryCluster({ namespaces: [NS], jobTicks: 6, jobConditionLagTicks: LATE });
    const step = jobStep();
    // The older Job was deleted; garbage collection has not removed its pod yet.
    const stale = cluster.addJobPod(NS, step.job, 'uid-of-an-older-job', 'Succeeded');
    const ticksBefore = cluster.tickCount;
    const message = await runJobStep(context(cluster, step));
    expect(message).toBe(`Job ${step.job} completed (1 pod succeeded)`);
    // It waited for its own pod: created on the first tick, ended jobTicks − 1 ticks later.
    expect(ownPods(cluster, step.job).map((p) => p.phase)).toEqual(['Succeeded']);
    expect(cluster.tickCount - ticksBefore).toBeGreaterThanOrEqual(6);
    expect(cluster.peekPods(NS, `job-name=${step.job}`).map((p) => p.uid)).toContain(stale.uid);
  });

  it('(b) neither does a pod of an older Job stuck in ImagePullBackOff fail it', async () => {
    const cluster = new MemoryCluster({ namespaces: [NS], jobConditionLagTicks: LATE });
    const step = jobStep();
    cluster.addJobPod(NS, step.job, 'uid-of-an-older-job', 'Pending');
    const pod = cluster.peekPods(NS, `job-name=${step.job}`)[0]!;
    cluster.setPod(NS, pod.name, { waitingReason: 'ImagePullBackOff', waitingMessage: 'Back-off pulling image' });
    expect(await runJobStep(context(cluster, step))).toBe(`Job ${step.job} completed (1 pod succeeded)`);
  });

  it('(c) a Job with completions: 2 needs two succeeded pods', async () => {
    const cluster = new MemoryCluster({ namespaces: [NS], jobConditionLagTicks: LATE });
    const step = jobStep({ completions: 2 });
    const message = await runJobStep(context(cluster, step));
    expect(message).toBe(`Job ${step.job} completed (2 pods succeeded)`);
    expect(ownPods(cluster, step.job).map((p) => p.phase)).toEqual(['Succeeded', 'Succeeded']);
    expect(conditionTypes(cluster, step.job)).toEqual([]);
  });

  it('(c) a work-queue Job (parallelism 2, no completions) and an Indexed one wait for the condition', async () => {
    for (const extra of [{ parallelism: 2 }, { completionMode: 'Indexed', completions: 1 }]) {
      const cluster = new MemoryCluster({ namespaces: [NS], jobConditionLagTicks: 3 });
      const step = jobStep(extra);
      expect(await runJobStep(context(cluster, step)), JSON.stringify(extra)).toBe(`Job ${step.job} completed`);
      expect(conditionTypes(cluster, step.job)).toContain('Complete');
    }
  });

  it('(d) a Failed condition still fails the step', async () => {
    const cluster = new MemoryCluster({ namespaces: [NS], jobConditionLagTicks: 3 });
    const step = jobStep({}, 'busybox:fail');
    const error = await runJobStep(context(cluster, step)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepFailure);
    expect((error as StepFailure).message).toMatch(new RegExp(`^Job ${step.job} failed \\(BackoffLimitExceeded`));
    expect(conditionTypes(cluster, step.job)).toContain('Failed');
  });
});

describe('jobSucceededByPods: when the pods alone may decide', () => {
  const uid = 'job-uid';
  const now = Date.parse('2025-01-01T00:10:00Z');
  const job = (over: Partial<JobState> = {}, spec: Partial<NonNullable<JobState['spec']>> = {}): JobState => ({
    name: 'j',
    uid,
    labels: {},
    active: 1,
    succeeded: 0,
    failed: 0,
    conditions: [],
    deleting: false,
    startTime: '2025-01-01T00:09:00Z',
    spec: { completions: 1, parallelism: 1, backoffLimit: 1, activeDeadlineSeconds: 600, completionMode: 'NonIndexed', successPolicy: false, podFailurePolicy: false, managedBy: undefined, ...spec },
    ...over,
  });
  const pod = (phase: string, over: Partial<PodState> = {}): PodState => ({
    name: `j-${phase}`,
    uid: `p-${phase}`,
    ordinal: undefined,
    revision: undefined,
    ready: false,
    phase,
    deleting: false,
    waitingReason: undefined,
    waitingMessage: undefined,
    restartCount: 0,
    images: [],
    controllerUid: uid,
    ...over,
  });

  it('says done for its own succeeded pod, and not otherwise', () => {
    expect(jobSucceededByPods(job(), [pod('Succeeded')], now)).toBe('1 pod succeeded');
    expect(jobSucceededByPods(job(), [pod('Succeeded', { controllerUid: 'older' })], now)).toBeUndefined();
    expect(jobSucceededByPods(job(), [pod('Succeeded', { controllerUid: undefined })], now)).toBeUndefined();
    expect(jobSucceededByPods(job(), [pod('Succeeded', { deleting: true })], now)).toBeUndefined();
    expect(jobSucceededByPods(job(), [pod('Running')], now)).toBeUndefined();
  });

  it('never for a Job that failed, is failing, is being deleted or suspended', () => {
    const ok = [pod('Succeeded')];
    expect(jobSucceededByPods(job({ conditions: [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded' }] }), ok, now)).toBeUndefined();
    expect(jobSucceededByPods(job({ conditions: [{ type: 'FailureTarget', status: 'True', reason: 'BackoffLimitExceeded' }] }), ok, now)).toBeUndefined();
    expect(jobSucceededByPods(job({ deleting: true }), ok, now)).toBeUndefined();
    expect(jobSucceededByPods(job({ suspended: true }), ok, now)).toBeUndefined();
  });

  it('leaves it to the condition where a count of pods is not the whole rule', () => {
    const ok = [pod('Succeeded')];
    expect(jobSucceededByPods(job({ spec: undefined }), ok, now)).toBeUndefined();
    expect(jobSucceededByPods(job({}, { completionMode: 'Indexed' }), ok, now)).toBeUndefined();
    expect(jobSucceededByPods(job({}, { successPolicy: true }), ok, now)).toBeUndefined();
    expect(jobSucceededByPods(job({}, { podFailurePolicy: true }), ok, now)).toBeUndefined();
    expect(jobSucceededByPods(job({}, { managedBy: 'example.com/other' }), ok, now)).toBeUndefined();
    expect(jobSucceededByPods(job({}, { completions: undefined, parallelism: 3 }), ok, now)).toBeUndefined();
    expect(jobSucceededByPods(job({}, { completions: undefined, parallelism: 1 }), ok, now)).toBe('1 pod succeeded');
    // Failed pods beyond backoffLimit: the controller fails it before it counts completions.
    expect(jobSucceededByPods(job({ failed: 2 }), ok, now)).toBeUndefined();
    expect(jobSucceededByPods(job({ failed: 1 }), ok, now)).toBe('1 pod succeeded');
    // Its deadline about to pass (the controller checks it before completions), or no start time.
    expect(jobSucceededByPods(job({}, { activeDeadlineSeconds: 65 }), ok, now)).toBeUndefined();
    expect(jobSucceededByPods(job({ startTime: undefined }), ok, now)).toBeUndefined();
  });

  it('counts completions and waits for every pod of its own to end', () => {
    expect(jobSucceededByPods(job({}, { completions: 2, parallelism: 2 }), [pod('Succeeded')], now)).toBeUndefined();
    expect(jobSucceededByPods(job({}, { completions: 2, parallelism: 2 }), [pod('Succeeded'), pod('Running', { uid: 'x' })], now)).toBeUndefined();
    expect(jobSucceededByPods(job({}, { completions: 2, parallelism: 2 }), [pod('Succeeded'), pod('Succeeded', { uid: 'y', name: 'j-2' })], now)).toBe('2 pods succeeded');
  });
});

describe('the end of a run still checks every Job of the run against the cluster', () => {
  const spec = specFromPlans('helm-default.yaml');
  const runJob = (name: string): JobManifest => {
    const m = jobStep().manifest;
    return { ...m, metadata: { ...m.metadata, name, labels: { ...m.metadata.labels, [LABEL_RUN]: 'run-1' } } };
  };

  it('reports a Job of the run that ended Failed after its pods succeeded: the upgrade is not done, and waiting cannot help', async () => {
    const cluster = new MemoryCluster({ namespaces: [NS] }).seedHelm(NS, spec.version, { snapshotReplicas: 3 });
    cluster.addJob(NS, runJob('peerdb-late-failure'), 'failed');
    const found = await checkConverged(cluster, spec, 'run-1', new Set(['peerdb-late-failure']));
    expect(found.problems).toEqual([expect.stringMatching(/^Job peerdb-late-failure of this run failed \(BackoffLimitExceeded/)]);
    expect(found.stuck).toBe(true);
    // One the plan no longer runs (a resumed run ran a corrected Job, of another name) is history.
    expect(await checkConverged(cluster, spec, 'run-1', new Set(['peerdb-corrected']))).toEqual({ problems: [], stuck: false });
  });

  it('waits for the controller to write Complete for a Job whose pod already succeeded, woken by the Job (a whole upgrade)', async () => {
    const cluster = new MemoryCluster({ jobConditionLagTicks: 2 }).seedHelm(NS, 'v0.36.7', { snapshotReplicas: 3 });
    const { request, events } = applyRequest(cluster);
    const outcome = (await applyUpgrade(request)) as { kind: string };
    expect(outcome.kind).toBe('done');
    const jobs = cluster.events.filter((e) => e.type === 'job-created').map((e) => e.name!);
    expect(jobs).toHaveLength(3);
    for (const name of jobs) expect(conditionTypes(cluster, name), name).toContain('Complete');
    // The final check found the maintenance-end Job not yet Complete and waited, woken by the run's Jobs too.
    const finalWaits = cluster.callsTo('waitForAnyChange').filter((c) => (c.args[1] as WatchSpec[]).some((w) => w.kind === 'jobs' && w.labelSelector?.includes(`${LABEL_RUN}=`)));
    expect(finalWaits.length).toBeGreaterThan(0);
    expect(events.some((e) => e.type === 'step-progress' && e.step.kind === 'complete' && /Job peerdb-maintenance-end-\S+ of this run is still active/.test(e.message))).toBe(true);
  });
});

describe('maintenance by hand', () => {
  it('ends with its Job Complete, and leaves alone a start Job whose pod succeeded but is not marked Complete yet: it acted already', async () => {
    const cluster = new MemoryCluster({ jobConditionLagTicks: 20 }).seedHelm(NS, 'v0.36.7', { snapshotReplicas: 1 });
    const spec = specFromPlans('helm-default.yaml');
    // A run's maintenance-start step was done on its pod, and the run died before the controller wrote Complete.
    const start = buildJob({ cluster: spec.name, namespace: NS, purpose: 'maintenance-start', targetVersion: 'v0.37.4', containerName: 'maintenance', image: 'ghcr.io/peerdb-io/flow-maintenance:stable-v0.37.4', backoffLimit: 1, timeoutMs: 600_000 });
    const startStep: JobStep = { id: 'maintenance-start', kind: 'maintenance-start', title: 'maintenance start', changes: [], job: start.metadata.name, image: start.spec.template.spec.containers[0]!.image, manifest: start, timeoutMs: 600_000 };
    expect(await runJobStep({ ...context(cluster, startStep), spec })).toBe(`Job ${start.metadata.name} completed (1 pod succeeded)`);
    expect(conditionTypes(cluster, start.metadata.name)).toEqual([]);

    const events: ApplyEvent[] = [];
    const ended = await runMaintenance({ cluster, spec, mode: 'end', lockTimeoutMs: 0, clock: cluster.clock, host: TEST_HOST, signal: new AbortController().signal, emit: (e: ApplyEvent) => void events.push(e) });
    expect(events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message)).toEqual([]);
    expect(cluster.peekJob(NS, start.metadata.name)).toBeDefined();
    // The command's own Job: Complete when it returns, not active for the controller's second more.
    expect(conditionTypes(cluster, ended.job)).toContain('Complete');
  });
});

describe('through the real adapter, on the run\'s watch caches (a fake API server on loopback)', () => {
  const open = fakeApiServerPerTest();

  async function start(completeAfterMs?: number) {
    const { server, cluster } = await open(1, { stepDelayMs: 20, jobs: completeAfterMs === undefined ? {} : { completeAfterMs } });
    cluster.watchNamespace(FAKE_NS);
    // The caches' first fill (a LIST and a WATCH per kind), as a run's start does.
    await cluster.getWorkload(FAKE_NS, { kind: 'StatefulSet', name: STS });
    expect(await cluster.getJob(FAKE_NS, 'none-yet')).toBeUndefined();
    await untilWatched(server, 3);
    return { server, cluster };
  }

  function kubeContext(c: KubeCluster, step: JobStep): StepContext<JobStep> {
    return { ...context(new MemoryCluster(), step), cluster: c, spec: { namespace: FAKE_NS, name: 'peerdb' } as ClusterSpec, clock: systemClock, startedAt: Date.now() };
  }

  it('ends the step when its own pod succeeded, woken by the pod\'s event, with the Job\'s create as its only request', async () => {
    const { server: s, cluster: c } = await start();
    const step = jobStep();
    // A pod of an older Job of the same name, Succeeded, not yet collected: not this Job's.
    s.addPod({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `${step.job}-older`, namespace: FAKE_NS, uid: 'older-pod', labels: { 'job-name': step.job, 'controller-uid': 'older-job', 'batch.kubernetes.io/controller-uid': 'older-job' } },
      spec: { containers: [{ name: 'migrate', image: step.image }] },
      status: { phase: 'Succeeded' },
    });
    s.reset();
    const message = await runJobStep(kubeContext(c, step));
    expect(message).toBe(`Job ${step.job} completed (1 pod succeeded)`);
    // Its own pod had succeeded; the Job controller (never, here) had not written Complete.
    const uid = s.job(step.job)!.metadata.uid;
    expect(s.jobPods(step.job).filter((p) => p.metadata.labels['controller-uid'] === uid).map((p) => p.status.phase)).toEqual(['Succeeded']);
    expect(s.job(step.job)!.status.conditions).toBeUndefined();
    expect(s.log).toEqual([{ verb: 'post', path: `/apis/batch/v1/namespaces/${FAKE_NS}/jobs` }]);
  }, 30_000);

  it('the final check waits for the Job controller\'s Complete of such a Job, woken by the Job\'s event, at no request', async () => {
    const { server: s, cluster: c } = await start(300);
    const step = jobStep();
    await runJobStep(kubeContext(c, step));
    const selector = `app.kubernetes.io/managed-by=peerdb-upgrade`;
    const active = async () => (await c.listJobs(FAKE_NS, selector)).filter((j) => j.conditions.length === 0).length;
    s.reset();
    expect(await active()).toBe(1);
    // What verifyConverged's wait does: the Job's Complete event wakes it.
    for (let i = 0; i < 20 && (await active()) > 0; i++) await c.waitForAnyChange(FAKE_NS, [{ kind: 'pods' }, { kind: 'jobs', labelSelector: selector }], 5_000);
    expect(await active()).toBe(0);
    expect(s.log).toEqual([]);
  }, 30_000);
});
