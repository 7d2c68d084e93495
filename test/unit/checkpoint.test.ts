import { describe, expect, it } from 'vitest';
import { newCheckpoint, parseCheckpoint, serializeCheckpoint, type Checkpoint } from '../../src/apply/checkpoint.js';
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
    expect(stored.format_version).toBe(2);
    expect(stored.steps.map((s) => s.id)).toEqual([
      'preflight',
      'statefulset-prepare/w',
      'statefulset-pod/w/999..501',
      'statefulset-pod/w/500',
      'statefulset-pod/w/499..2',
      'statefulset-pod/w/1',
      'statefulset-pod/w/0',
      'complete',
    ]);
    const back = parseCheckpoint(text, 'test');
    expect(back.steps.map((s) => [s.id, s.h, s.s, s.a])).toEqual(checkpoint.steps.map((s) => [s.id, s.h, s.s, s.a]));
    expect(back.steps.find((s) => s.id === 'statefulset-pod/w/700')!.t0).toBe(checkpoint.steps.find((s) => s.id === 'statefulset-pod/w/999')!.t0);
  });

  it('keeps a finished 1000-pod checkpoint far below the 1 MiB ConfigMap limit', () => {
    const size = serializeCheckpoint(bigCheckpoint(1000)).length;
    expect(size).toBeLessThan(32 * 1024);
  });

  it('refuses a range whose hashes do not match it, and reads format 1', () => {
    const text = serializeCheckpoint(bigCheckpoint(5));
    const doc = JSON.parse(text);
    const range = doc.steps.find((s: { id: string }) => s.id.includes('..'));
    range.h = range.h.split(',').slice(1).join(',');
    expect(() => parseCheckpoint(JSON.stringify(doc), 'ConfigMap x/y')).toThrow('ConfigMap x/y: the checkpoint is damaged (a range of pod steps does not match its hashes)');
    const v1 = { ...JSON.parse(text), format_version: 1, steps: bigCheckpoint(5).steps };
    expect(parseCheckpoint(JSON.stringify(v1), 'x').steps).toHaveLength(8);
    expect(() => parseCheckpoint(JSON.stringify({ ...v1, format_version: 3 }), 'x')).toThrow('checkpoint format 3 was written by a newer peerdb-upgrade');
  });
});
