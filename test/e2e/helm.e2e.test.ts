/**
 * Installed with real Helm (test/helm/chart, shaped like PeerDB's chart) and managed by GitOps:
 * - apply, then the `helm upgrade` the tool advises → no pod restarts, `helm get values` names the
 *   new version, every component stays upgraded;
 * - the hazard the advice exists for: apply, then a routine `helm upgrade --reuse-values` without it
 *   → every component back on the old version;
 * - Argo CD / Flux marks → apply refuses in preflight, nothing changed; with
 *   --reconciliation-suspended it proceeds.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCli, transcript } from './cli.js';
import { COMPONENTS, expectedState, installationState, installPeerDB, podUids, readCheckpoint, readLease, upgradeJobs, waitForPeerDBReady, workloadPath, type Installation } from './fixture.js';
import { CHART_DIR, helm, shell } from './helm.js';
import { type ControlPlane, createNamespace, getJson, patchJson, sharedControlPlane, waitFor } from './harness.js';
import { FROM, helmDefaultSpec, tempDir, TO } from './specs.js';

let cp: ControlPlane;
/** Each test installs, upgrades and helm-upgrades a whole installation: minutes on a loaded machine. */
const SLOW = { timeout: 300_000 };

beforeAll(async () => {
  cp = await sharedControlPlane();
});

const RELEASE = 'peerdb';
/** As a user in the repository would name it (the CLI and the advised command run from the repository root). */
const CHART = 'test/helm/chart';

/** `helm install` of the test chart at FROM, waited for like the fixture. */
async function helmInstall(kubeconfig: string, namespace: string, set: string[] = []): Promise<Installation> {
  const r = await helm(kubeconfig, ['install', RELEASE, CHART_DIR, '-n', namespace, '--set', `peerdb.version=stable-${FROM}`, ...set.flatMap((s) => ['--set', s])]);
  expect(r.code, `helm install: ${r.stderr}`).toBe(0);
  const inst: Installation = {
    namespace,
    version: FROM,
    instance: RELEASE,
    deploymentUid: 'e2e-helm',
    images: Object.fromEntries(COMPONENTS.map((c) => [c, `ghcr.io/peerdb-io/${c}:stable-${FROM}`])) as Installation['images'],
    workloads: COMPONENTS.map((name) => ({ kind: name === 'flow-snapshot-worker' ? 'StatefulSet' : 'Deployment', name })),
  };
  await waitForPeerDBReady(kubeconfig, inst, 90_000);
  return inst;
}

