/**
 * A PeerDB installation shaped like the PeerDB Helm chart, for end-to-end tests against the
 * throw-away control plane (see harness.ts). Pods are played by the pod simulator; an image whose
 * tag contains a misbehaviour marker (crashloop, badimage, configerror, notready, fail, ...) makes
 * that component misbehave -- see test/cluster/README.md.
 */
import type { V1Container, V1Deployment, V1EnvVar, V1StatefulSet } from '@kubernetes/client-node';
import { clients, getJson, patchJson, waitFor } from './harness.js';

export const COMPONENTS = ['flow-api', 'flow-worker', 'flow-snapshot-worker', 'peerdb-server', 'peerdb-ui'] as const;
export type Component = (typeof COMPONENTS)[number];
export type WorkloadKind = 'Deployment' | 'StatefulSet';

export interface InstallOptions {
  namespace: string;
  /** Release version, e.g. "v0.30.0"; images are ghcr.io/peerdb-io/<component>:stable-<version>. */
  version: string;
  /** flow-snapshot-worker replicas. Default 3. */
  snapshotReplicas?: number;
  /** Helm release name (app.kubernetes.io/instance). Default "peerdb". */
  instance?: string;
  /** Override individual images, e.g. { 'flow-api': 'ghcr.io/peerdb-io/flow-api:stable-v0.30.0-crashloop' }. */
  images?: Partial<Record<Component, string>>;
  /** Some installations run flow-worker as a StatefulSet. Default "Deployment". */
  flowWorkerKind?: WorkloadKind;
  /** StatefulSet pod management policy. Default "OrderedReady" (the chart's default). */
  podManagementPolicy?: 'OrderedReady' | 'Parallel';
  /** Value of PEERDB_DEPLOYMENT_UID in the ConfigMap. Default "e2e-<namespace>". */
  deploymentUid?: string;
  /** Wait for every workload to be ready and on its current revision. Default true. */
  wait?: boolean;
  /** Timeout for the wait. Default 60s. */
  timeoutMs?: number;
  /**
   * Extra env per component's container, e.g. { 'flow-worker': [{ name: 'SIM_RUN_DURATION', value: '5s' }] }:
   * the Jobs that copy a component's env (maintenance from flow-worker, catalog migrations from
   * peerdb-server) inherit it, which makes them slow or failing on demand.
   */
  env?: Partial<Record<Component, V1EnvVar[]>>;
  /** PeerDB's mirrors (the simulator's flow-api and maintenance Jobs act on them; see peerdbSim). */
  peerdb?: PeerDBSim;
}

/**
 * The simulated PeerDB of a namespace (ConfigMap peerdb-sim, read by the pod simulator; see
 * test/cluster/README.md): `mirrors` running mirrors mirror-1 … mirror-N, more by name in the
 * other lists. apiDown makes flow-api refuse connections, apiAuth makes it answer 401.
 */
export interface PeerDBSim {
  mirrors?: number;
  snapshotting?: string[];
  /** How long a snapshot runs once maintenance start waits for it (Go duration). Default 5s. */
  snapshotFor?: string;
  failsToResume?: string[];
  paused?: string[];
  apiDown?: boolean;
  apiAuth?: boolean;
}

export const PEERDB_SIM_CONFIGMAP = 'peerdb-sim';

function peerdbSimData(sim: PeerDBSim): Record<string, string> {
  const data: Record<string, string> = {};
  if (sim.mirrors) data.mirrors = Array.from({ length: sim.mirrors }, (_, i) => `mirror-${i + 1}`).join(',');
  if (sim.snapshotting?.length) data.snapshotting = sim.snapshotting.join(',');
  if (sim.snapshotFor) data.snapshotFor = sim.snapshotFor;
  if (sim.failsToResume?.length) data.failsToResume = sim.failsToResume.join(',');
  if (sim.paused?.length) data.paused = sim.paused.join(',');
  if (sim.apiDown) data.apiDown = 'true';
  if (sim.apiAuth) data.apiAuth = 'true';
  return data;
}

