import type { ClusterPort } from '../cluster/port.js';
import { componentOf, type Plan } from '../plan/plan-types.js';
import type { ClusterSpec } from '../spec/schema.js';
import { accessChecksFor, describeCheck } from './required-access.js';
import { MissingAccess, StepFailure } from './step-failure.js';

/**
 * Read-only checks before anything changes: the permissions the plan needs, and (for a new run)
 * that every workload is healthy. Version policy and the workloads' existence were checked by
 * planning.
 */
export async function runPreflight(cluster: ClusterPort, spec: ClusterSpec, plan: Plan, options: { checkHealth: boolean }): Promise<string> {
  const denied = await cluster.deniedAccess(spec.namespace, accessChecksFor(plan));
  if (denied.length > 0) {
    throw new MissingAccess(`missing permissions in namespace ${spec.namespace}: ${denied.map(describeCheck).join(', ')}`, spec.namespace);
  }
  if (!options.checkHealth) return 'permissions granted';
  const unhealthy: string[] = [];
  for (const component of spec.components) {
    if (!plan.steps.some((s) => componentOf(s) === component.name)) continue;
    const w = await cluster.getWorkload(spec.namespace, component.ref);
    if (!w) {
      unhealthy.push(`${component.workload} not found`);
      continue;
    }
    if (component.ref.kind === 'StatefulSet') {
      for (const pod of w.pods) {
        if (!pod.ready) unhealthy.push(`pod ${pod.name} not Ready${pod.waitingReason ? ` (${pod.waitingReason})` : ''}`);
      }
      if (w.pods.length < w.replicas) unhealthy.push(`${component.workload}: ${w.pods.length}/${w.replicas} pods exist`);
    } else if (w.readyReplicas < w.replicas) {
      unhealthy.push(`${component.workload}: ${w.readyReplicas}/${w.replicas} Ready`);
    }
  }
  if (unhealthy.length > 0) {
    throw new StepFailure(`the installation is not healthy enough to start an upgrade: ${unhealthy.join('; ')}`, 'fix these first; nothing was changed');
  }
  return 'permissions granted, every workload Ready';
}
