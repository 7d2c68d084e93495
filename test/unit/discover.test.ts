import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { discoverPeerDB } from '../../src/discover/discover-peerdb.js';
import { initSpec } from '../../src/discover/init-spec.js';
import { writeSpecText } from '../../src/discover/write-spec.js';
import { computePlan } from '../../src/plan/compute-plan.js';
import { observeCluster } from '../../src/apply/observe-cluster.js';
import { isComponentStep } from '../../src/plan/plan-types.js';
import { parseVersion } from '../../src/spec/version.js';
import { parseSpecText, resolveSpec } from '../../src/spec/load-spec.js';
import type { WorkloadState } from '../../src/cluster/types.js';
import { MemoryCluster } from './fakes/memory-cluster.js';
import { container, deployment, helmInstallation, image, statefulSet } from './fakes/workloads.js';
import { planWords } from '../../src/cli/plan-words.js';

const WORDS = planWords({ specFile: 'x.yaml' });

const HELM = { manager: 'helm', helm: { release: 'peerdb-prod', namespace: 'data' } } as const;
const v = (text: string) => { const parsed = parseVersion(text); if (!parsed.ok) throw new Error(parsed.reason); return parsed.version; };

function helmWorkloads(version: string, patch: (w: WorkloadState) => WorkloadState = (w) => w): WorkloadState[] {
  return [...helmInstallation(version).values()].map((w) => patch(w!));
}

/** Discovery, the written text, and the spec it resolves to (proof that it validates). */
function init(workloads: readonly WorkloadState[], options: { to?: string; configMaps?: Record<string, string[]> } = {}) {
  const discovery = discoverPeerDB({ namespace: 'data', workloads, configMapKeys: new Map(Object.entries(options.configMaps ?? {})) });
  const text = writeSpecText(discovery, { to: options.to ? v(options.to) : undefined, command: 'peerdb-upgrade init -n data' });
  return { discovery, text, spec: resolveSpec(parseSpecText('init.yaml', text).document) };
}

