/**
 * Jobs in the fake: what the API does with one (create with its validation, delete with its pods,
 * the log tail), and the Job controller run once a tick. A Job gets a pod on the first tick and
 * finishes `jobTicks` ticks after creation, succeeded or (markers.ts) failed with
 * BackoffLimitExceeded (spec.completions pods one after another, spec.parallelism at a time; the
 * conditions `jobConditionLagTicks` after the deciding pod ended); one whose pod cannot start never finishes; activeDeadlineSeconds is
 * enforced on clock time (Failed/DeadlineExceeded). A maintenance Job that succeeds does what
 * PeerDB's maintenance workflow does (fake-peerdb.ts).
 */
import { copy, type ClusterState, type Job, type Namespace, type Pod } from './cluster-state.js';
import { alreadyExists, validateJob } from './api-rules.js';
import { maintenanceWorkflow } from './fake-peerdb.js';
import { createPod, markDeleting, troubleOf } from './pods.js';
import { ClusterError } from '../../../src/cluster/cluster-error.js';
import type { JobSpecFacts, JobState, WriteOptions } from '../../../src/cluster/port.js';
import type { JobManifest } from '../../../src/cluster/types.js';

/** Stores a new Job (no pod yet: the controller starts one on the next tick). */
export function storeJob(s: ClusterState, namespace: string, manifest: JobManifest): Job {
  const job: Job = {
    name: manifest.metadata.name,
    namespace,
    uid: s.uid(),
    rv: s.nextRv(),
    labels: { ...manifest.metadata.labels },
    manifest: copy(manifest),
    createdTick: s.ticks,
    startTime: undefined,
    active: 0,
    succeeded: 0,
    failed: 0,
    conditions: [],
    deletedTick: undefined,
    ended: undefined,
  };
  s.ns(namespace).jobs.set(job.name, job);
  s.event({ type: 'job-created', namespace, kind: 'Job', name: job.name });
  return job;
}

/** A Job as a previous run left it. */
export function seedJob(s: ClusterState, namespace: string, manifest: JobManifest, outcome: 'running' | 'succeeded' | 'failed'): Job {
  s.addNamespace(namespace);
  const job = storeJob(s, namespace, manifest);
  if (outcome !== 'running') {
    startPod(s, job);
    finish(s, job, outcome === 'succeeded' ? 'succeeded' : 'failed', 'BackoffLimitExceeded');
  }
  return job;
}

export function createJob(s: ClusterState, namespace: string, manifest: JobManifest, options: WriteOptions): JobState {
  const name = manifest.metadata.name;
  const what = `jobs.batch ${namespace}/${name}`;
  if (manifest.metadata.namespace && manifest.metadata.namespace !== namespace) {
    throw new ClusterError('bad-request', `request refused (400) for POST ${what}: the namespace of the provided object does not match the namespace sent on the request`, { status: 400 });
  }
  const ns = s.existingNamespace(namespace, what);
  validateJob(manifest);
  if (ns.jobs.has(name)) throw alreadyExists(what);
  if (options.dryRun) return { name, uid: `dry-run-${name}`, labels: { ...manifest.metadata.labels }, active: 0, succeeded: 0, failed: 0, conditions: [], deleting: false };
  const job = storeJob(s, namespace, manifest);
  s.count('Job', name);
  return jobState(job);
}

/** Background propagation: the pods terminate, the Job goes at once (or after jobDeletionTicks). */
export function deleteJob(s: ClusterState, namespace: string, name: string, options: WriteOptions): void {
  const ns = s.namespaces.get(namespace);
  const job = ns?.jobs.get(name);
  if (!ns || !job || options.dryRun || job.deletedTick !== undefined) return;
  for (const pod of jobPods(ns, job)) if (pod.deletedTick === undefined) markDeleting(s, pod, 'controller');
  s.event({ type: 'job-deleted', namespace, kind: 'Job', name });
  if (s.jobDeletionTicks > 0) {
    job.deletedTick = s.ticks;
    job.rv = s.nextRv();
  } else {
    ns.jobs.delete(name);
    s.nextRv();
  }
}