async function helmValues(kubeconfig: string, namespace: string): Promise<Record<string, any>> {
  const r = await helm(kubeconfig, ['get', 'values', RELEASE, '-n', namespace, '-o', 'json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

/** metadata.generation of every workload: a changed pod template (a restart) bumps it. */
async function generations(kubeconfig: string, inst: Installation): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const w of inst.workloads) out[w.name] = (await getJson(kubeconfig, workloadPath(inst.namespace, w))).metadata.generation;
  return out;
}

describe('installed with Helm', () => {
  it('apply, then the advised helm upgrade: no pod restarts, the release names the new version, all stay upgraded', SLOW, async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    // A per-component override, as users pin one component: the advice must move it too.
    const inst = await helmInstall(kubeconfig, ns, [`flowApi.version=stable-${FROM}`]);
    const spec = helmDefaultSpec(ns);

    // Before: the plan names the release and the values that make it agree.
    const planned = await runCli(['plan', '-f', spec, '-o', 'json', '--helm-chart', CHART], { kubeconfig });
    expect(planned.code, transcript(planned)).toBe(0);
    const ownership = JSON.parse(planned.stdout).ownership;
    expect(ownership.components.map((c: { manager: string; release: string }) => [c.manager, c.release])).toEqual(COMPONENTS.map(() => ['helm', RELEASE]));
    expect(ownership.helm).toHaveLength(1);
    expect(ownership.helm[0]).toMatchObject({ release: RELEASE, namespace: ns, values: 'read', layout: 'peerdb-chart', agrees: false, revision: 1, chart: { name: 'peerdb', version: '0.1.0' } });
    expect(ownership.helm[0].set).toEqual({ 'peerdb.version': `stable-${TO}`, 'flowApi.version': `stable-${TO}` });
    const text = await runCli(['plan', '-f', spec, '--helm-chart', CHART], { kubeconfig });
    expect(text.stdout).toContain(`helm upgrade ${RELEASE} ${CHART} -n ${ns} --version 0.1.0 --reuse-values --set peerdb.version=stable-${TO} --set flowApi.version=stable-${TO}`);
    expect(text.stdout).toContain(`owner: Helm release ${RELEASE} (namespace ${ns}): ${COMPONENTS.join(', ')}`);

    // The upgrade, which also says (after) what to run, and writes the values to commit.
    const valuesFile = path.join(tempDir(), 'peerdb-values.yaml');
    const apply = await runCli(['apply', '-f', spec, '--yes', '-o', 'json', '--helm-chart', CHART, '--helm-values-out', valuesFile], { kubeconfig });
    expect(apply.code, transcript(apply)).toBe(0);
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));
    const outcome = apply.events.at(-1)!;
    expect(outcome).toMatchObject({ type: 'outcome', outcome: 'done' });
    const advised = (outcome.ownership as { helm: { command: string }[] }).helm[0]!.command;
    expect(parse(readFileSync(valuesFile, 'utf8'))).toEqual({ peerdb: { version: `stable-${TO}` }, flowApi: { version: `stable-${TO}` } });

    // Follow the advice literally.
    const pods = await podUids(kubeconfig, ns);
    const before = await generations(kubeconfig, inst);
    const upgraded = await shell(kubeconfig, advised);
    expect(upgraded.code, `${advised}\n${upgraded.stderr}`).toBe(0);
    expect(await generations(kubeconfig, inst), 'no pod template changed').toEqual(before);
    expect(await podUids(kubeconfig, ns), 'no pod restarted').toEqual(pods);
    expect(await helmValues(kubeconfig, ns)).toMatchObject({ peerdb: { version: `stable-${TO}` }, flowApi: { version: `stable-${TO}` } });
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));

    // And the release now stays: the next routine helm upgrade --reuse-values changes no image.
    const routine = await helm(kubeconfig, ['upgrade', RELEASE, CHART_DIR, '-n', ns, '--reuse-values', '--set', 'peerdbUI.resources.limits.memory=512Mi']);
    expect(routine.code, routine.stderr).toBe(0);
    await waitForPeerDBReady(kubeconfig, inst, 90_000);
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));

    // A plan now finds nothing to do and a release that agrees.
    const after = await runCli(['plan', '-f', spec, '-o', 'json', '--detailed-exitcode'], { kubeconfig });
    expect(after.code, transcript(after)).toBe(0);
    const doc = JSON.parse(after.stdout);
    expect(doc.ownership.helm[0]).toMatchObject({ agrees: true, command: null });
    expect(doc.warnings).toEqual([]);
  });

  it('the hazard: apply, then helm upgrade --reuse-values without the advice puts every component back on the old version', SLOW, async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await helmInstall(kubeconfig, ns);
    const spec = helmDefaultSpec(ns);
    const apply = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig });
    expect(apply.code, transcript(apply)).toBe(0);
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));
    // apply says who owns what before it starts, how to make the release agree after the run, and so does a later plan.
    const owned = apply.stdout.indexOf(`owner: Helm release ${RELEASE} (namespace ${ns}): ${COMPONENTS.join(', ')}`);
    expect(owned, apply.stdout).toBeGreaterThanOrEqual(0);
    expect(owned).toBeLessThan(apply.stdout.indexOf('maintenance-start'));
    expect(apply.stdout).toMatch(/helm: release peerdb .*make it agree/);
    const later = await runCli(['plan', '-f', spec], { kubeconfig });
    expect(later.stdout).toContain(`warning: Helm release ${RELEASE} renders ${COMPONENTS.join(', ')} with stable-${FROM}, not ${TO}`);

    // A routine change, as a user would make it.
    const routine = await helm(kubeconfig, ['upgrade', RELEASE, CHART_DIR, '-n', ns, '--reuse-values', '--set', 'flowWorker.resources.limits.memory=1Gi']);
    expect(routine.code, routine.stderr).toBe(0);
    await waitForPeerDBReady(kubeconfig, inst, 120_000);
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(FROM, inst));
  });
});