/** Flips apiDown/apiAuth of a namespace's simulated PeerDB (mirrors keep their state). */
export async function setPeerDBSim(kubeconfig: string, namespace: string, flags: { apiDown?: boolean; apiAuth?: boolean }): Promise<void> {
  const data: Record<string, string | null> = {};
  if (flags.apiDown !== undefined) data.apiDown = flags.apiDown ? 'true' : null;
  if (flags.apiAuth !== undefined) data.apiAuth = flags.apiAuth ? 'true' : null;
  await patchJson(kubeconfig, `/api/v1/namespaces/${namespace}/configmaps/${PEERDB_SIM_CONFIGMAP}`, { data }, 'application/merge-patch+json');
}

export interface WorkloadRef {
  kind: WorkloadKind;
  name: Component;
}

export interface Installation {
  namespace: string;
  version: string;
  instance: string;
  deploymentUid: string;
  images: Record<Component, string>;
  workloads: WorkloadRef[];
}

export const CATALOG_SECRET = 'peerdb-catalog';
export const CONFIG_MAP = 'peerdb-config';

export function peerdbImage(component: string, version: string): string {
  return `ghcr.io/peerdb-io/${component}:stable-${version}`;
}

export function chartLabels(component: string, instance = 'peerdb'): Record<string, string> {
  return {
    app: component,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/name': 'peerdb',
    'app.kubernetes.io/instance': instance,
  };
}

const PORTS: Record<Component, { name: string; containerPort: number }[]> = {
  'flow-api': [
    { name: 'grpc', containerPort: 8112 },
    { name: 'http', containerPort: 8113 },
  ],
  'flow-worker': [],
  'flow-snapshot-worker': [],
  'peerdb-server': [{ name: 'postgres', containerPort: 9900 }],
  'peerdb-ui': [{ name: 'http', containerPort: 3000 }],
};

function container(component: Component, image: string, env: V1EnvVar[] = []): V1Container {
  return {
    name: component,
    image,
    imagePullPolicy: 'IfNotPresent',
    ports: PORTS[component].map((p) => ({ ...p, protocol: 'TCP' })),
    env: [{ name: 'PEERDB_CATALOG_PASSWORD', valueFrom: { secretKeyRef: { name: CATALOG_SECRET, key: 'password' } } }, ...env],
    envFrom: [{ configMapRef: { name: CONFIG_MAP } }],
    resources: { requests: { cpu: '100m', memory: '128Mi' } },
  };
}

function podTemplate(component: Component, image: string, instance: string, env: V1EnvVar[] | undefined, graceSeconds?: number) {
  return {
    metadata: { labels: chartLabels(component, instance) },
    spec: {
      containers: [container(component, image, env)],
      ...(graceSeconds !== undefined ? { terminationGracePeriodSeconds: graceSeconds } : {}),
    },
  };
}

function selector(component: Component, instance: string) {
  return { matchLabels: { app: component, 'app.kubernetes.io/instance': instance } };
}

function deployment(component: Component, image: string, instance: string, env?: V1EnvVar[]): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: component, labels: chartLabels(component, instance) },
    spec: {
      replicas: 1,
      selector: selector(component, instance),
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      template: podTemplate(component, image, instance, env),
    },
  };
}

function statefulSet(component: Component, image: string, instance: string, replicas: number, policy: 'OrderedReady' | 'Parallel', env?: V1EnvVar[], grace?: number): V1StatefulSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: component, labels: chartLabels(component, instance) },
    spec: {
      replicas,
      serviceName: component,
      podManagementPolicy: policy,
      selector: selector(component, instance),
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
      template: podTemplate(component, image, instance, env, grace),
    },
  };
}

