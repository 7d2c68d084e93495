import { ClusterError } from '../cluster/cluster-error.js';
import { DEFAULT_OUTAGE_MS } from '../cluster/retry.js';
import { formatDuration } from '../spec/duration.js';
import type { ClusterPort } from '../cluster/port.js';
import { isComponentStep, type Plan, type Step } from '../plan/plan-types.js';
import { stepUnits } from '../plan/rollout-groups.js';
import type { ClusterSpec } from '../spec/schema.js';
import { maintenanceAttempted, mirrorsPaused, type Checkpoint } from './checkpoint.js';
import type { Clock } from './clock.js';
import type { EmitEvent } from './events.js';
import type { UpgradeLock } from './lock.js';
import { lastPodStepUndone, prepareStatefulSet, rollStatefulSetPod } from './roll-statefulset.js';
import { rollDeployment } from './roll-deployment.js';
import { runJobStep } from './run-job.js';
import { runPrePull } from './run-pre-pull.js';
import type { RunRecord } from './run-record.js';
import { StepAborted, type StepContext } from './step-context.js';
import { RunStopped, type MirrorState } from './run-stop.js';
import { MissingAccess, StepFailure } from './step-failure.js';
import { runPreflight } from './run-preflight.js';
import { verifyConverged } from './verify-step.js';
import { MirrorsNotBack, verifyPeerDB } from './verify-mirrors.js';
import { connectFlowApi, FlowApiError, FlowApiUnreachable, observePeerDB } from '../peerdb/flow-api.js';
import { short } from '../plan/mirrors-line.js';

export interface ExecuteInput {
  readonly cluster: ClusterPort;
  readonly spec: ClusterSpec;
  readonly plan: Plan;
  /** The run's checkpoint, written after every change. */
  readonly record: RunRecord;
  readonly lock: Pick<UpgradeLock, 'assertHeld'>;
  readonly clock: Clock;
  readonly signal: AbortSignal;
  readonly emit: EmitEvent;
  readonly runDeadline: number | undefined;
  /** How long the API server may be away before the run gives up (ms); default DEFAULT_OUTAGE_MS. */
  readonly outageMs?: number | undefined;
}

/**
 * Runs the plan's unfinished steps in order, writing the checkpoint after every change. A step
 * done in an earlier attempt is skipped; every runner is idempotent, so a step that was running
 * when the previous attempt died is simply run again.
 */
export async function executePlan(input: ExecuteInput): Promise<void> {
  const { plan, record, clock, emit } = input;
  const checkpoint = record.checkpoint;

  /** Runs plan.steps[index]; true when the run is complete. `next`: the steps that start once it is done. */
  const runOne = async (index: number, next: () => readonly Step[]): Promise<boolean> => {
    const step = plan.steps[index]!;
    if (record.isDone(step)) {
      const undone = step.kind === 'statefulset-pod' ? await lastPodStepUndone({ ...input, step }).catch(trustRecord) : undefined;
      if (undone === undefined) {
        emit({ type: 'step-skip', step, index, reason: step.kind === 'preflight' ? 'checked before the lock was taken' : 'done in an earlier attempt', at: clock.now() });
        return false;
      }
      emit({ type: 'warning', message: `${step.id} is recorded done, but ${undone}: running it again`, at: clock.now() });
    }
    if (input.signal.aborted) await stopInterrupted(input, step);
    input.lock.assertHeld();

    const startedAt = clock.now();
    await record.start(step);
    emit({ type: 'step-start', step, index, attempt: record.attempts(step), at: startedAt });

    const context: StepContext = {
      cluster: input.cluster,
      spec: input.spec,
      plan,
      step,
      runId: checkpoint.run.id,
      clock,
      signal: input.signal,
      emit,
      startedAt,
      runDeadline: input.runDeadline,
      maintenanceDetail: step.kind === 'maintenance-start' ? () => maintenanceDetail(input.cluster, input.spec) : undefined,
      recordedMirrors: checkpoint.mirrors?.running,
    };
    let message: string;
    try {
      message = await rideOutOutages(input, context, () => runStep(context));
      if (step.kind === 'complete') {
        await record.complete(step);
        emit({ type: 'step-done', step, index, message, elapsedMs: clock.now() - startedAt, at: clock.now() });
        return true;
      }
    } catch (error) {
      if (error instanceof StepAborted || (input.signal.aborted && !(error instanceof StepFailure))) {
        await stopInterrupted(input, step);
      }
      const reason = error instanceof StepFailure || error instanceof ClusterError ? error.message : undefined;
      if (reason === undefined) throw error;
      // Permissions missing (preflight, or a request refused with 403): the CLI points to the Role.
      const missingAccess = error instanceof MissingAccess ? error.namespace : error instanceof ClusterError && error.kind === 'forbidden' ? input.spec.namespace : undefined;
      const detail = error instanceof StepFailure ? error.detail : error instanceof ClusterError && missingAccess === undefined ? error.hint : undefined;
      const mirrors = mirrorState(checkpoint);
      const notBack = error instanceof MirrorsNotBack ? error : undefined;
      record.failed(step, reason, mirrors === 'running' && !notBack ? 'failed' : 'needs-person');
      await saveQuietly(input);
      emit({ type: 'step-failed', step, index, error: reason, detail, at: clock.now() });
      if (notBack) throw new RunStopped({ kind: 'mirrors-not-back', step: step.id, reason, notRunning: notBack.notRunning });
      throw new RunStopped({ kind: 'step-failed', step: step.id, reason, detail, mirrors, ...(missingAccess === undefined ? {} : { missingAccess }) });
    }
    if (step.kind === 'maintenance-start') await recordPausedByStart(input);
    // The steps that start next are marked running in the same write (the next one, the first of
    // each lane of a concurrent group that follows, or a lane's own next), unless a signal came.
    // (complete was left out while it only wrote the run's result; since it checks the cluster
    // first, its running mark rides along and the write that records this step done is its own:
    // see RunRecord.done.)
    await record.done(step, input.signal.aborted ? [] : next());
    emit({ type: 'step-done', step, index, message, elapsedMs: clock.now() - startedAt, at: clock.now() });
    return false;
  };

  const units = stepUnits(plan.steps);
  for (const [u, unit] of units.entries()) {
    if (unit.group === undefined) {
      if (await runOne(unit.indexes[0]!, () => startsOf(plan, units[u + 1]))) return;
    } else {
      await runGroup(plan, unit.indexes, runOne, () => startsOf(plan, units[u + 1]));
    }
  }
}

