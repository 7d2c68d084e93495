import type { AccessCheck } from '../cluster/port.js';
import { isJobStep, type Plan } from '../plan/plan-types.js';

/**
 * Every API permission an upgrade uses, with why. The single source for preflight's access review
 * and for the Role that `peerdb-upgrade rbac` prints.
 */
export const ACCESS_RULES: readonly { group: string; resource: string; verbs: readonly string[]; why: string }[] = [
  { group: 'apps', resource: 'deployments', verbs: ['get', 'list', 'watch', 'patch'], why: 'read and roll Deployments; list (optional): find PeerDB workloads the spec leaves out, init, and one watch of them all for a run' },
  { group: 'apps', resource: 'statefulsets', verbs: ['get', 'list', 'watch', 'patch'], why: 'read StatefulSets, move partitions, set images; list (optional) as for Deployments' },
  { group: '', resource: 'pods', verbs: ['list', 'watch', 'delete'], why: 'judge pods by revision and readiness; delete pods of OnDelete StatefulSets (only those need delete)' },
  { group: '', resource: 'pods/log', verbs: ['get'], why: "show a failed Job pod's log tail (optional)" },
  { group: 'batch', resource: 'jobs', verbs: ['get', 'list', 'watch', 'create', 'delete'], why: 'maintenance and init Jobs, pre-pull Jobs (spec.rollout.prePull); list: Jobs of a run still active' },
  { group: '', resource: 'configmaps', verbs: ['get', 'create', 'update'], why: 'the checkpoint' },
  { group: 'coordination.k8s.io', resource: 'leases', verbs: ['get', 'create', 'update', 'delete'], why: 'the lock' },
  {
    group: '',
    resource: 'pods/portforward',
    verbs: ['get', 'create'],
    why: "read PeerDB's state from flow-api's HTTP gateway (mirrors, maintenance) and resume mirrors; a WebSocket port-forward is a GET, newer API servers also ask for create",
  },
];

/**
 * Optional, and not in the default Role: reading a Helm release's values (Secrets
 * `sh.helm.release.v1.*`) needs `list` on every Secret of the namespace, catalog password included.
 * Without it the Helm advice names the override keys to check instead of reading them.
 */
export const HELM_RELEASE_RULE = { group: '', resource: 'secrets', verbs: ['list'], why: 'read Helm release values to say how to make the release agree (optional, broad: every Secret)' } as const;

/** The checks preflight makes: what this plan needs (pods/log is optional, not checked). */
export function accessChecksFor(plan: Plan): AccessCheck[] {
  const kinds = new Set(plan.steps.map((s) => s.kind));
  const checks: AccessCheck[] = [];
  const add = (group: string, resource: string, verbs: readonly string[]) => verbs.forEach((verb) => checks.push({ verb, group, resource }));
  if (kinds.has('deployment-rollout')) add('apps', 'deployments', ['get', 'watch', 'patch']);
  if (kinds.has('statefulset-prepare') || kinds.has('statefulset-pod')) add('apps', 'statefulsets', ['get', 'watch', 'patch']);
  add('', 'pods', ['list', 'watch']);
  if (plan.steps.some((s) => s.kind === 'statefulset-pod' && s.workload.strategy === 'OnDelete')) add('', 'pods', ['delete']);
  if (plan.steps.some((s) => isJobStep(s) || s.kind === 'pre-pull')) add('batch', 'jobs', ['get', 'list', 'watch', 'create', 'delete']);
  add('', 'configmaps', ['get', 'create', 'update']);
  add('coordination.k8s.io', 'leases', ['get', 'create', 'update', 'delete']);
  if (plan.steps.some((s) => s.kind === 'verify-mirrors')) {
    for (const verb of ['get', 'create']) checks.push({ verb, group: '', resource: 'pods', subresource: 'portforward' });
  }
  return checks;
}

export function describeCheck(check: AccessCheck): string {
  return `${check.verb} ${check.resource}${check.subresource ? `/${check.subresource}` : ''}${check.group ? `.${check.group}` : ''}`;
}
