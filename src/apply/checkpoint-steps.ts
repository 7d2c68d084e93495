import { hashOf } from '../plan/hash.js';
import type { StepRecord } from './checkpoint.js';

/**
 * How the checkpoint stays small when it is rewritten after every step (issue 14 item 5: a
 * 1000-replica run wrote 77 MiB): pod steps are stored as ranges, `statefulset-pod/<component>/
 * <from>..<to>`, instead of one record each, and the starting snapshot's pods as runs.
 *
 * - A range of finished steps carries `=` and a digest of the steps' hashes (format 3; format 2
 *   carried the hashes comma-joined, which is still read). The steps' own hashes come back with
 *   resolveRangeHashes once the plan is known (a resume checks finished steps against it).
 * - A range of steps never started carries no hash: a resume plans them again anyway.
 * - A range keeps the first step's start and the last step's end; steps retried or failed, and
 *   the running one, are never folded.
 */
const POD_STEP = /^(statefulset-pod\/.+)\/(\d+)$/;
const POD_RANGE = /^(statefulset-pod\/.+)\/(\d+)\.\.(\d+)$/;
const DIGEST = '=';

/** The digest a range of finished steps carries: of their hashes, highest ordinal first. */
export function rangeDigest(hashes: readonly string[]): string {
  return `${DIGEST}${hashOf(hashes.join(',')).slice(0, 12)}`;
}

function foldable(record: StepRecord): 'done' | 'pending' | undefined {
  if (record.err !== undefined) return undefined;
  if (record.s === 'done' && record.a === 1) return 'done';
  if (record.s === 'pending' && record.a === 0 && record.t0 === undefined && record.t1 === undefined) return 'pending';
  return undefined;
}

export function compactSteps(steps: readonly StepRecord[]): StepRecord[] {
  const out: StepRecord[] = [];
  let run: { prefix: string; kind: 'done' | 'pending'; first: number; last: number; records: StepRecord[] } | undefined;
  const flush = () => {
    if (!run) return;
    const { records } = run;
    // Records of a range read back and not resolved carry its digest already: folded again as they were.
    const digestOf = () => {
      const markers = new Set(records.map((r) => r.h.startsWith(DIGEST)));
      if (!markers.has(true)) return rangeDigest(records.map((r) => r.h));
      return markers.size === 1 && new Set(records.map((r) => r.h)).size === 1 ? records[0]!.h : undefined;
    };
    const digest = run.kind === 'done' && records.length > 1 ? digestOf() : undefined;
    if (records.length === 1 || (run.kind === 'done' && digest === undefined)) out.push(...records);
    else {
      const first = records[0]!;
      const last = records.at(-1)!;
      out.push({
        id: `${run.prefix}/${run.first}..${run.last}`,
        h: run.kind === 'done' ? digest! : '',
        s: run.kind,
        a: run.kind === 'done' ? 1 : 0,
        ...(first.t0 ? { t0: first.t0 } : {}),
        ...(last.t1 ? { t1: last.t1 } : {}),
      });
    }
    run = undefined;
  };
  for (const record of steps) {
    const match = POD_STEP.exec(record.id);
    const kind = match ? foldable(record) : undefined;
    if (!match || !kind) {
      flush();
      out.push(record);
      continue;
    }
    const prefix = match[1]!;
    const ordinal = Number(match[2]);
    if (run && run.prefix === prefix && run.kind === kind && ordinal === run.last - 1) {
      run.last = ordinal;
      run.records.push(record);
    } else {
      flush();
      run = { prefix, kind, first: ordinal, last: ordinal, records: [record] };
    }
  }
  flush();
  return out;
}

/** The inverse of compactSteps; undefined when a range is malformed (a damaged checkpoint). */
export function expandSteps(steps: readonly StepRecord[]): StepRecord[] | undefined {
  const out: StepRecord[] = [];
  for (const record of steps) {
    const match = POD_RANGE.exec(record.id);
    if (!match) {
      out.push(record);
      continue;
    }
    const from = Number(match[2]);
    const to = Number(match[3]);
    if (from < to) return undefined;
    const count = from - to + 1;
    let hashes: string[];
    if (record.h === '' && record.s === 'pending') hashes = Array<string>(count).fill('');
    else if (record.h.startsWith(DIGEST)) hashes = Array<string>(count).fill(record.h);
    else hashes = record.h.split(',');
    if (hashes.length !== count) return undefined;
    hashes.forEach((h, i) => {
      out.push({ id: `${match[1]}/${from - i}`, h, s: record.s, a: record.a, ...(record.t0 ? { t0: record.t0 } : {}), ...(record.t1 ? { t1: record.t1 } : {}) });
    });
  }
  return out;
}

/**
 * Gives the records of a finished range read back (which carry the range's digest) their steps'
 * own hashes, when the planned steps of that range hash to the same digest; otherwise they keep
 * the digest, which matches no step: the range counts as planned differently.
 */
export function resolveRangeHashes(records: StepRecord[], hashOfStep: (id: string) => string | undefined): void {
  for (let i = 0; i < records.length; ) {
    const h = records[i]!.h;
    let j = i + 1;
    while (j < records.length && records[j]!.h === h) j++;
    if (h.startsWith(DIGEST)) {
      const hashes = records.slice(i, j).map((r) => hashOfStep(r.id));
      if (hashes.every((x): x is string => x !== undefined) && rangeDigest(hashes) === h) hashes.forEach((x, k) => (records[i + k]!.h = x));
    }
    i = j;
  }
}

/** Pods of the starting snapshot: [ordinal, revision, ready]; a run of them: [first, last, revision, ready]. */
export type SnapshotPod = [number, string, boolean];
export type SnapshotPodRun = [number, number, string, boolean];

/** Consecutive ordinals with the same revision and readiness folded into one run. */
export function compactPods(pods: readonly SnapshotPod[]): (SnapshotPod | SnapshotPodRun)[] {
  const out: (SnapshotPod | SnapshotPodRun)[] = [];
  for (let i = 0; i < pods.length; ) {
    const [first, revision, ready] = pods[i]!;
    const step = i + 1 < pods.length ? pods[i + 1]![0] - first : 0;
    let j = i + 1;
    if (step === 1 || step === -1) {
      while (j < pods.length && pods[j]![0] === pods[j - 1]![0] + step && pods[j]![1] === revision && pods[j]![2] === ready) j++;
    }
    out.push(j - i > 1 ? [first, pods[j - 1]![0], revision, ready] : [first, revision, ready]);
    i = j;
  }
  return out;
}

/** The inverse of compactPods; anything that is not a pod or a run is left for the schema to refuse. */
export function expandPods(pods: readonly unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const p of pods) {
    if (Array.isArray(p) && p.length === 4 && Number.isInteger(p[0]) && Number.isInteger(p[1]) && Math.abs(p[1] - p[0]) <= 100_000) {
      const [first, last, revision, ready] = p as SnapshotPodRun;
      const step = last >= first ? 1 : -1;
      for (let o = first; o !== last + step; o += step) out.push([o, revision, ready]);
    } else out.push(p);
  }
  return out;
}
