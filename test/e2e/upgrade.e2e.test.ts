/**
 * Scenario 1: plan and apply a whole upgrade of a Helm-chart-shaped PeerDB, then check the cluster
 * itself (not the CLI's word for it): images, StatefulSet revisions, the Jobs and their order.
 * Also: a server-side dry run changes nothing.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli, stepIds, transcript } from './cli.js';
import { COMPONENTS, expectedState, installationState, installPeerDB, livePods, podUids, readCheckpoint, readLease, upgradeJobs } from './fixture.js';
import { type ControlPlane, createNamespace, getJson, sharedControlPlane, waitFor } from './harness.js';
import { FROM, helmDefaultSpec, TO } from './specs.js';
import { HELM_STEP_IDS } from '../helm-step-ids.js';

let cp: ControlPlane;

beforeAll(async () => {
  cp = await sharedControlPlane();
});

describe('a full upgrade', () => {
  it('plans every component, applies, and leaves every workload on the target with the Jobs run in order', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    const spec = helmDefaultSpec(ns);

    const text = await runCli(['plan', '-f', spec], { kubeconfig });
    expect(text.code, transcript(text)).toBe(0);
    for (const c of COMPONENTS) expect(text.stdout).toContain(`${c}:stable-${TO}`);
    expect(text.stdout).toContain(`${FROM} → ${TO}`);

    const json = await runCli(['plan', '-f', spec, '-o', 'json', '--detailed-exitcode'], { kubeconfig });
    expect(json.code, transcript(json)).toBe(2);
    const plan = JSON.parse(json.stdout);
    expect(plan).toMatchObject({ mode: 'live', from: FROM, to: TO, has_changes: true, summary: { components: 5, jobs: 3, pod_restarts: 7 } });
    expect(plan.steps.map((s: { id: string }) => s.id)).toEqual(HELM_STEP_IDS);

    const apply = await runCli(['apply', '-f', spec, '--yes', '-o', 'json'], { kubeconfig });
    expect(apply.code, transcript(apply)).toBe(0);
    expect(stepIds(apply, 'step-done')).toEqual(plan.steps.map((s: { id: string }) => s.id).filter((id: string) => id !== 'preflight'));
    expect(apply.events.at(-1)).toMatchObject({ type: 'outcome', outcome: 'done' });

    // The cluster: every workload on the target image, every snapshot worker on the update revision.
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));

    // Highest ordinal first: each snapshot worker was recreated no earlier than the one above it.
    const created = (await livePods(kubeconfig, ns, 'flow-snapshot-worker')).map((p) => Date.parse(p.metadata.creationTimestamp));
    expect(created[2]!).toBeLessThanOrEqual(created[1]!);
    expect(created[1]!).toBeLessThanOrEqual(created[0]!);

    // The Jobs: one per purpose, all succeeded (Complete by the end of the run), each created only
    // after the previous one's pod succeeded: its work was done then; the tool does not wait for
    // the Job controller's Complete, written up to ~1 s later.
    const jobs = await upgradeJobs(kubeconfig, ns);
    const byStep = Object.fromEntries(jobs.map((j) => [j.step, j]));
    expect(jobs.map((j) => j.step).sort()).toEqual(['init-catalog-migrations', 'maintenance-end', 'maintenance-start']);
    expect(byStep['maintenance-start']).toMatchObject({ image: `ghcr.io/peerdb-io/flow-maintenance:stable-${TO}`, succeeded: 1, failed: 0 });
    expect(byStep['init-catalog-migrations']).toMatchObject({ image: `ghcr.io/peerdb-io/peerdb-server:stable-${TO}`, succeeded: 1, failed: 0 });
    expect(byStep['maintenance-end']).toMatchObject({ image: `ghcr.io/peerdb-io/flow-maintenance:stable-${TO}`, succeeded: 1, failed: 0 });
    const order = ['maintenance-start', 'init-catalog-migrations', 'maintenance-end'].map((s) => byStep[s]!);
    for (const [before, after] of [
      [order[0]!, order[1]!],
      [order[1]!, order[2]!],
    ] as const) {
      expect(before.completed, `${before.name} completed`).toBeDefined();
      const pods = (await getJson(kubeconfig, `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(`batch.kubernetes.io/controller-uid=${before.uid}`)}`))?.items ?? [];
      const finished = pods.filter((p: any) => p.status?.phase === 'Succeeded').map((p: any) => Date.parse(p.status.containerStatuses[0].state.terminated.finishedAt));
      expect(finished, `${before.name}: its pod succeeded`).toHaveLength(1);
      // API timestamps have one-second resolution: "not before" is what they can prove.
      expect(Date.parse(after.created), `${after.name} created after ${before.name}'s pod succeeded`).toBeGreaterThanOrEqual(finished[0]!);
    }
    expect(new Set(jobs.map((j) => j.run))).toEqual(new Set([apply.events.find((e) => e.type === 'run-start')!.runId]));
    // The event stream agrees, at millisecond resolution.
    const doneAt = (id: string) => Date.parse(apply.events.find((e) => e.type === 'step-done' && e.step?.id === id)!.time!);
    const startAt = (id: string) => Date.parse(apply.events.find((e) => e.type === 'step-start' && e.step?.id === id)!.time!);
    expect(startAt('init-job/catalog-migrations')).toBeGreaterThanOrEqual(doneAt('maintenance-start'));
    expect(startAt('deployment-rollout/flow-api')).toBeGreaterThanOrEqual(doneAt('init-job/catalog-migrations'));
    expect(startAt('maintenance-end')).toBeGreaterThanOrEqual(doneAt('deployment-rollout/peerdb-ui'));

    // The run is recorded as done and the lock is gone.
    const checkpoint = await readCheckpoint(kubeconfig, ns);
    expect(checkpoint.run).toMatchObject({ state: 'done', from: FROM, to: TO });
    expect(checkpoint.steps.every((s: { s: string }) => s.s === 'done')).toBe(true);
    expect(await readLease(kubeconfig, ns)).toBeUndefined();

    const again = await runCli(['plan', '-f', spec, '--detailed-exitcode'], { kubeconfig });
    expect(again.code, transcript(again)).toBe(0);
    const noop = await runCli(['apply', '-f', spec, '--yes'], { kubeconfig });
    expect(noop.code, transcript(noop)).toBe(0);
    expect(noop.stdout).toContain('Nothing to do');
    expect((await upgradeJobs(kubeconfig, ns)).map((j) => j.uid).sort()).toEqual(jobs.map((j) => j.uid).sort());
  });

  // Regression: with stdout closed early (`apply --yes | head -3`), an EPIPE once killed the CLI
  // mid-step, leaving the Lease held and the checkpoint "running".
  it('apply keeps going when its stdout is closed early (| head)', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    const run = startCli(['apply', '-f', helmDefaultSpec(ns), '--yes'], { kubeconfig });
    await waitFor(() => run.transcript().includes('starting run'), { description: 'the run to start' });
    run.closeStdout();
    const r = await run.done;
    expect(r.stderr).not.toContain('EPIPE');
    expect(r.code, transcript(r)).toBe(0);
    expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));
    expect(await readLease(kubeconfig, ns)).toBeUndefined();
  });

  it('apply --dry-run=server --yes sends every change for validation and changes nothing', async () => {
    const kubeconfig = cp.kubeconfig;
    const ns = await createNamespace(kubeconfig);
    const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
    const spec = helmDefaultSpec(ns);
    const before = { state: await installationState(kubeconfig, inst), pods: await podUids(kubeconfig, ns) };

    const dry = await runCli(['apply', '-f', spec, '--dry-run=server', '--yes'], { kubeconfig });
    expect(dry.code, transcript(dry)).toBe(0);
    expect(dry.stdout).toMatch(/accepts all 14 steps/);
    expect(dry.stdout).toContain('Nothing was changed');

    expect(await installationState(kubeconfig, inst)).toEqual(before.state);
    expect(await podUids(kubeconfig, ns)).toEqual(before.pods);
    expect(await upgradeJobs(kubeconfig, ns)).toEqual([]);
    expect(await readCheckpoint(kubeconfig, ns)).toBeUndefined();
    expect(await readLease(kubeconfig, ns)).toBeUndefined();
    const plan = await runCli(['plan', '-f', spec, '--detailed-exitcode'], { kubeconfig });
    expect(plan.code, transcript(plan)).toBe(2);
  });
});
