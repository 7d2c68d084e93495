/**
 * Issue 10: "done" means the installation is upgraded. Each test reproduces one way a run used to end
 * "complete" (or offer a way out) while the cluster was not in the state the output claimed.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { killWhen, runCli, startCli, stepStarted, transcript, type CliEvent } from './cli.js';
import { expectedState, type Installation, installationState, installPeerDB, livePods, upgradeJobs, waitForPeerDBReady, workloadPath } from './fixture.js';
import { type ControlPlane, createNamespace, getJson, patchJson, request, sharedControlPlane, waitFor } from './harness.js';
import { shell } from './helm.js';
import { FROM, TO, writeSpec } from './specs.js';

let cp: ControlPlane;

beforeAll(async () => {
  cp = await sharedControlPlane();
});

const SNAPSHOT = { kind: 'StatefulSet' as const, name: 'flow-snapshot-worker' as const };
const runIdOf = (events: CliEvent[]) => events.find((e) => e.type === 'run-start')?.runId;

async function setPartition(kubeconfig: string, ns: string, partition: number): Promise<void> {
  await patchJson(kubeconfig, workloadPath(ns, SNAPSHOT), { spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition } } } }, 'application/merge-patch+json');
}

/** The user's partition as a run recorded it on the StatefulSet (undefined when no record is left). */
async function recordedUserPartition(kubeconfig: string, ns: string): Promise<string | undefined> {
  const sts = await getJson(kubeconfig, workloadPath(ns, SNAPSHOT));
  return sts.metadata.annotations?.['peerdb-upgrade.peerdb.io/user-partition'];
}

async function partitionOf(kubeconfig: string, ns: string): Promise<number> {
  const sts = await getJson(kubeconfig, workloadPath(ns, SNAPSHOT));
  return sts.spec.updateStrategy?.rollingUpdate?.partition ?? 0;
}

/**
 * After a run was killed mid-StatefulSet, the pod it was restarting comes up on its own. A new run's
 * preflight refuses to start while a pod is not Ready, and prints a command that waits for it (followed
 * literally in 'an installation still starting when apply begins'); an operator waits, as this does.
 * Without the wait the next run races the pod's restart.
 */
async function podsSettled(kubeconfig: string, inst: Installation): Promise<void> {
  await waitForPeerDBReady(kubeconfig, inst);
}

/** Jobs of ours with pods still running (status.active > 0). */
async function activeJobs(kubeconfig: string, ns: string): Promise<string[]> {
  const list = await getJson(kubeconfig, `/apis/batch/v1/namespaces/${ns}/jobs?labelSelector=${encodeURIComponent('app.kubernetes.io/managed-by=peerdb-upgrade')}`);
  return (list?.items ?? []).filter((j: any) => (j.status?.active ?? 0) > 0 || !j.status?.conditions?.some((c: any) => ['Complete', 'Failed'].includes(c.type) && c.status === 'True')).map((j: any) => j.metadata.name);
}

describe("the user's own StatefulSet partition (defect 1)", () => {
  it('every pod is upgraded, the partition is set back and said so; a second apply has nothing to do', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    await setPartition(kubeconfig, ns, 1);
    const spec = writeSpec({ namespace: ns });

    const plan = await runCli(['plan', '-f', spec], { kubeconfig });
    expect(plan.code, transcript(plan)).toBe(0);
    expect(plan.stdout + plan.stderr).toMatch(/flow-snapshot-worker.*partition 1/);
    expect(plan.stdout).toContain('update flow-snapshot-worker-0');

    const r = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig });
    expect(r.code, transcript(r)).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/partition 1/);
    const expected = expectedState(TO, inst);
    expected['flow-snapshot-worker']!.partition = 1;
    expect(await installationState(kubeconfig, inst)).toEqual(expected);
    expect(await recordedUserPartition(kubeconfig, ns)).toBeUndefined();

    const status = await runCli(['status', '-f', spec], { kubeconfig });
    expect(status.stdout).toMatch(/flow-snapshot-worker.*partition 1/);

    const jobs = (await upgradeJobs(kubeconfig, ns)).length;
    const again = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig });
    expect(again.code, transcript(again)).toBe(0);
    expect(again.stdout).toContain('Nothing to do');
    expect((await upgradeJobs(kubeconfig, ns)).length, 'no Job ran a second time').toBe(jobs);
  });
});