/** Installs a Helm-chart-shaped PeerDB into an existing (empty) namespace. */
export async function installPeerDB(kubeconfig: string, opts: InstallOptions): Promise<Installation> {
  const { namespace, version } = opts;
  const instance = opts.instance ?? 'peerdb';
  const snapshotReplicas = opts.snapshotReplicas ?? 3;
  const policy = opts.podManagementPolicy ?? 'OrderedReady';
  const deploymentUid = opts.deploymentUid ?? `e2e-${namespace}`;
  const images = Object.fromEntries(COMPONENTS.map((c) => [c, opts.images?.[c] ?? peerdbImage(c, version)])) as Record<Component, string>;
  const { core, apps } = clients(kubeconfig);

  await core.createNamespacedSecret({
    namespace,
    body: {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: CATALOG_SECRET, labels: chartLabels('catalog', instance) },
      type: 'Opaque',
      stringData: { password: 'e2e-catalog-password' },
    },
  });
  await core.createNamespacedConfigMap({
    namespace,
    body: {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: CONFIG_MAP, labels: chartLabels('config', instance) },
      data: {
        PEERDB_CATALOG_HOST: `catalog.${namespace}.svc.cluster.local`,
        PEERDB_CATALOG_PORT: '5432',
        PEERDB_CATALOG_USER: 'postgres',
        PEERDB_CATALOG_DATABASE: 'postgres',
        PEERDB_CATALOG_REQUIRE_TLS: 'false',
        TEMPORAL_HOST_PORT: `temporal-frontend.${namespace}.svc.cluster.local:7233`,
        PEERDB_TEMPORAL_NAMESPACE: 'default',
        PEERDB_DEPLOYMENT_UID: deploymentUid,
        PEERDB_VERSION: version,
      },
    },
  });

  if (opts.peerdb) {
    await core.createNamespacedConfigMap({
      namespace,
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: PEERDB_SIM_CONFIGMAP }, data: peerdbSimData(opts.peerdb) },
    });
  }

  const workloads: WorkloadRef[] = [];
  for (const c of COMPONENTS) {
    if (c === 'flow-snapshot-worker' || (c === 'flow-worker' && opts.flowWorkerKind === 'StatefulSet')) {
      const replicas = c === 'flow-snapshot-worker' ? snapshotReplicas : 1;
      const grace = c === 'flow-snapshot-worker' ? 600 : undefined;
      await core.createNamespacedService({
        namespace,
        body: {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: c, labels: chartLabels(c, instance) },
          spec: { clusterIP: 'None', selector: selector(c, instance).matchLabels, ports: [{ name: 'placeholder', port: 80 }] },
        },
      });
      await apps.createNamespacedStatefulSet({ namespace, body: statefulSet(c, images[c], instance, replicas, policy, opts.env?.[c], grace) });
      workloads.push({ kind: 'StatefulSet', name: c });
    } else {
      await apps.createNamespacedDeployment({ namespace, body: deployment(c, images[c], instance, opts.env?.[c]) });
      if (PORTS[c].length > 0) {
        await core.createNamespacedService({
          namespace,
          body: {
            apiVersion: 'v1',
            kind: 'Service',
            metadata: { name: c, labels: chartLabels(c, instance) },
            spec: { selector: selector(c, instance).matchLabels, ports: PORTS[c].map((p) => ({ name: p.name, port: p.containerPort, targetPort: p.containerPort })) },
          },
        });
      }
      workloads.push({ kind: 'Deployment', name: c });
    }
  }

  const installation: Installation = { namespace, version, instance, deploymentUid, images, workloads };
  if (opts.wait ?? true) await waitForPeerDBReady(kubeconfig, installation, opts.timeoutMs);
  return installation;
}

const PLURAL: Record<WorkloadKind, string> = { Deployment: 'deployments', StatefulSet: 'statefulsets' };

export function workloadPath(namespace: string, ref: { kind: WorkloadKind; name: string }): string {
  return `/apis/apps/v1/namespaces/${namespace}/${PLURAL[ref.kind]}/${ref.name}`;
}

/**
 * Why a workload is not (yet) ready and fully rolled out, or undefined when it is:
 * observed generation current, all replicas updated/ready/available, and for StatefulSets
 * currentRevision == updateRevision (or, with a partition, the pods from the partition up updated).
 */
