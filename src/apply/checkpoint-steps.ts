import type { StepRecord } from './checkpoint.js';

/**
 * Finished pod steps stored as ranges: `statefulset-pod/<component>/<from>..<to>` with the steps'
 * hashes comma-joined, instead of one record each. A 1000-pod StatefulSet's checkpoint, rewritten
 * after every step, is then about 20 KB instead of about 170 KB. A range keeps the first step's
 * start and the last step's end; steps retried or failed are never folded.
 */
const POD_STEP = /^(statefulset-pod\/.+)\/(\d+)$/;
const POD_RANGE = /^(statefulset-pod\/.+)\/(\d+)\.\.(\d+)$/;

export function compactSteps(steps: readonly StepRecord[]): StepRecord[] {
  const out: StepRecord[] = [];
  let run: { prefix: string; first: number; last: number; records: StepRecord[] } | undefined;
  const flush = () => {
    if (!run) return;
    if (run.records.length === 1) out.push(run.records[0]!);
    else {
      const first = run.records[0]!;
      const last = run.records.at(-1)!;
      out.push({
        id: `${run.prefix}/${run.first}..${run.last}`,
        h: run.records.map((r) => r.h).join(','),
        s: 'done',
        a: 1,
        ...(first.t0 ? { t0: first.t0 } : {}),
        ...(last.t1 ? { t1: last.t1 } : {}),
      });
    }
    run = undefined;
  };
  for (const record of steps) {
    const match = POD_STEP.exec(record.id);
    const foldable = match && record.s === 'done' && record.a === 1 && record.err === undefined;
    if (!foldable) {
      flush();
      out.push(record);
      continue;
    }
    const prefix = match[1]!;
    const ordinal = Number(match[2]);
    if (run && run.prefix === prefix && ordinal === run.last - 1) {
      run.last = ordinal;
      run.records.push(record);
    } else {
      flush();
      run = { prefix, first: ordinal, last: ordinal, records: [record] };
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
    const hashes = record.h.split(',');
    if (from < to || hashes.length !== from - to + 1) return undefined;
    hashes.forEach((h, i) => {
      out.push({ id: `${match[1]}/${from - i}`, h, s: record.s, a: record.a, ...(record.t0 ? { t0: record.t0 } : {}), ...(record.t1 ? { t1: record.t1 } : {}) });
    });
  }
  return out;
}