/** A later target, for the upgrade planned after a run died (the image changes again). */
const NEXT = 'v0.37.5';

describe("a dead run's partition is not the user's (defect 2)", () => {
  it('kill -9 mid-StatefulSet, maintenance end, then apply to a newer version: every pod upgraded, partition 0', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    const spec = writeSpec({ namespace: ns });
    const dead = await killWhen(['apply', '-f', spec, '--yes', '-o', 'json'], stepStarted('statefulset-pod/flow-snapshot-worker/1'), { kubeconfig });
    const runId = runIdOf(dead.result.events)!;
    await waitFor(async () => (await partitionOf(kubeconfig, ns)) < 3, { description: 'the dead run to have moved the partition' });
    await podsSettled(kubeconfig, inst);

    const unlock = await runCli(['unlock', '-f', spec, '--force', runId], { kubeconfig });
    expect(unlock.code, transcript(unlock)).toBe(0);
    const end = await runCli(['maintenance', 'end', '-f', spec], { kubeconfig });
    expect(end.code, transcript(end)).toBe(0);

    writeSpec({ namespace: ns, version: NEXT }, spec);
    const r = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig });
    expect(r.code, transcript(r)).toBe(0);
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(NEXT, inst));
  });

  it('kill -9 mid-StatefulSet, then apply --restart to a newer version: every pod upgraded, partition 0', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    const spec = writeSpec({ namespace: ns, maintenance: false, initJobs: [] });
    const dead = await killWhen(['apply', '-f', spec, '--yes', '-o', 'json'], stepStarted('statefulset-pod/flow-snapshot-worker/1'), { kubeconfig });
    const runId = runIdOf(dead.result.events)!;
    await waitFor(async () => (await partitionOf(kubeconfig, ns)) < 3, { description: 'the dead run to have moved the partition' });
    await podsSettled(kubeconfig, inst);
    expect((await runCli(['unlock', '-f', spec, '--force', runId], { kubeconfig })).code).toBe(0);

    writeSpec({ namespace: ns, version: NEXT, maintenance: false, initJobs: [] }, spec);
    const r = await runCli(['apply', '-f', spec, '--yes', '--restart'], { kubeconfig });
    expect(r.code, transcript(r)).toBe(0);
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(NEXT, inst));
  });
});

