/**
 * PeerDB's own state, read through flow-api (pods/portforward) before, during and after an
 * upgrade. The simulator plays PeerDB per namespace (ConfigMap peerdb-sim): flow-api answers on
 * the kubelet's port-forward, maintenance Jobs pause and resume mirrors like PeerDB's workflows,
 * including end leaving a mirror paused while its Job succeeds.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { killWhen, runCli, stepStarted, transcript } from './cli.js';
import { expectedState, installationState, installPeerDB, podUids, readCheckpoint, readLease, upgradeJobs } from './fixture.js';
import { type ControlPlane, createNamespace, sharedControlPlane } from './harness.js';
import { FROM, helmDefaultSpec, TO, writeSpec } from './specs.js';

let cp: ControlPlane;

beforeAll(async () => {
  cp = await sharedControlPlane();
});

const MIRRORS = ['mirror-1', 'mirror-2', 'mirror-3'];
const both = (r: { stdout: string; stderr: string }) => `${r.stdout}\n${r.stderr}`;

describe('mirrors before, during and after an upgrade (flow-api through pods/portforward)', () => {
  it('happy path: 3 running mirrors are named in the plan, paused by maintenance start, verified running after end', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM, peerdb: { mirrors: 3, paused: ['kept-paused'] } });
    const spec = helmDefaultSpec(ns);

    const plan = await runCli(['plan', '-f', spec], { kubeconfig });
    expect(plan.code, transcript(plan)).toBe(0);
    expect(plan.stdout).toContain(`mirrors (PeerDB stable-${FROM}, ready): 3 running, paused during the upgrade and verified running after it: ${MIRRORS.join(', ')}`);
    expect(plan.stdout).toContain('1 paused or stopped by you, left alone: kept-paused (paused)');
    const json = JSON.parse((await runCli(['plan', '-f', spec, '-o', 'json'], { kubeconfig })).stdout);
    expect(json.peerdb).toMatchObject({ reachable: true, instance: 'INSTANCE_STATUS_READY', version: `stable-${FROM}`, will_pause: MIRRORS, wait_for: [], left_alone: ['kept-paused'] });
    const markdown = await runCli(['plan', '-f', spec, '-o', 'markdown'], { kubeconfig });
    expect(markdown.stdout).toContain('3 running, paused during the upgrade');

    const apply = await runCli(['apply', '-f', spec, '--yes', '-o', 'json'], { kubeconfig });
    expect(apply.code, transcript(apply)).toBe(0);
    const verified = apply.events.find((e) => e.type === 'step-done' && e.step?.id === 'verify-mirrors');
    expect(verified?.message).toBe(`PeerDB stable-${TO} out of maintenance; 3 mirrors running again: ${MIRRORS.join(', ')}`);
    const checkpoint = await readCheckpoint(kubeconfig, ns);
    expect(checkpoint.mirrors).toMatchObject({ running: MIRRORS, in_between: [], left_alone: ['kept-paused'] });
    expect(checkpoint.run.state).toBe('done');
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));

    const status = await runCli(['status', '-f', spec], { kubeconfig });
    expect(status.code, transcript(status)).toBe(0);
    expect(status.stdout).toContain(`PeerDB stable-${TO}: ready; 4 mirrors: 3 running (${MIRRORS.join(', ')}), 1 paused (kept-paused)`);
    expect(status.stdout).not.toContain('NOT RUNNING');
  });

  it('a mirror that does not resume: exit 5 naming it, status shows it, `mirrors resume` brings it back and --resume verifies', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    await installPeerDB(kubeconfig, { namespace: ns, version: FROM, peerdb: { mirrors: 2, failsToResume: ['stubborn'] } });
    const spec = writeSpec({ namespace: ns, flowApi: { verifyTimeout: '8s' } });

    const apply = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig });
    expect(apply.code, transcript(apply)).toBe(5);
    const out = both(apply);
    expect(out).toContain('step verify-mirrors failed');
    expect(out).toContain('MIRRORS ARE NOT RUNNING: stubborn (STATUS_PAUSED)');
    expect(out).toContain(`peerdb-upgrade mirrors resume -f ${spec} stubborn`);
    expect(out).toContain(`peerdb-upgrade apply -f ${spec} --resume --yes`);
    // Every Job succeeded: PeerDB's end workflow does not fail for a mirror it could not resume.
    for (const job of await upgradeJobs(kubeconfig, ns)) expect(job, job.name).toMatchObject({ succeeded: 1, failed: 0 });
    expect((await readCheckpoint(kubeconfig, ns)).run.state).toBe('needs-person');
    expect(await readLease(kubeconfig, ns)).toBeUndefined();

    const status = await runCli(['status', '-f', spec], { kubeconfig });
    expect(status.code, transcript(status)).toBe(0);
    expect(status.stdout).toContain('NOT RUNNING, though running before the upgrade: stubborn (paused)');
    expect(status.stdout).toContain(`peerdb-upgrade mirrors resume -f ${spec} stubborn`);

    // The way out, followed literally.
    const resume = await runCli(['mirrors', 'resume', '-f', spec, 'stubborn'], { kubeconfig });
    expect(resume.code, transcript(resume)).toBe(0);
    expect(resume.stdout).toContain('resumed and running: stubborn');
    const again = await runCli(['apply', '-f', spec, '--resume', '--yes', '-o', 'json'], { kubeconfig });
    expect(again.code, transcript(again)).toBe(0);
    expect(again.events.find((e) => e.type === 'step-done' && e.step?.id === 'verify-mirrors')?.message).toContain('3 mirrors running again: mirror-1, mirror-2, stubborn');
    expect((await readCheckpoint(kubeconfig, ns)).run.state).toBe('done');
  });

  it('a snapshot in progress: the plan warns, maintenance start names the mirror it waits for, then proceeds; the mirror is verified after', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    await installPeerDB(kubeconfig, { namespace: ns, version: FROM, peerdb: { mirrors: 1, snapshotting: ['initial-load'], snapshotFor: '15s' } });
    const spec = helmDefaultSpec(ns);

    const plan = await runCli(['plan', '-f', spec], { kubeconfig });
    expect(plan.stdout).toContain('warning: maintenance-start will wait for a mirror in snapshot or setup before pausing anything: initial-load (STATUS_SNAPSHOT)');

    const apply = await runCli(['apply', '-f', spec, '--yes', '-o', 'json'], { kubeconfig });
    expect(apply.code, transcript(apply)).toBe(0);
    const progress = apply.events.filter((e) => e.type === 'step-progress' && e.step?.id === 'maintenance-start').map((e) => e.message ?? '');
    expect(progress.some((m) => m.includes('PeerDB start maintenance, waiting for: WaitForRunningSnapshotsAndIntermediateStates: Waiting for mirror initial-load to be ready')), progress.join('\n')).toBe(true);
    // Start paused it once its snapshot finished, so it is one of the mirrors that must run again.
    expect((await readCheckpoint(kubeconfig, ns)).mirrors.running).toEqual(['mirror-1', 'initial-load']);
    expect(apply.events.find((e) => e.type === 'step-done' && e.step?.id === 'verify-mirrors')?.message).toContain('2 mirrors running again: mirror-1, initial-load');
  });

  it('flow-api unreachable: required refuses in preflight with nothing changed; best-effort warns and upgrades', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM, peerdb: { mirrors: 2, apiDown: true } });
    const before = { state: await installationState(kubeconfig, inst), pods: await podUids(kubeconfig, ns) };

    const required = await runCli(['apply', '-f', helmDefaultSpec(ns), '--yes'], { kubeconfig });
    expect(required.code, transcript(required)).toBe(1);
    expect(required.stderr).toMatch(/preflight: flow-api cannot be asked \(cannot reach pod .*flow-api-.* port 8113: .*connection refused\)/);
    expect(required.stderr).toContain('nothing was changed');
    expect(required.stderr).toContain('spec.flowApi.reachability: best-effort');
    expect(required.stderr).not.toMatch(/at .*\.js:\d+/);
    expect(await installationState(kubeconfig, inst)).toEqual(before.state);
    expect(await podUids(kubeconfig, ns)).toEqual(before.pods);
    expect(await upgradeJobs(kubeconfig, ns)).toEqual([]);
    expect(await readCheckpoint(kubeconfig, ns)).toBeUndefined();
    expect(await readLease(kubeconfig, ns)).toBeUndefined();

    const spec = writeSpec({ namespace: ns, flowApi: { reachability: 'best-effort' } });
    const plan = await runCli(['plan', '-f', spec], { kubeconfig });
    expect(plan.stdout).toContain('mirrors will not be verified after the upgrade (spec.flowApi.reachability: best-effort)');
    const effort = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig });
    expect(effort.code, transcript(effort)).toBe(0);
    expect(both(effort)).toContain('the mirrors will NOT be verified after the upgrade');
    expect(both(effort)).toContain('MIRRORS NOT VERIFIED');
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));
    expect((await readCheckpoint(kubeconfig, ns)).mirrors).toBeUndefined();
  });

  it('kill -9 between maintenance end and verification: --resume verifies the mirrors recorded before', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    await installPeerDB(kubeconfig, { namespace: ns, version: FROM, peerdb: { mirrors: 3 } });
    const spec = helmDefaultSpec(ns);
    const apply = ['apply', '-f', spec, '--yes', '-o', 'json'];

    const killed = await killWhen(apply, (e) => e.type === 'step-done' && e.step?.id === 'maintenance-end', { kubeconfig });
    expect(killed.result.signal, transcript(killed.result)).toBe('SIGKILL');
    const checkpoint = await readCheckpoint(kubeconfig, ns);
    expect(checkpoint.steps.find((s: { id: string }) => s.id === 'maintenance-end').s).toBe('done');
    expect(checkpoint.steps.find((s: { id: string }) => s.id === 'verify-mirrors').s).not.toBe('done');
    expect(checkpoint.mirrors.running).toEqual(MIRRORS);

    const resumed = await runCli([...apply, '--resume'], { kubeconfig });
    expect(resumed.code, transcript(resumed)).toBe(0);
    expect(resumed.events.filter((e) => e.type === 'step-done').map((e) => e.step!.id)).toEqual(['verify-mirrors', 'complete']);
    expect(resumed.events.find((e) => e.type === 'step-done' && e.step?.id === 'verify-mirrors')?.message).toBe(`PeerDB stable-${TO} out of maintenance; 3 mirrors running again: ${MIRRORS.join(', ')}`);
  });

  it('maintenance start|end by hand verify PeerDB the same way', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    await installPeerDB(kubeconfig, { namespace: ns, version: FROM, peerdb: { mirrors: 2 } });
    const spec = helmDefaultSpec(ns);
    const start = await runCli(['maintenance', 'start', '-f', spec], { kubeconfig });
    expect(start.code, transcript(start)).toBe(0);
    expect(start.stdout).toContain('PeerDB in maintenance mode, 2 mirrors paused');
    const refused = await runCli(['mirrors', 'resume', '-f', spec, 'mirror-1'], { kubeconfig });
    expect(refused.code, transcript(refused)).toBe(5);
    expect(refused.stderr).toContain(`peerdb-upgrade maintenance end -f ${spec}`);
    const end = await runCli(['maintenance', 'end', '-f', spec], { kubeconfig });
    expect(end.code, transcript(end)).toBe(0);
    expect(end.stdout).toContain(`PeerDB stable-${FROM} out of maintenance`);
    const status = await runCli(['status', '-f', spec], { kubeconfig });
    expect(status.stdout).toContain('2 running (mirror-1, mirror-2)');
  });
});
