import type { ComponentSpec } from './schema.js';

/**
 * The PeerDB Helm chart's workloads, used when a spec names no components. The snapshot worker
 * gets longer: its pods have a 600 s termination grace period.
 */
export const HELM_DEFAULT_COMPONENTS: readonly ComponentSpec[] = [
  { name: 'flow-api', workload: 'Deployment/flow-api', readyTimeout: '10m' },
  { name: 'flow-worker', workload: 'Deployment/flow-worker', readyTimeout: '10m' },
  { name: 'flow-snapshot-worker', workload: 'StatefulSet/flow-snapshot-worker', readyTimeout: '15m' },
  { name: 'peerdb-server', workload: 'Deployment/peerdb-server', readyTimeout: '10m' },
  { name: 'peerdb-ui', workload: 'Deployment/peerdb-ui', readyTimeout: '10m' },
];
