import { helmImage, helmWorkloads } from './helm-chart.js';
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

export const image = helmImage;

/** The Helm chart's five workloads at `version` (helm-chart.ts), the snapshot worker with `snapshotReplicas`. */
export function helmInstallation(version: string, snapshotReplicas = 3): Map<string, WorkloadState | undefined> {
  return new Map(
    helmWorkloads(version, snapshotReplicas).map((w): [string, WorkloadState] => {
      const containers = [container(w.name, w.image, { env: [...w.env], envFrom: [...w.envFrom] })];
      const observed =
        w.kind === 'StatefulSet'
          ? statefulSet(w.name, w.image, w.replicas, { containers })
          : deployment(w.name, w.image, { containers, imagePullSecrets: [...w.imagePullSecrets] });
      return [`${w.kind}/${w.name}`, observed];
    }),
  );
}
