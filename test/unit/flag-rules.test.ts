import { describe, expect, it } from 'vitest';
import { applyModeOf, planSourceOf } from '../../src/cli/flag-rules.js';

describe('plan: which flags go together', () => {
  it.each([
    [{}, 'live'],
    [{ offline: true }, 'offline'],
    [{ offline: true, from: 'v0.36.7' }, 'offline'],
    [{ base: 'old.yaml' }, 'base'],
    [{ dryRun: 'server' }, 'live'],
    [{ out: 'plan.json' }, 'live'],
  ] as const)('%o plans from %s', (flags, source) => {
    expect(planSourceOf(flags)).toBe(source);
  });

  it.each([
    [{ base: 'old.yaml', offline: true }, '--base does not go with --offline'],
    [{ base: 'old.yaml', from: 'v0.36.7' }, '--base does not go with --from'],
    [{ base: 'old.yaml', out: 'plan.json' }, '--base does not go with --out'],
    [{ from: 'v0.36.7' }, '--from goes with --offline'],
    [{ offline: true, out: 'plan.json' }, '--out does not go with --offline'],
    [{ offline: true, dryRun: 'server' }, '--dry-run=server needs the cluster'],
    [{ base: 'old.yaml', dryRun: 'server' }, '--dry-run=server needs the cluster'],
    [{ offline: true, helmValuesOut: 'values.yaml' }, '--helm-values-out needs the cluster'],
    [{ base: 'old.yaml', helmChart: 'peerdb/peerdb' }, '--helm-chart needs the cluster'],
  ] as const)('refuses %o', (flags, message) => {
    expect(() => planSourceOf(flags)).toThrow(message);
  });
});

describe('apply: which flags go together', () => {
  it.each([
    [{ file: 'a.yaml' }, 'fresh'],
    [{ file: 'a.yaml', resume: true }, 'resume'],
    [{ file: 'a.yaml', restart: true }, 'restart'],
    [{ plan: 'plan.json' }, 'fresh'],
    // -f with --plan names where the spec moved to since the plan was saved.
    [{ file: 'a.yaml', plan: 'plan.json' }, 'fresh'],
  ] as const)('%o runs %s', (flags, mode) => {
    expect(applyModeOf(flags)).toBe(mode);
  });

  it.each([
    [{ file: 'a.yaml', resume: true, restart: true }, '--resume and --restart contradict each other'],
    [{ plan: 'plan.json', resume: true }, '--plan applies a fresh saved plan'],
    [{ plan: 'plan.json', restart: true }, '--plan applies a fresh saved plan'],
    [{}, 'name the spec with -f FILE, or a saved plan with --plan FILE'],
  ] as const)('refuses %o', (flags, message) => {
    expect(() => applyModeOf(flags)).toThrow(message);
  });
});
