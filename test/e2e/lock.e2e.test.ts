/**
 * Scenario 3: the lock. A second apply while another run holds the Lease exits 3 and names the
 * holder; --lock-timeout waits for the holder to let go.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { killWhen, runCli, startCli, stepProgress, transcript } from './cli.js';
import { installationState, installPeerDB, podUids, readCheckpoint, readLease, upgradeJobs } from './fixture.js';
import { type ControlPlane, createNamespace, patchJson, request, sharedControlPlane } from './harness.js';
import { FROM, helmDefaultSpec } from './specs.js';

let cp: ControlPlane;

beforeAll(async () => {
  cp = await sharedControlPlane();
});

/** A Lease as another live run on another machine would hold it (renewed just now). */
async function holdLease(kubeconfig: string, ns: string, holder: string): Promise<void> {
  const now = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  const res = await request(kubeconfig, 'POST', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, {
    body: {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'peerdb-peerdb-upgrade', annotations: { 'peerdb-upgrade.peerdb.io/host': 'ci-runner-7' } },
      spec: { holderIdentity: holder, leaseDurationSeconds: 60, acquireTime: now, renewTime: now },
    },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

// Independent namespaces, mostly waiting: run side by side.
describe.concurrent('the lock', () => {
  it('a Lease held by a live run elsewhere: apply exits 3 naming the holder and changes nothing; --lock-timeout waits for it', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    const spec = helmDefaultSpec(ns);
    const holder = 'alice@ci-runner-7/4242/20260101T000000Z-abcdef';
    await holdLease(kubeconfig, ns, holder);
    const before = { state: await installationState(kubeconfig, inst), pods: await podUids(kubeconfig, ns) };

    const locked = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig });
    expect(locked.code, transcript(locked)).toBe(3);
    expect(locked.stderr).toContain(holder);
    expect(locked.stderr).toContain('ci-runner-7');
    expect(locked.stderr).toContain('unlock');
    expect(await installationState(kubeconfig, inst)).toEqual(before.state);
    expect(await podUids(kubeconfig, ns)).toEqual(before.pods);
    expect(await upgradeJobs(kubeconfig, ns)).toEqual([]);
    expect(await readCheckpoint(kubeconfig, ns)).toBeUndefined();
    expect((await readLease(kubeconfig, ns)).spec.holderIdentity).toBe(holder);

    // --lock-timeout: waits that long, then gives up with the same message.
    const waited = await runCli(['apply', '-f', spec, '--yes', '--lock-timeout', '3s'], { kubeconfig });
    expect(waited.code, transcript(waited)).toBe(3);
    expect(waited.durationMs).toBeGreaterThanOrEqual(3_000);
    expect(waited.stderr).toContain(holder);

    // ... and proceeds as soon as the holder lets go.
    const patient = startCli(['apply', '-f', spec, '--yes', '--lock-timeout', '1m', '-o', 'json'], { kubeconfig });
    await new Promise((r) => setTimeout(r, 2_000));
    expect(patient.events.find((e) => e.type === 'run-start'), 'started while the lock was held').toBeUndefined();
    await request(kubeconfig, 'DELETE', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/peerdb-peerdb-upgrade`);
    const done = await patient.done;
    expect(done.code, transcript(done)).toBe(0);
    expect(done.events.at(-1)).toMatchObject({ type: 'outcome', outcome: 'done' });
  });

  it("a killed run's lock from another host: --resume exits 3 naming it, and takes it over once the Lease expired", async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    await installPeerDB(kubeconfig, { namespace: ns, version: FROM, env: { 'flow-worker': [{ name: 'SIM_RUN_DURATION', value: '2s' }] } });
    const spec = helmDefaultSpec(ns);
    const killed = await killWhen(['apply', '-f', spec, '--yes', '-o', 'json'], stepProgress('maintenance-start', /\b1 active\b/), { kubeconfig });
    const runId = killed.result.events.find((e) => e.type === 'run-start')!.runId!;
    // As if the killed run had run on a CI runner: this host cannot tell whether it is alive.
    const lease = await readLease(kubeconfig, ns);
    const holder = String(lease.spec.holderIdentity).replace(/@[^/]+\//, '@ci-runner-9/');
    // 35 s ago: the Lease (60 s) is still held for 25 s, room for a CLI start on a loaded machine
    // (with 5 s left, a start that took 8 s found it expired and took it over).
    const renewed = new Date(Date.now() - 35_000).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    await patchJson(kubeconfig, `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/peerdb-peerdb-upgrade`, { spec: { holderIdentity: holder, renewTime: renewed } }, 'application/merge-patch+json');

    const refused = await runCli(['apply', '-f', spec, '--yes', '--resume'], { kubeconfig });
    expect(refused.code, transcript(refused)).toBe(3);
    expect(refused.stderr).toContain(holder);
    expect(refused.stderr).toContain(`unlock -f`);

    // The Lease (60 s) expires at most 25 s from now: a resume willing to wait takes it over.
    const resumed = await runCli(['apply', '-f', spec, '--yes', '--resume', '--lock-timeout', '50s', '-o', 'json'], { kubeconfig });
    expect(resumed.code, transcript(resumed)).toBe(0);
    expect(resumed.events.find((e) => e.type === 'run-start')).toMatchObject({ runId, resumed: true });
    expect((await readCheckpoint(kubeconfig, ns)).run).toMatchObject({ id: runId, state: 'done' });
    expect(await readLease(kubeconfig, ns)).toBeUndefined();
  }, 180_000);

  // Regression: the unfinished checkpoint of the live run used to be reported first (exit 1,
  // "continue it: --resume"), advice that would start a second executor.
  it('a second apply while a run is in progress exits 3 naming the running one', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    await installPeerDB(kubeconfig, { namespace: ns, version: FROM, env: { 'flow-worker': [{ name: 'SIM_RUN_DURATION', value: '2s' }] } });
    const spec = helmDefaultSpec(ns);
    const first = startCli(['apply', '-f', spec, '--yes', '-o', 'json'], { kubeconfig });
    await first.waitForEvent(stepProgress('maintenance-start', /\b1 active\b/));
    const runId = first.events.find((e) => e.type === 'run-start')!.runId!;

    const second = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig });
    const firstResult = await first.done;
    expect(firstResult.code, transcript(firstResult)).toBe(0);
    expect(second.code, transcript(second)).toBe(3);
    expect(second.stderr).toContain(runId);
  });

  // Regression: a resumed run reuses the run id, and the lock used to be taken over from any holder
  // of that run id -- even a live one -- running two executors at once.
  it('apply --resume while the run is still alive does not take its lock over', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    await installPeerDB(kubeconfig, { namespace: ns, version: FROM, env: { 'flow-worker': [{ name: 'SIM_RUN_DURATION', value: '2s' }] } });
    const spec = helmDefaultSpec(ns);
    const first = startCli(['apply', '-f', spec, '--yes', '-o', 'json'], { kubeconfig });
    await first.waitForEvent(stepProgress('maintenance-start', /\b1 active\b/));
    const runId = first.events.find((e) => e.type === 'run-start')!.runId!;

    const second = await runCli(['apply', '-f', spec, '--yes', '--resume', '-o', 'json'], { kubeconfig });
    const firstResult = await first.done;
    expect(second.code, transcript(second)).toBe(3);
    expect(second.stderr).toContain(runId);
    expect(firstResult.code, transcript(firstResult)).toBe(0);
    expect((await readCheckpoint(kubeconfig, ns)).run).toMatchObject({ id: runId, state: 'done' });
  });
});