/** The steps a unit starts with: its one step, or the first step of each lane of a group. */
function startsOf(plan: Plan, unit: { readonly group: string | undefined; readonly indexes: readonly number[] } | undefined): Step[] {
  if (!unit) return [];
  if (unit.group === undefined) return [plan.steps[unit.indexes[0]!]!];
  return [...lanesOf(plan, unit.indexes).values()].map((lane) => plan.steps[lane[0]!]!);
}

/** A group's lanes: one per component, its steps in plan order. */
function lanesOf(plan: Plan, indexes: readonly number[]): Map<string, number[]> {
  const lanes = new Map<string, number[]>();
  for (const index of indexes) {
    const step = plan.steps[index]!;
    const lane = isComponentStep(step) ? step.component : step.id;
    lanes.set(lane, [...(lanes.get(lane) ?? []), index]);
  }
  return lanes;
}

/** Whether `step` may be marked running by the write before it: not a concurrent group's lane. */
function markableAhead(step: Step | undefined): step is Step {
  return step !== undefined && !(isComponentStep(step) && step.group !== undefined);
}

/** The step a run starts with (the first not done), if the write that begins the run may mark it running. */
export function firstToRun(plan: Plan, record: RunRecord): Step | undefined {
  const first = plan.steps.find((step) => !record.isDone(step));
  return markableAhead(first) ? first : undefined;
}

/**
 * A concurrent group (spec.rollout.concurrent): one lane per component, side by side, each lane's
 * steps in order (a StatefulSet one pod at a time). When a lane fails or the run is interrupted, the
 * other lanes finish the step they are on (each bounded by its own timeout) and start no other; the
 * first failure is the run's. Each step is recorded on its own, so a resumed run skips what every
 * lane finished and each lane goes on from its own next step.
 */