describe('a checkpoint deleted by hand (defect 3)', () => {
  it('apply --resume says the checkpoint is missing and adopts the Jobs that succeeded', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    const spec = writeSpec({ namespace: ns });
    const dead = await killWhen(['apply', '-f', spec, '--yes', '-o', 'json'], stepStarted('deployment-rollout/flow-api'), { kubeconfig });
    const runId = runIdOf(dead.result.events)!;
    const before = await upgradeJobs(kubeconfig, ns);
    expect(before.map((j) => j.step)).toEqual(['maintenance-start', 'init-catalog-migrations']);
    expect((await request(kubeconfig, 'DELETE', `/api/v1/namespaces/${ns}/configmaps/peerdb-peerdb-upgrade`)).status).toBe(200);
    expect((await runCli(['unlock', '-f', spec, '--force', runId], { kubeconfig })).code).toBe(0);

    const r = await runCli(['apply', '-f', spec, '--yes', '--resume'], { kubeconfig });
    expect(r.code, transcript(r)).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/checkpoint .*(missing|deleted|disappeared)/i);
    expect(r.stdout + r.stderr).not.toMatch(/replacing it/);
    const after = await upgradeJobs(kubeconfig, ns);
    for (const job of before) expect(after.find((j) => j.step === job.step)?.uid, `${job.step} adopted, not run again`).toBe(job.uid);
    expect(after.filter((j) => j.step === 'maintenance-start')).toHaveLength(1);
    expect(after.filter((j) => j.step === 'init-catalog-migrations')).toHaveLength(1);
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));
  });

  it("kill -9 mid-StatefulSet, checkpoint deleted: the next run sets the user's partition back, not the one the dead run left", async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    const spec = writeSpec({ namespace: ns, maintenance: false, initJobs: [] });
    const dead = await killWhen(['apply', '-f', spec, '--yes', '-o', 'json'], stepStarted('statefulset-pod/flow-snapshot-worker/1'), { kubeconfig });
    const runId = runIdOf(dead.result.events)!;
    await waitFor(async () => (await partitionOf(kubeconfig, ns)) < 3, { description: 'the dead run to have moved the partition' });
    await podsSettled(kubeconfig, inst);
    expect(await recordedUserPartition(kubeconfig, ns)).toBe('0');
    expect((await request(kubeconfig, 'DELETE', `/api/v1/namespaces/${ns}/configmaps/peerdb-peerdb-upgrade`)).status).toBe(200);
    expect((await runCli(['unlock', '-f', spec, '--force', runId], { kubeconfig })).code).toBe(0);

    const r = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig });
    expect(r.code, transcript(r)).toBe(0);
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));
    expect(await partitionOf(kubeconfig, ns)).toBe(0);
    expect(await recordedUserPartition(kubeconfig, ns)).toBeUndefined();
  });
});

