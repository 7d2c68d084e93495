import type { z } from 'zod/mini';
// zod/mini, as every schema of the CLI: with one left on classic zod, the bundle evaluates classic's
// module code too, ~3 ms of CPU at every start (src/spec/schema.ts).
import { array, boolean, custom, enum as zEnum, int, literal, looseObject, minimum, nullable, number, object, optional, record, string, tuple } from 'zod/mini';
import '../spec/zod-english.js';
import { UserError } from '../errors.js';
import { parseJson } from '../json.js';
import { hashOf } from '../plan/hash.js';
import type { Plan, Step } from '../plan/plan-types.js';
import { compactPods, compactSteps, expandPods, expandSteps, type SnapshotPod } from './checkpoint-steps.js';
import type { WorkloadSnapshot } from './snapshot.js';

/**
 * 3: pod steps not started are stored as ranges too, a finished range by a digest of its hashes,
 * and the starting snapshot's pods as runs (checkpoint-steps.ts). 2 (finished pod steps as ranges
 * with their hashes) and 1 are read too.
 */
export const CHECKPOINT_FORMAT_VERSION = 3;
export const CHECKPOINT_KEY = 'checkpoint.json';
export const HISTORY_LIMIT = 10;

/**
 * The schemas are built when a checkpoint is first read: building them costs ~10 ms, paid otherwise
 * by every start of the CLI, also by the commands that never read a checkpoint (plan --offline).
 */
function buildSchemas() {
  const stepState = zEnum(['pending', 'running', 'done', 'failed']);

  const runState = zEnum(['running', 'failed', 'interrupted', 'needs-person', 'done', 'aborted']);

  /** Short keys: a 1000-replica StatefulSet has 1000 step entries and the ConfigMap holds at most 1 MiB. */
  const stepRecord = object({
    id: string(),
    /** First 12 hex of the step's hash: a finished step must be unchanged to be skipped on resume. */
    h: string(),
    s: stepState,
    /** Attempts made. */
    a: int().check(minimum(0)),
    t0: optional(string()),
    t1: optional(string()),
    err: optional(string()),
  });

  const historyEntry = object({
    run: string(),
    from: nullable(string()),
    to: string(),
    plan: string(),
    started: string(),
    finished: string(),
    result: runState,
  });

  /** What is checked of a snapshot (snapshot.ts) when read back; its type is WorkloadSnapshot's. */
  const workloadSnapshot = object({
    state: looseObject({ kind: zEnum(['Deployment', 'StatefulSet']), name: string() }),
    containers: array(object({ name: string(), image: string() })),
    pods: array(tuple([number(), string(), boolean()])),
  });

  const checkpointSchema = object({
    format_version: literal([1, 2, CHECKPOINT_FORMAT_VERSION]),
    cluster: object({ name: string(), namespace: string() }),
    run: object({
      id: string(),
      state: runState,
      plan_hash: string(),
      spec_hash: string(),
      from: nullable(string()),
      to: string(),
      started_at: string(),
      updated_at: string(),
      host: string(),
      holder: string(),
      /** The last error, for `status` and for the next run's refusal message. */
      error: optional(string()),
    }),
    /** What the plan started from (see snapshot.ts), so that --resume plans from the same point. */
    initial: record(string(), custom<WorkloadSnapshot>((value) => workloadSnapshot.safeParse(value).success)),
    /**
     * The StatefulSet partitions the user had when the upgrade began (by workload reference), carried
     * from a run that did not finish to the next: the partition a dead run left mid-roll is never
     * taken for the user's.
     */
    partitions: optional(record(string(), number())),
    steps: array(stepRecord),
    history: array(historyEntry),
    /**
     * PeerDB's mirrors as flow-api showed them when the run began: the ones running must run again
     * after maintenance end (verify-mirrors), also when a resumed run no longer sees the start.
     * Absent when flow-api could not be asked (best-effort) or the plan has no maintenance.
     */
    mirrors: optional(object({ running: array(string()), in_between: array(string()), left_alone: array(string()), observed_at: string() })),
  });
  return { stepState, runState, stepRecord, historyEntry, checkpoint: checkpointSchema };
}
type Schemas = ReturnType<typeof buildSchemas>;
let schemas: Schemas | undefined;

export type StepState = z.infer<Schemas['stepState']>;
export type RunState = z.infer<Schemas['runState']>;
export type StepRecord = z.infer<Schemas['stepRecord']>;
export type Checkpoint = z.infer<Schemas['checkpoint']>;
export type HistoryEntry = z.infer<Schemas['historyEntry']>;

/**
 * A step's identity for resume: what it changes and how. Its timeout is left out, so a longer
 * timeout is not "a different step".
 */
export function stepHash(step: Step): string {
  const rest: Record<string, unknown> = { ...step };
  delete rest.timeoutMs;
  return hashOf(rest).slice(0, 12);
}

