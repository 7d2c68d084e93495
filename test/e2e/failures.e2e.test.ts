/**
 * Scenarios 4 and 5: a step that fails. A failing init Job after maintenance started stops the run
 * with exit 5, the pod's log tail and the two ways out (resume after a fix, or end maintenance); a
 * crash-looping pod fails its step at once with the reason instead of waiting out readyTimeout.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, transcript, type CliResult } from './cli.js';
import { type Installation, expectedState, installationState, installPeerDB, livePods, readCheckpoint, readLease, upgradeJobs } from './fixture.js';
import { type ControlPlane, createNamespace, getJson, request, sharedControlPlane, waitFor } from './harness.js';
import { FROM, onlyComponents, type SpecOptions, TO, writeSpec } from './specs.js';

let cp: ControlPlane;

beforeAll(async () => {
  cp = await sharedControlPlane();
});

const MIGRATION_ERROR = 'ERROR: migration 0042_add_mirror_owner failed: column "owner" already exists';

/** The Helm chart's installation upgraded with maintenance, catalog migrations and one more init Job. */
function specWithExtraJob(namespace: string, extra: Record<string, unknown>): SpecOptions {
  return {
    namespace,
    maintenance: { envFrom: 'flow-worker' },
    initJobs: [
      { name: 'catalog-migrations', preset: 'catalog-migrations' },
      { name: 'schema-check', command: ['schema-check', '--strict'], backoffLimit: 0, ...extra },
    ],
  };
}

const FAILING = { image: 'example.com/tools/schema-check:1.0-fail', env: [{ name: 'SIM_LOG', value: `checking catalog\n${MIGRATION_ERROR}` }] };
const FIXED = { image: 'example.com/tools/schema-check:1.1', env: [{ name: 'SIM_LOG', value: 'checking catalog\nok' }] };

/** Installs, applies a spec whose extra init Job fails, and checks the exit-5 report. */
async function failInInitJob(kubeconfig: string): Promise<{ ns: string; inst: Installation; spec: string; output: CliResult }> {
  const ns = await createNamespace(kubeconfig);
  const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
  const spec = writeSpec(specWithExtraJob(ns, FAILING));
  const r = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig });
  expect(r.code, transcript(r)).toBe(5);
  expect(r.stderr).toContain('init-job/schema-check');
  expect(r.stderr).toContain(MIGRATION_ERROR); // the pod's log tail
  expect(r.stderr).toMatch(/MIRRORS ARE PAUSED/);
  expect(r.stderr).toContain(`peerdb-upgrade apply -f ${spec} --resume`);
  expect(r.stderr).toContain(`peerdb-upgrade maintenance end -f ${spec}`);
  return { ns, inst, spec, output: r };
}

