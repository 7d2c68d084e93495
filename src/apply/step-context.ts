import type { ClusterPort, WatchSpec } from '../cluster/port.js';
import { formatDuration } from '../spec/duration.js';
import type { ClusterSpec } from '../spec/schema.js';
import { timeoutOf, type Plan, type Step } from '../plan/plan-types.js';
import type { WorkloadKind, WorkloadState } from '../cluster/types.js';
import type { Clock } from './clock.js';
import type { EmitEvent } from './events.js';
import { StepFailure } from './step-failure.js';

/** What a step runner gets: the cluster, the plan, time, and a way to report. */
export interface StepContext<S extends Step = Step> {
  readonly cluster: ClusterPort;
  readonly spec: ClusterSpec;
  readonly plan: Plan;
  readonly step: S;
  readonly runId: string;
  readonly clock: Clock;
  readonly signal: AbortSignal;
  readonly emit: EmitEvent;
  /** When the step started (clock ms). */
  readonly startedAt: number;
  /** The whole run's deadline (--timeout), if any. */
  readonly runDeadline: number | undefined;
  /** Maintenance start: what PeerDB's workflow waits for, read at a modest interval (flow-api). */
  readonly maintenanceDetail?: (() => Promise<string | undefined>) | undefined;
  /** verify-mirrors: the mirrors recorded as running before the upgrade. */
  readonly recordedMirrors?: readonly string[] | undefined;
}

/** Longest single wait between two looks at the cluster, should a watch miss something. */
const MAX_WAIT_SLICE_MS = 5_000;

export interface Observation {
  /** True when the step's goal is reached. */
  readonly done: boolean;
  /** What is still not true, for progress lines and the timeout message. */
  readonly status: string;
}

/**
 * Observes until `observe` says done, reacting to changes as they happen (the port's watch, on
 * the first change of any of `watch` when there are several), and
 * failing with what was still not true when the step's (`timeoutMs`, by default the step's own)
 * or the run's deadline passes.
 */
export async function waitUntil(
  context: StepContext,
  watch: WatchSpec | readonly WatchSpec[],
  observe: () => Promise<Observation>,
  timeoutMs: number | undefined = timeoutOf(context.step),
): Promise<Observation> {
  const { clock, step } = context;
  const stepDeadline = timeoutMs === undefined ? undefined : context.startedAt + timeoutMs;
  const deadlines = [stepDeadline, context.runDeadline].filter((d): d is number => d !== undefined);
  const deadline = deadlines.length ? Math.min(...deadlines) : undefined;
  let lastStatus = '';
  for (;;) {
    if (context.signal.aborted) throw new StepAborted();
    const observation = await observe();
    if (observation.done) return observation;
    const now = clock.now();
    if (observation.status !== lastStatus) {
      lastStatus = observation.status;
      context.emit({ type: 'step-progress', step, message: observation.status, elapsedMs: now - context.startedAt, timeoutMs, at: now });
    }
    if (deadline !== undefined && now >= deadline) {
      const which = deadline === stepDeadline ? `the step's timeout (${formatDuration(timeoutMs ?? 0)})` : 'the run timeout (--timeout)';
      throw new StepFailure(`timed out after ${formatDuration(now - context.startedAt)}, ${which}: ${observation.status}`);
    }
    const slice = Math.min(MAX_WAIT_SLICE_MS, deadline === undefined ? MAX_WAIT_SLICE_MS : Math.max(0, deadline - now));
    const watches: readonly WatchSpec[] = 'kind' in watch ? [watch] : watch;
    if (watches.length === 1) await context.cluster.waitForChange(context.spec.namespace, watches[0]!.kind, watches[0]!, slice, context.signal);
    else await context.cluster.waitForAnyChange(context.spec.namespace, watches, slice, context.signal);
  }
}

/**
 * The step's workload as it is now; a step fails when its workload was deleted under it. With
 * `podName`, only that pod is read (a cost that does not grow with replicas).
 */
export async function currentWorkload(context: StepContext, ref: { kind: WorkloadKind; name: string }, options: { podName?: string } = {}): Promise<WorkloadState> {
  const w = await context.cluster.getWorkload(context.spec.namespace, ref, options);
  if (!w) throw new StepFailure(`${ref.kind} ${context.spec.namespace}/${ref.name} no longer exists`);
  return w;
}

export function containerImage(workload: WorkloadState, container: string): string | undefined {
  return workload.containers.find((c) => c.name === container)?.image;
}

/** The run was interrupted while a step waited; the step stays unfinished. */
export class StepAborted extends Error {
  constructor() {
    super('interrupted');
    this.name = 'StepAborted';
  }
}
