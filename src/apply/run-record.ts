import { randomBytes } from 'node:crypto';
import type { ClusterPort } from '../cluster/port.js';
import { DEFAULT_OUTAGE_MS } from '../cluster/retry.js';
import { IN_BETWEEN } from '../peerdb/flow-api.js';
import type { ObservedState } from '../plan/plan-input.js';
import type { Plan, Step } from '../plan/plan-types.js';
import type { ClusterSpec } from '../spec/schema.js';
import { HISTORY_LIMIT, isUnfinished, newCheckpoint, partitionsToRecord, stepHash, type Checkpoint, type HistoryEntry, type StepRecord } from './checkpoint.js';
import { writeCheckpoint } from './checkpoint-store.js';
import type { Clock } from './clock.js';
import { snapshotObserved } from './snapshot.js';

/**
 * The run record: how a run is written into the checkpoint. Run ids, step marks, history entries
 * and write coalescing live here, so the checkpoint's short storage keys (s, a, t0, t1, err) are
 * written nowhere else.
 */

/** `20250101T120000Z-1a2b3c`, or with a prefix (`maintenance-end-…`) for runs that are not upgrades. */
export function newRunId(now: number, prefix?: string): string {
  const stamp = new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${prefix ? `${prefix}-` : ''}${stamp}-${randomBytes(3).toString('hex')}`;
}

function historyEntry(checkpoint: Checkpoint, finished: string, result: HistoryEntry['result']): HistoryEntry {
  const { run } = checkpoint;
  return { run: run.id, from: run.from, to: run.to, plan: run.plan_hash.slice(0, 12), started: run.started_at, finished, result };
}

function withEntry(history: readonly HistoryEntry[], entry: HistoryEntry): HistoryEntry[] {
  return [...history, entry].slice(-HISTORY_LIMIT);
}

/**
 * A new run's checkpoint: preflight already done (it ran read-only before the lock), an unfinished
 * earlier run recorded as aborted, the user's partitions and (with verify-mirrors) the mirrors that
 * must run again after maintenance end.
 */
export function freshCheckpoint(input: { plan: Plan; specHash: string; runId: string; holder: string; host: string; observed: ObservedState; previous: Checkpoint | undefined; now: number }): Checkpoint {
  const { plan, observed } = input;
  const old = input.previous;
  const at = new Date(input.now).toISOString();
  const history = old && isUnfinished(old) ? withEntry(old.history, historyEntry(old, at, 'aborted')) : [...(old?.history ?? [])];
  const checkpoint = newCheckpoint({
    plan,
    specHash: input.specHash,
    runId: input.runId,
    host: input.host,
    holder: input.holder,
    now: new Date(input.now),
    initial: snapshotObserved(observed),
    history,
  });
  checkpoint.partitions = partitionsToRecord(observed.workloads, observed.userPartitions);
  const peerdb = observed.peerdb;
  if (peerdb?.ok && plan.steps.some((s) => s.kind === 'verify-mirrors')) {
    const mirrors = peerdb.state.mirrors;
    checkpoint.mirrors = {
      running: mirrors.filter((m) => m.status === 'STATUS_RUNNING').map((m) => m.name),
      in_between: mirrors.filter((m) => IN_BETWEEN.has(m.status)).map((m) => m.name),
      left_alone: mirrors.filter((m) => m.status !== 'STATUS_RUNNING' && !IN_BETWEEN.has(m.status)).map((m) => m.name),
      observed_at: at,
    };
  }
  const preflight = checkpoint.steps.find((s) => s.id === 'preflight');
  if (preflight) Object.assign(preflight, { s: 'done', a: 1, t0: checkpoint.run.started_at, t1: checkpoint.run.started_at });
  return checkpoint;
}

/** A resumed run's checkpoint: finished steps the new plan still has unchanged stay finished. */
export function continuedCheckpoint(previous: Checkpoint, plan: Plan, specHash: string): Checkpoint {
  const records = new Map(previous.steps.map((r) => [r.id, r]));
  return {
    ...previous,
    run: { ...previous.run, state: 'running', plan_hash: plan.hash, spec_hash: specHash },
    steps: plan.steps.map((step) => {
      const old = records.get(step.id);
      const h = stepHash(step);
      return old && old.h === h ? { ...old } : { id: step.id, h, s: 'pending' as const, a: old?.a ?? 0 };
    }),
  };
}

/** An unfinished run closed by `maintenance end`: aborted, in the history. */
export function closedCheckpoint(checkpoint: Checkpoint, now: number, why: string): Checkpoint {
  const finished = new Date(now).toISOString();
  return {
    ...checkpoint,
    run: { ...checkpoint.run, state: 'aborted', updated_at: finished, error: `${why}; ${checkpoint.run.error ?? ''}`.trim() },
    history: withEntry(checkpoint.history, historyEntry(checkpoint, finished, 'aborted')),
  };
}

/**
 * A run's checkpoint as the executor writes it: every change is saved with optimistic concurrency
 * (riding out an API server outage of up to `outageMs`), and the step after a finished one is
 * marked running in the same write (one write per step boundary instead of two).
 */
export class RunRecord {
  /** Steps marked running by the write before them: their start costs no write of its own. */
  private readonly premarked = new Set<string>();
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly cluster: ClusterPort,
    private readonly spec: ClusterSpec,
    readonly checkpoint: Checkpoint,
    private resourceVersion: string | undefined,
    private readonly clock: Clock,
    private readonly outageMs: number = DEFAULT_OUTAGE_MS,
  ) {}

  /**
   * The run's first write: the checkpoint created (or written over the one read for planning, at
   * its resourceVersion) with `first`, the step the executor runs first, already marked running, so
   * that its start costs no write of its own. Not through save(): it is written at the version the
   * run planned from, and a conflict means the checkpoint moved since (a dead run's late write):
   * RunStopped checkpoint-moved, to plan again (the write is the check; no read before it). An
   * outage before anything changed ends the run.
   */
  async begin(first: Step | undefined): Promise<void> {
    if (first) {
      markRunning(this.recordOf(first), this.clock.now());
      this.premarked.add(first.id);
    }
    this.resourceVersion = await writeCheckpoint(this.cluster, this.spec, this.checkpoint, this.resourceVersion, { unmoved: true });
  }

  /** One write at a time: the lanes of a concurrent group share the checkpoint and its resourceVersion. */
  save(): Promise<void> {
    const next = this.writes.then(() => this.write());
    this.writes = next.catch(() => undefined);
    return next;
  }

  private async write(): Promise<void> {
    this.checkpoint.run.updated_at = new Date(this.clock.now()).toISOString();
    this.resourceVersion = await writeCheckpoint(this.cluster, this.spec, this.checkpoint, this.resourceVersion, { outage: { ms: this.outageMs, clock: this.clock } });
  }

  /** The record of a step; a checkpoint without it is a bug. */
  recordOf(step: Step): StepRecord {
    const record = this.checkpoint.steps.find((r) => r.id === step.id);
    if (!record) throw new Error(`checkpoint has no record for step ${step.id}`);
    return record;
  }

  isDone(step: Step): boolean {
    return this.recordOf(step).s === 'done';
  }

  attempts(step: Step): number {
    return this.recordOf(step).a;
  }

  /**
   * Marks the step running and saves, unless the previous step's write already did. The final
   * step's running mark goes with its result (complete): one write.
   */
  async start(step: Step): Promise<void> {
    if (!this.premarked.delete(step.id)) {
      markRunning(this.recordOf(step), this.clock.now());
      if (step.kind !== 'complete') await this.save();
    }
  }

  /**
   * Marks the step done and the steps that start next (those not done: one, or the first step of
   * each lane of a concurrent group) running, in one write. When the next is the run's final step
   * (complete: a read-only look at the cluster, milliseconds), the write is left to it: its result
   * carries this step's done mark too, and so does its failure or interruption (each saves). The
   * checkpoint in the cluster says this step is running until then, which a resumed run reads
   * correctly: it runs this (idempotent) step again.
   */
  async done(step: Step, next: readonly Step[]): Promise<void> {
    const record = this.recordOf(step);
    record.s = 'done';
    record.t1 = new Date(this.clock.now()).toISOString();
    for (const following of next) {
      const nextRecord = this.recordOf(following);
      if (nextRecord.s === 'done') continue;
      markRunning(nextRecord, this.clock.now());
      this.premarked.add(nextRecord.id);
    }
    if (next.length === 1 && next[0]!.kind === 'complete' && this.premarked.has(next[0]!.id)) return;
    await this.save();
  }

  /** Records the failure on the step and the run (not saved: the caller saves quietly). */
  failed(step: Step, reason: string, runState: 'failed' | 'needs-person'): void {
    const record = this.recordOf(step);
    record.s = 'failed';
    record.err = reason.slice(0, 2_000);
    record.t1 = new Date(this.clock.now()).toISOString();
    this.checkpoint.run.state = runState;
    this.checkpoint.run.error = `${step.id}: ${record.err}`;
  }

  /** The run stops at `step` on a signal: the step is not finished (not saved). */
  interrupted(step: Step): void {
    const record = this.recordOf(step);
    if (record.s === 'running') record.s = 'pending';
    this.checkpoint.run.state = 'interrupted';
  }

  /** The last step passed: the run is done and goes into the history. */
  async complete(step: Step): Promise<void> {
    const record = this.recordOf(step);
    const finished = new Date(this.clock.now()).toISOString();
    record.s = 'done';
    record.t1 = finished;
    this.checkpoint.run.state = 'done';
    delete this.checkpoint.run.error;
    this.checkpoint.history = withEntry(this.checkpoint.history, historyEntry(this.checkpoint, finished, 'done'));
    await this.save();
  }
}

function markRunning(record: StepRecord, at: number): void {
  record.s = 'running';
  record.a += 1;
  record.t0 = new Date(at).toISOString();
  delete record.err;
}