describe('a failing init Job with maintenance on', () => {
  let failure: CliResult | undefined;

  it('exits 5 with the log tail and the way out; no component was touched', async () => {
    const kubeconfig = cp.kubeconfig;
    const { ns, inst, spec, output } = await failInInitJob(kubeconfig);
    failure = output;
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(FROM, inst));
    const jobs = await upgradeJobs(kubeconfig, ns);
    expect(Object.fromEntries(jobs.map((j) => [j.step, { succeeded: j.succeeded, failed: j.failed }]))).toEqual({
      'maintenance-start': { succeeded: 1, failed: 0 },
      'init-catalog-migrations': { succeeded: 1, failed: 0 },
      'init-schema-check': { succeeded: 0, failed: 1 },
    });
    const checkpoint = await readCheckpoint(kubeconfig, ns);
    expect(checkpoint.run.state).toBe('needs-person');
    expect(checkpoint.steps.find((s: { id: string }) => s.id === 'init-job/schema-check').s).toBe('failed');
    expect(await readLease(kubeconfig, ns)).toBeUndefined();
    const status = await runCli(['status', '-f', spec], { kubeconfig });
    expect(status.stdout).toMatch(/MIRRORS ARE PAUSED/);
  });

  // Regression: a Job with backoffLimit 0 was reported on its FailureTarget condition, before the
  // Failed condition and status.failed exist: "failed (failed; 0 failed pods)".
  it('the failure names the reason and the failed pod count', () => {
    expect(failure, 'the failing run above did not finish, so there is nothing to check').toBeDefined();
    expect(failure!.stderr).toMatch(/failed \(BackoffLimitExceeded.*; 1 failed pod\)/);
  });

  // Regression: the plan-hash label used to be part of every planned Job manifest, so any spec
  // change altered the finished Job steps and --resume refused the very fix it asked for.
  it('after the spec is fixed (the Job image), apply --resume finishes the upgrade', async () => {
    const kubeconfig = cp.kubeconfig;
    const { ns, inst, spec } = await failInInitJob(kubeconfig);
    writeSpec(specWithExtraJob(ns, FIXED), spec);
    const r = await runCli(['apply', '-f', spec, '--yes', '--resume'], { kubeconfig });
    expect(r.code, transcript(r)).toBe(0);
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));
    const jobs = await upgradeJobs(kubeconfig, ns);
    expect(jobs.filter((j) => j.step === 'maintenance-start')).toHaveLength(1);
    expect(jobs.filter((j) => j.step === 'init-catalog-migrations')).toHaveLength(1);
    expect(jobs.find((j) => j.step === 'maintenance-end')).toMatchObject({ succeeded: 1 });
  });

  it('after the cause is fixed in the cluster (a missing Secret), apply --resume finishes the upgrade', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    const spec = writeSpec(
      specWithExtraJob(ns, { image: 'example.com/tools/schema-check:1.1', env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'schema-check-token', key: 'token' } } }] }),
    );
    const failed = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig });
    expect(failed.code, transcript(failed)).toBe(5);
    expect(failed.stderr).toContain('CreateContainerConfigError');
    expect(failed.stderr).toContain('schema-check-token');

    const secret = await request(kubeconfig, 'POST', `/api/v1/namespaces/${ns}/secrets`, {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'schema-check-token' }, stringData: { token: 't' } },
    });
    expect(secret.status).toBe(201);
    const job = (await upgradeJobs(kubeconfig, ns)).find((j) => j.step === 'init-schema-check')!;
    await waitFor(
      async () => {
        const pods = await getJson(kubeconfig, `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(`job-name=${job.name}`)}`);
        return pods.items.every((p: any) => !p.status?.containerStatuses?.[0]?.state?.waiting);
      },
      { description: 'the Job pod to get past CreateContainerConfigError' },
    );

    const resumed = await runCli(['apply', '-f', spec, '--yes', '--resume'], { kubeconfig });
    expect(resumed.code, transcript(resumed)).toBe(0);
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));
    const jobs = await upgradeJobs(kubeconfig, ns);
    expect(jobs.map((j) => j.step).sort()).toEqual(['init-catalog-migrations', 'init-schema-check', 'maintenance-end', 'maintenance-start']);
    expect(jobs.find((j) => j.step === 'init-schema-check')!.uid, 'the stuck Job was adopted, not recreated').toBe(job.uid);
    expect((await readCheckpoint(kubeconfig, ns)).run.state).toBe('done');
  });

  let ended: { spec: string; output: CliResult } | undefined;

  // Regression: the maintenance Job's plan label was once "maintenance-" (a run-name prefix),
  // which the API server rejects.
  it('instead of resuming, maintenance end ends maintenance on the versions running', async () => {
    const kubeconfig = cp.kubeconfig;
    const { ns, inst, spec } = await failInInitJob(kubeconfig);
    const end = await runCli(['maintenance', 'end', '-f', spec], { kubeconfig });
    expect(end.code, transcript(end)).toBe(0);
    const jobs = await upgradeJobs(kubeconfig, ns);
    const endJob = jobs.find((j) => j.step === 'maintenance-end');
    // The flow workers still run FROM: the end workflow must come from that version's image.
    expect(endJob).toMatchObject({ image: `ghcr.io/peerdb-io/flow-maintenance:stable-${FROM}`, succeeded: 1, failed: 0 });
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(FROM, inst));
    const checkpoint = await readCheckpoint(kubeconfig, ns);
    expect(checkpoint.run.state).toBe('aborted');
    ended = { spec, output: end };
  });

  // Regression (fixed): `maintenance end` numbered its one step "[1/0]".
  it('maintenance end counts its step as 1 of 1', () => {
    expect(ended, 'maintenance end above did not finish, so there is nothing to check').toBeDefined();
    expect(ended!.output.stdout).not.toContain('[1/0]');
  });

  // Regression: status used to say MIRRORS ARE PAUSED after `maintenance end` had closed the run.
  it('after maintenance end, status no longer says the mirrors are paused', async () => {
    expect(ended, 'maintenance end above did not finish, so there is nothing to check').toBeDefined();
    const status = await runCli(['status', '-f', ended!.spec], { kubeconfig: cp.kubeconfig });
    expect(status.code, transcript(status)).toBe(0);
    expect(status.stdout).not.toMatch(/MIRRORS ARE PAUSED/);
  });
});

