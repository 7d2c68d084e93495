import type { ClusterPort } from '../cluster/port.js';
import { DEFAULT_OUTAGE_MS } from '../cluster/retry.js';
import { UserError } from '../errors.js';
import { computePlan } from '../plan/compute-plan.js';
import type { ObservedState } from '../plan/plan-input.js';
import { observeCluster } from './observe-cluster.js';
import { parseVersion } from '../spec/version.js';
import { isJobStep, type Plan } from '../plan/plan-types.js';
import { ownerSummary } from '../plan/render-ownership.js';
import type { SavedPlan } from '../plan/saved-plan.js';
import type { LoadedSpec } from '../spec/load-spec.js';
import type { ClusterSpec } from '../spec/schema.js';
import { LABEL_CLUSTER, LABEL_RUN, MANAGED_BY } from '../labels.js';
import { firstUnfinishedStep, isUnfinished, maintenanceAttempted, mirrorsPaused, recordedPartitions, stepHash, type Checkpoint } from './checkpoint.js';
import { readCheckpoint } from './checkpoint-store.js';
import { resolveRangeHashes } from './checkpoint-steps.js';
import { serverDryRun, type DryRunResult } from './dry-run.js';
import { executePlan, firstToRun } from './execute-plan.js';
import { continuedCheckpoint, freshCheckpoint, newRunId, RunRecord } from './run-record.js';
import { lockOwner, UpgradeLock, waitForLock } from './lock.js';
import { describeStepDiff } from './plan-diff.js';
import { runPreflight } from './run-preflight.js';
import { restoreObserved } from './snapshot.js';
import type { RunRequest } from './run-request.js';
import { RunStopped } from './run-stop.js';
import { MissingAccess, StepFailure } from './step-failure.js';

export interface ApplyRequest extends RunRequest {
  readonly loaded: LoadedSpec;
  /** How to treat an unfinished run: refuse (fresh), continue it (resume), or discard it (restart). */
  readonly mode: 'fresh' | 'resume' | 'restart';
  readonly savedPlan?: SavedPlan | undefined;
  readonly allowDowngrade: boolean;
  readonly runTimeoutMs?: number | undefined;
  readonly dryRun: boolean;
  /** Asked before anything changes; false stops the run (nothing changed). */
  readonly confirm: (plan: Plan, resumed: boolean) => Promise<boolean>;
  /** The user says Argo CD / Flux reconciliation of the workloads is suspended (--reconciliation-suspended). */
  readonly reconciliationSuspended?: boolean | undefined;
  /** Where the Helm chart is installed from, for the advised `helm upgrade` (--helm-chart). */
  readonly helmChart?: string | undefined;
  /** --api-outage: how long the API server may be away before the run gives up (ms). */
  readonly outageMs?: number | undefined;
}

export type ApplyOutcome =
  | { kind: 'nothing-to-do'; plan: Plan }
  | { kind: 'not-confirmed'; plan: Plan }
  | { kind: 'dry-run'; plan: Plan; results: DryRunResult[] }
  | { kind: 'done'; plan: Plan; runId: string; resumed: boolean };

/** How often to plan again when the checkpoint moved while planning (a dead run's late write). */
const REPLANS = 3;

export async function applyUpgrade(request: ApplyRequest): Promise<ApplyOutcome> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await applyOnce(request);
    } catch (error) {
      if (!(error instanceof RunStopped && error.stop.kind === 'checkpoint-moved') || attempt >= REPLANS) throw error;
      request.emit({ type: 'info', message: 'the checkpoint changed while this run was planning (a write of an earlier run arriving late?); planning again', at: request.clock.now() });
    }
  }
}

