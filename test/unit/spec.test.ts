import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { array, string } from 'zod/mini';
import { parseSpecText, resolveSpec } from '../../src/spec/load-spec.js';
import { SpecError, type SpecProblem } from '../../src/spec/spec-error.js';

const HEAD = `apiVersion: peerdb-upgrade/v1alpha1
kind: PeerDBCluster
metadata:
  name: prod
  namespace: peerdb
spec:
`;

function problems(text: string): SpecProblem[] {
  try {
    parseSpecText('c.yaml', text);
  } catch (error) {
    if (error instanceof SpecError) return [...error.problems];
    throw error;
  }
  throw new Error('expected the spec to be refused');
}

/** One line per problem, the way the CLI prints them. */
function lines(text: string): string[] {
  return problems(text).map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`);
}

describe('cluster spec: accepted files', () => {
  it.each(readdirSync('plans').filter((f) => f.endsWith('.yaml')))('plans/%s is valid', (file) => {
    const loaded = parseSpecText(file, readFileSync(`plans/${file}`, 'utf8'));
    expect(loaded.document.kind).toBe('PeerDBCluster');
    expect(loaded.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("defaults to the Helm chart's five components, snapshot worker as a StatefulSet", () => {
    const spec = resolveSpec(parseSpecText('c.yaml', `${HEAD}  version: v0.37.4\n`).document);
    expect(spec.components.map((c) => c.workload)).toEqual([
      'Deployment/flow-api',
      'Deployment/flow-worker',
      'StatefulSet/flow-snapshot-worker',
      'Deployment/peerdb-server',
      'Deployment/peerdb-ui',
    ]);
    expect(spec.images).toEqual({ registry: 'ghcr.io/peerdb-io', tagPrefix: 'stable-' });
    expect(spec.checkpointName).toBe('prod-peerdb-upgrade');
    expect(spec.maintenance).toBeUndefined();
  });

  it('fills maintenance and init job defaults', () => {
    const spec = resolveSpec(
      parseSpecText('c.yaml', `${HEAD}  version: v0.37.4\n  maintenance: {}\n  initJobs:\n    - name: m\n      preset: catalog-migrations\n`).document,
    );
    expect(spec.maintenance).toEqual({ envFrom: 'flow-worker', timeout: '2h', backoffLimit: 4, useMaintenanceTaskQueue: false, skipOnNoMirrors: false });
    expect(spec.initJobs[0]).toMatchObject({ backoffLimit: 1, timeout: '30m' });
  });

  it('takes the namespace from --namespace when the spec has none, and refuses a contradiction', () => {
    const noNamespace = parseSpecText('c.yaml', HEAD.replace('  namespace: peerdb\n', '') + '  version: v0.37.4\n').document;
    expect(resolveSpec(noNamespace, { namespaceFlag: 'x' }).namespace).toBe('x');
    expect(resolveSpec(noNamespace, { fallbackNamespace: 'ctx' }).namespace).toBe('ctx');
    const withNamespace = parseSpecText('c.yaml', `${HEAD}  version: v0.37.4\n`).document;
    expect(() => resolveSpec(withNamespace, { namespaceFlag: 'other' })).toThrow('contradicts metadata.namespace peerdb');
  });
});

describe('cluster spec: every error with file, line, column and field path', () => {
  it('reports a type error at the line of the value', () => {
    expect(lines(`${HEAD}  version: v0.37.4\n  maintenance:\n    backoffLimit: "four"\n`)).toEqual([
      '9:19 spec.maintenance.backoffLimit: expected a number, found "four"',
    ]);
  });

  it('reports every problem in one go, in file order', () => {
    const text = `${HEAD}  version: latest-stable
  maintenance:
    timeout: 2 hours
  components:
    - name: flow-api
      workload: Deployment/flow-api
      readyTimeout: 15 minutes
    - name: Flow_Worker
      workload: ReplicaSet/flow-worker
      replicas: -1
`;
    expect(lines(text)).toEqual([
      '7:12 spec.version: "latest-stable" is a mutable tag, not a version; name the release, e.g. v0.37.4; found "latest-stable"',
      '9:14 spec.maintenance.timeout: a duration such as 90s, 15m or 2h; found "2 hours"',
      '13:21 spec.components[0].readyTimeout: a duration such as 90s, 15m or 2h; found "15 minutes"',
      '14:13 spec.components[1].name: a lowercase DNS label (a-z, 0-9 and -, starting and ending with a letter or digit); found "Flow_Worker"',
      '15:17 spec.components[1].workload: Deployment/<name> or StatefulSet/<name>; found "ReplicaSet/flow-worker"',
      '16:17 spec.components[1].replicas: expected at least 0, found the number -1',
    ]);
  });

  it('refuses unknown fields and suggests the near name', () => {
    expect(lines(`${HEAD}  version: v0.37.4\n  maintenence: {}\n  components:\n    - name: a\n      workload: Deployment/a\n      readyTimout: 5m\n`)).toEqual([
      '8:3 spec: unknown field "maintenence"; did you mean "maintenance"? (expected one of: version, images, maintenance, flowApi, initJobs, components, rollout, checkpoint)',
      '12:7 spec.components[0]: unknown field "readyTimout"; did you mean "readyTimeout"? (expected one of: name, workload, container, image, replicas, readyTimeout, skip, before, after)',
    ]);
  });

  it('names missing required fields at their parent', () => {
    expect(lines('apiVersion: peerdb-upgrade/v1alpha1\nkind: PeerDBCluster\nmetadata: {}\nspec: {}\n')).toEqual([
      '3:11 metadata.name: required field is missing (expected a string)',
      '4:7 spec.version: required field is missing (expected a string)',
    ]);
  });

  it('refuses a wrong apiVersion or kind with the expected value', () => {
    expect(lines(HEAD.replace('peerdb-upgrade/v1alpha1', 'v1').replace('PeerDBCluster', 'Deployment') + '  version: v0.37.4\n')).toEqual([
      '1:13 apiVersion: expected "peerdb-upgrade/v1alpha1", found "v1"',
      '2:7 kind: expected "PeerDBCluster", found "Deployment"',
    ]);
  });

  it('refuses duplicate component names, duplicate workloads and duplicate init jobs', () => {
    const text = `${HEAD}  version: v0.37.4
  initJobs:
    - { name: m, preset: catalog-migrations }
    - { name: m, image: busybox:1 }
  components:
    - { name: peerdb-server, workload: Deployment/a }
    - { name: peerdb-server, workload: Deployment/a }
    - { name: api-copy, workload: Deployment/flow-api }
`;
    expect(lines(text)).toEqual([
      '10:15 spec.initJobs[1].name: duplicate init job name "m" (also spec.initJobs[0]); found "m"',
      '13:15 spec.components[1].name: duplicate component name "peerdb-server" (also spec.components[0]); found "peerdb-server"',
      '14:35 spec.components[2].workload: Deployment/flow-api is already named by component flow-api; found "Deployment/flow-api"',
    ]);
  });

  it('refuses references to components that do not exist', () => {
    const text = `${HEAD}  version: v0.37.4\n  maintenance:\n    envFrom: flow-workers\n  initJobs:\n    - name: t\n      image: busybox:1\n      envFrom: nope\n`;
    expect(lines(text)).toEqual([
      '9:14 spec.maintenance.envFrom: names component "flow-workers", which is not in the components: flow-api, flow-worker, flow-snapshot-worker, peerdb-server, peerdb-ui; found "flow-workers"',
      '13:16 spec.initJobs[0].envFrom: names component "nope", which is not in the components: flow-api, flow-worker, flow-snapshot-worker, peerdb-server, peerdb-ui; found "nope"',
    ]);
  });

  it('requires an image or a preset on an init job, not both', () => {
    expect(lines(`${HEAD}  version: v0.37.4\n  initJobs:\n    - name: a\n    - name: b\n      preset: catalog-migrations\n      image: x:1\n`)).toEqual([
      '9:7 spec.initJobs[0].image: an init job needs an image, or a preset such as catalog-migrations',
      '12:14 spec.initJobs[1].image: a preset job (catalog-migrations) takes its image from the preset; remove image; found "x:1"',
    ]);
  });

  it('reports YAML syntax errors and duplicate keys with their position', () => {
    expect(lines(`${HEAD}  version: [v0.37.4\n`)[0]).toMatch(/^8:1 : /);
    expect(lines(`${HEAD}  version: v0.37.4\n  version: v0.37.5\n`)).toEqual(['8:3 : Map keys must be unique']);
  });

  it('refuses an empty file, a comment-only file and several documents', () => {
    expect(lines('')).toEqual(['1:1 : the file is empty; expected a PeerDBCluster spec (see plans/helm-default.yaml)']);
    expect(lines('# nothing\n')).toEqual(['1:1 : the file is empty; expected a PeerDBCluster spec (see plans/helm-default.yaml)']);
    expect(lines(`${HEAD}  version: v0.37.4\n---\n${HEAD}  version: v0.37.4\n`)[0]).toContain('2 YAML documents');
  });

  it('refuses a document that is not a mapping', () => {
    expect(lines('- a\n- b\n')).toEqual(['1:1 : expected a mapping, found a list of 2']);
    expect(lines('just text\n')).toEqual(['1:1 : expected a mapping, found "just text"']);
  });

  it('keeps the needs of maintenance flags together', () => {
    expect(lines(`${HEAD}  version: v0.37.4\n  maintenance:\n    skipOnNoMirrors: true\n`)).toEqual([
      '9:5 spec.maintenance.flowGrpcAddress: skipOnNoMirrors needs flowGrpcAddress (e.g. flow-api:8112)',
    ]);
  });
});

describe('spec.components merge by name onto the Helm chart defaults', () => {
  const resolve = (components: string) => resolveSpec(parseSpecText('c.yaml', `${HEAD}  version: v0.37.4\n  components:\n${components}`).document).components;
  const view = (components: string) => resolve(components).map((c) => `${c.name} ${c.workload} ${c.readyTimeout}${c.replicas !== undefined ? ` x${c.replicas}` : ''}`);

  it('changes only the fields an entry names: the snapshot worker keeps its 15m and the other four stay', () => {
    expect(view('    - { name: flow-snapshot-worker, replicas: 3 }\n')).toEqual([
      'flow-api Deployment/flow-api 10m',
      'flow-worker Deployment/flow-worker 10m',
      'flow-snapshot-worker StatefulSet/flow-snapshot-worker 15m x3',
      'peerdb-server Deployment/peerdb-server 10m',
      'peerdb-ui Deployment/peerdb-ui 10m',
    ]);
  });

  it('overrides a default field in place, e.g. flow-worker as a StatefulSet', () => {
    expect(view('    - { name: flow-worker, workload: StatefulSet/flow-worker, readyTimeout: 20m }\n')[1]).toBe('flow-worker StatefulSet/flow-worker 20m');
  });

  it('leaves a default out with skip: true', () => {
    expect(resolve('    - { name: peerdb-ui, skip: true }\n').map((c) => c.name)).toEqual(['flow-api', 'flow-worker', 'flow-snapshot-worker', 'peerdb-server']);
  });

  it('appends a new component, or places it with before/after; before/after also move a default', () => {
    expect(resolve('    - { name: extra, workload: Deployment/extra }\n').map((c) => c.name).at(-1)).toBe('extra');
    expect(resolve('    - { name: extra, workload: Deployment/extra, after: flow-worker }\n').map((c) => c.name)).toEqual([
      'flow-api', 'flow-worker', 'extra', 'flow-snapshot-worker', 'peerdb-server', 'peerdb-ui',
    ]);
    expect(resolve('    - { name: peerdb-server, before: flow-api }\n').map((c) => c.name)).toEqual([
      'peerdb-server', 'flow-api', 'flow-worker', 'flow-snapshot-worker', 'peerdb-ui',
    ]);
    expect(resolve('    - { name: extra, workload: Deployment/extra }\n').at(-1)!.readyTimeout).toBe('10m');
  });

  it('refuses what it cannot merge, at the entry', () => {
    const text = `${HEAD}  version: v0.37.4
  components:
    - { name: extra }
    - { name: other, workload: Deployment/other, skip: true }
    - { name: flow-api, skip: true, replicas: 2 }
    - { name: peerdb-ui, before: nothing }
    - { name: flow-worker, before: flow-api, after: peerdb-ui }
`;
    expect(lines(text)).toEqual([
      '9:7 spec.components[0].workload: "extra" is not a default component (flow-api, flow-worker, flow-snapshot-worker, peerdb-server, peerdb-ui), so it needs workload: Deployment/<name> or StatefulSet/<name>',
      '10:56 spec.components[1].skip: skip leaves out a default component; "other" is not one (defaults: flow-api, flow-worker, flow-snapshot-worker, peerdb-server, peerdb-ui); found true',
      '11:47 spec.components[2].replicas: a skipped component is left out entirely; remove replicas or skip; found the number 2',
      '12:34 spec.components[3].before: there is no component "nothing"; components: flow-api, flow-worker, flow-snapshot-worker, peerdb-server, peerdb-ui; found "nothing"',
      '13:53 spec.components[4].after: give before or after, not both; found "peerdb-ui"',
    ]);
  });

  it('refuses placements that contradict each other, and a spec that skips everything', () => {
    expect(lines(`${HEAD}  version: v0.37.4\n  components:\n    - { name: flow-api, after: peerdb-ui }\n    - { name: peerdb-ui, after: flow-api }\n`)[0]).toMatch(
      /^9:32 spec.components\[0\].after: contradicts another placement: the order came out flow-worker, flow-snapshot-worker, peerdb-server, flow-api, peerdb-ui/,
    );
    const all = ['flow-api', 'flow-worker', 'flow-snapshot-worker', 'peerdb-server', 'peerdb-ui'].map((n) => `    - { name: ${n}, skip: true }\n`).join('');
    expect(lines(`${HEAD}  version: v0.37.4\n  components:\n${all}`)).toEqual(['9:5 spec.components: every component is skipped: there is nothing to upgrade; found a list of 5']);
  });
});

describe('spec.rollout', () => {
  it('refuses a concurrent group naming an unknown component or a component twice, at the entry', () => {
    expect(lines(`${HEAD}  version: v0.37.4\n  rollout:\n    concurrent:\n      - [flow-api, flow-wroker]\n      - [flow-api, peerdb-ui]\n`)).toEqual([
      '10:20 spec.rollout.concurrent[0][1]: names component "flow-wroker", which is not in the components: flow-api, flow-worker, flow-snapshot-worker, peerdb-server, peerdb-ui; found "flow-wroker"',
      '11:10 spec.rollout.concurrent[1][0]: component "flow-api" is already in group 0 (spec.rollout.concurrent[0]); found "flow-api"',
    ]);
  });

  it('refuses a group of one and an unknown mode', () => {
    expect(lines(`${HEAD}  version: v0.37.4\n  rollout:\n    concurrent: [[flow-api]]\n`)).toEqual(['9:18 spec.rollout.concurrent[0]: expected at least 2 entries, found a list of 1']);
    // zod's own words for a value no branch of the union takes (describeIssue passes them through).
    expect(lines(`${HEAD}  version: v0.37.4\n  rollout:\n    concurrent: everything\n`)).toEqual(['9:17 spec.rollout.concurrent: Invalid input']);
  });

  it('is empty when omitted, and keeps what it says', () => {
    expect(resolveSpec(parseSpecText('c.yaml', `${HEAD}  version: v0.37.4\n`).document).rollout).toEqual({});
    const spec = resolveSpec(parseSpecText('c.yaml', `${HEAD}  version: v0.37.4\n  rollout:\n    concurrent: deployments\n`).document);
    expect(spec.rollout).toEqual({ concurrent: 'deployments' });
  });
});

describe("zod's own messages", () => {
  it('are English once the spec schema is loaded (zod/mini loads no locale of its own)', () => {
    // The schema module is loaded by load-spec.js above; a zod/mini schema without it says only "Invalid input".
    expect(string().safeParse(5).error?.issues[0]?.message).toBe('Invalid input: expected string, received number');
    expect(array(string()).safeParse(['a', 1]).error?.issues[0]?.message).toBe('Invalid input: expected string, received number');
  });
});