describe("a run's record of the user's partition left on the StatefulSet", () => {
  it('is not called complete; the printed kubectl annotate, followed literally, then apply --resume, finish the run', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    const spec = writeSpec({ namespace: ns, maintenance: false, initJobs: [] });
    const run = startCli(['apply', '-f', spec, '--yes', '-o', 'json'], { kubeconfig });
    // The last pod step has set the partition back and removed the record; a concurrent writer puts
    // one back while the Deployments after it still roll.
    await run.waitForEvent((e) => e.type === 'step-done' && e.step?.id === 'statefulset-pod/flow-snapshot-worker/0');
    await patchJson(kubeconfig, workloadPath(ns, SNAPSHOT), { metadata: { annotations: { 'peerdb-upgrade.peerdb.io/user-partition': '0' } } }, 'application/merge-patch+json');
    const r = await run.done;
    expect(r.code, transcript(r)).toBe(4);
    const said = r.stdout + r.stderr;
    expect(said).toContain('still annotated peerdb-upgrade.peerdb.io/user-partition=0');
    const wayOut = /`(kubectl -n \S+ annotate [^`]+)`/.exec(said)?.[1];
    expect(wayOut, said).toBeDefined();

    // The way out, followed literally (kubectl finds the cluster through KUBECONFIG, as a user's would).
    const annotated = await shell(kubeconfig, wayOut!);
    expect(annotated.code, annotated.stderr).toBe(0);
    expect(await recordedUserPartition(kubeconfig, ns)).toBeUndefined();
    const resumed = await runCli(['apply', '-f', spec, '--yes', '--resume'], { kubeconfig });
    expect(resumed.code, transcript(resumed)).toBe(0);
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));
    expect(await partitionOf(kubeconfig, ns)).toBe(0);
  });
});

describe('an installation still starting when apply begins', () => {
  it('preflight refuses naming a wait, changing nothing; the printed wait, followed literally, then apply, upgrade', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    const spec = writeSpec({ namespace: ns, maintenance: false, initJobs: [] });
    // What `kubectl rollout restart` does, just before the upgrade; each new pod takes 2 s to be Ready.
    await patchJson(
      kubeconfig,
      workloadPath(ns, SNAPSHOT),
      { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString(), 'sim.peerdb-upgrade/ready-delay': '2s' } } } } },
      'application/merge-patch+json',
    );
    const notReady = (p: any) => !(p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
    await waitFor(async () => (await livePods(kubeconfig, ns, 'flow-snapshot-worker')).some(notReady), { description: 'a restarted pod still starting' });
    const stsBefore = await getJson(kubeconfig, workloadPath(ns, SNAPSHOT));

    const refused = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig });
    expect(refused.code, transcript(refused)).toBe(1);
    expect(refused.stderr).toMatch(/not healthy enough to start an upgrade: pod flow-snapshot-worker-\d not Ready/);
    const wait = /wait with `([^`]+)`/.exec(refused.stderr)?.[1];
    expect(wait, refused.stderr).toBe(`kubectl -n ${ns} rollout status statefulset/flow-snapshot-worker --timeout=10m`);
    // Nothing was changed: no checkpoint, no lock, the StatefulSet as the restart left it.
    expect((await request(kubeconfig, 'GET', `/api/v1/namespaces/${ns}/configmaps/peerdb-peerdb-upgrade`)).status).toBe(404);
    expect((await request(kubeconfig, 'GET', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/peerdb-peerdb-upgrade`)).status).toBe(404);
    expect((await getJson(kubeconfig, workloadPath(ns, SNAPSHOT))).metadata.generation).toBe(stsBefore.metadata.generation);

    // The way out, followed literally (kubectl finds the cluster through KUBECONFIG, as a user's would).
    const waited = await shell(kubeconfig, wait!);
    expect(waited.code, waited.stderr).toBe(0);
    expect((await livePods(kubeconfig, ns, 'flow-snapshot-worker')).filter(notReady)).toEqual([]);
    const r = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig });
    expect(r.code, transcript(r)).toBe(0);
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));
  });
});

describe('the tool keeps the StatefulSet order itself (defect 4)', () => {
  it('an updated pod that stops being Ready holds the partition until it is Ready again', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    // Every snapshot-worker pod takes 2 s to become Ready: time to act while pod 1 starts.
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM, env: { 'flow-snapshot-worker': [{ name: 'SIM_READY_DELAY', value: '2s' }] } });
    const spec = writeSpec({ namespace: ns, maintenance: false, initJobs: [], components: [{ name: 'flow-snapshot-worker', workload: 'StatefulSet/flow-snapshot-worker' }] });
    const run = startCli(['apply', '-f', spec, '--yes', '-o', 'json'], { kubeconfig });
    await run.waitForEvent(stepStarted('statefulset-pod/flow-snapshot-worker/1'));
    const pod1 = () => livePods(kubeconfig, ns, 'flow-snapshot-worker').then((pods) => pods.find((p) => p.metadata.name === 'flow-snapshot-worker-1'));
    const sts = await getJson(kubeconfig, workloadPath(ns, SNAPSHOT));
    // Pod 1 is being replaced (the controller acted on partition 1): now make the updated pod 2 unready.
    await waitFor(async () => (await pod1())?.metadata.labels['controller-revision-hash'] === sts.status.updateRevision, { description: 'pod 1 replaced' });
    await patchJson(kubeconfig, `/api/v1/namespaces/${ns}/pods/flow-snapshot-worker-2`, { metadata: { annotations: { 'sim.peerdb-upgrade/behavior': 'notready' } } }, 'application/merge-patch+json');
    await run.waitForEvent(stepStarted('statefulset-pod/flow-snapshot-worker/0'), 60_000);
    const outcome = await waitFor(
      async () => {
        if ((await partitionOf(kubeconfig, ns)) === 0) return 'moved';
        return run.events.some((e) => e.type === 'step-progress' && e.step?.id === 'statefulset-pod/flow-snapshot-worker/0' && /flow-snapshot-worker-2/.test(e.message ?? '')) ? 'held' : false;
      },
      { timeoutMs: 30_000, description: 'the tool to move the partition or to say it waits for pod 2' },
    );
    expect(outcome, 'the partition moved to 0 while pod 2 was not Ready').toBe('held');
    expect(await partitionOf(kubeconfig, ns)).toBe(1);
    await patchJson(kubeconfig, `/api/v1/namespaces/${ns}/pods/flow-snapshot-worker-2`, { metadata: { annotations: { 'sim.peerdb-upgrade/behavior': null } } }, 'application/merge-patch+json');
    const r = await run.done;
    expect(r.code, transcript(r)).toBe(0);
    expect((await installationState(kubeconfig, inst))['flow-snapshot-worker']).toEqual(expectedState(TO, inst)['flow-snapshot-worker']);
  });
});

describe('the way out after an image pull failure (defects 5 and 6)', () => {
  /** Installs, applies a spec whose tagPrefix is typo'd (the images cannot be pulled), checks the exit-5 report. */
  async function failOnPull(kubeconfig: string) {
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    // A typo'd prefix: the target images cannot be pulled (the simulator's "badimage" marker).
    const spec = writeSpec({ namespace: ns, images: { tagPrefix: 'stable-badimage-' } });
    const r = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig });
    expect(r.code, transcript(r)).toBe(5);
    expect(r.stderr).toContain('ImagePullBackOff');
    expect(r.stderr).toContain(`peerdb-upgrade maintenance end -f ${spec}`);
    return { ns, inst, spec };
  }

  it('the printed maintenance end works with a wrong tagPrefix: it ends maintenance on the version that runs', async () => {
    const kubeconfig = cp.kubeconfig;
    const { ns, inst, spec } = await failOnPull(kubeconfig);
    const end = await runCli(['maintenance', 'end', '-f', spec], { kubeconfig });
    expect(end.code, transcript(end)).toBe(0);
    const endJob = (await upgradeJobs(kubeconfig, ns)).find((j) => j.step === 'maintenance-end');
    expect(endJob).toMatchObject({ image: `ghcr.io/peerdb-io/flow-maintenance:stable-${FROM}`, succeeded: 1 });
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(FROM, inst));
  });

  it('no maintenance Job is left active: not after the failure, not after maintenance end and a fixed upgrade', async () => {
    const kubeconfig = cp.kubeconfig;
    const { ns, inst, spec } = await failOnPull(kubeconfig);
    expect(await activeJobs(kubeconfig, ns), 'the failed maintenance-start Job was stopped before the run reported').toEqual([]);
    const end = await runCli(['maintenance', 'end', '-f', spec], { kubeconfig });
    expect(end.code, transcript(end)).toBe(0);
    expect(await activeJobs(kubeconfig, ns)).toEqual([]);
    writeSpec({ namespace: ns }, spec);
    const fixed = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig });
    expect(fixed.code, transcript(fixed)).toBe(0);
    expect(await activeJobs(kubeconfig, ns)).toEqual([]);
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));
  });

  it('status lists a Job of ours still running after an interrupted run', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    await installPeerDB(kubeconfig, { namespace: ns, version: FROM, env: { 'flow-worker': [{ name: 'SIM_RUN_DURATION', value: '60s' }] } });
    const spec = writeSpec({ namespace: ns });
    const run = startCli(['apply', '-f', spec, '--yes', '-o', 'json'], { kubeconfig });
    await run.waitForEvent((e) => e.type === 'step-progress' && e.step?.id === 'maintenance-start' && /1 active/.test(e.message ?? ''));
    const stopped = await run.kill('SIGINT');
    expect(stopped.code, transcript(stopped)).toBe(130);
    const job = (await upgradeJobs(kubeconfig, ns)).find((j) => j.step === 'maintenance-start')!;
    const status = await runCli(['status', '-f', spec], { kubeconfig });
    expect(status.code, transcript(status)).toBe(0);
    expect(status.stdout).toContain(job.name);
    expect(status.stdout).toMatch(/still (active|running)/i);
  });
});
