import { ClusterError, isClusterError } from '../cluster/cluster-error.js';
import type { JobManifest, PodState } from '../cluster/types.js';
import { LABEL_CLUSTER, LABEL_RUN, LABEL_STEP, MANAGED_BY, MANAGED_BY_LABEL } from '../labels.js';
import { buildJob } from '../plan/build-job.js';
import type { PrePullStep } from '../plan/plan-types.js';
import { formatDuration } from '../spec/duration.js';
import { StepAborted, waitUntil, type StepContext } from './step-context.js';
import { StepFailure } from './step-failure.js';

export const PRE_PULL_PURPOSE = 'pre-pull';

/**
 * The command a pre-pull container is given: a path no image has. The kubelet pulls the image to
 * create the container, then fails to start it (StartError / RunContainerError): nothing of the
 * image runs, so this works for images without a shell (distroless, scratch) and never starts a
 * PeerDB process that would connect to the catalog or Temporal.
 */
export const PRE_PULL_COMMAND = ['/peerdb-upgrade-pre-pull/runs-nothing'];

/** Waiting reasons of a container whose image could not be pulled: that pair is given up. */
const PULL_FAILED = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'RegistryUnavailable']);
/** Waiting reasons while the image is not there yet. */
const NOT_YET = new Set(['ContainerCreating', 'PodInitializing', '']);

/**
 * Pre-pull: each image of the upgrade onto each node that runs the installation now, before
 * maintenance starts (mirrors still run). One Job per node and image, pinned with nodeName. Best
 * effort and bounded: what is not pulled by spec.rollout.prePull.timeout is left to the kubelet of
 * the new pod, as without pre-pull; the step never fails the run for it. Its Jobs are deleted
 * however the step ends (done, timed out, interrupted, failed), and carry activeDeadlineSeconds, so
 * even a run killed outright leaves nothing of ours running past the timeout.
 */
export async function runPrePull(context: StepContext<PrePullStep>): Promise<string> {
  try {
    return await prePull(context);
  } catch (error) {
    // An outage is ridden out by the executor (the step runs again); anything else the API server
    // refuses (a quota, an admission policy) ends the pre-pull, not the upgrade: nothing is paused yet.
    if (!(error instanceof ClusterError) || error.retryable) throw error;
    context.emit({ type: 'warning', message: `pre-pull: ${error.message}; going on without it (the new pods pull their images themselves)`, at: context.clock.now() });
    return `not done: ${error.message}`;
  }
}

async function prePull(context: StepContext<PrePullStep>): Promise<string> {
  const { cluster, spec, step } = context;
  const ns = spec.namespace;
  const ours = `${LABEL_CLUSTER}=${spec.name},${LABEL_STEP}=${PRE_PULL_PURPOSE}`;
  // Left by a run that was killed before it could delete them.
  for (const job of await cluster.listJobs(ns, ours)) await cluster.deleteJob(ns, job.name);

  const pods = await cluster.listPods(ns, `${MANAGED_BY_LABEL}!=${MANAGED_BY}`);
  const nodes = [...new Set(pods.map((p) => p.node).filter((n): n is string => n !== undefined))].sort();
  if (nodes.length === 0) return 'no pod of the installation runs on a node yet: nothing to pre-pull';

  const workloads = await cluster.listWorkloads(ns);
  const secrets = workloads === 'forbidden' ? [] : [...new Set(workloads.flatMap((w) => w.imagePullSecrets))].sort();
  const jobs: { manifest: JobManifest; node: string; image: string }[] = [];
  for (const node of nodes) {
    for (const image of step.images) {
      const manifest = buildJob({
        cluster: spec.name,
        namespace: ns,
        purpose: PRE_PULL_PURPOSE,
        targetVersion: context.plan.to,
        containerName: 'pull',
        image,
        command: PRE_PULL_COMMAND,
        imagePullSecrets: secrets,
        backoffLimit: 0,
        timeoutMs: step.timeoutMs,
        nodeName: node,
      });
      manifest.metadata.labels[LABEL_RUN] = context.runId;
      jobs.push({ manifest, node, image });
    }
  }

  const started = context.clock.now();
  try {
    for (const job of jobs) {
      if (context.signal.aborted) throw new StepAborted();
      try {
        await cluster.createJob(ns, job.manifest);
      } catch (error) {
        if (!isClusterError(error, 'already-exists')) throw error;
      }
    }
    const outcome = new Map<string, 'pulled' | string>();
    const key = (j: { node: string; image: string }) => `${j.image} on ${j.node}`;
    const observe = async () => {
      for (const job of jobs) {
        if (outcome.has(key(job))) continue;
        const state = pullState(await cluster.listJobPods(ns, job.manifest.metadata.name));
        if (state !== 'waiting') outcome.set(key(job), state);
      }
      const pulled = [...outcome.values()].filter((v) => v === 'pulled').length;
      return { done: outcome.size === jobs.length, status: `${pulled} of ${jobs.length} pulled (${step.images.length} images × ${nodes.length} nodes)` };
    };
    try {
      await waitUntil(context, { kind: 'pods', labelSelector: ours }, observe, step.timeoutMs);
    } catch (error) {
      if (!(error instanceof StepFailure)) throw error;
      // The pre-pull's own timeout: go on; the new pods pull what is missing themselves.
    }
    const failed = [...outcome.entries()].filter(([, v]) => v !== 'pulled');
    const missing = jobs.filter((j) => !outcome.has(key(j)));
    const pulled = jobs.length - failed.length - missing.length;
    const text = `pulled ${pulled} of ${jobs.length} (${step.images.length} images onto ${nodes.length} node${nodes.length === 1 ? '' : 's'}) in ${formatDuration(context.clock.now() - started)}`;
    if (failed.length + missing.length === 0) return text;
    const problems = [...failed.map(([k, why]) => `${k}: ${why}`), ...missing.map((j) => `${key(j)}: not pulled within ${formatDuration(step.timeoutMs)}`)];
    context.emit({ type: 'warning', message: `pre-pull: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}; the new pods pull these themselves`, at: context.clock.now() });
    return text;
  } finally {
    // However the step ends: nothing of ours stays behind (the Jobs' pods go with them).
    await removeJobs(context, jobs.map((j) => j.manifest.metadata.name));
  }
}

function pullState(pods: readonly PodState[]): 'waiting' | 'pulled' | string {
  for (const pod of pods) {
    const reason = pod.waitingReason ?? '';
    if (PULL_FAILED.has(reason)) return `${reason}${pod.waitingMessage ? ` (${pod.waitingMessage})` : ''}`;
    // Created, started, failed to start, finished: each needs the image on the node.
    if (pod.phase === 'Running' || pod.phase === 'Succeeded' || pod.phase === 'Failed' || !NOT_YET.has(reason)) return 'pulled';
  }
  return 'waiting';
}

async function removeJobs(context: StepContext, names: readonly string[]): Promise<void> {
  for (const name of names) {
    try {
      await context.cluster.deleteJob(context.spec.namespace, name);
    } catch (error) {
      // Bounded by activeDeadlineSeconds anyway; say so rather than hide the step's own outcome.
      context.emit({ type: 'warning', message: `pre-pull: could not delete Job ${name} (${(error as Error).message}); it ends by itself within its activeDeadlineSeconds`, at: context.clock.now() });
    }
  }
}