describe.concurrent('a crash-looping pod', () => {
  // The simulator crash-loops a container whose image tag contains "crashloop"; the tag is
  // <tagPrefix><version>, so this prefix makes every new pod crash.
  const crashing = { tagPrefix: 'stable-crashloop-' };

  it('StatefulSet: fails the first pod step within seconds with CrashLoopBackOff (exit 4); later pods untouched', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    const before = Object.fromEntries((await livePods(kubeconfig, ns, 'flow-snapshot-worker')).map((p) => [p.metadata.name, p.metadata.uid]));
    const spec = writeSpec({
      namespace: ns,
      images: crashing,
      maintenance: false,
      initJobs: [],
      components: onlyComponents([{ name: 'flow-snapshot-worker', readyTimeout: '5m' }]),
    });
    const r = await runCli(['apply', '-f', spec, '--yes', '-o', 'json'], { kubeconfig });
    expect(r.code, transcript(r)).toBe(4);
    const failed = r.events.find((e) => e.type === 'step-failed');
    expect(failed).toMatchObject({ step: { id: 'statefulset-pod/flow-snapshot-worker/2' } });
    expect(failed!.error).toContain('CrashLoopBackOff');
    expect(r.stderr).toContain('CrashLoopBackOff');
    expect(r.durationMs, 'failed fast, not after readyTimeout (5m)').toBeLessThan(30_000);
    const after = Object.fromEntries((await livePods(kubeconfig, ns, 'flow-snapshot-worker')).map((p) => [p.metadata.name, p.metadata.uid]));
    expect(after['flow-snapshot-worker-1']).toBe(before['flow-snapshot-worker-1']);
    expect(after['flow-snapshot-worker-0']).toBe(before['flow-snapshot-worker-0']);
    expect((await readCheckpoint(kubeconfig, ns)).run.state).toBe('failed');
  });

  it('Deployment: fails the rollout within seconds with CrashLoopBackOff (exit 4)', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    const spec = writeSpec({
      namespace: ns,
      images: crashing,
      maintenance: false,
      initJobs: [],
      components: onlyComponents([{ name: 'flow-api', readyTimeout: '5m' }]),
    });
    const r = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig });
    expect(r.code, transcript(r)).toBe(4);
    expect(r.stderr).toMatch(/deployment-rollout\/flow-api failed: .*CrashLoopBackOff/);
    expect(r.stderr).toContain(`apply -f ${spec} --resume`);
    expect(r.durationMs, 'failed fast, not after readyTimeout (5m)').toBeLessThan(30_000);
    // The old pod still serves: a Deployment rollout keeps it until the new one is available.
    const ready = (await livePods(kubeconfig, ns, 'flow-api')).filter((p) => p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
    expect(ready.map((p) => p.spec.containers[0].image)).toEqual([`ghcr.io/peerdb-io/flow-api:stable-${FROM}`]);
  });
});
