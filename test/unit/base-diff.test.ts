import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MARKDOWN_LIMIT } from '../../src/plan/render-markdown.js';
import { planFromBase } from '../../src/plan/plan-from-base.js';
import { isJobStep } from '../../src/plan/plan-types.js';
import { renderBaseJson, renderBaseMarkdown, renderBaseText } from '../../src/plan/render-base.js';
import { parseSpecText, resolveSpec } from '../../src/spec/load-spec.js';
import type { ClusterSpec } from '../../src/spec/schema.js';
import { skipDefaults } from './fakes/skip-defaults.js';
import { planWords } from '../../src/cli/plan-words.js';

/** The CLI's words for a plan of plans/helm-default.yaml. */
const WORDS = planWords({ specFile: 'helm-default.yaml' });

const HEAD = 'apiVersion: peerdb-upgrade/v1alpha1\nkind: PeerDBCluster\nmetadata:\n  name: prod\n  namespace: peerdb\nspec:\n';

const spec = (body: string): ClusterSpec => resolveSpec(parseSpecText('x.yaml', `${HEAD}${body}`).document);

/** A Helm installation's spec, as most pull requests will change it. */
function helm(version: string, extra: { components?: string; initJobs?: string } = {}): string {
  return `  version: ${version}
  maintenance:
    envFrom: flow-worker
  initJobs:
    - name: catalog-migrations
      preset: catalog-migrations
${extra.initJobs ?? ''}  components:
    - { name: flow-api, workload: Deployment/flow-api }
    - { name: flow-worker, workload: Deployment/flow-worker, replicas: 2 }
    - { name: flow-snapshot-worker, workload: StatefulSet/flow-snapshot-worker, replicas: 3, readyTimeout: 15m }
    - { name: peerdb-server, workload: Deployment/peerdb-server }
${extra.components ?? '    - { name: peerdb-ui, skip: true }\n'}`;
}

const TEMPORAL_JOB = `    - name: temporal-schema
      image: temporalio/admin-tools:1.24.2-tctl-1.18.1-cli-0.13.2
      command: ["temporal-sql-tool", "update-schema"]
      envFrom: flow-worker
      env:
        - { name: SQL_PASSWORD, value: hunter2 }
`;

const UI = '    - { name: peerdb-ui, workload: Deployment/peerdb-ui }\n';

const plan = (base: string, target: string, allowDowngrade = false) =>
  planFromBase(spec(base), spec(target), { baseFile: 'base/prod.yaml', file: 'clusters/prod.yaml', allowDowngrade });

const ids = (p: ReturnType<typeof plan>) => p.plan.steps.map((s) => s.id);

describe('plan --base: golden renderings, reviewed like code', () => {
  const cases = {
    'version-bump': plan(helm('v0.36.7'), helm('v0.37.4')),
    'component-added': plan(helm('v0.36.7'), helm('v0.37.4', { components: UI })),
    'init-job-added': plan(helm('v0.37.3'), helm('v0.37.4', { initJobs: TEMPORAL_JOB })),
    'no-change': plan(helm('v0.37.4'), helm('v0.37.4')),
  };
  for (const [name, basePlan] of Object.entries(cases)) {
    it(`${name}: text`, async () => {
      await expect(renderBaseText(basePlan, WORDS)).toMatchFileSnapshot(`golden/base-${name}.txt`);
    });
    it(`${name}: json`, async () => {
      await expect(renderBaseJson(basePlan, WORDS)).toMatchFileSnapshot(`golden/base-${name}.json`);
    });
    it(`${name}: markdown`, async () => {
      await expect(renderBaseMarkdown(basePlan, WORDS)).toMatchFileSnapshot(`golden/base-${name}.md`);
    });
  }
});

