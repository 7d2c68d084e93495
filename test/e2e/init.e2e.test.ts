/**
 * `peerdb-upgrade init` against the Helm-chart-shaped fixture: the spec it writes plans exactly
 * like the hand-written example (plans/helm-default.yaml) does.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, transcript } from './cli.js';
import { installPeerDB } from './fixture.js';
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
    expect(init.stderr).toContain('Plan: 13 steps');
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
