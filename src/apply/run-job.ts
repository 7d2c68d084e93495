import { isClusterError } from '../cluster/cluster-error.js';
import type { JobState } from '../cluster/port.js';
import type { JobManifest } from '../cluster/types.js';
import type { JobStep } from '../plan/plan-types.js';
import { LABEL_CLUSTER, LABEL_PLAN, LABEL_RUN, LABEL_STEP } from '../labels.js';
import { isComplete, isFailed, jobSucceededByPods } from './job-outcome.js';
import { waitUntil, type StepContext } from './step-context.js';
import { STUCK_REASONS, StepFailure } from './step-failure.js';

const LOG_LINES = 20;
/** How often a running Job's last log line is read for the progress line. */
const LOG_EVERY_MS = 15_000;
/** How often maintenance start's phase and pending activities are read from flow-api. */
const MAINTENANCE_EVERY_MS = 10_000;
/**
 * How long maintenance start runs before flow-api is first asked what it waits for: a start that
 * has nothing to wait for finishes within seconds (image pull, start, the workflow) and costs no
 * port-forward; one that waits for snapshots shows what it waits for from its first progress line on.
 */
const MAINTENANCE_FIRST_MS = 5_000;

/**
 * Runs the step's Job to completion. Idempotent, and by content: a Job's name carries the hash of
 * what it runs, so a Job of that name that succeeded did this very thing and is adopted whatever
 * run created it (a checkpoint lost or deleted never makes a migration run twice), and one still
 * running is waited for. Two exceptions: a failed Job is deleted and run again, and a maintenance
 * Job is run again when the opposite maintenance Job ran after it (maintenance was ended or started
 * since, so its effect is gone).
 */