describe('plan --base: the base spec stands in for the cluster', () => {
  it('upgrades every component from the base version, with the base spec replicas', () => {
    const result = plan(helm('v0.36.7'), helm('v0.37.4'));
    expect(result.plan.mode).toBe('offline');
    expect(result.plan.from).toBe('v0.36.7');
    expect(ids(result)).toEqual([
      'preflight',
      'maintenance-start',
      'init-job/catalog-migrations',
      'deployment-rollout/flow-api',
      'deployment-rollout/flow-worker',
      'statefulset-prepare/flow-snapshot-worker',
      'statefulset-pod/flow-snapshot-worker/2',
      'statefulset-pod/flow-snapshot-worker/1',
      'statefulset-pod/flow-snapshot-worker/0',
      'deployment-rollout/peerdb-server',
      'maintenance-end',
      'verify-mirrors',
      'complete',
    ]);
    const rollout = result.plan.steps.find((s) => s.id === 'deployment-rollout/flow-api')!;
    expect(rollout.changes[0]).toEqual({
      object: 'Deployment/flow-api',
      field: 'container flow-api image',
      from: 'ghcr.io/peerdb-io/flow-api:stable-v0.36.7',
      to: 'ghcr.io/peerdb-io/flow-api:stable-v0.37.4',
    });
    expect(result.plan.summary.podRestarts).toBe(1 + 2 + 3 + 1);
  });

  it('has no steps when the specs are the same, StatefulSets included', () => {
    const result = plan(helm('v0.37.4'), helm('v0.37.4'));
    expect(result.plan.steps).toEqual([]);
    expect(result.plan.warnings).toEqual([]);
  });

  it('says where each Job copies its env from, as an offline plan does', () => {
    const result = plan(helm('v0.36.7'), helm('v0.37.4'));
    const envSource = (id: string) => result.plan.steps.flatMap((s) => (s.id === id && isJobStep(s) ? [s.envSource] : []))[0];
    expect(envSource('maintenance-start')).toMatchObject({ component: 'flow-worker', workload: 'Deployment/flow-worker' });
    expect(envSource('init-job/catalog-migrations')).toMatchObject({ component: 'peerdb-server' });
  });

  it('assumes a component only in the new spec runs the base version, and warns that it is an assumption', () => {
    const result = plan(helm('v0.36.7'), helm('v0.37.4', { components: UI }));
    expect(result.diff.components.added).toEqual([{ name: 'peerdb-ui', workload: 'Deployment/peerdb-ui' }]);
    expect(result.plan.steps.find((s) => s.id === 'deployment-rollout/peerdb-ui')!.changes[0]!.from).toBe('ghcr.io/peerdb-io/peerdb-ui:stable-v0.36.7');
    expect(result.plan.warnings[0]).toBe('peerdb-ui: not in the base spec; assumed to run v0.36.7 like the rest (apply reads the version Deployment/peerdb-ui really runs)');
  });

  it('gives a component added at an unchanged version no steps, but still warns', () => {
    const result = plan(helm('v0.37.4'), helm('v0.37.4', { components: UI }));
    expect(result.plan.steps).toEqual([]);
    expect(result.plan.warnings.join('\n')).toContain('peerdb-ui: not in the base spec');
  });

  it('reports a removed component, which stays on the base version while the rest moves on', () => {
    const result = plan(helm('v0.36.7', { components: UI }), helm('v0.37.4'));
    expect(result.diff.components.removed).toEqual([{ name: 'peerdb-ui', workload: 'Deployment/peerdb-ui' }]);
    expect(ids(result)).not.toContain('deployment-rollout/peerdb-ui');
    expect(result.plan.warnings).toContain('peerdb-ui: left the spec, so Deployment/peerdb-ui is no longer upgraded and stays on v0.36.7 while the rest moves to v0.37.4');
  });

  it('lists changed component fields, init job fields and settings, with secret-looking literals masked', () => {
    const before = helm('v0.37.3', { initJobs: TEMPORAL_JOB });
    const after = helm('v0.37.4', { initJobs: TEMPORAL_JOB.replace('hunter2', 'correct-horse') })
      .replace('replicas: 3, readyTimeout: 15m', 'replicas: 3, readyTimeout: 20m')
      .replace('    envFrom: flow-worker\n', '    envFrom: flow-worker\n    timeout: 3h\n');
    const result = plan(before, after);
    expect(result.diff.components.changed).toEqual([
      { name: 'flow-snapshot-worker', workload: 'StatefulSet/flow-snapshot-worker', changes: [{ field: 'readyTimeout', from: '15m', to: '20m' }] },
    ]);
    expect(result.diff.initJobs.changed).toEqual([
      { name: 'temporal-schema', changes: [{ field: 'env', from: [{ name: 'SQL_PASSWORD', value: '****' }], to: [{ name: 'SQL_PASSWORD', value: '****' }] }] },
    ]);
    expect(result.diff.settings).toEqual([{ field: 'spec.maintenance.timeout', from: '2h', to: '3h' }]);
    for (const text of [renderBaseText(result, WORDS), renderBaseJson(result, WORDS), renderBaseMarkdown(result, WORDS)]) {
      expect(text).not.toContain('hunter2');
      expect(text).not.toContain('correct-horse');
    }
  });

  it('reports maintenance switched on, a new registry and a new order of components', () => {
    const before = `  version: v0.36.7\n  components:\n    - { name: a, workload: Deployment/a }\n    - { name: b, workload: Deployment/b }\n${skipDefaults()}`;
    const after = `  version: v0.37.4\n  images: { registry: registry.example.com/peerdb-io }\n  maintenance: { envFrom: a }\n  components:\n    - { name: b, workload: Deployment/b }\n    - { name: a, workload: Deployment/a }\n${skipDefaults()}`;
    const result = plan(before, after);
    expect(result.diff.settings).toEqual([
      { field: 'spec.images.registry', from: 'ghcr.io/peerdb-io', to: 'registry.example.com/peerdb-io' },
      { field: 'spec.maintenance', from: 'off', to: 'on' },
      { field: 'spec.components order', from: 'a, b', to: 'b, a' },
    ]);
    expect(result.plan.warnings).toContain('a: the image repository changes from ghcr.io/peerdb-io/a to registry.example.com/peerdb-io/a');
    expect(ids(result)).toEqual(['preflight', 'maintenance-start', 'deployment-rollout/b', 'deployment-rollout/a', 'maintenance-end', 'verify-mirrors', 'complete']);
  });

  it('warns that a new init job does not run when nothing needs an upgrade', () => {
    const result = plan(helm('v0.37.4'), helm('v0.37.4', { initJobs: TEMPORAL_JOB }));
    expect(result.plan.steps).toEqual([]);
    expect(result.plan.warnings).toEqual(['init job temporal-schema: nothing needs an upgrade, so it does not run now; it runs with the next upgrade']);
  });

  it('refuses a downgrade with one message, unless allowed', () => {
    expect(() => plan(helm('v0.38.0'), helm('v0.37.4'))).toThrow(/^v0\.38\.0 → v0\.37\.4 is a downgrade; PeerDB catalog migrations are forward-only; pass --allow-downgrade/);
    expect(plan(helm('v0.38.0'), helm('v0.37.4'), true).plan.warnings.join('\n')).toContain('allowed by --allow-downgrade');
  });

  it('warns when the base spec describes another installation', () => {
    const other = resolveSpec(parseSpecText('x.yaml', HEAD.replace('name: prod', 'name: staging') + helm('v0.36.7')).document);
    const result = planFromBase(other, spec(helm('v0.37.4')), { baseFile: 'a.yaml', file: 'b.yaml' });
    expect(result.plan.warnings[0]).toBe('the base spec describes peerdb/staging and the new one peerdb/prod; the plan assumes they are the same installation');
    expect(result.plan.warnings).toContain('the checkpoint ConfigMap changes from staging-peerdb-upgrade to prod-peerdb-upgrade: a run recorded under the old name is not resumed');
  });

  it('keeps the markdown of a 300-replica StatefulSet plan within the comment limit, spec change included', () => {
    const big = (version: string) => `  version: ${version}\n  maintenance: {}\n  components:\n    - { name: flow-worker, workload: Deployment/flow-worker }\n    - { name: big, workload: StatefulSet/big, replicas: 300 }\n${skipDefaults('flow-worker')}`;
    const result = plan(big('v0.36.7'), big('v0.37.4'));
    expect(result.plan.steps.length).toBe(307);
    const markdown = renderBaseMarkdown(result, WORDS);
    expect(markdown.length).toBeLessThanOrEqual(MARKDOWN_LIMIT);
    expect(markdown.split('\n')[0]).toBe('<!-- peerdb-upgrade:plan peerdb/prod -->');
    expect(markdown).toContain('**Spec change** from `base/prod.yaml` to `clusters/prod.yaml`: version v0.36.7 → v0.37.4');
    expect(markdown).toContain('big: update pods 299 → 0, one at a time');
    const small = renderBaseMarkdown(result, WORDS, { limit: 6_000 });
    expect(small.length).toBeLessThanOrEqual(6_000);
    expect(small).toContain('Output cut');
  });

  it('cuts a long list of spec changes in markdown and says how to see them all', () => {
    const many = (version: string, timeout: string) =>
      `  version: ${version}\n  components:\n${Array.from({ length: 300 }, (_, i) => `    - { name: c${i}, workload: Deployment/c${i}, readyTimeout: ${timeout} }\n`).join('')}${skipDefaults()}`;
    const markdown = renderBaseMarkdown(plan(many('v0.37.4', '10m'), many('v0.37.4', '20m')), WORDS);
    expect(markdown.length).toBeLessThanOrEqual(MARKDOWN_LIMIT);
    expect(markdown).toMatch(/- … \d+ more changes: run `peerdb-upgrade plan --base base\/prod.yaml` to see them/);
  });

  it('puts the base section after `to` in JSON, with the documented shape', () => {
    const doc = JSON.parse(renderBaseJson(plan(helm('v0.36.7', { components: UI }), helm('v0.37.4', { initJobs: TEMPORAL_JOB })), WORDS));
    const keys = Object.keys(doc);
    expect(keys.indexOf('base')).toBe(keys.indexOf('to') + 1);
    expect(doc.base).toMatchObject({
      file: 'base/prod.yaml',
      version: { from: 'v0.36.7', to: 'v0.37.4', changed: true },
      components: { added: [], removed: [{ name: 'peerdb-ui', workload: 'Deployment/peerdb-ui', stays_on: 'v0.36.7' }], changed: [] },
      init_jobs: { added: ['temporal-schema'], removed: [], changed: [], unchanged: ['catalog-migrations'] },
      settings: [],
    });
    expect(doc.has_changes).toBe(true);
    expect(doc.mode).toBe('offline');
  });
});