/** The last `lines` lines of the Job's log: MemoryCluster.jobLogs, else a line saying it failed. */
export function jobLogTail(s: ClusterState, logs: ReadonlyMap<string, string>, namespace: string, jobName: string, lines: number): string | undefined {
  const ns = s.namespaces.get(namespace);
  const job = ns?.jobs.get(jobName);
  const pods = ns ? [...ns.pods.values()].filter((p) => p.labels['job-name'] === jobName) : [];
  if (pods.length === 0) return undefined;
  const failed = job?.conditions.some((c) => c.type === 'Failed');
  const text = logs.get(jobName) ?? (failed ? `error: ${jobName} failed (simulated)\n` : '');
  const all = text.replace(/\n$/, '').split('\n');
  return all.slice(Math.max(0, all.length - lines)).join('\n');
}

function jobPods(ns: Namespace, job: Job): Pod[] {
  return [...ns.pods.values()].filter((p) => p.owner.kind === 'Job' && p.labels['controller-uid'] === job.uid);
}

function startPod(s: ClusterState, job: Job): Pod {
  job.startTime ??= s.clock.now();
  const labels = {
    ...job.manifest.spec.template.metadata.labels,
    'job-name': job.name,
    'batch.kubernetes.io/job-name': job.name,
    'controller-uid': job.uid,
    'batch.kubernetes.io/controller-uid': job.uid,
  };
  const images = job.manifest.spec.template.spec.containers.map((c) => c.image);
  const nodeName = job.manifest.spec.template.spec.nodeName;
  return createPod(s, job.namespace, `${job.name}-${s.nameSuffix()}`, { kind: 'Job', name: job.name }, labels, images, nodeName ? { node: nodeName } : {});
}

/** spec.completions and spec.parallelism (fields a test may add to a manifest; default 1 each). */
function countsOf(job: Job): { completions: number; parallelism: number } {
  const spec = job.manifest.spec as JobManifest['spec'] & { completions?: number; parallelism?: number };
  return { completions: spec.completions ?? 1, parallelism: spec.parallelism ?? 1 };
}

function runningPods(ns: Namespace, job: Job): Pod[] {
  return jobPods(ns, job).filter((p) => p.deletedTick === undefined && (p.phase === 'Pending' || p.phase === 'Running'));
}

/**
 * The Job controller's step in one tick. A pod that has run its time ends (Succeeded, or Failed for
 * an image marked to fail); once spec.completions pods succeeded (or one failed for good) the
 * outcome is decided, and the controller writes its conditions `jobConditionLagTicks` later (the
 * real one batches pod updates for ~1 s; default 0: the same tick).
 */