export async function workloadNotReady(kubeconfig: string, namespace: string, ref: { kind: WorkloadKind; name: string }): Promise<string | undefined> {
  const obj = await getJson(kubeconfig, workloadPath(namespace, ref));
  if (!obj) return `${ref.kind} ${ref.name} not found`;
  const spec = obj.spec ?? {};
  const st = obj.status ?? {};
  const want: number = spec.replicas ?? 1;
  const name = `${ref.kind} ${namespace}/${ref.name}`;
  if ((st.observedGeneration ?? 0) < (obj.metadata.generation ?? 0)) return `${name}: generation ${obj.metadata.generation} not observed yet`;
  if ((st.readyReplicas ?? 0) !== want) return `${name}: ${st.readyReplicas ?? 0}/${want} ready`;
  if ((st.replicas ?? 0) !== want) return `${name}: ${st.replicas ?? 0} replicas, want ${want}`;
  if (ref.kind === 'Deployment') {
    if ((st.updatedReplicas ?? 0) !== want) return `${name}: ${st.updatedReplicas ?? 0}/${want} updated`;
    if ((st.availableReplicas ?? 0) !== want) return `${name}: ${st.availableReplicas ?? 0}/${want} available`;
  } else {
    const partition: number = spec.updateStrategy?.rollingUpdate?.partition ?? 0;
    if (partition === 0 && st.currentRevision !== st.updateRevision) return `${name}: revision ${st.currentRevision} -> ${st.updateRevision} in progress`;
    if ((st.updatedReplicas ?? 0) < Math.max(0, want - partition)) return `${name}: ${st.updatedReplicas ?? 0}/${want - partition} updated`;
  }
  return undefined;
}

