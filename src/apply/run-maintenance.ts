import type { ClusterPort } from '../cluster/port.js';
import { UserError } from '../errors.js';
import { maintenanceStep } from '../plan/compute-plan.js';
import { hashOf } from '../plan/hash.js';
import { parseImageRef } from '../plan/image-ref.js';
import { parseVersion, versionInTag, type Version } from '../spec/version.js';
import { LABEL_CLUSTER, LABEL_RUN, LABEL_STEP } from '../labels.js';
import { isActive } from './verify-converged.js';
import { jobSucceededByPods } from './job-outcome.js';
import type { JobStep, Plan } from '../plan/plan-types.js';
import type { ClusterSpec } from '../spec/schema.js';
import { isUnfinished, mirrorsPaused } from './checkpoint.js';
import { readCheckpoint, writeCheckpoint } from './checkpoint-store.js';
import type { Clock } from './clock.js';
import { lockOwner, UpgradeLock } from './lock.js';
import { observeCluster } from './observe-cluster.js';
import { awaitJobCondition, runJobStep } from './run-job.js';
import type { RunRequest } from './run-request.js';
import { closedCheckpoint, newRunId } from './run-record.js';
import { StepAborted } from './step-context.js';
import { RunStopped } from './run-stop.js';
import { StepFailure } from './step-failure.js';
import { MirrorsNotBack, verifyPeerDB } from './verify-mirrors.js';
import { connectFlowApi, FlowApiError, FlowApiUnreachable } from '../peerdb/flow-api.js';
import { durationMs } from '../spec/duration.js';

export interface MaintenanceRequest extends RunRequest {
  readonly mode: 'start' | 'end';
  /** The version the flow workers run, when their image does not say (a digest). */
  readonly version?: string | undefined;
}

/**
 * `maintenance start|end` by hand: runs PeerDB's maintenance Job with the version the flow workers
 * run now (they execute the workflow). Ending maintenance also closes an unfinished upgrade run,
 * whose remaining steps a later `apply` plans afresh.
 */
export async function runMaintenance(request: MaintenanceRequest): Promise<{ version: string; job: string; closedRun: string | undefined; verified: string }> {
  const { cluster, spec, clock, emit, mode } = request;
  const observed = await observeCluster(spec, cluster);
  const source = spec.maintenance ? spec.components.find((c) => c.name === spec.maintenance!.envFrom) : undefined;
  const workload = source ? observed.workloads.get(source.workload) : undefined;
  const container = workload?.containers.find((c) => c.name === (source?.container ?? source?.name)) ?? (workload?.containers.length === 1 ? workload.containers[0] : undefined);
  if (!spec.maintenance || !source) throw new UserError('the spec has no maintenance section: maintenance mode is not used for this installation');
  if (!workload || !container) throw new UserError(`${source.workload} (maintenance.envFrom ${source.name}) was not found in namespace ${spec.namespace}`);
  const running = await runningVersion(cluster, spec, container.image, request.version);
  if (!running) {
    throw new RunStopped({ kind: 'running-version-unknown', mode, workload: source.workload, image: container.image });
  }
  const version = running.version;
  const step = { ...maintenanceStep(spec, observed, mode, version.tag, running.prefix), id: `maintenance-${mode}` };
  if (running.note) emit({ type: 'info', message: running.note, at: clock.now() });

  const runId = newRunId(clock.now(), `maintenance-${mode}`);
  const lock = new UpgradeLock(cluster, spec, request.host, lockOwner(runId, hashOf(step), request.host), clock, (message) => emit({ type: 'warning', message, at: clock.now() }));
  await lock.acquire(request.lockTimeoutMs, request.signal);
  try {
    lock.startRenewing();
    const startedAt = clock.now();
    emit({ type: 'run-start', runId, planHash: hashOf(step), steps: 1, resumed: false, at: startedAt });
    const plan: Plan = { cluster: { name: spec.name, namespace: spec.namespace }, mode: 'live', from: version.tag, to: version.tag, componentVersions: {}, hash: hashOf(step), steps: [step], warnings: [], notices: [], summary: { steps: 1, jobs: 1, components: 0, podRestarts: 0 } };
    await stopAbandonedJobs(cluster, spec, mode === 'end' ? 'maintenance-start' : 'maintenance-end', clock, (message) => emit({ type: 'warning', message, at: clock.now() }));
    emit({ type: 'step-start', step, index: 0, attempt: 1, at: startedAt });
    try {
      const context = { cluster, spec, plan, step, runId, clock, signal: request.signal, emit, startedAt, runDeadline: undefined };
      const message = await runJobStep(context);
      // The command ends with this Job: it leaves it Complete, not active for a second more.
      await awaitJobCondition(context);
      emit({ type: 'step-done', step, index: 0, message, elapsedMs: clock.now() - startedAt, at: clock.now() });
    } catch (error) {
      if (error instanceof StepAborted) throw new RunStopped({ kind: 'maintenance-interrupted', mode, namespace: spec.namespace, job: step.job });
      if (!(error instanceof StepFailure)) throw error;
      emit({ type: 'step-failed', step, index: 0, error: error.message, detail: error.detail, at: clock.now() });
      throw new RunStopped({ kind: 'maintenance-failed', mode, reason: error.message, detail: error.detail });
    }
    let closedRun: string | undefined;
    let verified: string;
    try {
      verified = await verifyMaintenance(request, step, startedAt);
    } finally {
      // Maintenance ended even when a mirror did not come back: the run it interrupted is over.
      if (mode === 'end') closedRun = await closeUnfinishedRun(cluster, spec, clock);
    }
    emit({ type: 'run-done', runId, elapsedMs: clock.now() - startedAt, at: clock.now() });
    return { version: version.tag, job: step.job, closedRun, verified };
  } finally {
    await lock.release();
  }
}

