import { exitCodeOf, wordStop } from '../../src/cli/stop-message.js';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { applyUpgrade } from '../../src/apply/apply-upgrade.js';
import { decodeReleaseSecret, encodeReleaseSecret, newestRelease, type HelmReleaseState } from '../../src/cluster/helm-release.js';
import { toWorkloadState } from '../../src/cluster/to-state.js';
import { ownerOf, type WorkloadOwner } from '../../src/cluster/workload-owner.js';
import { UserError } from '../../src/errors.js';
import { computePlan } from '../../src/plan/compute-plan.js';
import { observeCluster } from '../../src/apply/observe-cluster.js';
import { coalesce, versionValues } from '../../src/plan/ownership.js';
import { renderJson } from '../../src/plan/render-json.js';
import { renderMarkdown } from '../../src/plan/render-markdown.js';
import { helmValuesFile } from '../../src/plan/render-ownership.js';
import { renderText } from '../../src/plan/render-text.js';
import { MemoryCluster } from './fakes/memory-cluster.js';
import { specFromPlans } from './fakes/specs.js';
import { applyRequest } from './fakes/apply-request.js';
import { planWords } from '../../src/cli/plan-words.js';

/** The CLI's words for a plan of plans/helm-default.yaml. */
const WORDS = planWords({ specFile: 'helm-default.yaml' });

const NS = 'peerdb';
const HELM: WorkloadOwner = { manager: 'helm', helm: { release: 'peerdb', namespace: NS } };
const chartValues = {
  peerdb: { version: 'stable-v0.36.2', image: { repository: 'ghcr.io/peerdb-io/peerdb-server' } },
  flowApi: { version: null, image: { repository: 'ghcr.io/peerdb-io/flow-api' } },
  flowWorker: { version: null, image: { repository: 'ghcr.io/peerdb-io/flow-worker' } },
  flowSnapshotWorker: { version: null, image: { repository: 'ghcr.io/peerdb-io/flow-snapshot-worker' } },
  peerdbUI: { version: null, image: { repository: 'ghcr.io/peerdb-io/peerdb-ui' } },
  catalog: { pgPassword: 'hunter2-from-values' },
};
const release = (config: Record<string, unknown>, values: Record<string, unknown> = chartValues): HelmReleaseState => ({
  name: 'peerdb',
  namespace: NS,
  revision: 3,
  status: 'deployed',
  chart: { name: 'peerdb', version: '0.9.3', appVersion: 'v0.37.0' },
  config,
  chartValues: values,
});

async function livePlan(cluster: MemoryCluster, version = 'v0.37.4', helmChart?: string) {
  const spec = specFromPlans('helm-default.yaml');
  const observed = await observeCluster({ ...spec, version }, cluster);
  return computePlan({ ...spec, version }, { mode: 'live', observed }, { helmChart });
}

