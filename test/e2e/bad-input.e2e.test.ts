/**
 * Scenario 7: bad input against a live cluster. Each mistake exits 1 with a message that says what
 * is wrong and where, without a stack trace, and nothing in the cluster changes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, transcript, type CliResult } from './cli.js';
import { type Installation, installationState, installPeerDB, podUids, readCheckpoint, readLease, upgradeJobs } from './fixture.js';
import { type ControlPlane, createNamespace, serviceAccountKubeconfig, sharedControlPlane } from './harness.js';
import { FROM, specDocument, tempDir, writeSpec } from './specs.js';

let cp: ControlPlane;
let ns: string;
let inst: Installation;
let before: { state: unknown; pods: Record<string, string> };
const dir = tempDir();

beforeAll(async () => {
  cp = await sharedControlPlane();
  ns = await createNamespace(cp.kubeconfig);
  inst = await installPeerDB(cp.kubeconfig, { namespace: ns, version: FROM });
  before = { state: await installationState(cp.kubeconfig, inst), pods: await podUids(cp.kubeconfig, ns) };
});

/** Exit 1, the expected message, no stack trace or raw client exception. */
function expectClearError(r: CliResult, message: string | RegExp): void {
  expect(r.code, transcript(r)).toBe(1);
  if (typeof message === 'string') expect(r.stderr).toContain(message);
  else expect(r.stderr).toMatch(message);
  expect(r.stderr, 'no stack trace').not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  expect(r.stderr).not.toMatch(/internal error|please report/i);
}

async function expectNothingChanged(): Promise<void> {
  expect(await installationState(cp.kubeconfig, inst)).toEqual(before.state);
  expect(await podUids(cp.kubeconfig, ns)).toEqual(before.pods);
  expect(await upgradeJobs(cp.kubeconfig, ns)).toEqual([]);
  expect(await readCheckpoint(cp.kubeconfig, ns)).toBeUndefined();
  expect(await readLease(cp.kubeconfig, ns)).toBeUndefined();
}

/** plan, apply --yes and apply --dry-run=server with the same arguments: all must refuse alike. */
async function everyCommand(args: string[], kubeconfig: string | undefined, message: string | RegExp): Promise<void> {
  for (const command of [['plan'], ['apply', '--yes'], ['apply', '--yes', '--dry-run=server']]) {
    const r = await runCli([...command, ...args], kubeconfig ? { kubeconfig } : {});
    expectClearError(r, message);
  }
  await expectNothingChanged();
}

describe('bad input against a live cluster', () => {
  it('a workload that does not exist', async () => {
    const spec = writeSpec({
      namespace: ns,
      maintenance: false,
      initJobs: [],
      components: [
        { name: 'flow-api', workload: 'Deployment/flow-api' },
        { name: 'flow-apii', workload: 'Deployment/flow-apii' },
      ],
    });
    await everyCommand(['-f', spec], cp.kubeconfig, `spec.components[1] (flow-apii): Deployment ${ns}/flow-apii not found`);
  });

  it('a workload of the wrong kind', async () => {
    const spec = writeSpec({ namespace: ns, maintenance: false, initJobs: [], components: [{ name: 'flow-api', workload: 'StatefulSet/flow-api' }] });
    await everyCommand(['-f', spec], cp.kubeconfig, `StatefulSet ${ns}/flow-api not found`);
  });

  it('a container name the workload does not have', async () => {
    const spec = writeSpec({ namespace: ns, maintenance: false, initJobs: [], components: [{ name: 'flow-api', workload: 'Deployment/flow-api', container: 'api' }] });
    await everyCommand(['-f', spec], cp.kubeconfig, `Deployment ${ns}/flow-api has no container "api" (it has: flow-api)`);
  });

  it('a namespace without the installation (-n, the spec naming none)', async () => {
    const doc = specDocument({ namespace: ns });
    delete (doc.metadata as { namespace?: string }).namespace;
    const spec = path.join(dir, 'no-namespace.yaml');
    writeFileSync(spec, stringify(doc));
    const empty = await createNamespace(cp.kubeconfig);
    await everyCommand(['-f', spec, '-n', empty], cp.kubeconfig, `Deployment ${empty}/flow-api not found`);
  });

  it('-n contradicting the spec\'s metadata.namespace', async () => {
    const spec = writeSpec({ namespace: ns });
    await everyCommand(['-f', spec, '-n', 'elsewhere'], cp.kubeconfig, `--namespace elsewhere contradicts metadata.namespace ${ns}`);
  });

  it('an unreachable API server', async () => {
    const kc = parse(readFileSync(cp.kubeconfig, 'utf8'));
    for (const c of kc.clusters) c.cluster.server = 'https://127.0.0.1:1';
    const unreachable = path.join(dir, 'unreachable.kubeconfig');
    writeFileSync(unreachable, stringify(kc));
    const spec = writeSpec({ namespace: ns });
    const started = Date.now();
    await everyCommand(['-f', spec], unreachable, /cannot reach the API server at https:\/\/127\.0\.0\.1:1\b/);
    expect(Date.now() - started, 'gives up within seconds, not after long retries').toBeLessThan(30_000);
  });

  it('a context the kubeconfig does not have', async () => {
    const spec = writeSpec({ namespace: ns });
    await everyCommand(['-f', spec, '--context', 'prod-eu'], cp.kubeconfig, /--context prod-eu: no such context in .*\(it has: peerdb-e2e\)/);
  });

  it('a kubeconfig file that does not exist', async () => {
    const spec = writeSpec({ namespace: ns });
    await everyCommand(['-f', spec], path.join(dir, 'missing.kubeconfig'), 'missing.kubeconfig');
  });

  it('an identity with no permissions at all', async () => {
    const nobody = await serviceAccountKubeconfig(cp.kubeconfig, { namespace: ns, name: 'nobody', out: path.join(dir, 'nobody.kubeconfig') });
    const spec = writeSpec({ namespace: ns });
    await everyCommand(['-f', spec], nobody.kubeconfig, /forbidden|missing permissions/);
  });

  it('a spec with an error is refused with file, line and column before the cluster is asked', async () => {
    const spec = path.join(dir, 'typo.yaml');
    writeFileSync(spec, stringify({ apiVersion: 'peerdb-upgrade/v1alpha1', kind: 'PeerDBCluster', metadata: { name: 'peerdb', namespace: ns }, spec: { version: 'v0.37.4', maintenace: {} } }));
    await everyCommand(['-f', spec], cp.kubeconfig, /typo\.yaml:\d+:\d+/);
    const r = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig: cp.kubeconfig });
    expect(r.stderr).toContain('maintenace');
  });
});