/**
 * What PeerDB says after the Job: start → in maintenance mode, no mirror running; end → out of
 * maintenance and every mirror the unfinished run recorded as running runs again (PeerDB's end does
 * not wait for that). Stops (mirrors-not-back, maintenance-not-on) when PeerDB says otherwise.
 */
async function verifyMaintenance(request: MaintenanceRequest, step: JobStep, startedAt: number): Promise<string> {
  const { cluster, spec, clock, mode } = request;
  const progress = (message: string) => request.emit({ type: 'step-progress', step, message, elapsedMs: clock.now() - startedAt, timeoutMs: undefined, at: clock.now() });
  const warn = (message: string) => request.emit({ type: 'warning', message, at: clock.now() });
  if (mode === 'end') {
    const recorded = (await readCheckpoint(cluster, spec))?.checkpoint.mirrors?.running;
    try {
      return await verifyPeerDB({
        cluster,
        spec,
        check: { recorded, version: undefined },
        clock,
        signal: request.signal,
        deadline: clock.now() + durationMs(spec.flowApi.verifyTimeout),
        after: 'maintenance end',
        progress,
        warn,
      });
    } catch (error) {
      if (!(error instanceof MirrorsNotBack)) throw error;
      throw new RunStopped({ kind: 'mirrors-not-back', step: undefined, reason: error.message, notRunning: error.notRunning });
    }
  }
  try {
    const state = await (await connectFlowApi(cluster, spec)).state();
    const running = state.mirrors.filter((m) => m.status === 'STATUS_RUNNING').map((m) => m.name);
    if (state.instance !== 'INSTANCE_STATUS_MAINTENANCE' || running.length > 0) {
      throw new RunStopped({ kind: 'maintenance-not-on', instance: state.instance, running, namespace: spec.namespace, job: step.job });
    }
    const paused = state.mirrors.filter((m) => m.status === 'STATUS_PAUSED').length;
    return `PeerDB in maintenance mode, ${paused} mirror${paused === 1 ? '' : 's'} paused`;
  } catch (error) {
    if (!(error instanceof FlowApiUnreachable || error instanceof FlowApiError)) throw error;
    warn(`maintenance start not verified: flow-api cannot be asked (${error.message})`);
    return 'not verified (flow-api cannot be asked)';
  }
}

async function closeUnfinishedRun(cluster: ClusterPort, spec: ClusterSpec, clock: Clock): Promise<string | undefined> {
  const stored = await readCheckpoint(cluster, spec);
  if (!stored || !isUnfinished(stored.checkpoint)) return undefined;
  const c = stored.checkpoint;
  await writeCheckpoint(cluster, spec, closedCheckpoint(c, clock.now(), `maintenance ended by hand${mirrorsPaused(c) ? ' (mirrors resumed)' : ''}`), stored.resourceVersion);
  return c.run.id;
}

/**
 * The version the flow workers run, from what runs: the version in the image's tag whatever its
 * prefix (a typo'd tagPrefix in the spec is a likely cause of the failure being undone), or the
 * version given, or for an image by digest the version the unfinished run found it on.
 */
async function runningVersion(cluster: ClusterPort, spec: ClusterSpec, image: string, given: string | undefined): Promise<{ version: Version; prefix: string; note?: string } | undefined> {
  const ref = parseImageRef(image);
  const inTag = ref.tag ? versionInTag(ref.tag) : undefined;
  if (given !== undefined) {
    const parsed = parseVersion(given);
    if (!parsed.ok) throw new UserError(`--running-version: ${parsed.reason}`);
    return { version: parsed.version, prefix: inTag?.prefix ?? spec.images.tagPrefix };
  }
  if (inTag) return inTag;
  const stored = await readCheckpoint(cluster, spec);
  const run = stored?.checkpoint;
  const source = spec.components.find((c) => c.name === spec.maintenance?.envFrom);
  const initial = run && source ? run.initial[source.workload] : undefined;
  if (run && run.run.from && initial?.containers.some((c) => c.image === image)) {
    const parsed = parseVersion(run.run.from);
    if (parsed.ok) return { version: parsed.version, prefix: spec.images.tagPrefix, note: `${source!.workload} runs ${image} by digest, as when run ${run.run.id} began on ${run.run.from}: ending maintenance with ${run.run.from}` };
  }
  return undefined;
}

/**
 * Maintenance Jobs of the opposite mode still active (left by a run that failed or died): deleted
 * before this one runs, or a late start would pause the mirrors again after this end. One whose
 * pods already succeeded is left alone: it did its work (before this one) and runs nothing again.
 */
async function stopAbandonedJobs(cluster: ClusterPort, spec: ClusterSpec, step: string, clock: Clock, warn: (message: string) => void): Promise<void> {
  const jobs = await cluster.listJobs(spec.namespace, `${LABEL_CLUSTER}=${spec.name},${LABEL_STEP}=${step}`);
  for (const job of jobs.filter(isActive)) {
    // Its pods succeeded (its step was done; the controller has yet to write Complete): it acted
    // already and runs no pod again.
    if (jobSucceededByPods(job, await cluster.listJobPods(spec.namespace, job.name), clock.now())) continue;
    warn(`deleting Job ${job.name} (${step}), still active from run ${job.labels[LABEL_RUN] ?? 'unknown'}: it must not act after this`);
    await cluster.deleteJob(spec.namespace, job.name);
  }
}