export async function runJobStep(context: StepContext<JobStep>): Promise<string> {
  const { cluster, spec, step } = context;
  const manifest = step.manifest;
  const name = manifest.metadata.name;
  const namespace = spec.namespace;

  let job = await cluster.getJob(namespace, name);
  const stale = job && !job.deleting && !isFailed(job) ? await supersededBy(context, job) : undefined;
  if (job && !stale && !job.deleting && isComplete(job)) {
    const by = job.labels[LABEL_RUN];
    return by === context.runId ? `Job ${name} had already completed` : `Job ${name} had already completed (created by run ${by ?? 'unknown'}; same content, adopted)`;
  }
  if (job && (stale || isFailed(job) || job.deleting)) {
    const why = isFailed(job) ? 'failed before; running it again' : stale ? `ran before ${stale}; running it again` : 'is being deleted; creating it again';
    context.emit({ type: 'step-progress', step, message: `Job ${name} ${why}`, elapsedMs: 0, timeoutMs: step.timeoutMs, at: context.clock.now() });
    await cluster.deleteJob(namespace, name);
    await waitUntil(context, { kind: 'jobs', fieldSelector: `metadata.name=${name}` }, async () => {
      const current = await cluster.getJob(namespace, name);
      return { done: current === undefined, status: `waiting for the old Job ${name} to be deleted` };
    });
    job = undefined;
  }
  if (job && job.labels[LABEL_RUN] !== context.runId) {
    context.emit({ type: 'step-progress', step, message: `Job ${name} of run ${job.labels[LABEL_RUN] ?? 'unknown'} is still running (same content): waiting for it`, elapsedMs: 0, timeoutMs: step.timeoutMs, at: context.clock.now() });
  }
  if (!job) job = await create(context, withRunLabel(manifest, context.runId, context.plan.hash));

  // Maintenance start can wait a long time for running snapshots: show what the Job last said. Read
  // only once the Job has run a while (a Job that finishes quickly costs no log or flow-api read:
  // right after the create its pod has not even started), then at an interval.
  let lastLine: string | undefined;
  let nextLogAt = context.startedAt + LOG_EVERY_MS;
  let peerdbDetail: string | undefined;
  let nextDetailAt = context.startedAt + MAINTENANCE_FIRST_MS;
  // Woken by a change of the Job or of its pods (the run's watch caches: no request per look): a
  // pod that succeeded ends the step before the Job controller writes Complete (job-outcome.ts).
  const watches = [
    { kind: 'jobs', fieldSelector: `metadata.name=${name}` },
    { kind: 'pods', labelSelector: `job-name=${name}` },
  ] as const;
  const final = await stopMaintenanceJobOnFailure(context, name, () => waitUntil(context, watches, async () => {
    const current = await cluster.getJob(namespace, name);
    if (!current) throw new StepFailure(`Job ${name} disappeared while it ran (deleted by someone else?)`);
    if (isComplete(current)) return { done: true, status: `Job ${name} completed` };
    // Pods of an older Job of the same name (deleted, its pods not yet collected) are not this one's.
    const pods = (await cluster.listJobPods(namespace, name)).filter((p) => p.controllerUid === undefined || p.controllerUid === current.uid);
    const byPods = jobSucceededByPods(current, pods, context.clock.now());
    if (byPods) return { done: true, status: `Job ${name} completed (${byPods})` };
    if (isFailed(current)) {
      // Since Kubernetes 1.31 the reason comes first on FailureTarget, before Failed and before
      // status.failed counts the pod: read both, and count failed pods from the pods themselves.
      const condition = current.conditions.find((c) => c.type === 'Failed' && c.status === 'True') ?? current.conditions.find((c) => c.type === 'FailureTarget' && c.status === 'True');
      const failedPods = Math.max(current.failed, pods.filter((p) => p.phase === 'Failed').length);
      const logs = await cluster.jobLogTail(namespace, name, LOG_LINES);
      const reason = [condition?.reason, condition?.message].filter(Boolean).join(': ') || 'failed';
      throw new StepFailure(`Job ${name} failed (${reason}; ${failedPods} failed pod${failedPods === 1 ? '' : 's'})`, logs ? logBlock(name, logs) : `no log available for Job ${name}`);
    }
    const stuck = pods.find((p) => p.waitingReason && STUCK_REASONS.has(p.waitingReason));
    if (stuck) {
      throw new StepFailure(`Job ${name}: pod ${stuck.name} is stuck in ${stuck.waitingReason}${stuck.waitingMessage ? ` (${stuck.waitingMessage})` : ''}`);
    }
    const waiting = pods.find((p) => p.waitingReason);
    const state = waiting ? `pod ${waiting.name} ${waiting.waitingReason}` : `${current.active} active, ${current.failed} failed`;
    const now = context.clock.now();
    if (current.active > 0 && now >= nextLogAt) {
      nextLogAt = now + LOG_EVERY_MS;
      const tail = await cluster.jobLogTail(namespace, name, 1);
      lastLine = tail?.trim().split('\n').at(-1)?.slice(0, 200) || lastLine;
    }
    if (context.maintenanceDetail && current.active > 0 && now >= nextDetailAt) {
      nextDetailAt = now + MAINTENANCE_EVERY_MS;
      peerdbDetail = (await context.maintenanceDetail()) ?? peerdbDetail;
    }
    return { done: false, status: `Job ${name} running (${state})${peerdbDetail ? `; ${peerdbDetail}` : ''}${lastLine ? `: ${lastLine}` : ''}` };
  }));
  return final.status;
}

/**
 * Waits (on the Job's watch, bounded by the step's timeout) until the Job controller has written the
 * outcome the Job's pods decided: Complete, or Failed (a StepFailure). For a command that ends with
 * its Job (maintenance start|end by hand): it leaves no Job active behind it, and never says done
 * for a Job that ends Failed after all. An upgrade run checks its Jobs at its end instead
 * (verify-converged.ts), so that no Job step waits for the controller.
 */
