/**
 * Issue 10, defect 7: an API server outage mid-roll (kube-apiserver stopped, then started again on
 * the same etcd data, as a restart or a managed control-plane upgrade does) is ridden out: the run
 * waits, looks again and finishes, instead of failing with the mirrors paused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, stepStarted, transcript } from './cli.js';
import { expectedState, installationState, installPeerDB, upgradeJobs } from './fixture.js';
import { type ControlPlane, createNamespace, startControlPlane } from './harness.js';
import { FROM, TO, writeSpec } from './specs.js';

let cp: ControlPlane;

beforeAll(async () => {
  // A control plane of its own: its API server goes away during the test.
  cp = await startControlPlane();
}, 300_000);

afterAll(async () => {
  await cp?.stop();
});

/** How long the API server stays stopped (its start-up comes on top). */
const OUTAGE_MS = 45_000;

describe('an API server outage mid-roll', () => {
  it(
    'is ridden out: the run finishes, every Job created once',
    async () => {
      if (!cp.stopApiServer || !cp.startApiServer) throw new Error('this control plane cannot restart its API server');
      const kubeconfig = cp.kubeconfig;
      const ns = await createNamespace(kubeconfig);
      const inst = await installPeerDB(kubeconfig, { namespace: ns, version: FROM });
      const spec = writeSpec({ namespace: ns });
      const run = startCli(['apply', '-f', spec, '--yes', '-o', 'json'], { kubeconfig, timeoutMs: 600_000 });
      await run.waitForEvent(stepStarted('statefulset-pod/flow-snapshot-worker/1'), 180_000);

      const down = Date.now();
      await cp.stopApiServer();
      await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
      await cp.startApiServer();
      const r = await run.done;
      process.stderr.write(`API server away ${Math.round((Date.now() - down) / 1000)}s before the run ended; stopped for ${OUTAGE_MS / 1000}s plus its start-up\n`);

      expect(r.code, transcript(r)).toBe(0);
      expect(await installationState(kubeconfig, inst)).toEqual(expectedState(TO, inst));
      const jobs = await upgradeJobs(kubeconfig, ns);
      expect(jobs.map((j) => j.step).sort()).toEqual(['init-catalog-migrations', 'maintenance-end', 'maintenance-start']);
    },
    600_000,
  );
});