describe('init: discovery over fake namespaces', () => {
  it('Helm default: names the release, writes no components, maintenance and catalog migrations on', async () => {
    const { discovery, text, spec } = init(helmWorkloads('v0.36.7', (w) => ({ ...w, owner: HELM })), { to: 'v0.37.4' });
    expect(discovery.undecided).toEqual([]);
    expect(discovery.helm).toEqual([{ release: 'peerdb-prod', namespace: 'data' }]);
    await expect(text).toMatchFileSnapshot('golden/init-helm-default.yaml');
    expect(spec).toMatchObject({ name: 'peerdb-prod', namespace: 'data', version: 'v0.37.4', images: { registry: 'ghcr.io/peerdb-io', tagPrefix: 'stable-' } });
    expect(spec.maintenance?.envFrom).toBe('flow-worker');
    expect(spec.initJobs.map((j) => j.preset)).toEqual(['catalog-migrations']);
    expect(spec.components).toEqual(resolveSpec(parseSpecText('x', readFileSync('plans/helm-default.yaml', 'utf8')).document).components);
    expect(text).not.toContain('components:');
  });

  it('StatefulSet workers: writes only the workload that differs from the default', () => {
    const workloads = helmWorkloads('v0.36.7', (w) => (w.name === 'flow-worker' ? { ...statefulSet('flow-worker', w.containers[0]!.image, 4), containers: w.containers } : w));
    const { discovery, spec, text } = init(workloads, { to: 'v0.37.4' });
    expect(discovery.undecided).toEqual([]);
    expect(spec.components.find((c) => c.name === 'flow-worker')).toMatchObject({ workload: 'StatefulSet/flow-worker', readyTimeout: '10m' });
    expect(spec.components.find((c) => c.name === 'flow-snapshot-worker')).toMatchObject({ workload: 'StatefulSet/flow-snapshot-worker', readyTimeout: '15m' });
    expect(text).toContain('    - name: flow-worker\n      workload: StatefulSet/flow-worker\n');
    expect(text.match(/- name:/g)?.length).toBe(2); // flow-worker and the catalog-migrations job
  });

  it('private registry: a mirror and a tag prefix of its own, and one image from elsewhere', () => {
    const mirror = (w: WorkloadState) => ({
      ...w,
      containers: w.containers.map((c) => ({ ...c, image: c.image.replace('ghcr.io/peerdb-io/', w.name === 'peerdb-ui' ? 'other.example.com/ui/' : 'registry.example.com:5000/peerdb/').replace(':stable-', ':release-') })),
    });
    const { discovery, spec, text } = init(helmWorkloads('v0.36.7', mirror), { to: 'v0.37.4' });
    expect(discovery.undecided).toEqual([]);
    expect(spec.images).toEqual({ registry: 'registry.example.com:5000/peerdb', tagPrefix: 'release-' });
    expect(spec.components.find((c) => c.name === 'peerdb-ui')?.image).toBe('other.example.com/ui/peerdb-ui');
    expect(text).toContain('    registry: registry.example.com:5000/peerdb');
    const plan = computePlan(spec, { mode: 'live', observed: { workloads: new Map(helmWorkloads('v0.36.7', mirror).map((w) => [`${w.kind}/${w.name}`, w])) } });
    expect(plan.steps.filter(isComponentStep).find((s) => s.id === 'deployment-rollout/flow-api')?.image).toBe('registry.example.com:5000/peerdb/flow-api:release-v0.37.4');
    expect(plan.warnings.map(WORDS.note).filter((w) => w.includes('repository changes'))).toEqual([]);
  });

  it('mixed versions: names them, and without --to targets the newest one running', () => {
    const workloads = helmWorkloads('v0.37.0', (w) => (w.name === 'flow-api' ? deployment('flow-api', image('flow-api', 'v0.36.7')) : w));
    const { discovery, spec, text } = init(workloads);
    expect(discovery.undecided).toEqual(['the components run different versions (flow-api v0.36.7, flow-worker v0.37.0, flow-snapshot-worker v0.37.0, peerdb-server v0.37.0, peerdb-ui v0.37.0)']);
    expect(spec.version).toBe('v0.37.0');
    expect(text).toContain('# Could not decide (settle these before you apply):\n#   - the components run different versions');
    expect(text).toContain('the namespace runs v0.36.7 to v0.37.0: set the target here (or init --to vX.Y.Z)');
  });

  it('two candidates: leaves the component out and names both instead of guessing', () => {
    const canary = deployment('flow-worker-canary', image('flow-worker', 'v0.36.7'));
    const { discovery, spec, text } = init([...helmWorkloads('v0.36.7'), canary], { to: 'v0.37.4' });
    expect(discovery.undecided).toEqual([
      'flow-worker: 2 workloads run its image: Deployment/flow-worker (v0.36.7), Deployment/flow-worker-canary (v0.36.7); left out of the spec — name the one to upgrade under spec.components',
    ]);
    expect(spec.components.map((c) => c.name)).not.toContain('flow-worker');
    // The maintenance Jobs copy flow-worker's env: without a decided flow-worker, no maintenance.
    expect(spec.maintenance).toBeUndefined();
    expect(text).toContain('  # maintenance left out: no single flow-worker found');
    expect(text).toContain('      skip: true');
  });

  it('a non-version tag, a missing component, and a flow-worker without the settings are named', () => {
    const workloads = helmWorkloads('v0.36.7', (w) =>
      w.name === 'flow-api' ? deployment('flow-api', 'ghcr.io/peerdb-io/flow-api:latest-stable') : w.name === 'flow-worker' ? deployment('flow-worker', image('flow-worker', 'v0.36.7')) : w,
    ).filter((w) => w.name !== 'peerdb-ui');
    const { discovery, spec, text } = init(workloads, { to: 'v0.37.4' });
    expect(discovery.undecided).toEqual(['flow-api: Deployment/flow-api runs ghcr.io/peerdb-io/flow-api:latest-stable, whose tag is not a release version; its version is unknown']);
    expect(discovery.missing).toEqual(['peerdb-ui']);
    expect(spec.components.map((c) => c.name)).toEqual(['flow-api', 'flow-worker', 'flow-snapshot-worker', 'peerdb-server']);
    expect(discovery.maintenance.usable).toBe(false);
    expect(text).toContain('maintenance left out: Deployment/flow-worker has no TEMPORAL_HOST_PORT or PEERDB_CATALOG_HOST');
  });

  it('reads the maintenance settings from the keys of a ConfigMap flow-worker takes env from', () => {
    const bare = helmWorkloads('v0.36.7', (w) => (w.name === 'flow-worker' ? { ...w, containers: [container('flow-worker', image('flow-worker', 'v0.36.7'), { envFrom: [{ configMapRef: { name: 'cfg' } }] })] } : w));
    expect(init(bare, { to: 'v0.37.4', configMaps: { cfg: ['TEMPORAL_HOST_PORT', 'PEERDB_CATALOG_HOST'] } }).discovery.maintenance.usable).toBe(true);
    expect(init(bare, { to: 'v0.37.4', configMaps: { cfg: ['OTHER'] } }).discovery.maintenance.usable).toBe(false);
  });

  it('against a live namespace: the written spec plans exactly like the hand-written example', async () => {
    const cluster = new MemoryCluster().seedHelm('peerdb', 'v0.36.7');
    const result = await initSpec(cluster, { namespace: 'peerdb', to: 'v0.37.4', file: 'init.yaml', command: 'peerdb-upgrade init -n peerdb', readCheckpoint: async () => undefined });
    const example = resolveSpec(parseSpecText('x', readFileSync('plans/helm-default.yaml', 'utf8')).document);
    const expected = computePlan(example, { mode: 'live', observed: await observeCluster(example, cluster) });
    expect(result.plan).toEqual(expected);
    expect(result.plan.steps.length).toBe(14);
  });

  it('refuses a namespace without PeerDB, and a --to that does not parse', async () => {
    expect(() => init([deployment('nginx', 'nginx:1.27')])).toThrow('no PeerDB workloads in namespace data');
    const cluster = new MemoryCluster().seedHelm('peerdb', 'v0.36.7');
    await expect(initSpec(cluster, { namespace: 'peerdb', to: 'latest', file: 'f', command: 'c', readCheckpoint: async () => undefined })).rejects.toThrow('--to: "latest" is a mutable tag');
  });
});