export async function awaitJobCondition(context: StepContext<JobStep>): Promise<void> {
  const name = context.step.manifest.metadata.name;
  await waitUntil(context, { kind: 'jobs', fieldSelector: `metadata.name=${name}` }, async () => {
    const job = await context.cluster.getJob(context.spec.namespace, name);
    if (!job) throw new StepFailure(`Job ${name} disappeared before the Job controller marked it Complete (deleted by someone else?)`);
    if (isComplete(job)) return { done: true, status: `Job ${name} completed` };
    if (isFailed(job)) {
      const condition = job.conditions.find((c) => c.type === 'Failed' && c.status === 'True') ?? job.conditions.find((c) => c.type === 'FailureTarget' && c.status === 'True');
      throw new StepFailure(`Job ${name} failed after its pod succeeded (${[condition?.reason, condition?.message].filter(Boolean).join(': ') || 'failed'})`);
    }
    return { done: false, status: `Job ${name}: its pod succeeded; waiting for the Job controller to mark it Complete` };
  });
}

/**
 * A maintenance Job that failed, is stuck or timed out is deleted before the run reports: left
 * active (an image that becomes pullable, a retried pod), it could pause the mirrors later with
 * nothing tracking it. Its log tail is already in the failure. Init Jobs stay, for a resumed run
 * to adopt once their cause is fixed.
 */
async function stopMaintenanceJobOnFailure<T>(context: StepContext, name: string, wait: () => Promise<T>): Promise<T> {
  try {
    return await wait();
  } catch (error) {
    const kind = context.step.kind;
    if (!(error instanceof StepFailure) || (kind !== 'maintenance-start' && kind !== 'maintenance-end')) throw error;
    try {
      // A Job that failed for good stays, for `kubectl describe`: it cannot act any more.
      const job = await context.cluster.getJob(context.spec.namespace, name);
      if (!job || job.deleting || isFailed(job) || isComplete(job)) throw error;
      await context.cluster.deleteJob(context.spec.namespace, name);
    } catch (deleteError) {
      if (deleteError === error) throw error;
      throw new StepFailure(error.message, [error.detail, `could not delete the Job (${(deleteError as Error).message}); delete it by hand: kubectl -n ${context.spec.namespace} delete job ${name}`].filter(Boolean).join('\n'));
    }
    throw new StepFailure(`${error.message}; the Job was deleted, so that it cannot act later`, error.detail);
  }
}

async function create(context: StepContext, manifest: JobManifest): Promise<JobState> {
  try {
    return await context.cluster.createJob(context.spec.namespace, manifest);
  } catch (error) {
    // A retried create whose first attempt went through: the Job is ours.
    if (isClusterError(error, 'already-exists')) {
      const existing = await context.cluster.getJob(context.spec.namespace, manifest.metadata.name);
      if (existing) return existing;
    }
    throw error;
  }
}

/**
 * The labels that tie a Job to its run and plan, added when it is created: the plan itself stays
 * free of them, so a plan's steps do not change when only another step of the spec changed.
 */
export function withRunLabel(manifest: JobManifest, runId: string, planHash: string): JobManifest {
  return { ...manifest, metadata: { ...manifest.metadata, labels: { ...manifest.metadata.labels, [LABEL_RUN]: runId, [LABEL_PLAN]: planHash.slice(0, 12) } } };
}

const OPPOSITE: Partial<Record<string, string>> = { 'maintenance-start': 'maintenance-end', 'maintenance-end': 'maintenance-start' };

/** For a maintenance Job: "maintenance-end Job X" when the opposite Job was created after it. */
async function supersededBy(context: StepContext, job: JobState): Promise<string | undefined> {
  const opposite = OPPOSITE[job.labels[LABEL_STEP] ?? ''];
  if (!opposite || !job.createdAt) return undefined;
  const jobs = await context.cluster.listJobs(context.spec.namespace, `${LABEL_CLUSTER}=${context.spec.name},${LABEL_STEP}=${opposite}`);
  const later = jobs.find((j) => j.createdAt !== undefined && j.name !== job.name && Date.parse(j.createdAt) >= Date.parse(job.createdAt!));
  return later ? `${opposite} Job ${later.name}` : undefined;
}

function logBlock(name: string, logs: string): string {
  const lines = logs.trimEnd().split('\n').slice(-LOG_LINES);
  return [`last ${lines.length} log line${lines.length === 1 ? '' : 's'} of Job ${name}:`, ...lines.map((l) => `  | ${l}`)].join('\n');
}