async function runGroup(
  plan: Plan,
  indexes: readonly number[],
  runOne: (index: number, next: () => readonly Step[]) => Promise<boolean>,
  after: () => readonly Step[],
): Promise<void> {
  const lanes = [...lanesOf(plan, indexes).values()];
  let stopped = false;
  let finished = 0;
  // A lane marks its own next step running as it records a step done; the last lane to finish
  // marks the step after the group.
  const nextIn = (lane: readonly number[], i: number) => () => {
    if (i + 1 < lane.length) return [plan.steps[lane[i + 1]!]!];
    finished++;
    return finished === lanes.length && !stopped ? after() : [];
  };
  const results = await Promise.allSettled(
    lanes.map(async (lane) => {
      for (const [i, index] of lane.entries()) {
        if (stopped) return;
        try {
          await runOne(index, nextIn(lane, i));
        } catch (error) {
          stopped = true;
          throw error;
        }
      }
    }),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}


/**
 * A step interrupted by the API server going away (a request without an answer, a write whose fate
 * is unknown) is run again once the server answers, within the outage budget. Never blindly: every
 * runner looks at the cluster before it acts, so a write that did land is seen, not repeated.
 */
async function rideOutOutages(input: ExecuteInput, context: StepContext, run: () => Promise<string>): Promise<string> {
  const budget = input.outageMs ?? DEFAULT_OUTAGE_MS;
  let since: number | undefined;
  for (;;) {
    try {
      return await run();
    } catch (error) {
      if (!(error instanceof ClusterError) || !error.retryable || input.signal.aborted) throw error;
      since ??= input.clock.now();
      if (input.clock.now() - since >= budget) throw error;
      input.emit({ type: 'warning', message: `${context.step.id}: ${error.message}; waiting for the API server (up to ${formatDuration(budget)}), then looking again before acting`, at: input.clock.now() });
      await input.clock.sleep(Math.min(2_000, budget), input.signal);
      // A read: its own retries wait out the rest of the outage.
      try {
        await input.cluster.getConfigMap(input.spec.namespace, input.spec.checkpointName);
      } catch (probe) {
        if (!(probe instanceof ClusterError) || !probe.retryable) throw probe;
      }
    }
  }
}

async function runStep(context: StepContext): Promise<string> {
  const step = context.step;
  switch (step.kind) {
    case 'preflight':
      return runPreflight(context.cluster, context.spec, context.plan, { checkHealth: false });
    case 'pre-pull':
      return runPrePull({ ...context, step });
    case 'maintenance-start':
    case 'maintenance-end':
    case 'init-job':
      return runJobStep({ ...context, step });
    case 'deployment-rollout':
      return rollDeployment({ ...context, step });
    case 'statefulset-prepare':
      return prepareStatefulSet({ ...context, step });
    case 'statefulset-pod':
      return rollStatefulSetPod({ ...context, step });
    case 'verify-mirrors':
      return verifyPeerDB({
        cluster: context.cluster,
        spec: context.spec,
        check: { recorded: context.recordedMirrors, version: context.plan.to },
        clock: context.clock,
        signal: context.signal,
        deadline: Math.min(context.startedAt + step.timeoutMs, context.runDeadline ?? Infinity),
        after: 'maintenance end',
        progress: (status) => context.emit({ type: 'step-progress', step, message: status, elapsedMs: context.clock.now() - context.startedAt, timeoutMs: step.timeoutMs, at: context.clock.now() }),
        warn: (message) => context.emit({ type: 'warning', message, at: context.clock.now() }),
      });
    case 'complete':
      return verifyConverged(context);
  }
}

/** Maintenance start's phase and what it waits for, from flow-api; undefined when it cannot be asked. */
async function maintenanceDetail(cluster: ClusterPort, spec: ClusterSpec): Promise<string | undefined> {
  try {
    const progress = await (await connectFlowApi(cluster, spec)).maintenance();
    const phase = short(progress.phase.replace(/^MAINTENANCE_PHASE_/, 'STATUS_'));
    return `PeerDB ${phase.replace(/_/g, ' ')}${progress.pending.length ? `, waiting for: ${progress.pending.join('; ')}` : ''}`;
  } catch (error) {
    if (error instanceof FlowApiUnreachable || error instanceof FlowApiError || error instanceof ClusterError) return undefined;
    throw error;
  }
}

/**
 * After maintenance start: mirrors it paused that were not running when the run began (a snapshot
 * that finished while start waited) must run again too. Best effort: the record from the start of
 * the run stands when flow-api cannot be asked.
 */
async function recordPausedByStart(input: ExecuteInput): Promise<void> {
  const record = input.record.checkpoint.mirrors;
  if (!record) return;
  const observed = await observePeerDB(input.cluster, input.spec);
  if (!observed.ok) return;
  const known = new Set([...record.running, ...record.in_between, ...record.left_alone]);
  for (const m of observed.state.mirrors) {
    // Paused now, and in between before (a snapshot start waited for) or new since: start paused it.
    if (m.status === 'STATUS_PAUSED' && !record.running.includes(m.name) && (record.in_between.includes(m.name) || !known.has(m.name))) {
      record.running.push(m.name);
      record.in_between = record.in_between.filter((n) => n !== m.name);
    }
  }
}

async function stopInterrupted(input: ExecuteInput, step: Step): Promise<never> {
  input.record.interrupted(step);
  await saveQuietly(input);
  throw new RunStopped({ kind: 'interrupted', step: step.id, mirrors: mirrorState(input.record.checkpoint) });
}

/** Mirrors are paused once maintenance-start finished; maybe paused while it was tried. */
function mirrorState(checkpoint: Checkpoint): MirrorState {
  return mirrorsPaused(checkpoint) ? 'paused' : maintenanceAttempted(checkpoint) ? 'maybe-paused' : 'running';
}

/** A look at the cluster that fails leaves the record as it is: the final check looks again. */
function trustRecord(error: unknown): undefined {
  if (error instanceof ClusterError) return undefined;
  throw error;
}

/** A failed checkpoint write must not hide the step's own failure. */
async function saveQuietly(input: ExecuteInput): Promise<void> {
  try {
    await input.record.save();
  } catch (error) {
    input.emit({ type: 'warning', message: `could not save the checkpoint: ${(error as Error).message}`, at: input.clock.now() });
  }
}