describe('who manages a workload (labels and annotations)', () => {
  it.each<[string, Record<string, string>, Record<string, string>, WorkloadOwner]>([
    ['nothing', {}, {}, { manager: 'none' }],
    [
      'a Helm release (its annotations)',
      { 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/instance': 'prod' },
      { 'meta.helm.sh/release-name': 'prod', 'meta.helm.sh/release-namespace': 'data' },
      { manager: 'helm', helm: { release: 'prod', namespace: 'data' } },
    ],
    // The e2e fixture and many hand-made manifests carry the chart's instance label alone: not Argo CD.
    ['the instance label alone', { 'app.kubernetes.io/instance': 'peerdb', app: 'flow-api' }, {}, { manager: 'none' }],
    [
      'Argo CD by annotation',
      { 'app.kubernetes.io/instance': 'peerdb', 'app.kubernetes.io/managed-by': 'Helm' },
      { 'argocd.argoproj.io/tracking-id': 'peerdb-prod:apps/Deployment:peerdb/flow-api' },
      { manager: 'argocd', application: 'peerdb-prod', evidence: 'tracking-id' },
    ],
    [
      'Argo CD application in another namespace',
      {},
      { 'argocd.argoproj.io/tracking-id': 'team-a_peerdb:apps/Deployment:peerdb/flow-api' },
      { manager: 'argocd', application: 'team-a/peerdb', evidence: 'tracking-id' },
    ],
    [
      'Argo CD label tracking of a chart (managed-by Helm, no release annotations)',
      { 'app.kubernetes.io/instance': 'peerdb-prod', 'app.kubernetes.io/managed-by': 'Helm' },
      {},
      { manager: 'argocd', application: 'peerdb-prod', evidence: 'instance-label' },
    ],
    [
      'a Flux HelmRelease (with the Helm marks helm-controller leaves)',
      { 'helm.toolkit.fluxcd.io/name': 'peerdb', 'helm.toolkit.fluxcd.io/namespace': 'flux-system', 'app.kubernetes.io/managed-by': 'Helm' },
      { 'meta.helm.sh/release-name': 'peerdb', 'meta.helm.sh/release-namespace': 'peerdb' },
      { manager: 'flux', kind: 'HelmRelease', name: 'peerdb', namespace: 'flux-system', helm: { release: 'peerdb', namespace: 'peerdb' } },
    ],
    [
      'a Flux Kustomization',
      { 'kustomize.toolkit.fluxcd.io/name': 'apps', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system' },
      {},
      { manager: 'flux', kind: 'Kustomization', name: 'apps', namespace: 'flux-system', helm: undefined },
    ],
  ])('%s', (_name, labels, annotations, expected) => {
    expect(ownerOf(labels, annotations, 'peerdb')).toEqual(expected);
  });

  it('is read by the adapter from the workload object', () => {
    const w = toWorkloadState('Deployment', { metadata: { name: 'flow-api', namespace: 'peerdb', annotations: { 'meta.helm.sh/release-name': 'peerdb' } }, spec: {} }, []);
    expect(w.owner).toEqual({ manager: 'helm', helm: { release: 'peerdb', namespace: 'peerdb' } });
  });
});

describe('Helm release records', () => {
  it('decodes what Helm 3 stores (base64 of gzip of JSON under the API base64) and picks the deployed revision', () => {
    const secrets = [
      encodeReleaseSecret({ ...release({ peerdb: { version: 'stable-v0.36.7' } }), revision: 4, status: 'superseded' }, gzipSync),
      encodeReleaseSecret({ ...release({ peerdb: { version: 'stable-v0.36.9' } }), revision: 5, status: 'deployed' }, gzipSync),
      encodeReleaseSecret({ ...release({}), revision: 6, status: 'failed' }, gzipSync),
    ];
    const decoded = decodeReleaseSecret(newestRelease(secrets)!);
    expect(decoded.revision).toBe(5);
    expect(decoded.config).toEqual({ peerdb: { version: 'stable-v0.36.9' } });
    expect(decoded.chart).toEqual({ name: 'peerdb', version: '0.9.3', appVersion: 'v0.37.0' });
    expect(() => decodeReleaseSecret({ metadata: { name: 'x' }, data: { release: Buffer.from('not a release').toString('base64') } })).toThrow(/does not hold a Helm release/);
  });

  it('coalesces user values over chart defaults like Helm: maps merge, null deletes', () => {
    expect(coalesce({ a: { b: 1, c: 2 }, d: 3 }, { a: { c: 5 }, d: null })).toEqual({ a: { b: 1, c: 5 } });
  });

  it('finds values that name a version, and shows nothing else', () => {
    expect(versionValues({ images: { api: { tag: 'stable-v0.36.7' } }, password: 'stable-secret', img: 'r/x:stable-v0.36.7' }, 'stable-')).toEqual([
      { path: 'images.api.tag', value: 'stable-v0.36.7' },
      { path: 'img', value: 'r/x:stable-v0.36.7' },
    ]);
  });
});

describe('the live plan carries ownership and the Helm advice', () => {
  it('names the values that make the PeerDB chart agree: peerdb.version, and each override the release has', async () => {
    const cluster = new MemoryCluster({ namespaces: [NS] })
      .seedHelm(NS, 'v0.36.7', { owner: HELM })
      .addHelmRelease(release({ peerdb: { version: 'stable-v0.36.7' }, flowApi: { version: 'stable-v0.36.7' } }));
    const plan = await livePlan(cluster);
    const helm = plan.ownership!.helm[0]!;
    expect(helm).toMatchObject({ release: 'peerdb', namespace: NS, values: 'read', layout: 'peerdb-chart', agrees: false, revision: 3 });
    expect(helm.set).toEqual([
      ['peerdb.version', 'stable-v0.37.4'],
      ['flowApi.version', 'stable-v0.37.4'],
    ]);
    expect(helm.command).toBe('helm upgrade peerdb CHART -n peerdb --version 0.9.3 --reuse-values --set peerdb.version=stable-v0.37.4 --set flowApi.version=stable-v0.37.4');
    expect(helm.renders.find((r) => r.component === 'flow-api')).toEqual({
      component: 'flow-api',
      running: 'ghcr.io/peerdb-io/flow-api:stable-v0.36.7',
      target: 'ghcr.io/peerdb-io/flow-api:stable-v0.37.4',
      rendered: 'ghcr.io/peerdb-io/flow-api:stable-v0.36.7',
    });
    expect(plan.warnings.join('\n')).toMatch(/Helm release peerdb renders flow-api, flow-worker, flow-snapshot-worker, peerdb-server, peerdb-ui with stable-v0\.36\.7, not v0\.37\.4/);
    expect(helmValuesFile(plan.ownership)).toBe(
      '# Helm values for release peerdb (namespace peerdb) after the upgrade to v0.37.4 by peerdb-upgrade:\n' +
        '# merge them into the values file the release is installed with, and commit it.\n' +
        'peerdb:\n  version: stable-v0.37.4\nflowApi:\n  version: stable-v0.37.4\n',
    );
    const text = renderText(plan, WORDS);
    expect(text).toContain('owner: Helm release peerdb (namespace peerdb): flow-api, flow-worker, flow-snapshot-worker, peerdb-server, peerdb-ui');
    expect(text).toContain('  helm upgrade peerdb CHART -n peerdb');
    expect(text).toMatch(/note: the release pins flowApi\.version=stable-v0\.36\.7/);
    const json = JSON.parse(renderJson(plan, WORDS));
    expect(json.ownership.components[0]).toEqual({ component: 'flow-api', workload: 'Deployment/flow-api', manager: 'helm', release: 'peerdb', release_namespace: NS });
    expect(json.ownership.helm[0].set).toEqual({ 'peerdb.version': 'stable-v0.37.4', 'flowApi.version': 'stable-v0.37.4' });
    expect(renderMarkdown(plan, WORDS)).toContain('```sh\nhelm upgrade peerdb CHART');
    // The release's values hold a password: nothing of it reaches any rendering.
    for (const out of [text, renderJson(plan, WORDS), renderMarkdown(plan, WORDS), helmValuesFile(plan.ownership)!]) expect(out).not.toContain('hunter2');
  });

  it('fills CHART from --helm-chart, and says nothing is to be done once the release renders the target', async () => {
    const cluster = new MemoryCluster({ namespaces: [NS] }).seedHelm(NS, 'v0.36.7', { owner: HELM }).addHelmRelease(release({ peerdb: { version: 'stable-v0.36.7' } }));
    expect((await livePlan(cluster, 'v0.37.4', './charts/peerdb')).ownership!.helm[0]!.command).toBe(
      'helm upgrade peerdb ./charts/peerdb -n peerdb --version 0.9.3 --reuse-values --set peerdb.version=stable-v0.37.4',
    );
    const agreed = new MemoryCluster({ namespaces: [NS] }).seedHelm(NS, 'v0.37.4', { owner: HELM }).addHelmRelease(release({ peerdb: { version: 'stable-v0.37.4' } }));
    const plan = await livePlan(agreed);
    expect(plan.steps).toEqual([]);
    expect(plan.ownership!.helm[0]).toMatchObject({ agrees: true, set: [], command: undefined });
    expect(plan.warnings).toEqual([]);
  });

  it('after an apply (components on the target, release not): still warns, so a later plan catches the drift', async () => {
    const cluster = new MemoryCluster({ namespaces: [NS] }).seedHelm(NS, 'v0.37.4', { owner: HELM }).addHelmRelease(release({ peerdb: { version: 'stable-v0.36.7' } }));
    const plan = await livePlan(cluster);
    expect(plan.steps).toEqual([]);
    expect(plan.ownership!.helm[0]).toMatchObject({ agrees: false, set: [['peerdb.version', 'stable-v0.37.4']] });
    expect(plan.warnings[0]).toMatch(/its next `helm upgrade --reuse-values` would put them back/);
  });

  it('for values not in the chart layout, names no keys but the values that hold another version', async () => {
    const custom = { images: { tag: 'stable-v0.36.7' }, db: { password: 'hunter2-from-values' } };
    const cluster = new MemoryCluster({ namespaces: [NS] }).seedHelm(NS, 'v0.36.7', { owner: HELM }).addHelmRelease({ ...release(custom, {}), chart: { name: 'our-peerdb', version: '1.2.0', appVersion: undefined } });
    const helm = (await livePlan(cluster)).ownership!.helm[0]!;
    expect(helm).toMatchObject({ layout: 'unknown', agrees: undefined, set: [], command: undefined, valuesYaml: undefined });
    expect(helm.notes.join('\n')).toMatch(/do not follow the PeerDB chart's layout/);
    expect(helm.notes.join('\n')).toContain('values of the release that name another version: images.tag=stable-v0.36.7');
    expect(helm.notes.join('\n')).not.toContain('hunter2');
  });

  it('without permission to read the release: advises peerdb.version and names the override keys to check', async () => {
    const cluster = new MemoryCluster({ namespaces: [NS] }).seedHelm(NS, 'v0.36.7', { owner: HELM }).addHelmRelease(release({})).deny('list', 'secrets');
    const helm = (await livePlan(cluster)).ownership!.helm[0]!;
    expect(helm).toMatchObject({ values: 'forbidden', agrees: undefined, set: [['peerdb.version', 'stable-v0.37.4']] });
    expect(helm.notes.join('\n')).toContain('helm get values peerdb -n peerdb');
    expect(helm.notes.join('\n')).toContain('flowApi.version, flowWorker.version, flowSnapshotWorker.version, peerdbUI.version');
  });
});

describe('GitOps owners', () => {
  const text = `apiVersion: peerdb-upgrade/v1alpha1\nkind: PeerDBCluster\nmetadata: { name: peerdb, namespace: peerdb }\nspec:\n  version: v0.37.4\n`;
  const argo: WorkloadOwner = { manager: 'argocd', application: 'peerdb-prod', evidence: 'tracking-id' };

  const request = (cluster: MemoryCluster, reconciliationSuspended: boolean) => applyRequest(cluster, { text, file: 'x.yaml', reconciliationSuspended }).request;

  it('apply refuses Argo CD-managed workloads in preflight, exit 1, nothing changed, with the commands to suspend', async () => {
    const cluster = new MemoryCluster({ namespaces: [NS] }).seedHelm(NS, 'v0.36.7', { owner: argo });
    // Worded as the CLI words the core's stop.
    const error = await applyUpgrade(request(cluster, false)).catch((e: unknown) => wordStop(e, { specFile: 'x.yaml' }));
    expect(error).toBeInstanceOf(UserError);
    expect(exitCodeOf(error as UserError)).toBe(1);
    expect((error as UserError).message).toMatch(/^preflight: Argo CD application peerdb-prod manages flow-api, .*Nothing was changed/);
    expect((error as UserError).hint).toContain('argocd app set peerdb-prod --sync-policy none');
    expect((error as UserError).hint).toContain('--reconciliation-suspended');
    expect((error as UserError).hint).toContain('commit v0.37.4 to Git');
    expect(cluster.calls.filter((c) => !['getWorkload', 'listWorkloads', 'getConfigMap', 'getLease', 'readHelmRelease'].includes(c.method))).toEqual([]);
  });

  it("the plan's GitOps section names the complete apply command to run once reconciliation is suspended", async () => {
    const cluster = new MemoryCluster({ namespaces: [NS] }).seedHelm(NS, 'v0.36.7', { owner: argo });
    const plan = await livePlan(cluster);
    const words = planWords({ specFile: 'prod/peerdb.yaml', namespaceFlag: 'data' });
    const command = 'peerdb-upgrade apply -f prod/peerdb.yaml -n data --reconciliation-suspended';
    expect(renderText(plan, words)).toContain(`before apply: argocd app set peerdb-prod --sync-policy none   then: ${command}`);
    expect(renderMarkdown(plan, words)).toContain(`then: ${command}`);
  });

  it('a Flux HelmRelease is refused too, naming flux suspend; with --reconciliation-suspended the upgrade proceeds', async () => {
    const flux: WorkloadOwner = { manager: 'flux', kind: 'HelmRelease', name: 'peerdb', namespace: 'flux-system', helm: { release: 'peerdb', namespace: NS } };
    const refused = new MemoryCluster({ namespaces: [NS] }).seedHelm(NS, 'v0.36.7', { owner: flux });
    const error = (await applyUpgrade(request(refused, false)).catch((e: unknown) => wordStop(e, { specFile: 'x.yaml' }))) as UserError;
    expect(error.hint).toContain('flux suspend helmrelease peerdb -n flux-system');

    const cluster = new MemoryCluster({ namespaces: [NS] }).seedHelm(NS, 'v0.36.7', { owner: flux });
    const outcome = await applyUpgrade(request(cluster, true));
    expect(outcome.kind).toBe('done');
    expect(cluster.peekWorkload(NS, { kind: 'Deployment', name: 'flow-api' })!.containers[0]!.image).toBe('ghcr.io/peerdb-io/flow-api:stable-v0.37.4');
    // A Flux HelmRelease's release changes through Git, not `helm upgrade`.
    const helm = outcome.plan.ownership!.helm[0]!;
    expect(helm.command).toBeUndefined();
    expect(helm.notes.join('\n')).toContain('put these values into its spec.values in Git');
  });
});