async function applyOnce(request: ApplyRequest): Promise<ApplyOutcome> {
  const { cluster, spec, clock, emit } = request;
  // A run reads and waits on the namespace's pods, workloads and Jobs from start to end: one watch
  // per kind for all of it costs less than asking again at every look (issue 14 item 3).
  if (!request.dryRun) cluster.watchNamespace(spec.namespace);
  // The lock, the checkpoint and the installation are read at once: the start costs the slowest
  // read, not their sum (issue 14). A run in progress is still the answer given first: its
  // checkpoint is unfinished because it runs. Should this run have waited for the lock, what was
  // read beside the first look at it was the other run's, and is read again.
  const early = { stored: settle(readCheckpoint(cluster, spec)), observed: settle(observeCluster(spec, cluster)) };
  const leaseSeen = request.dryRun ? undefined : await waitForLock(cluster, spec, clock, request.host, request.lockTimeoutMs, request.signal);
  const again = leaseSeen?.waited === true;
  const stored = again ? await readCheckpoint(cluster, spec) : unwrap(await early.stored);
  const unfinished = stored && isUnfinished(stored.checkpoint) ? stored : undefined;
  const recorded = recordedPartitions(stored?.checkpoint);
  const observed: ObservedState = { ...(again ? await observeCluster(spec, cluster) : unwrap(await early.observed)), userPartitions: recorded };

  let plan: Plan;
  let resumed = false;
  if (unfinished && request.dryRun && request.mode !== 'resume') throw unfinishedRun(unfinished.checkpoint, 'fresh');
  if (unfinished && request.savedPlan) throw unfinishedRun(unfinished.checkpoint, 'saved-plan');
  if (unfinished && request.mode === 'fresh') throw unfinishedRun(unfinished.checkpoint, 'fresh');
  if (unfinished && request.mode === 'restart' && maintenanceAttempted(unfinished.checkpoint)) throw unfinishedRun(unfinished.checkpoint, 'restart');
  if (unfinished && request.mode === 'resume') {
    plan = resumePlan(unfinished.checkpoint, spec, observed, request.allowDowngrade, request.helmChart);
    resumed = true;
  } else {
    plan = computePlan(spec, { mode: 'live', observed }, { allowDowngrade: request.allowDowngrade, helmChart: request.helmChart });
    if (request.savedPlan) assertSavedPlanStillHolds(request.savedPlan, plan);
  }
  for (const line of ownerSummary(plan.ownership)) emit({ type: 'info', message: line, at: clock.now() });
  for (const warning of plan.warnings) emit(typeof warning === 'string' ? { type: 'warning', message: warning, at: clock.now() } : { type: 'note', note: warning, at: clock.now() });
  if (!stored && plan.steps.some(isJobStep)) {
    const lost = await checkpointLost(cluster, spec);
    if (lost) emit({ type: 'warning', message: lost, at: clock.now() });
  }
  if (plan.steps.length === 0) return { kind: 'nothing-to-do', plan };
  if (request.dryRun) return { kind: 'dry-run', plan, results: await serverDryRun(cluster, spec, plan) };
  checkReconciliation(plan, request.reconciliationSuspended ?? false, (message) => emit({ type: 'warning', message, at: clock.now() }));
  if (!request.savedPlan && !(await request.confirm(plan, resumed))) return { kind: 'not-confirmed', plan };

  if (request.signal.aborted) throw new RunStopped({ kind: 'interrupted', step: undefined, mirrors: 'running' });
  // Read-only checks before anything changes, the lock and the checkpoint included.
  if (!resumed) {
    try {
      const message = await runPreflight(cluster, spec, plan, { checkHealth: true });
      emit({ type: 'info', message: `preflight: ${message}`, at: clock.now() });
    } catch (error) {
      if (error instanceof MissingAccess) throw new RunStopped({ kind: 'missing-access', reason: `preflight: ${error.message}`, namespace: error.namespace });
      if (error instanceof StepFailure) throw new UserError(`preflight: ${error.message}`, error.detail ? { hint: error.detail } : {});
      throw error;
    }
    checkFlowApi(request, plan, observed);
  }

  const runId = unfinished?.checkpoint.run.id ?? newRunId(clock.now());
  const owner = lockOwner(runId, plan.hash, request.host);
  const lock = new UpgradeLock(cluster, spec, request.host, owner, clock, (message) => emit({ type: 'warning', message, at: clock.now() }));
  await lock.acquire(0, request.signal, leaseSeen);
  try {
    // The first write is at the version read for planning: it stops (checkpoint-moved) if that is
    // no longer the one in the cluster now that the lock is held.
    const checkpoint = resumed
      ? continuedCheckpoint(unfinished!.checkpoint, plan, request.loaded.hash)
      : freshCheckpoint({ plan, specHash: request.loaded.hash, runId, holder: `${owner.user}@${owner.host}`, host: owner.host, observed, previous: stored?.checkpoint, now: clock.now() });
    const startedAt = clock.now();
    const record = new RunRecord(cluster, spec, checkpoint, stored?.resourceVersion, clock, request.outageMs ?? DEFAULT_OUTAGE_MS);
    await record.begin(firstToRun(plan, record));
    emit({ type: 'run-start', runId, planHash: plan.hash, steps: plan.steps.length, resumed, at: startedAt });
    lock.startRenewing();
    await executePlan({
      cluster,
      spec,
      plan,
      record,
      lock,
      clock,
      signal: request.signal,
      emit,
      runDeadline: request.runTimeoutMs === undefined ? undefined : startedAt + request.runTimeoutMs,
      outageMs: request.outageMs,
    });
    emit({ type: 'run-done', runId, elapsedMs: clock.now() - startedAt, at: clock.now() });
    return { kind: 'done', plan, runId, resumed };
  } finally {
    await lock.release().catch((error: unknown) => emit({ type: 'warning', message: `could not release the lock: ${(error as Error).message}`, at: clock.now() }));
  }
}