export function parseCheckpoint(text: string, where: string): Checkpoint {
  const value = parseJson(text, () => new UserError(`${where}: the checkpoint is not valid JSON; inspect it with kubectl, or delete it to start over`));
  const version = (value as { format_version?: unknown } | null)?.format_version;
  if (typeof version === 'number' && version > CHECKPOINT_FORMAT_VERSION) {
    throw new UserError(`${where}: checkpoint format ${version} was written by a newer peerdb-upgrade; use that version`);
  }
  const result = (schemas ??= buildSchemas()).checkpoint.safeParse(withPodsExpanded(value));
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new UserError(`${where}: the checkpoint is damaged (${issue.path.join('.') || 'top level'}: ${issue.message}); delete it to start over`);
  }
  const steps = expandSteps(result.data.steps);
  if (!steps) throw new UserError(`${where}: the checkpoint is damaged (a range of pod steps does not match its hashes); delete it to start over`);
  return { ...result.data, format_version: CHECKPOINT_FORMAT_VERSION, steps };
}

export function serializeCheckpoint(checkpoint: Checkpoint): string {
  const initial = Object.fromEntries(Object.entries(checkpoint.initial).map(([ref, w]) => [ref, { ...w, pods: compactPods(w.pods as readonly SnapshotPod[]) }]));
  return JSON.stringify({ ...checkpoint, format_version: CHECKPOINT_FORMAT_VERSION, initial, steps: compactSteps(checkpoint.steps) });
}

/** The starting snapshot's runs of pods (format 3) as one entry per pod, for the schema to check. */
function withPodsExpanded(value: unknown): unknown {
  const initial = (value as { initial?: unknown } | null)?.initial;
  if (!initial || typeof initial !== 'object') return value;
  const expanded = Object.fromEntries(
    Object.entries(initial as Record<string, unknown>).map(([ref, w]) => {
      const pods = (w as { pods?: unknown } | null)?.pods;
      return [ref, Array.isArray(pods) ? { ...(w as object), pods: expandPods(pods) } : w];
    }),
  );
  return { ...(value as object), initial: expanded };
}

export function newCheckpoint(input: {
  plan: Plan;
  specHash: string;
  runId: string;
  host: string;
  holder: string;
  now: Date;
  initial: Checkpoint['initial'];
  history: Checkpoint['history'];
}): Checkpoint {
  const now = input.now.toISOString();
  return {
    format_version: CHECKPOINT_FORMAT_VERSION,
    cluster: input.plan.cluster,
    run: {
      id: input.runId,
      state: 'running',
      plan_hash: input.plan.hash,
      spec_hash: input.specHash,
      from: input.plan.from ?? null,
      to: input.plan.to,
      started_at: now,
      updated_at: now,
      host: input.host,
      holder: input.holder,
    },
    initial: input.initial,
    steps: input.plan.steps.map((step) => ({ id: step.id, h: stepHash(step), s: 'pending', a: 0 })),
    history: input.history.slice(-HISTORY_LIMIT),
  };
}

/**
 * The user's partitions as a run that did not finish recorded them (its own record, else what it
 * found when it began); nothing when the last run finished: it set them back.
 */
export function recordedPartitions(checkpoint: Checkpoint | undefined): Map<string, number> | undefined {
  if (!checkpoint || checkpoint.run.state === 'done') return undefined;
  const out = new Map<string, number>();
  for (const [ref, snapshot] of Object.entries(checkpoint.initial)) {
    if (snapshot.state.kind === 'StatefulSet' && typeof snapshot.state.partition === 'number') out.set(ref, snapshot.state.partition);
  }
  for (const [ref, partition] of Object.entries(checkpoint.partitions ?? {})) out.set(ref, partition);
  return out;
}

/** What to record for a new run: the partitions recorded before (in a checkpoint, else on the StatefulSet), else the ones found now. */
export function partitionsToRecord(
  workloads: ReadonlyMap<string, { kind: string; partition: number; userPartition?: number | undefined } | undefined>,
  recorded: ReadonlyMap<string, number> | undefined,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [ref, w] of workloads) {
    if (w?.kind === 'StatefulSet') out[ref] = recorded?.get(ref) ?? w.userPartition ?? w.partition;
  }
  return out;
}

export function isUnfinished(checkpoint: Checkpoint): boolean {
  return checkpoint.run.state !== 'done' && checkpoint.run.state !== 'aborted';
}

/** The first step not done, for "stopped at …" messages. */
export function firstUnfinishedStep(checkpoint: Checkpoint): StepRecord | undefined {
  return checkpoint.steps.find((s) => s.s !== 'done');
}

/**
 * Whether maintenance-start was tried (it may have paused mirrors) and maintenance-end is not done.
 * Covers mirrorsPaused: a finished start was tried.
 */
export function maintenanceAttempted(checkpoint: Checkpoint): boolean {
  const start = checkpoint.steps.find((s) => s.id === 'maintenance-start');
  const end = checkpoint.steps.find((s) => s.id === 'maintenance-end');
  return start !== undefined && start.a > 0 && end?.s !== 'done';
}

/** Whether maintenance-start finished and maintenance-end did not: mirrors are paused. */
export function mirrorsPaused(checkpoint: Checkpoint): boolean {
  // A closed run (done, or ended by `maintenance end`) no longer holds maintenance mode.
  if (!isUnfinished(checkpoint)) return false;
  const start = checkpoint.steps.find((s) => s.id === 'maintenance-start');
  const end = checkpoint.steps.find((s) => s.id === 'maintenance-end');
  return start?.s === 'done' && end?.s !== 'done';
}
