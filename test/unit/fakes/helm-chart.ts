/**
 * The PeerDB Helm chart's five workloads as the tests install them, in the chart's order: one
 * table for the in-memory cluster (MemoryCluster.seedHelm) and for observed workloads
 * (workloads.ts, helmInstallation), so both describe the same installation.
 */
import type { EnvFromSource, EnvVar, WorkloadKind } from '../../../src/cluster/types.js';

export interface HelmWorkload {
  readonly kind: WorkloadKind;
  /** The workload's name, which is also its container's. */
  readonly name: string;
  readonly image: string;
  readonly replicas: number;
  readonly env: readonly EnvVar[];
  readonly envFrom: readonly EnvFromSource[];
  readonly imagePullSecrets: readonly string[];
}

export const helmImage = (component: string, version: string): string => `ghcr.io/peerdb-io/${component}:stable-${version}`;

const CATALOG_HOST: EnvVar = { name: 'PEERDB_CATALOG_HOST', value: 'catalog.peerdb.svc' };
const CATALOG_PASSWORD: EnvVar = { name: 'PEERDB_CATALOG_PASSWORD', valueFrom: { secretKeyRef: { name: 'peerdb-catalog', key: 'password' } } };

/** The chart's workloads at `version`, the snapshot worker with `snapshotReplicas`. */
export function helmWorkloads(version: string, snapshotReplicas: number): HelmWorkload[] {
  const workload = (kind: WorkloadKind, name: string, extra: Partial<HelmWorkload> = {}): HelmWorkload => ({
    kind, name, image: helmImage(name, version), replicas: 1, env: [], envFrom: [], imagePullSecrets: [], ...extra,
  });
  return [
    workload('Deployment', 'flow-api'),
    workload('Deployment', 'flow-worker', {
      env: [
        CATALOG_HOST,
        CATALOG_PASSWORD,
        { name: 'TEMPORAL_HOST_PORT', value: 'temporal:7233' },
        { name: 'PEERDB_DEPLOYMENT_UID', value: 'uid-1234' },
        { name: 'TEMPORAL_CLIENT_KEY', value: 'literal-secret-material' },
      ],
      envFrom: [{ configMapRef: { name: 'peerdb-config' } }],
      imagePullSecrets: ['ghcr'],
    }),
    workload('StatefulSet', 'flow-snapshot-worker', { replicas: snapshotReplicas }),
    workload('Deployment', 'peerdb-server', { env: [CATALOG_HOST, CATALOG_PASSWORD, { name: 'PEERDB_MIGRATIONS_DISABLED', value: 'false' }] }),
    workload('Deployment', 'peerdb-ui'),
  ];
}