/**
 * The plan for `--resume`: planned again from the state the run began in (so the spec may have been
 * fixed since), then accepted only if every finished step is still in it unchanged.
 */
function resumePlan(checkpoint: Checkpoint, spec: ClusterSpec, observed: ObservedState, allowDowngrade: boolean, helmChart: string | undefined): Plan {
  const target = parseVersion(spec.version);
  if (target.ok && checkpoint.run.to !== target.version.tag) throw new RunStopped({ kind: 'target-changed', runTo: checkpoint.run.to, specVersion: spec.version });
  const start = { ...restoreObserved(checkpoint.initial, observed), userPartitions: recordedPartitions(checkpoint) };
  const plan = computePlan(spec, { mode: 'live', observed: start }, { allowDowngrade, helmChart });
  const byId = new Map(plan.steps.map((s) => [s.id, s]));
  // Finished pod steps read back as a range carry its digest: their own hashes, if the plan agrees.
  resolveRangeHashes(checkpoint.steps, (id) => {
    const step = byId.get(id);
    return step && stepHash(step);
  });
  const differences: string[] = [];
  for (const record of checkpoint.steps) {
    if (record.s !== 'done') continue;
    const step = byId.get(record.id);
    if (!step) differences.push(`${record.id} is finished but no longer in the plan`);
    else if (stepHash(step) !== record.h) differences.push(`${record.id} is finished but the spec now plans it differently`);
  }
  if (differences.length > 0) {
    throw new UserError(`cannot resume with this spec: ${differences.join('; ')}`, {
      hint: 'undo that change to the spec to finish this run; changes to steps not yet done are fine',
    });
  }
  return plan;
}

/**
 * Argo CD and Flux undo image patches on their own, in the middle of a partitioned roll: refuse
 * (nothing changed yet) unless the user says reconciliation is suspended. A resumed run is checked
 * too: the controller may have been resumed since.
 */
function checkReconciliation(plan: Plan, suspended: boolean, warn: (message: string) => void): void {
  const gitops = plan.ownership?.gitops ?? [];
  if (gitops.length === 0) return;
  const commit = `commit ${plan.to} to Git (${plan.ownership!.targetTag}) before resuming`;
  if (suspended) {
    for (const g of gitops) warn(`${g.what} manages ${g.components.join(', ')}; told its reconciliation is suspended. Afterwards ${commit}: ${g.resume}`);
    return;
  }
  throw new RunStopped({
    kind: 'reconciliation-active',
    owners: gitops.map((g) => `${g.what} manages ${g.components.join(', ')} (${g.evidence})`),
    suspend: gitops.map((g) => g.suspend),
    commit,
  });
}