export function syncJob(s: ClusterState, ns: Namespace, job: Job): void {
  if (job.deletedTick !== undefined) {
    if (s.ticks - job.deletedTick >= s.jobDeletionTicks) {
      ns.jobs.delete(job.name);
      s.nextRv();
    }
    return;
  }
  if (job.conditions.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True')) return;
  const before = JSON.stringify([job.active, job.succeeded, job.failed, job.conditions, job.startTime]);
  const deadline = job.manifest.spec.activeDeadlineSeconds;
  const { completions, parallelism } = countsOf(job);
  let active = runningPods(ns, job);
  if (job.ended !== undefined) {
    if (s.ticks - job.ended.tick >= s.jobConditionLagTicks) finish(s, job, job.ended.outcome, 'BackoffLimitExceeded');
  } else if (job.startTime !== undefined && deadline > 0 && s.clock.now() - job.startTime >= deadline * 1000) {
    for (const p of active) markDeleting(s, p, 'controller');
    job.failed += active.length;
    finish(s, job, 'failed', 'DeadlineExceeded');
  } else {
    for (const pod of active) {
      // A Job pod that cannot start (pull, config) never finishes; one that exits non-zero fails.
      const trouble = troubleOf(s, pod.images, true);
      if (trouble.waiting !== undefined || s.ticks - pod.createdTick < Math.max(1, s.jobTicks - 1)) continue;
      if (trouble.fails) {
        decide(s, ns, job, 'failed');
        break;
      }
      Object.assign(pod, { phase: 'Succeeded', ready: false, waitingReason: undefined, waitingMessage: undefined });
      s.nextRv();
    }
    if (job.ended === undefined) {
      const succeeded = jobPods(ns, job).filter((p) => p.phase === 'Succeeded').length;
      active = runningPods(ns, job);
      if (succeeded >= completions) decide(s, ns, job, 'succeeded');
      else while (active.length < Math.min(parallelism, completions - succeeded)) active.push(startPod(s, job));
    }
  }
  // Until the controller writes the outcome, status.active is what it last wrote.
  if (!job.conditions.length && job.ended === undefined) job.active = active.length;
  if (JSON.stringify([job.active, job.succeeded, job.failed, job.conditions, job.startTime]) !== before) job.rv = s.nextRv();
}

/** The pods decided the outcome: the work is done (or failed) now, the conditions follow (lag). */
function decide(s: ClusterState, ns: Namespace, job: Job, outcome: 'succeeded' | 'failed'): void {
  if (outcome === 'succeeded') maintenanceWorkflow(s, job);
  else for (const p of runningPods(ns, job)) Object.assign(p, { phase: 'Failed', ready: false, waitingReason: undefined, waitingMessage: undefined });
  s.nextRv();
  job.ended = { tick: s.ticks, outcome };
  if (s.jobConditionLagTicks <= 0) finish(s, job, outcome, 'BackoffLimitExceeded');
}

function finish(s: ClusterState, job: Job, outcome: 'succeeded' | 'failed', reason: 'BackoffLimitExceeded' | 'DeadlineExceeded'): void {
  const ns = s.ns(job.namespace);
  const running = runningPods(ns, job);
  job.active = 0;
  if (outcome === 'succeeded') {
    for (const p of running) Object.assign(p, { phase: 'Succeeded', ready: false, waitingReason: undefined, waitingMessage: undefined });
    // A seeded Job (no pod ran its time here) does its work as it finishes.
    if (job.ended === undefined) maintenanceWorkflow(s, job);
    job.succeeded = Math.max(1, jobPods(ns, job).filter((p) => p.phase === 'Succeeded').length);
    job.conditions = [
      { type: 'SuccessCriteriaMet', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' },
      { type: 'Complete', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' },
    ];
    s.event({ type: 'job-succeeded', namespace: job.namespace, kind: 'Job', name: job.name });
  } else {
    const message = reason === 'DeadlineExceeded' ? 'Job was active longer than specified deadline' : 'Job has reached the specified backoff limit';
    if (reason === 'BackoffLimitExceeded') {
      for (const p of running) Object.assign(p, { phase: 'Failed', ready: false, waitingReason: undefined, waitingMessage: undefined });
      // Each retry was a new pod (restartPolicy Never) that failed too.
      for (let i = 0; i < job.manifest.spec.backoffLimit; i++) Object.assign(startPod(s, job), { phase: 'Failed' });
      job.failed = job.manifest.spec.backoffLimit + 1;
    }
    job.conditions = [
      { type: 'FailureTarget', status: 'True', reason, message },
      { type: 'Failed', status: 'True', reason, message },
    ];
    s.event({ type: 'job-failed', namespace: job.namespace, kind: 'Job', name: job.name, reason });
  }
  job.rv = s.nextRv();
}

/** A pod labelled as the Job controller labels them, for a Job `jobName` of uid `controllerUid` (MemoryCluster.addJobPod). */
export function addJobPod(s: ClusterState, namespace: string, jobName: string, controllerUid: string, phase: string): Pod {
  const labels = { 'job-name': jobName, 'batch.kubernetes.io/job-name': jobName, 'controller-uid': controllerUid, 'batch.kubernetes.io/controller-uid': controllerUid };
  return createPod(s, namespace, `${jobName}-${s.nameSuffix()}`, { kind: 'Job', name: jobName }, labels, ['busybox'], { phase, pinned: true });
}

export function jobState(job: Job): JobState {
  return {
    name: job.name,
    uid: job.uid,
    labels: { ...job.labels },
    active: job.active,
    succeeded: job.succeeded,
    failed: job.failed,
    conditions: copy(job.conditions),
    deleting: job.deletedTick !== undefined,
    ...(job.startTime !== undefined ? { startTime: new Date(job.startTime).toISOString() } : {}),
    spec: jobSpecFacts(job.manifest),
  };
}

function jobSpecFacts(manifest: JobManifest): JobSpecFacts {
  const spec = manifest.spec as JobManifest['spec'] & Record<string, unknown>;
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    completions: num(spec.completions),
    parallelism: num(spec.parallelism),
    backoffLimit: spec.backoffLimit,
    activeDeadlineSeconds: spec.activeDeadlineSeconds,
    completionMode: str(spec.completionMode),
    successPolicy: spec.successPolicy != null,
    podFailurePolicy: spec.podFailurePolicy != null,
    managedBy: str(spec.managedBy),
  };
}
