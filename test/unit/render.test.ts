import { describe, expect, it } from 'vitest';
import { computePlan } from '../../src/plan/compute-plan.js';
import { renderJson } from '../../src/plan/render-json.js';
import { MARKDOWN_LIMIT, renderMarkdown } from '../../src/plan/render-markdown.js';
import { renderText } from '../../src/plan/render-text.js';
import { makeStyle } from '../../src/cli/io.js';
import { specFromPlans, specFromText } from './fakes/specs.js';
import { helmInstallation, statefulSet, image } from './fakes/workloads.js';
import { skipDefaults } from './fakes/skip-defaults.js';
import { planWords } from '../../src/cli/plan-words.js';

/** The CLI's words for a plan of plans/helm-default.yaml. */
const WORDS = planWords({ specFile: 'helm-default.yaml' });

const offline = (file: string) => computePlan(specFromPlans(file), { mode: 'offline', from: 'v0.36.7' });

describe('golden renderings of the example plans', () => {
  for (const file of ['helm-default', 'statefulset-workers', 'no-maintenance']) {
    const plan = offline(`${file}.yaml`);
    it(`${file}: text`, async () => {
      await expect(renderText(plan, WORDS)).toMatchFileSnapshot(`golden/${file}.offline.txt`);
    });
    it(`${file}: json`, async () => {
      await expect(renderJson(plan, WORDS)).toMatchFileSnapshot(`golden/${file}.offline.json`);
    });
    it(`${file}: markdown`, async () => {
      await expect(renderMarkdown(plan, WORDS)).toMatchFileSnapshot(`golden/${file}.offline.md`);
    });
  }

  it('helm-default against a live installation: text and json, secrets masked', async () => {
    const peerdb = {
      ok: true as const,
      state: {
        instance: 'INSTANCE_STATUS_READY',
        version: 'stable-v0.36.7',
        pod: 'flow-api-0',
        mirrors: [
          { name: 'orders', status: 'STATUS_RUNNING', isCdc: true },
          { name: 'events', status: 'STATUS_SNAPSHOT', isCdc: true },
          { name: 'archive', status: 'STATUS_PAUSED', isCdc: true },
        ],
      },
    };
    const plan = computePlan(specFromPlans('helm-default.yaml'), { mode: 'live', observed: { workloads: helmInstallation('v0.36.7', 3), peerdb } });
    await expect(renderText(plan, WORDS)).toMatchFileSnapshot('golden/helm-default.live.txt');
    await expect(renderJson(plan, WORDS)).toMatchFileSnapshot('golden/helm-default.live.json');
  });
});

describe('what renderings promise', () => {
  const live = computePlan(specFromPlans('helm-default.yaml'), { mode: 'live', observed: { workloads: helmInstallation('v0.36.7', 3) } });

  it('never prints a secret: references stay references, secret-looking literals are masked', () => {
    for (const text of [renderText(live, WORDS), renderJson(live, WORDS), renderMarkdown(live, WORDS)]) {
      expect(text).not.toContain('literal-secret-material');
      expect(text).toContain('TEMPORAL_CLIENT_KEY');
      expect(text).toContain('****');
      expect(text).toContain('peerdb-catalog');
    }
  });

  it('puts the summary line first in text and markdown', () => {
    expect(renderText(live, WORDS).split('\n')[0]).toBe('Plan: 14 steps — 3 Jobs, 5 components, 7 pod restarts (peerdb/peerdb v0.36.7 → v0.37.4, live plan)');
    expect(renderMarkdown(live, WORDS)).toContain('**Plan: 14 steps — 3 Jobs, 5 components, 7 pod restarts');
  });

  it('json carries format_version and id/kind/component/ordinal/job on steps', () => {
    const doc = JSON.parse(renderJson(live, WORDS));
    expect(doc.format_version).toBe(1);
    expect(doc.steps.find((s: { id: string }) => s.id === 'statefulset-pod/flow-snapshot-worker/1')).toMatchObject({ kind: 'statefulset-pod', component: 'flow-snapshot-worker', ordinal: 1 });
    expect(doc.steps.find((s: { kind: string }) => s.kind === 'maintenance-start').job).toMatch(/^peerdb-maintenance-start-/);
  });

  it('colours text only when asked', () => {
    expect(renderText(live, WORDS)).not.toContain('\u001b[');
    expect(renderText(live, WORDS, makeStyle(1))).toContain('\u001b[');
  });

  it('keeps markdown for a 300-replica StatefulSet under the comment limit, with a marker and a notice when cut', () => {
    const spec = specFromText(`  version: v0.37.4\n  maintenance: {}\n  components:\n    - { name: flow-worker, workload: Deployment/flow-worker }\n    - { name: big, workload: StatefulSet/big }\n${skipDefaults('flow-worker')}`);
    const workloads = helmInstallation('v0.36.7');
    workloads.set('StatefulSet/big', statefulSet('big', image('big', 'v0.36.7'), 300));
    const plan = computePlan(spec, { mode: 'live', observed: { workloads } });
    expect(plan.steps.length).toBe(307);
    const markdown = renderMarkdown(plan, WORDS);
    expect(markdown.length).toBeLessThanOrEqual(MARKDOWN_LIMIT);
    expect(markdown.startsWith('<!-- peerdb-upgrade:plan peerdb/prod -->')).toBe(true);
    expect(markdown).toContain('statefulset-pod | big: update pods 299 → 0, one at a time');
    const small = renderMarkdown(plan, WORDS, { limit: 4_000 });
    expect(small.length).toBeLessThanOrEqual(4_000);
    expect(small).toContain('Output cut');
  });
});
