import type { ClusterPort, JobState } from '../cluster/port.js';
import type { WorkloadState } from '../cluster/types.js';
import { ANNOTATION_PARTITION, LABEL_CLUSTER, LABEL_RUN, MANAGED_BY } from '../labels.js';
import { imageFor } from '../plan/image-ref.js';
import { parseVersion } from '../spec/version.js';
import type { ClusterSpec } from '../spec/schema.js';
import { isComplete, isFailed } from './job-outcome.js';
import { containerImage } from './step-context.js';
import { STUCK_REASONS } from './step-failure.js';

/** What is still off, one line each; `stuck` when waiting cannot help. */
export interface Convergence {
  readonly problems: readonly string[];
  readonly stuck: boolean;
}

/** Problems shown per workload before "and N more". */
const SHOWN = 3;

/**
 * The end of a run is a verification, not a step count: every pod of every component runs the
 * target image on the update revision and is Ready, no Job this run created is still active, and
 * none of `runJobs` (the Jobs of the plan's Job steps, all done by now) ended Failed.
 * Components already on the target before the run are checked too: "done" is about the
 * installation, not about the steps that ran.
 */
export async function checkConverged(cluster: ClusterPort, spec: ClusterSpec, runId: string | undefined, runJobs: ReadonlySet<string> = new Set()): Promise<Convergence> {
  const version = parseVersion(spec.version);
  if (!version.ok) return { problems: [`spec.version: ${version.reason}`], stuck: true };
  const problems: string[] = [];
  let stuck = false;
  for (const component of spec.components) {
    const { kind } = component.ref;
    const state = await cluster.getWorkload(spec.namespace, component.ref);
    if (!state) {
      problems.push(`${component.workload} no longer exists`);
      stuck = true;
      continue;
    }
    const container = component.container ?? (state.containers.some((c) => c.name === component.name) ? component.name : state.containers[0]?.name ?? component.name);
    const target = imageFor(spec.images, component, version.version.tag);
    const image = containerImage(state, container);
    if (image !== target) {
      problems.push(`${component.workload}: container ${container} has image ${image ?? '(none)'}, not ${target}`);
      stuck = true;
      continue;
    }
    const found = kind === 'Deployment' ? deploymentProblems(state) : statefulSetProblems(state, spec.namespace);
    problems.push(...found.problems.map((p) => `${component.workload}: ${p}`));
    stuck ||= found.stuck;
  }
  if (runId !== undefined) {
    const jobs = await cluster.listJobs(spec.namespace, runJobsSelector(spec, runId));
    // A Job step is done once its pods succeeded (job-outcome.ts): the controller's Complete may
    // still be on its way (waited for, as active), and a Job of a step counted done that ended
    // Failed after all (its deadline passed first) is not done. A failed Job of this run that
    // the plan no longer runs (a resumed run ran a corrected one, of another name) is history.
    for (const job of jobs) {
      if (isActive(job)) problems.push(`Job ${job.name} of this run is still active`);
      else if (runJobs.has(job.name) && !job.deleting && isFailed(job) && !isComplete(job)) {
        const condition = job.conditions.find((c) => c.type === 'Failed' && c.status === 'True') ?? job.conditions.find((c) => c.type === 'FailureTarget' && c.status === 'True');
        problems.push(`Job ${job.name} of this run failed (${[condition?.reason, condition?.message].filter(Boolean).join(': ') || 'failed'})`);
        stuck = true;
      }
    }
  }
  return { problems, stuck };
}

/** The Jobs a run created, by their labels. */
export function runJobsSelector(spec: ClusterSpec, runId: string): string {
  return `app.kubernetes.io/managed-by=${MANAGED_BY},${LABEL_CLUSTER}=${spec.name},${LABEL_RUN}=${runId}`;
}

/** A Job that has not finished (and is not being deleted): its pods may still act. */
export function isActive(job: JobState): boolean {
  if (job.deleting) return false;
  const finished = job.conditions.some((c) => ['Complete', 'SuccessCriteriaMet', 'Failed', 'FailureTarget'].includes(c.type) && c.status === 'True');
  return !finished && (job.active > 0 || !job.suspended);
}

function deploymentProblems(s: WorkloadState): Convergence {
  const problems: string[] = [];
  if (s.observedGeneration < s.generation) problems.push(`the controller has not seen generation ${s.generation} yet`);
  else if (s.updatedReplicas < s.replicas) problems.push(`${s.updatedReplicas}/${s.replicas} pods updated`);
  else if (s.availableReplicas < s.replicas) problems.push(`${s.availableReplicas}/${s.replicas} pods available`);
  else if (s.statusReplicas > s.replicas) problems.push(`${s.statusReplicas - s.replicas} pod(s) of the old version still running`);
  const failed = s.conditions.find((c) => c.type === 'Progressing' && c.status === 'False');
  return { problems, stuck: failed !== undefined };
}

function statefulSetProblems(s: WorkloadState, namespace: string): Convergence {
  if (s.observedGeneration < s.generation || s.updateRevision === undefined) return { problems: [`the controller has not seen generation ${s.generation} yet`], stuck: false };
  // A run's record of the user's partition, removed with the patch that sets it back: left behind,
  // the next run would take it for the user's partition. Nothing of this run will remove it now.
  const record =
    s.userPartition === undefined
      ? []
      : [
          `still annotated ${ANNOTATION_PARTITION}=${s.userPartition} (a run's record of your partition): the partition is ${s.partition}${s.partition === s.userPartition ? '' : `, not ${s.userPartition}`}; ` +
            `set the partition you want, then \`kubectl -n ${namespace} annotate statefulset ${s.name} ${ANNOTATION_PARTITION}-\``,
        ];
  const pods: string[] = [];
  let stuck = record.length > 0;
  for (let ordinal = 0; ordinal < s.replicas; ordinal++) {
    const pod = s.pods.find((p) => p.ordinal === ordinal);
    const name = `${s.name}-${ordinal}`;
    if (!pod) pods.push(`pod ${name} does not exist`);
    else if (pod.revision !== s.updateRevision) pods.push(`pod ${name} runs revision ${pod.revision ?? 'none'}, not the update revision ${s.updateRevision}${pod.ordinal! < s.partition ? ` (below partition ${s.partition})` : ''}`);
    else if (pod.deleting) pods.push(`pod ${name} is terminating`);
    else if (!pod.ready) {
      pods.push(`pod ${name} is not Ready${pod.waitingReason ? ` (${pod.waitingReason})` : ''}`);
      if (pod.waitingReason && STUCK_REASONS.has(pod.waitingReason)) stuck = true;
    }
  }
  return { problems: [...record, ...(pods.length > SHOWN ? [...pods.slice(0, SHOWN), `and ${pods.length - SHOWN} more pods`] : pods)], stuck };
}
