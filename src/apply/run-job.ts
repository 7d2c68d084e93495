import { isClusterError } from '../cluster/cluster-error.js';
import type { JobState } from '../cluster/port.js';
import type { JobManifest } from '../cluster/types.js';
import { LABEL_PLAN, LABEL_RUN } from '../plan/build-job.js';
import { waitUntil, type StepContext } from './step-context.js';
import { STUCK_REASONS, StepFailure } from './step-failure.js';

const LOG_LINES = 20;
/** How often a running Job's last log line is read for the progress line. */
const LOG_EVERY_MS = 15_000;

/**
 * Runs the step's Job to completion. Idempotent: a Job of this run that exists is adopted (a
 * resumed run never creates it twice); a finished Job left by another run, or a failed one being
 * retried, is deleted and created anew.
 */
export async function runJobStep(context: StepContext): Promise<string> {
  const { cluster, spec, step } = context;
  const manifest = step.manifest;
  if (!manifest) throw new StepFailure(`step ${step.id} has no Job manifest`);
  const name = manifest.metadata.name;
  const namespace = spec.namespace;

  let job = await cluster.getJob(namespace, name);
  if (job && isComplete(job) && job.labels[LABEL_RUN] === context.runId) return `Job ${name} had already completed`;
  if (job && (job.labels[LABEL_RUN] !== context.runId || isFailed(job) || job.deleting)) {
    const why = isFailed(job) ? 'failed before; running it again' : `left by run ${job.labels[LABEL_RUN] ?? 'unknown'}; replacing it`;
    context.emit({ type: 'step-progress', step, message: `Job ${name} ${why}`, elapsedMs: 0, timeoutMs: step.timeoutMs, at: context.clock.now() });
    await cluster.deleteJob(namespace, name);
    await waitUntil(context, { kind: 'jobs', fieldSelector: `metadata.name=${name}` }, async () => {
      const current = await cluster.getJob(namespace, name);
      return { done: current === undefined, status: `waiting for the old Job ${name} to be deleted` };
    });
    job = undefined;
  }
  if (!job) job = await create(context, withRunLabel(manifest, context.runId, context.plan.hash));

  // Maintenance start can wait a long time for running snapshots: show what the Job last said.
  let lastLine: string | undefined;
  let lastLogAt = -Infinity;
  const final = await waitUntil(context, { kind: 'jobs', fieldSelector: `metadata.name=${name}` }, async () => {
    const current = await cluster.getJob(namespace, name);
    if (!current) throw new StepFailure(`Job ${name} disappeared while it ran (deleted by someone else?)`);
    if (isComplete(current)) return { done: true, status: `Job ${name} completed` };
    const pods = await cluster.listJobPods(namespace, name);
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
    if (current.active > 0 && now - lastLogAt >= LOG_EVERY_MS) {
      lastLogAt = now;
      const tail = await cluster.jobLogTail(namespace, name, 1);
      lastLine = tail?.trim().split('\n').at(-1)?.slice(0, 200) || lastLine;
    }
    return { done: false, status: `Job ${name} running (${state})${lastLine ? `: ${lastLine}` : ''}` };
  });
  return final.status;
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

function isComplete(job: JobState): boolean {
  return job.conditions.some((c) => (c.type === 'Complete' || c.type === 'SuccessCriteriaMet') && c.status === 'True');
}

function isFailed(job: JobState): boolean {
  return job.conditions.some((c) => (c.type === 'Failed' || c.type === 'FailureTarget') && c.status === 'True');
}

function logBlock(name: string, logs: string): string {
  const lines = logs.trimEnd().split('\n').slice(-LOG_LINES);
  return [`last ${lines.length} log line${lines.length === 1 ? '' : 's'} of Job ${name}:`, ...lines.map((l) => `  | ${l}`)].join('\n');
}
