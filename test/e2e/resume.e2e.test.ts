/**
 * Scenario 2: `kill -9` of the CLI at several points (no signal handler runs: no checkpoint write,
 * no lock release), then `apply --resume` finishes the upgrade, and every Job was created at most
 * once.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { killWhen, runCli, stepProgress, stepStarted, transcript, type CliEvent } from './cli.js';
import { expectedState, installationState, installPeerDB, readCheckpoint, readLease, upgradeJobs } from './fixture.js';
import { type ControlPlane, createNamespace, sharedControlPlane } from './harness.js';
import { FROM, helmDefaultSpec, TO } from './specs.js';

let cp: ControlPlane;

beforeAll(async () => {
  cp = await sharedControlPlane();
});

const runStart = (events: CliEvent[]) => events.find((e) => e.type === 'run-start');

describe('kill -9 and --resume', () => {
  it('resumes after kills during maintenance-start, mid-StatefulSet and during maintenance-end; each Job is created once', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    // The maintenance Jobs copy flow-worker's env: make them run 3 s, so the kill lands mid-Job.
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM, env: { 'flow-worker': [{ name: 'SIM_RUN_DURATION', value: '3s' }] } });
    const spec = helmDefaultSpec(ns);
    const apply = ['apply', '-f', spec, '--yes', '-o', 'json'];

    // 1. Kill while the maintenance-start Job runs.
    const first = await killWhen(apply, stepProgress('maintenance-start', /\b1 active\b/), { kubeconfig });
    expect(first.result.signal, transcript(first.result)).toBe('SIGKILL');
    const runId = runStart(first.result.events)!.runId!;
    const afterFirst = await upgradeJobs(kubeconfig, ns);
    expect(afterFirst.map((j) => j.step)).toEqual(['maintenance-start']);
    const maintenanceStartUid = afterFirst[0]!.uid;
    // The dead run's lock and checkpoint stay behind.
    expect((await readLease(kubeconfig, ns))?.spec.holderIdentity).toContain(runId);
    const cp1 = await readCheckpoint(kubeconfig, ns);
    expect(cp1.run).toMatchObject({ id: runId, state: 'running' });
    expect(cp1.steps.find((s: { id: string }) => s.id === 'maintenance-start').s).toBe('running');

    // A plain apply refuses to start over an unfinished run and points at --resume.
    const fresh = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig });
    expect(fresh.code, transcript(fresh)).toBe(1);
    expect(fresh.stderr).toContain(`unfinished run ${runId}`);
    expect(fresh.stderr).toContain('--resume');

    // 2. Resume (the dead run's Lease is taken over at once: same run id), kill again when the
    //    StatefulSet's second pod starts.
    const second = await killWhen([...apply, '--resume'], stepStarted('statefulset-pod/flow-snapshot-worker/1'), { kubeconfig });
    expect(second.result.signal, transcript(second.result)).toBe('SIGKILL');
    expect(runStart(second.result.events)).toMatchObject({ runId, resumed: true });
    const resumedAfterMs = Date.parse(runStart(second.result.events)!.time!) - Date.parse(first.event.time!);
    expect(resumedAfterMs, 'the resumed run did not wait for the dead run\'s Lease to expire (60 s)').toBeLessThan(30_000);
    const afterSecond = await upgradeJobs(kubeconfig, ns);
    expect(afterSecond.map((j) => j.step)).toEqual(['maintenance-start', 'init-catalog-migrations']);
    expect(afterSecond[0]!.uid, 'maintenance-start Job adopted, not recreated').toBe(maintenanceStartUid);
    const initUid = afterSecond[1]!.uid;
    const mid = await installationState(kubeconfig, inst);
    expect(mid['flow-api']!.template).toContain(TO);
    expect(mid['flow-snapshot-worker']!.revisions!.pods['flow-snapshot-worker-2']).toBe('update');
    expect(mid['flow-snapshot-worker']!.revisions!.pods['flow-snapshot-worker-0']).not.toBe('update');
    expect(mid['peerdb-server']!.template).toContain(FROM);

    // unlock --force releases a dead run's lock, but only when named by its run id.
    const wrong = await runCli(['unlock', '-f', spec, '--force', 'some-other-run'], { kubeconfig });
    expect(wrong.code, transcript(wrong)).toBe(1);
    expect(wrong.stderr).toContain(runId);
    expect(await readLease(kubeconfig, ns)).toBeDefined();
    const unlock = await runCli(['unlock', '-f', spec, '--force', runId], { kubeconfig });
    expect(unlock.code, transcript(unlock)).toBe(0);
    expect(await readLease(kubeconfig, ns)).toBeUndefined();

    // 3. Resume, kill again while the maintenance-end Job runs.
    const third = await killWhen([...apply, '--resume'], stepProgress('maintenance-end', /\b1 active\b/), { kubeconfig });
    expect(third.result.signal, transcript(third.result)).toBe('SIGKILL');
    expect(runStart(third.result.events)).toMatchObject({ runId, resumed: true });
    expect(third.result.events.filter((e) => e.type === 'step-start').map((e) => e.step!.id)[0]).toBe('statefulset-pod/flow-snapshot-worker/1');
    const maintenanceEndUid = (await upgradeJobs(kubeconfig, ns)).find((j) => j.step === 'maintenance-end')!.uid;

    // 4. Resume to the end.
    const fourth = await runCli([...apply, '--resume'], { kubeconfig });
    expect(fourth.code, transcript(fourth)).toBe(0);
    expect(runStart(fourth.events)).toMatchObject({ runId, resumed: true });
    expect(fourth.events.filter((e) => e.type === 'step-done').map((e) => e.step!.id)).toEqual(['maintenance-end', 'verify-mirrors', 'complete']);

    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));
    const jobs = await upgradeJobs(kubeconfig, ns);
    expect(jobs.map((j) => j.step).sort()).toEqual(['init-catalog-migrations', 'maintenance-end', 'maintenance-start']);
    expect(jobs.find((j) => j.step === 'maintenance-start')!.uid).toBe(maintenanceStartUid);
    expect(jobs.find((j) => j.step === 'init-catalog-migrations')!.uid).toBe(initUid);
    expect(jobs.find((j) => j.step === 'maintenance-end')!.uid).toBe(maintenanceEndUid);
    for (const j of jobs) expect(j, j.name).toMatchObject({ succeeded: 1, failed: 0, run: runId });
    expect((await readCheckpoint(kubeconfig, ns)).run).toMatchObject({ id: runId, state: 'done' });
    expect(await readLease(kubeconfig, ns)).toBeUndefined();
    const plan = await runCli(['plan', '-f', spec, '--detailed-exitcode'], { kubeconfig });
    expect(plan.code, transcript(plan)).toBe(0);
  });
});