/**
 * Preflight's PeerDB part: the mirrors must be readable to be verified after the upgrade. With
 * `required` (the default) an unreachable flow-api stops the run before anything changes.
 */
function checkFlowApi(request: ApplyRequest, plan: Plan, observed: ObservedState): void {
  if (!plan.steps.some((s) => s.kind === 'verify-mirrors')) return;
  const peerdb = observed.peerdb;
  if (!peerdb || peerdb.ok) {
    if (peerdb?.ok) {
      const p = plan.peerdb;
      request.emit({ type: 'info', message: `preflight: PeerDB ${peerdb.state.version} ${peerdb.state.instance === 'INSTANCE_STATUS_READY' ? 'ready' : peerdb.state.instance}; ${p ? `${p.willPause.length} running mirror${p.willPause.length === 1 ? '' : 's'} to pause and verify after` : ''}`, at: request.clock.now() });
    }
    return;
  }
  if (request.spec.flowApi.reachability === 'required') {
    throw new UserError(`preflight: flow-api cannot be asked (${peerdb.reason}), so the mirrors could not be verified after the upgrade; nothing was changed`, {
      hint: 'make flow-api reachable (a Ready pod answering on spec.flowApi.port), or set spec.flowApi.reachability: best-effort to upgrade on the maintenance Jobs alone',
    });
  }
  request.emit({ type: 'warning', message: `flow-api cannot be asked (${peerdb.reason}): the mirrors will NOT be verified after the upgrade (spec.flowApi.reachability: best-effort); check them in the PeerDB UI`, at: request.clock.now() });
}

function assertSavedPlanStillHolds(saved: SavedPlan, plan: Plan): void {
  if (saved.plan.mode !== 'live') throw new RunStopped({ kind: 'saved-plan-offline' });
  if (saved.plan.plan_hash === plan.hash) return;
  const before = (saved.plan.steps as { id: string; changes: Plan['steps'][number]['changes'][number][] }[] | undefined) ?? [];
  const diff = describeStepDiff(before, plan.steps);
  throw new UserError(
    ['the cluster changed since the plan was made; refusing to apply a stale plan. What differs now:', ...(diff.length ? diff : ['(Job env or other details)']).map((l) => `  ${l}`)].join('\n'),
    { hint: 'make a new plan and review it' },
  );
}

function unfinishedRun(checkpoint: Checkpoint, asked: 'fresh' | 'saved-plan' | 'restart'): RunStopped {
  const { run } = checkpoint;
  return new RunStopped({
    kind: 'unfinished-run',
    asked,
    run: { runId: run.id, to: run.to, state: run.state, stoppedAt: firstUnfinishedStep(checkpoint)?.id, error: run.error, mirrorsPaused: mirrorsPaused(checkpoint) },
  });
}

/**
 * No checkpoint, yet Jobs of earlier runs of this installation exist: the checkpoint was deleted
 * (or lost). Said, not guessed around: the new run adopts Jobs that succeeded by their content.
 */
async function checkpointLost(cluster: ClusterPort, spec: ClusterSpec): Promise<string | undefined> {
  const jobs = await cluster.listJobs(spec.namespace, `app.kubernetes.io/managed-by=${MANAGED_BY},${LABEL_CLUSTER}=${spec.name}`);
  const runs = [...new Set(jobs.map((j) => j.labels[LABEL_RUN]).filter((r): r is string => r !== undefined))];
  if (runs.length === 0) return undefined;
  return (
    `the checkpoint (ConfigMap ${spec.namespace}/${spec.checkpointName}) is missing, yet run${runs.length === 1 ? '' : 's'} ${runs.join(', ')} left Jobs here: it was deleted or lost. ` +
    'Starting a new run; Jobs that already succeeded with the same content are adopted, not run again'
  );
}

type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** A read started early whose failure is reported only when (and if) its result is used. */
function settle<T>(read: Promise<T>): Promise<Settled<T>> {
  return read.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

function unwrap<T>(settled: Settled<T>): T {
  if (settled.ok) return settled.value;
  throw settled.error;
}
