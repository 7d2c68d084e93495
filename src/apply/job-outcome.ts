import type { JobState } from '../cluster/port.js';
import type { PodState } from '../cluster/types.js';

/**
 * When a Job has succeeded. The Job controller writes SuccessCriteriaMet/Complete about a second
 * after the pod that decides it ended (it batches pod updates), so a Job step that waited for the
 * condition alone lost that second on the critical path of every init and maintenance Job. What
 * the pods show decides it first, where that is safe (jobSucceededByPods); the condition still
 * counts, whichever comes first.
 */

/** Kubernetes' default spec.backoffLimit. */
const DEFAULT_BACKOFF_LIMIT = 6;
/**
 * The controller checks activeDeadlineSeconds before it counts completions: a Job whose pods
 * succeeded this close to its deadline may still end DeadlineExceeded, so it is left to the condition.
 */
const DEADLINE_MARGIN_MS = 10_000;

export function isComplete(job: JobState): boolean {
  return job.conditions.some((c) => (c.type === 'Complete' || c.type === 'SuccessCriteriaMet') && c.status === 'True');
}

export function isFailed(job: JobState): boolean {
  return job.conditions.some((c) => (c.type === 'Failed' || c.type === 'FailureTarget') && c.status === 'True');
}

/** The pods the Job object made: by its uid, never a pod of an older Job of the same name. */
export function podsOf(job: JobState, pods: readonly PodState[]): PodState[] {
  return pods.filter((p) => job.uid !== '' && p.controllerUid === job.uid);
}

/**
 * Whether the Job's work succeeded as its own pods show it, before the controller says so: a
 * description (`1 pod succeeded`) when it did, undefined when it did not or cannot be told this
 * way (then only the condition decides). It did when:
 * - the Job is not being deleted, not suspended, and has no Failed or FailureTarget condition;
 * - its success is a count of pods: NonIndexed, no successPolicy, no podFailurePolicy (a rule that
 *   could still fail it), the built-in controller, and spec.completions set or parallelism 1
 *   (a work queue Job's success is the controller's call);
 * - pods of this Job object (by uid; none being deleted) in phase Succeeded reach spec.completions
 *   (default 1), none of them is still running, and the failed ones have not gone past backoffLimit;
 * - its activeDeadlineSeconds, if any, is more than DEADLINE_MARGIN_MS away.
 */
export function jobSucceededByPods(job: JobState, pods: readonly PodState[], now: number): string | undefined {
  const spec = job.spec;
  if (!spec || job.deleting || job.suspended || isFailed(job)) return undefined;
  if ((spec.completionMode ?? 'NonIndexed') !== 'NonIndexed' || spec.successPolicy || spec.podFailurePolicy) return undefined;
  if (spec.managedBy !== undefined && spec.managedBy !== 'kubernetes.io/job-controller') return undefined;
  if (spec.completions === undefined && (spec.parallelism ?? 1) > 1) return undefined;
  if (spec.activeDeadlineSeconds !== undefined) {
    const started = job.startTime === undefined ? NaN : Date.parse(job.startTime);
    if (!Number.isFinite(started) || started + spec.activeDeadlineSeconds * 1000 - now < DEADLINE_MARGIN_MS) return undefined;
  }
  const own = podsOf(job, pods);
  if (own.some((p) => p.deleting)) return undefined;
  if (own.some((p) => p.phase !== 'Succeeded' && p.phase !== 'Failed')) return undefined;
  const failed = Math.max(job.failed, own.filter((p) => p.phase === 'Failed').length);
  if (failed > (spec.backoffLimit ?? DEFAULT_BACKOFF_LIMIT)) return undefined;
  const succeeded = own.filter((p) => p.phase === 'Succeeded').length;
  const completions = spec.completions ?? 1;
  if (succeeded < completions) return undefined;
  return `${succeeded} pod${succeeded === 1 ? '' : 's'} succeeded`;
}
