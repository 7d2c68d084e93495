import type { ContainerState, PodState, WorkloadState } from '../../../src/cluster/types.js';

/** Observed workloads as the adapter would report them, with only what a test cares about set. */
export function deployment(name: string, image: string, overrides: Partial<WorkloadState> = {}): WorkloadState {
  return {
    kind: 'Deployment',
    name,
    namespace: 'peerdb',
    uid: `uid-${name}`,
    generation: 1,
    observedGeneration: 1,
    replicas: 1,
    statusReplicas: 1,
    readyReplicas: 1,
    updatedReplicas: 1,
    availableReplicas: 1,
    containers: [container(name, image)],
    imagePullSecrets: [],
    serviceAccountName: undefined,
    strategy: 'RollingUpdate',
    partition: 0,
    currentRevision: undefined,
    updateRevision: undefined,
    conditions: [],
    selector: `app=${name}`,
    pods: [],
    owner: { manager: 'none' },
    ...overrides,
  };
}

export function statefulSet(name: string, image: string, replicas: number, overrides: Partial<WorkloadState> = {}): WorkloadState {
  const pods: PodState[] = Array.from({ length: replicas }, (_, ordinal) => pod(`${name}-${ordinal}`, ordinal, 'rev-old'));
  return {
    ...deployment(name, image),
    kind: 'StatefulSet',
    replicas,
    statusReplicas: replicas,
    readyReplicas: replicas,
    updatedReplicas: replicas,
    availableReplicas: replicas,
    currentRevision: 'rev-old',
    updateRevision: 'rev-old',
    pods: pods.reverse(),
    ...overrides,
  };
}

export function container(name: string, image: string, extra: Partial<ContainerState> = {}): ContainerState {
  return { name, image, env: [], envFrom: [], ...extra };
}

export function pod(name: string, ordinal: number | undefined, revision: string, overrides: Partial<PodState> = {}): PodState {
  return {
    name,
    uid: `uid-${name}`,
    ordinal,
    revision,
    ready: true,
    phase: 'Running',
    deleting: false,
    waitingReason: undefined,
    waitingMessage: undefined,
    restartCount: 0,
    images: [],
    ...overrides,
  };
}

export const image = (component: string, version: string): string => `ghcr.io/peerdb-io/${component}:stable-${version}`;

/** The Helm chart's five workloads at `version`, the snapshot worker with `snapshotReplicas`. */
export function helmInstallation(version: string, snapshotReplicas = 3): Map<string, WorkloadState | undefined> {
  const flowWorkerEnv = container('flow-worker', image('flow-worker', version), {
    env: [
      { name: 'PEERDB_CATALOG_HOST', value: 'catalog.peerdb.svc' },
      { name: 'PEERDB_CATALOG_PASSWORD', valueFrom: { secretKeyRef: { name: 'peerdb-catalog', key: 'password' } } },
      { name: 'TEMPORAL_HOST_PORT', value: 'temporal:7233' },
      { name: 'PEERDB_DEPLOYMENT_UID', value: 'uid-1234' },
      { name: 'TEMPORAL_CLIENT_KEY', value: 'literal-secret-material' },
    ],
    envFrom: [{ configMapRef: { name: 'peerdb-config' } }],
  });
  const serverEnv = container('peerdb-server', image('peerdb-server', version), {
    env: [
      { name: 'PEERDB_CATALOG_HOST', value: 'catalog.peerdb.svc' },
      { name: 'PEERDB_CATALOG_PASSWORD', valueFrom: { secretKeyRef: { name: 'peerdb-catalog', key: 'password' } } },
      { name: 'PEERDB_MIGRATIONS_DISABLED', value: 'false' },
    ],
  });
  return new Map<string, WorkloadState | undefined>([
    ['Deployment/flow-api', deployment('flow-api', image('flow-api', version))],
    ['Deployment/flow-worker', deployment('flow-worker', image('flow-worker', version), { containers: [flowWorkerEnv], imagePullSecrets: ['ghcr'] })],
    ['StatefulSet/flow-snapshot-worker', statefulSet('flow-snapshot-worker', image('flow-snapshot-worker', version), snapshotReplicas)],
    ['Deployment/peerdb-server', deployment('peerdb-server', image('peerdb-server', version), { containers: [serverEnv] })],
    ['Deployment/peerdb-ui', deployment('peerdb-ui', image('peerdb-ui', version))],
  ]);
}