/** Waits until every workload of the installation is ready and fully rolled out. */
export async function waitForPeerDBReady(kubeconfig: string, inst: Pick<Installation, 'namespace' | 'workloads'>, timeoutMs = 60_000): Promise<void> {
  let last: string | undefined;
  try {
    await waitFor(
      async () => {
        for (const w of inst.workloads) {
          last = await workloadNotReady(kubeconfig, inst.namespace, w);
          if (last) return false;
        }
        return true;
      },
      { timeoutMs, intervalMs: 200, description: `PeerDB in ${inst.namespace} to be ready` },
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}: ${last ?? ''}`);
  }
}

// ---------------------------------------------------------------------------------------------
// What the cluster looks like after a run, as plain data for toEqual.

export interface WorkloadState {
  /** The image in the pod template. */
  template: string;
  /** The image of each live (not terminating) pod, sorted. */
  pods: string[];
  /** Why the workload is not ready and rolled out (see workloadNotReady), or undefined. */
  notReady: string | undefined;
  /** StatefulSets: the partition and each pod's revision ("update" when on the update revision). */
  partition?: number;
  revisions?: { currentIsUpdate: boolean; pods: Record<string, 'update' | string> };
}

/** Each workload's images, readiness and (StatefulSets) revisions. */
export async function installationState(kubeconfig: string, inst: Pick<Installation, 'namespace' | 'workloads' | 'instance'>): Promise<Record<string, WorkloadState>> {
  const out: Record<string, WorkloadState> = {};
  for (const w of inst.workloads) {
    const obj = await getJson(kubeconfig, workloadPath(inst.namespace, w));
    const pods = await livePods(kubeconfig, inst.namespace, w.name, inst.instance);
    const state: WorkloadState = {
      template: obj.spec.template.spec.containers.find((c: V1Container) => c.name === w.name)?.image,
      pods: pods.map((p) => p.spec.containers.find((c: V1Container) => c.name === w.name)?.image).sort(),
      notReady: await workloadNotReady(kubeconfig, inst.namespace, w),
    };
    if (w.kind === 'StatefulSet') {
      const update: string = obj.status.updateRevision;
      state.partition = obj.spec.updateStrategy?.rollingUpdate?.partition ?? 0;
      state.revisions = {
        currentIsUpdate: obj.status.currentRevision === update,
        pods: Object.fromEntries(pods.map((p) => [p.metadata.name, p.metadata.labels['controller-revision-hash'] === update ? 'update' : p.metadata.labels['controller-revision-hash']])),
      };
    }
    out[w.name] = state;
  }
  return out;
}

/** installationState of a fully rolled-out installation on `version` (3 snapshot workers by default). */
export function expectedState(version: string, inst: Pick<Installation, 'workloads'>, snapshotReplicas = 3): Record<string, WorkloadState> {
  const out: Record<string, WorkloadState> = {};
  for (const w of inst.workloads) {
    const replicas = w.kind === 'StatefulSet' && w.name === 'flow-snapshot-worker' ? snapshotReplicas : 1;
    const image = peerdbImage(w.name, version);
    out[w.name] = { template: image, pods: Array<string>(replicas).fill(image), notReady: undefined };
    if (w.kind === 'StatefulSet') {
      out[w.name]!.partition = 0;
      out[w.name]!.revisions = { currentIsUpdate: true, pods: Object.fromEntries(Array.from({ length: replicas }, (_, i) => [`${w.name}-${i}`, 'update'])) };
    }
  }
  return out;
}

/** The live (not terminating) pods of a component, by the chart's selector. */
export async function livePods(kubeconfig: string, namespace: string, component: string, instance = 'peerdb'): Promise<any[]> {
  const selector = encodeURIComponent(`app=${component},app.kubernetes.io/instance=${instance}`);
  const list = await getJson(kubeconfig, `/api/v1/namespaces/${namespace}/pods?labelSelector=${selector}`);
  return (list?.items ?? []).filter((p: any) => !p.metadata.deletionTimestamp).sort((a: any, b: any) => a.metadata.name.localeCompare(b.metadata.name));
}

/** Pod name -> uid of every pod in the namespace, to show that nothing restarted. */
export async function podUids(kubeconfig: string, namespace: string): Promise<Record<string, string>> {
  const list = await getJson(kubeconfig, `/api/v1/namespaces/${namespace}/pods`);
  return Object.fromEntries((list?.items ?? []).map((p: any) => [p.metadata.name, p.metadata.uid]));
}

export const MANAGED_BY_SELECTOR = 'app.kubernetes.io/managed-by=peerdb-upgrade';
export const STEP_LABEL = 'peerdb-upgrade.peerdb.io/step';
export const RUN_LABEL = 'peerdb-upgrade.peerdb.io/run';

export interface UpgradeJob {
  name: string;
  uid: string;
  /** The step label: maintenance-start, init-<name>, maintenance-end. */
  step: string;
  run: string;
  image: string;
  created: string;
  completed: string | undefined;
  succeeded: number;
  failed: number;
}

/** The Jobs peerdb-upgrade created in a namespace, oldest first. */
export async function upgradeJobs(kubeconfig: string, namespace: string): Promise<UpgradeJob[]> {
  const list = await getJson(kubeconfig, `/apis/batch/v1/namespaces/${namespace}/jobs?labelSelector=${encodeURIComponent(MANAGED_BY_SELECTOR)}`);
  return (list?.items ?? [])
    .map((j: any) => ({
      name: j.metadata.name,
      uid: j.metadata.uid,
      step: j.metadata.labels?.[STEP_LABEL],
      run: j.metadata.labels?.[RUN_LABEL],
      image: j.spec.template.spec.containers[0].image,
      created: j.metadata.creationTimestamp,
      completed: j.status?.completionTime,
      succeeded: j.status?.succeeded ?? 0,
      failed: j.status?.failed ?? 0,
    }))
    // creationTimestamp has whole seconds: Jobs created within one second keep the plan's order.
    .sort((a: UpgradeJob, b: UpgradeJob) => a.created.localeCompare(b.created) || stepRank(a.step) - stepRank(b.step) || a.name.localeCompare(b.name));
}

function stepRank(step: string | undefined): number {
  return step === 'maintenance-start' ? 0 : step === 'maintenance-end' ? 2 : 1;
}

/** The parsed checkpoint (ConfigMap `<name>-peerdb-upgrade`, key checkpoint.json), or undefined. */
export async function readCheckpoint(kubeconfig: string, namespace: string, name = 'peerdb'): Promise<any | undefined> {
  const cm = await getJson(kubeconfig, `/api/v1/namespaces/${namespace}/configmaps/${name}-peerdb-upgrade`);
  return cm ? JSON.parse(cm.data['checkpoint.json']) : undefined;
}

/** The lock (Lease `<name>-peerdb-upgrade`), or undefined. */
export async function readLease(kubeconfig: string, namespace: string, name = 'peerdb'): Promise<any | undefined> {
  return getJson(kubeconfig, `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}-peerdb-upgrade`);
}