describe('managed by Argo CD or Flux', () => {
  it('is refused in preflight with the commands to suspend, nothing changed; with --reconciliation-suspended it proceeds', SLOW, async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    const spec = helmDefaultSpec(ns);
    const mark = (kind: string, name: string, metadata: Record<string, unknown>) =>
      patchJson(kubeconfig, `/apis/apps/v1/namespaces/${ns}/${kind}/${name}`, { metadata }, 'application/merge-patch+json');
    await mark('deployments', 'flow-api', { annotations: { 'argocd.argoproj.io/tracking-id': `peerdb-prod:apps/Deployment:${ns}/flow-api` } });
    await mark('statefulsets', 'flow-snapshot-worker', { labels: { 'helm.toolkit.fluxcd.io/name': 'peerdb', 'helm.toolkit.fluxcd.io/namespace': 'flux-system' } });
    const pods = await podUids(kubeconfig, ns);

    const refused = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig });
    expect(refused.code, transcript(refused)).toBe(1);
    expect(refused.stderr).toContain('preflight: Argo CD application peerdb-prod manages flow-api');
    expect(refused.stderr).toContain('Flux HelmRelease flux-system/peerdb manages flow-snapshot-worker');
    expect(refused.stderr).toContain('argocd app set peerdb-prod --sync-policy none');
    expect(refused.stderr).toContain('flux suspend helmrelease peerdb -n flux-system');
    expect(refused.stderr).toContain(`commit ${TO} to Git`);
    // Nothing changed: images, pods, no checkpoint, no lock, no Job.
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(FROM, inst));
    expect(await podUids(kubeconfig, ns)).toEqual(pods);
    expect(await readCheckpoint(kubeconfig, ns)).toBeUndefined();
    expect(await readLease(kubeconfig, ns)).toBeUndefined();
    expect(await upgradeJobs(kubeconfig, ns)).toEqual([]);

    // The plan shows it too, without refusing (a plan changes nothing).
    const plan = await runCli(['plan', '-f', spec, '-o', 'json'], { kubeconfig });
    expect(plan.code, transcript(plan)).toBe(0);
    expect(JSON.parse(plan.stdout).ownership.gitops.map((g: { manager: string; components: string[] }) => [g.manager, g.components])).toEqual([
      ['argocd', ['flow-api']],
      ['flux', ['flow-snapshot-worker']],
    ]);
    // Its warnings name the complete command, for this spec file.
    expect(JSON.parse(plan.stdout).warnings.join('\n')).toContain(`\`peerdb-upgrade apply -f ${spec} --reconciliation-suspended\``);

    // The refusal's way out, followed literally (with --yes, as in CI).
    const wayOut = /then: peerdb-upgrade (apply [^;]+);/.exec(refused.stderr)?.[1];
    expect(wayOut, transcript(refused)).toBe(`apply -f ${spec} --reconciliation-suspended`);
    const proceeded = await runCli([...wayOut!.split(' '), '--yes'], { kubeconfig });
    expect(proceeded.code, transcript(proceeded)).toBe(0);
    expect(proceeded.stdout + proceeded.stderr).toContain(`Afterwards commit ${TO} to Git`);
    await waitFor(async () => JSON.stringify(await installationState(kubeconfig, inst)) === JSON.stringify(expectedState(TO, inst)), { timeoutMs: 30_000, description: 'every component on the target' });
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));
  });
});
