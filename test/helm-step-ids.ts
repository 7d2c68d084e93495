/**
 * The steps of an upgrade of plans/helm-default.yaml on the Helm chart's installation with three
 * snapshot workers: the plan the unit and end-to-end suites both expect, in order.
 */
export const HELM_STEP_IDS: readonly string[] = [
  'preflight',
  'maintenance-start',
  'init-job/catalog-migrations',
  'deployment-rollout/flow-api',
  'deployment-rollout/flow-worker',
  'statefulset-prepare/flow-snapshot-worker',
  'statefulset-pod/flow-snapshot-worker/2',
  'statefulset-pod/flow-snapshot-worker/1',
  'statefulset-pod/flow-snapshot-worker/0',
  'deployment-rollout/peerdb-server',
  'deployment-rollout/peerdb-ui',
  'maintenance-end',
  'verify-mirrors',
  'complete',
];