describe('plan --base on the command line (subprocess)', () => {
  function run(args: string[]) {
    const result = spawnSync(process.execPath, ['bin/peerdb-upgrade.js', ...args], { encoding: 'utf8', env: { PATH: process.env.PATH }, timeout: 30_000 });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  }
  const dir = mkdtempSync(join(tmpdir(), 'peerdb-upgrade-base-'));
  const file = (name: string, body: string) => {
    const path = join(dir, name);
    writeFileSync(path, `${HEAD}${body}`);
    return path;
  };
  const old = file('old.yaml', helm('v0.36.7'));
  const next = file('new.yaml', helm('v0.37.4'));

  it('needs no cluster and exits 2 with --detailed-exitcode when the change needs upgrade steps, 0 when not', () => {
    const changed = run(['plan', '-f', next, '--base', old, '--detailed-exitcode', '--kubeconfig', join(dir, 'missing')]);
    expect(changed.stderr).toBe('');
    expect(changed.code).toBe(2);
    expect(changed.stdout.split('\n')[1]).toBe(`Change from ${old} to ${next}: version v0.36.7 → v0.37.4`);
    const same = run(['plan', '-f', next, '--base', next, '--detailed-exitcode']);
    expect(same.code).toBe(0);
    expect(same.stdout.split('\n')[0]).toBe('No changes: peerdb/prod already runs v0.37.4 (offline plan).');
  });

  it('renders json and markdown', () => {
    expect(JSON.parse(run(['plan', '-f', next, '--base', old, '-o', 'json']).stdout).base.version).toEqual({ from: 'v0.36.7', to: 'v0.37.4', changed: true });
    expect(run(['plan', '-f', next, '--base', old, '-o', 'markdown']).stdout.split('\n')[0]).toBe('<!-- peerdb-upgrade:plan peerdb/prod -->');
  });

  it('refuses --offline, --from and --out next to --base, and reports an invalid base spec at its line', () => {
    for (const extra of [['--offline'], ['--from', 'v0.36.7'], ['--out', join(dir, 'p.json')]]) {
      const result = run(['plan', '-f', next, '--base', old, ...extra]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`--base does not go with ${extra[0]}`);
    }
    const broken = file('broken.yaml', '  version: v0.36.7\n  initJobs: 3\n');
    const result = run(['plan', '-f', next, '--base', broken]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${broken}:8:13: spec.initJobs: expected a list, found the number 3`);
  });
});