describe('a live plan names the PeerDB workloads the spec leaves out', () => {
  it('warns with their names and versions; other workloads are not PeerDB and stay quiet', async () => {
    const cluster = new MemoryCluster().seedHelm('peerdb', 'v0.36.7');
    cluster.addDeployment('peerdb', 'flow-worker-canary', { image: 'registry.example.com/peerdb-io/flow-worker:stable-v0.36.5' });
    cluster.addDeployment('peerdb', 'nginx', { image: 'nginx:1.27' });
    const spec = resolveSpec(parseSpecText('x', readFileSync('plans/no-maintenance.yaml', 'utf8')).document, { namespaceFlag: undefined });
    const here = { ...spec, namespace: 'peerdb' };
    const plan = computePlan(here, { mode: 'live', observed: await observeCluster(here, cluster) });
    expect(plan.warnings.map(WORDS.note).filter((w) => w.includes('is not in the spec'))).toEqual([
      'Deployment/flow-worker-canary runs PeerDB flow-worker v0.36.5 and is not in the spec: it is not upgraded (add it under spec.components, or `peerdb-upgrade init -n peerdb` to see what the namespace runs)',
      'Deployment/peerdb-ui runs PeerDB peerdb-ui v0.36.7 and is not in the spec: it is not upgraded (add it under spec.components, or `peerdb-upgrade init -n peerdb` to see what the namespace runs)',
    ]);
  });

  it('says so when listing is not allowed, instead of staying silent', () => {
    const spec = resolveSpec(parseSpecText('x', readFileSync('plans/helm-default.yaml', 'utf8')).document);
    const plan = computePlan(spec, { mode: 'live', observed: { workloads: helmInstallation('v0.36.7'), namespaceWorkloads: 'forbidden' } });
    expect(plan.warnings).toContain('cannot list Deployments and StatefulSets in peerdb (forbidden): PeerDB workloads the spec leaves out are not checked');
  });
});
