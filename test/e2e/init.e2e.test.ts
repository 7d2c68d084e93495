/**
 * `peerdb-upgrade init` against the Helm-chart-shaped fixture: the spec it writes plans exactly
 * like the hand-written example (plans/helm-default.yaml) does.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, transcript } from './cli.js';
import { COMPONENTS, installPeerDB, waitForPeerDBReady, type Installation } from './fixture.js';
import { CHART_DIR, helm } from './helm.js';
import { type ControlPlane, createNamespace, sharedControlPlane } from './harness.js';
import { FROM, helmDefaultSpec, tempDir, TO } from './specs.js';

let cp: ControlPlane;

beforeAll(async () => {
  cp = await sharedControlPlane();
});

describe('init', () => {
  it('writes a spec from the namespace whose live plan equals the hand-written example', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    const file = path.join(tempDir(), 'init.yaml');

    const init = await runCli(['init', '-n', ns, '--to', TO, '-o', file], { kubeconfig });
    expect(init.code, transcript(init)).toBe(0);
    expect(init.stderr).toContain('Plan: 14 steps');
    expect(init.stderr).toContain(`next: peerdb-upgrade plan -f ${file}`);
    expect(init.stderr).not.toContain('could not decide');
    const text = readFileSync(file, 'utf8');
    expect(text).toContain(`  version: ${TO}`);
    expect(text).not.toContain('components:');

    const fromInit = await runCli(['plan', '-f', file, '-o', 'json'], { kubeconfig });
    const fromExample = await runCli(['plan', '-f', helmDefaultSpec(ns), '-o', 'json'], { kubeconfig });
    expect(fromInit.code, transcript(fromInit)).toBe(0);
    expect(fromExample.code, transcript(fromExample)).toBe(0);
    expect(JSON.parse(fromInit.stdout)).toEqual(JSON.parse(fromExample.stdout));

    // Never overwrites a spec by accident.
    const again = await runCli(['init', '-n', ns, '--to', TO, '-o', file], { kubeconfig });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('the file exists; nothing was written');
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it('against a Helm-installed chart: names the spec after the release and plans like the hand-written example', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const installed = await helm(kubeconfig, ['install', 'peerdb', CHART_DIR, '-n', ns, '--set', `peerdb.version=stable-${FROM}`]);
    expect(installed.code, installed.stderr).toBe(0);
    const inst: Installation = {
      namespace: ns,
      version: FROM,
      instance: 'peerdb',
      deploymentUid: 'e2e-helm',
      images: Object.fromEntries(COMPONENTS.map((c) => [c, `ghcr.io/peerdb-io/${c}:stable-${FROM}`])) as Installation['images'],
      workloads: COMPONENTS.map((name) => ({ kind: name === 'flow-snapshot-worker' ? 'StatefulSet' : 'Deployment', name })),
    };
    await waitForPeerDBReady(kubeconfig, inst, 90_000);
    const file = path.join(tempDir(), 'init-helm.yaml');

    const init = await runCli(['init', '-n', ns, '--to', TO, '-o', file], { kubeconfig });
    expect(init.code, transcript(init)).toBe(0);
    expect(init.stderr).toContain('(Helm release peerdb)');
    expect(init.stderr).toContain('maintenance mode: on');
    expect(readFileSync(file, 'utf8')).toContain('named after the Helm release peerdb');

    const fromInit = await runCli(['plan', '-f', file, '-o', 'json'], { kubeconfig });
    const fromExample = await runCli(['plan', '-f', helmDefaultSpec(ns), '-o', 'json'], { kubeconfig });
    expect(fromInit.code, transcript(fromInit)).toBe(0);
    expect(JSON.parse(fromInit.stdout)).toEqual(JSON.parse(fromExample.stdout));
  });

  it('names the namespace without PeerDB instead of writing an empty spec', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const file = path.join(tempDir(), 'none.yaml');
    const init = await runCli(['init', '-n', ns, '-o', file], { kubeconfig });
    expect(init.code).toBe(1);
    expect(init.stderr).toContain(`no PeerDB workloads in namespace ${ns}`);
    expect(existsSync(file)).toBe(false);
  });
});
