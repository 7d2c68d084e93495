import { describe, expect, it } from 'vitest';
import { newCheckpoint, parseCheckpoint, serializeCheckpoint, type Checkpoint } from '../../src/apply/checkpoint.js';
import { compactPods, expandPods, resolveRangeHashes } from '../../src/apply/checkpoint-steps.js';
import { computePlan } from '../../src/plan/compute-plan.js';
import { specFromText } from './fakes/specs.js';
import { image, statefulSet } from './fakes/workloads.js';
import { skipDefaults } from './fakes/skip-defaults.js';

function bigCheckpoint(replicas: number): Checkpoint {
  const spec = specFromText(`  version: v0.37.4\n  components:\n    - { name: w, workload: StatefulSet/w }\n${skipDefaults()}`);
  const plan = computePlan(spec, { mode: 'live', observed: { workloads: new Map([['StatefulSet/w', statefulSet('w', image('w', 'v0.36.7'), replicas)]]) } });
  const checkpoint = newCheckpoint({ plan, specHash: 'x', runId: 'r', host: 'h', holder: 'u@h', now: new Date(0), initial: {}, history: [] });
  checkpoint.steps.forEach((step, i) => {
    Object.assign(step, { s: 'done', a: 1, t0: new Date(i * 1000).toISOString(), t1: new Date(i * 1000 + 500).toISOString() });
  });
  return checkpoint;
}

describe('the checkpoint document', () => {
  it('stores finished pod steps as ranges and reads them back step by step', () => {
    const checkpoint = bigCheckpoint(1000);
    // A retried pod in the middle and the last pods not yet done are kept as they are.
    Object.assign(checkpoint.steps.find((s) => s.id === 'statefulset-pod/w/500')!, { a: 2 });
    for (const id of ['statefulset-pod/w/1', 'statefulset-pod/w/0', 'complete']) Object.assign(checkpoint.steps.find((s) => s.id === id)!, { s: 'pending', a: 0, t0: undefined, t1: undefined });
    const text = serializeCheckpoint(checkpoint);
    const stored = JSON.parse(text) as { format_version: number; steps: { id: string }[] };
    expect(stored.format_version).toBe(3);
    expect(stored.steps.map((s) => s.id)).toEqual([
      'preflight',
      'statefulset-prepare/w',
      'statefulset-pod/w/999..501',
      'statefulset-pod/w/500',
      'statefulset-pod/w/499..2',
      'statefulset-pod/w/1..0',
      'complete',
    ]);
    const back = parseCheckpoint(text, 'test');
    // A finished range carries a digest of its hashes; the plan's steps give them back.
    const hashes = new Map(checkpoint.steps.map((s) => [s.id, s.h]));
    expect(back.steps.find((s) => s.id === 'statefulset-pod/w/700')!.h).toMatch(/^=[0-9a-f]{12}$/);
    resolveRangeHashes(back.steps, (id) => hashes.get(id));
    // Pod steps not started carry no hash (a resume plans them again).
    const notStarted = (s: { id: string; s: string }) => s.s === 'pending' && s.id.startsWith('statefulset-pod/');
    expect(back.steps.map((s) => [s.id, s.h, s.s, s.a])).toEqual(checkpoint.steps.map((s) => [s.id, notStarted(s) ? '' : s.h, s.s, s.a]));
    expect(back.steps.find((s) => s.id === 'statefulset-pod/w/700')!.t0).toBe(checkpoint.steps.find((s) => s.id === 'statefulset-pod/w/999')!.t0);
  });

  it('keeps a finished 1000-pod checkpoint far below the 1 MiB ConfigMap limit', () => {
    const size = serializeCheckpoint(bigCheckpoint(1000)).length;
    expect(size).toBeLessThan(32 * 1024);
  });

  it("names what is damaged in zod's own English words (the same as before zod/mini)", () => {
    const doc = JSON.parse(serializeCheckpoint(bigCheckpoint(2)));
    const damaged = { ...doc, steps: doc.steps.map((s: object, i: number) => (i === 0 ? { ...s, a: 'once' } : s)) };
    expect(() => parseCheckpoint(JSON.stringify(damaged), 'ConfigMap x/y')).toThrow(
      'ConfigMap x/y: the checkpoint is damaged (steps.0.a: Invalid input: expected number, received string); delete it to start over',
    );
    expect(() => parseCheckpoint(JSON.stringify({ ...doc, run: { ...doc.run, state: 'sleeping' } }), 'x')).toThrow(
      'x: the checkpoint is damaged (run.state: Invalid option: expected one of "running"|"failed"|"interrupted"|"needs-person"|"done"|"aborted"); delete it to start over',
    );
  });

  it('refuses a range whose hashes do not match it, and reads formats 1 and 2', () => {
    const text = serializeCheckpoint(bigCheckpoint(5));
    const doc = JSON.parse(text);
    const hashes = bigCheckpoint(5).steps.filter((s) => s.id.startsWith('statefulset-pod/')).map((s) => s.h);
    const v2 = { ...doc, format_version: 2, steps: doc.steps.map((s: { id: string }) => (s.id.includes('..') ? { ...s, h: hashes.join(',') } : s)) };
    expect(parseCheckpoint(JSON.stringify(v2), 'x').steps.filter((s) => s.id.startsWith('statefulset-pod/')).map((s) => s.h)).toEqual(hashes);
    const damaged = { ...v2, steps: v2.steps.map((s: { id: string; h: string }) => (s.id.includes('..') ? { ...s, h: hashes.slice(1).join(',') } : s)) };
    expect(() => parseCheckpoint(JSON.stringify(damaged), 'ConfigMap x/y')).toThrow('ConfigMap x/y: the checkpoint is damaged (a range of pod steps does not match its hashes)');
    const v1 = { ...JSON.parse(text), format_version: 1, steps: bigCheckpoint(5).steps };
    expect(parseCheckpoint(JSON.stringify(v1), 'x').steps).toHaveLength(8);
    expect(() => parseCheckpoint(JSON.stringify({ ...v1, format_version: 4 }), 'x')).toThrow('checkpoint format 4 was written by a newer peerdb-upgrade');
  });

  it('keeps the digest of a finished range when the plan now differs: the range counts as changed', () => {
    const checkpoint = bigCheckpoint(10);
    const back = parseCheckpoint(serializeCheckpoint(checkpoint), 'test');
    resolveRangeHashes(back.steps, (id) => (id === 'statefulset-pod/w/4' ? 'changed00000' : checkpoint.steps.find((s) => s.id === id)?.h));
    expect(back.steps.filter((s) => s.id.startsWith('statefulset-pod/')).every((s) => s.h.startsWith('='))).toBe(true);
  });

  it('stores steps not started as ranges without hashes, and the starting pods as runs', () => {
    const checkpoint = bigCheckpoint(1000);
    for (const s of checkpoint.steps) if (s.id.startsWith('statefulset-pod/')) Object.assign(s, { s: 'pending', a: 0, t0: undefined, t1: undefined });
    const stored = JSON.parse(serializeCheckpoint(checkpoint)) as { steps: { id: string; h: string }[] };
    expect(stored.steps.map((s) => [s.id, s.h])).toContainEqual(['statefulset-pod/w/999..0', '']);
    const pods: [number, string, boolean][] = Array.from({ length: 1000 }, (_, i) => [999 - i, i < 3 ? 'new' : 'old', i !== 500]);
    expect(compactPods(pods)).toEqual([[999, 997, 'new', true], [996, 500, 'old', true], [499, 'old', false], [498, 0, 'old', true]]);
    expect(expandPods(compactPods(pods))).toEqual(pods);
  });
});
