/**
 * A PeerDB installation shaped like the PeerDB Helm chart, for end-to-end tests against the
 * throw-away control plane (see harness.ts). Pods are played by the pod simulator; an image whose
 * tag contains a misbehaviour marker (crashloop, badimage, configerror, notready, fail, ...) makes
 * that component misbehave -- see test/cluster/README.md.
 */
import type { V1Container, V1Deployment, V1StatefulSet } from '@kubernetes/client-node';
import { clients, getJson, waitFor } from './harness.js';

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

function container(component: Component, image: string): V1Container {
  return {
    name: component,
    image,
    imagePullPolicy: 'IfNotPresent',
    ports: PORTS[component].map((p) => ({ ...p, protocol: 'TCP' })),
    env: [{ name: 'PEERDB_CATALOG_PASSWORD', valueFrom: { secretKeyRef: { name: CATALOG_SECRET, key: 'password' } } }],
    envFrom: [{ configMapRef: { name: CONFIG_MAP } }],
    resources: { requests: { cpu: '100m', memory: '128Mi' } },
  };
}

function podTemplate(component: Component, image: string, instance: string, graceSeconds?: number) {
  return {
    metadata: { labels: chartLabels(component, instance) },
    spec: {
      containers: [container(component, image)],
      ...(graceSeconds !== undefined ? { terminationGracePeriodSeconds: graceSeconds } : {}),
    },
  };
}

function selector(component: Component, instance: string) {
  return { matchLabels: { app: component, 'app.kubernetes.io/instance': instance } };
}

function deployment(component: Component, image: string, instance: string): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: component, labels: chartLabels(component, instance) },
    spec: {
      replicas: 1,
      selector: selector(component, instance),
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      template: podTemplate(component, image, instance),
    },
  };
}

function statefulSet(component: Component, image: string, instance: string, replicas: number, policy: 'OrderedReady' | 'Parallel', grace?: number): V1StatefulSet {
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
      template: podTemplate(component, image, instance, grace),
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
      await apps.createNamespacedStatefulSet({ namespace, body: statefulSet(c, images[c], instance, replicas, policy, grace) });
      workloads.push({ kind: 'StatefulSet', name: c });
    } else {
      await apps.createNamespacedDeployment({ namespace, body: deployment(c, images[c], instance) });
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
