/**
 * Smoke test of the e2e control plane itself: real kube-apiserver + kube-controller-manager with
 * the pod simulator. If this fails, every other e2e test would too -- look here first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlane, createNamespace, getJson, patchJson, request, serviceAccountKubeconfig, sharedControlPlane, waitFor } from './harness.js';
import { installPeerDB, peerdbImage, waitForPeerDBReady, workloadNotReady, type Installation } from './fixture.js';

let cp: ControlPlane;

beforeAll(async () => {
  cp = await sharedControlPlane();
});

afterAll(async () => {
  await cp?.stop();
});

const VERSION = 'v0.29.0';
const NEXT = 'v0.30.0';

function podReady(pod: any): boolean {
  return (pod.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
}

async function listPods(namespace: string, selector: string): Promise<any[]> {
  const list = await getJson(cp.kubeconfig, `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`);
  return list.items;
}

describe('control plane', () => {
  let ns: string;
  let inst: Installation;

  it('installs a chart-shaped PeerDB whose workloads all become ready', async () => {
    ns = await createNamespace(cp.kubeconfig);
    inst = await installPeerDB(cp.kubeconfig, { namespace: ns, version: VERSION });
    expect(inst.workloads.map((w) => `${w.kind}/${w.name}`).sort()).toEqual([
      'Deployment/flow-api',
      'Deployment/flow-worker',
      'Deployment/peerdb-server',
      'Deployment/peerdb-ui',
      'StatefulSet/flow-snapshot-worker',
    ]);
    for (const w of inst.workloads) expect(await workloadNotReady(cp.kubeconfig, ns, w)).toBeUndefined();

    const sts = await getJson(cp.kubeconfig, `/apis/apps/v1/namespaces/${ns}/statefulsets/flow-snapshot-worker`);
    expect(sts.status.currentRevision).toBe(sts.status.updateRevision);
    const pods = await listPods(ns, 'app=flow-snapshot-worker');
    expect(pods.map((p) => p.metadata.name).sort()).toEqual(['flow-snapshot-worker-0', 'flow-snapshot-worker-1', 'flow-snapshot-worker-2']);
    for (const p of pods) {
      expect(podReady(p)).toBe(true);
      expect(p.metadata.labels['controller-revision-hash']).toBe(sts.status.currentRevision);
      expect(p.spec.nodeName).toMatch(/^sim-node-/);
      expect(p.spec.terminationGracePeriodSeconds).toBe(600);
      const cs = p.status.containerStatuses[0];
      expect(cs).toMatchObject({ name: 'flow-snapshot-worker', image: peerdbImage('flow-snapshot-worker', VERSION), ready: true });
      expect(cs.imageID).toContain('@sha256:');
      expect(p.status.podIP).toMatch(/^10\.244\./);
    }
    // the env wiring the chart uses
    const c = pods[0].spec.containers[0];
    expect(c.env).toContainEqual({ name: 'PEERDB_CATALOG_PASSWORD', valueFrom: { secretKeyRef: { name: 'peerdb-catalog', key: 'password' } } });
    expect(c.envFrom).toContainEqual({ configMapRef: { name: 'peerdb-config' } });
  });

  it('rolls a StatefulSet with a partition: only ordinals >= partition get the new revision', async () => {
    const path = `/apis/apps/v1/namespaces/${ns}/statefulsets/flow-snapshot-worker`;
    const before = await listPods(ns, 'app=flow-snapshot-worker');
    const uid = Object.fromEntries(before.map((p) => [p.metadata.name, p.metadata.uid]));
    const oldRev = before[0].metadata.labels['controller-revision-hash'];

    const newImage = peerdbImage('flow-snapshot-worker', NEXT);
    await patchJson(cp.kubeconfig, path, {
      spec: {
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } },
        template: { spec: { containers: [{ name: 'flow-snapshot-worker', image: newImage }] } },
      },
    });
    const sts = await waitFor(
      async () => {
        const s = await getJson(cp.kubeconfig, path);
        return s.status.observedGeneration === s.metadata.generation && s.status.updateRevision !== oldRev ? s : undefined;
      },
      { description: 'new update revision' },
    );
    const newRev: string = sts.status.updateRevision;
    const after = await waitFor(
      async () => {
        const pods = await listPods(ns, 'app=flow-snapshot-worker');
        const p2 = pods.find((p) => p.metadata.name === 'flow-snapshot-worker-2');
        return pods.length === 3 && p2?.metadata.labels['controller-revision-hash'] === newRev && podReady(p2) ? pods : undefined;
      },
      { description: 'flow-snapshot-worker-2 recreated on the new revision' },
    );
    for (const p of after) {
      const name: string = p.metadata.name;
      if (name === 'flow-snapshot-worker-2') {
        expect(p.metadata.uid).not.toBe(uid[name]);
        expect(p.status.containerStatuses[0].image).toBe(newImage);
      } else {
        expect(p.metadata.uid).toBe(uid[name]);
        expect(p.metadata.labels['controller-revision-hash']).toBe(oldRev);
      }
    }
    expect(await workloadNotReady(cp.kubeconfig, ns, { kind: 'StatefulSet', name: 'flow-snapshot-worker' })).toBeUndefined();

    // release the partition: the rest follow, highest ordinal first
    await patchJson(cp.kubeconfig, path, { spec: { updateStrategy: { rollingUpdate: { partition: 0 } } } });
    await waitForPeerDBReady(cp.kubeconfig, inst);
    const done = await getJson(cp.kubeconfig, path);
    expect(done.status.currentRevision).toBe(newRev);
    for (const p of await listPods(ns, 'app=flow-snapshot-worker')) {
      expect(p.metadata.labels['controller-revision-hash']).toBe(newRev);
      expect(p.metadata.uid).not.toBe(uid[p.metadata.name]);
    }
  });

  it('runs Jobs to completion or failure', async () => {
    const job = (name: string, image: string) => ({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name },
      spec: {
        backoffLimit: 0,
        ttlSecondsAfterFinished: 600,
        template: { spec: { restartPolicy: 'Never', containers: [{ name: 'main', image }] } },
      },
    });
    for (const [name, image] of [
      ['migrate-ok', peerdbImage('flow-maintenance', NEXT)],
      ['migrate-bad', 'ghcr.io/peerdb-io/flow-maintenance:stable-v0.30.0-fail'],
    ] as const) {
      const res = await request(cp.kubeconfig, 'POST', `/apis/batch/v1/namespaces/${ns}/jobs`, { body: job(name, image) });
      expect(res.status).toBe(201);
    }
    const cond = (j: any, type: string) => (j?.status?.conditions ?? []).some((c: any) => c.type === type && c.status === 'True');
    const ok = await waitFor(async () => {
      const j = await getJson(cp.kubeconfig, `/apis/batch/v1/namespaces/${ns}/jobs/migrate-ok`);
      return cond(j, 'Complete') ? j : undefined;
    }, { description: 'Job migrate-ok Complete' });
    expect(ok.status.succeeded).toBe(1);
    const bad = await waitFor(async () => {
      const j = await getJson(cp.kubeconfig, `/apis/batch/v1/namespaces/${ns}/jobs/migrate-bad`);
      return cond(j, 'Failed') ? j : undefined;
    }, { description: 'Job migrate-bad Failed' });
    expect(bad.status.failed).toBe(1);
    const [badPod] = await listPods(ns, 'job-name=migrate-bad');
    expect(badPod.status.phase).toBe('Failed');
    expect(badPod.status.containerStatuses[0].state.terminated.exitCode).toBe(1);

    // pods/log is served by the simulator's fake kubelet endpoint
    const [okPod] = await listPods(ns, 'job-name=migrate-ok');
    const log = await request(cp.kubeconfig, 'GET', `/api/v1/namespaces/${ns}/pods/${okPod.metadata.name}/log?container=main`);
    expect(log.status).toBe(200);
    expect(String(log.body)).toContain('exited with code 0');
  });

  it('reports CrashLoopBackOff and CreateContainerConfigError', async () => {
    await patchJson(cp.kubeconfig, `/apis/apps/v1/namespaces/${ns}/deployments/peerdb-ui`, {
      spec: { template: { spec: { containers: [{ name: 'peerdb-ui', image: 'ghcr.io/peerdb-io/peerdb-ui:stable-v0.30.0-crashloop' }] } } },
    });
    const crashing = await waitFor(async () => {
      const pods = await listPods(ns, 'app=peerdb-ui');
      return pods.find((p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff');
    }, { description: 'a CrashLoopBackOff peerdb-ui pod' });
    expect(crashing.status.containerStatuses[0].restartCount).toBeGreaterThanOrEqual(1);
    expect(podReady(crashing)).toBe(false);
    // the old pod stays ready: the rollout cannot make progress
    expect(await workloadNotReady(cp.kubeconfig, ns, { kind: 'Deployment', name: 'peerdb-ui' })).toBeDefined();
    const uiPods = await listPods(ns, 'app=peerdb-ui');
    expect(uiPods).toHaveLength(2);
    expect(uiPods.filter(podReady).map((p) => p.status.containerStatuses[0].image)).toEqual([peerdbImage('peerdb-ui', VERSION)]);

    // a container referencing a missing Secret cannot be created, like on a real kubelet
    await patchJson(cp.kubeconfig, `/apis/apps/v1/namespaces/${ns}/deployments/flow-api`, {
      spec: { template: { spec: { containers: [{ name: 'flow-api', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }] }] } } },
    });
    const blocked = await waitFor(async () => {
      const pods = await listPods(ns, 'app=flow-api');
      return pods.find((p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError');
    }, { description: 'a CreateContainerConfigError flow-api pod' });
    expect(blocked.status.containerStatuses[0].state.waiting.message).toContain('secret "nope" not found');
  });

  it('enforces RBAC and serves coordination.k8s.io Leases', async () => {
    const nobody = await serviceAccountKubeconfig(cp.kubeconfig, { namespace: ns, name: 'nobody' });
    const denied = await request(cp.kubeconfig, 'GET', `/api/v1/namespaces/${ns}/secrets`, { token: nobody.token });
    expect(denied.status).toBe(403);
    const impersonated = await request(cp.kubeconfig, 'PATCH', `/apis/apps/v1/namespaces/${ns}/statefulsets/flow-snapshot-worker`, {
      body: { spec: { replicas: 1 } },
      headers: { 'Impersonate-User': nobody.user },
    });
    expect(impersonated.status).toBe(403);

    // the aggregated "view" ClusterRole works (clusterrole-aggregation controller) but cannot write
    const viewer = await serviceAccountKubeconfig(cp.kubeconfig, { namespace: ns, name: 'viewer', clusterRole: 'view' });
    await waitFor(async () => (await request(viewer.kubeconfig, 'GET', `/apis/apps/v1/namespaces/${ns}/statefulsets`)).status === 200, {
      description: 'viewer can list StatefulSets',
    });
    expect((await request(viewer.kubeconfig, 'DELETE', `/apis/apps/v1/namespaces/${ns}/statefulsets/flow-snapshot-worker`)).status).toBe(403);

    const lease = await request(cp.kubeconfig, 'POST', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, {
      body: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'peerdb-upgrade-lock' },
        spec: { holderIdentity: 'e2e', leaseDurationSeconds: 30, acquireTime: new Date().toISOString().replace(/\.\d+Z$/, '.000000Z') },
      },
    });
    expect(lease.status).toBe(201);
  });
});
