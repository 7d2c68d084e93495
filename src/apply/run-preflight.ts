import type { ClusterPort } from '../cluster/port.js';
import type { WorkloadState } from '../cluster/types.js';
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
  // The health reads go out with the access review: neither changes anything, and together the
  // preflight costs the slowest read, not the sum of them.
  const planned = spec.components.filter((component) => plan.steps.some((s) => componentOf(s) === component.name));
  // A read that fails is reported after the permissions, which explain more.
  const health = options.checkHealth
    ? Promise.all(planned.map((component) => cluster.getWorkload(spec.namespace, component.ref))).then((workloads) => ({ workloads }), (error: unknown) => ({ error }))
    : undefined;
  const denied = await cluster.deniedAccess(spec.namespace, accessChecksFor(plan));
  if (denied.length > 0) {
    throw new MissingAccess(`missing permissions in namespace ${spec.namespace}: ${denied.map(describeCheck).join(', ')}`, spec.namespace);
  }
  if (!health) return 'permissions granted';
  const read = await health;
  if ('error' in read) throw read.error;
  const { workloads } = read;
  const unhealthy: string[] = [];
  // Commands that wait for the workloads whose pods are not all Ready: they may only be starting
  // (a `helm upgrade` just before, or the pod a killed run was restarting), which needs no fix.
  const waits: string[] = [];
  for (const [i, component] of planned.entries()) {
    const w = workloads[i];
    if (!w) {
      unhealthy.push(`${component.workload} not found`);
      continue;
    }
    const before = unhealthy.length;
    if (component.ref.kind === 'StatefulSet') {
      for (const pod of w.pods) {
        if (!pod.ready) unhealthy.push(`pod ${pod.name} not Ready${pod.waitingReason ? ` (${pod.waitingReason})` : ''}`);
      }
      if (w.pods.length < w.replicas) unhealthy.push(`${component.workload}: ${w.pods.length}/${w.replicas} pods exist`);
    } else if (w.readyReplicas < w.replicas) {
      unhealthy.push(`${component.workload}: ${w.readyReplicas}/${w.replicas} Ready`);
    }
    if (unhealthy.length > before) {
      const waiting = waitCommand(spec.namespace, w);
      if (waiting) waits.push(waiting);
    }
  }
  if (unhealthy.length > 0) {
    const wait = waits.join(' && ');
    throw new StepFailure(
      `the installation is not healthy enough to start an upgrade: ${unhealthy.join('; ')}`,
      waits.length > 0 ? `fix these first (pods that are only starting need no fix: wait with \`${wait}\`), then run again; nothing was changed` : 'fix these first; nothing was changed',
    );
  }
  return 'permissions granted, every workload Ready';
}

/**
 * A command that returns once the workload's pods are Ready: `kubectl rollout status` (which also
 * waits for a StatefulSet's partitioned roll), or for an OnDelete StatefulSet, which rollout status
 * refuses, `kubectl wait` on the pods that are not Ready. Undefined when there is none to wait on.
 */
function waitCommand(namespace: string, w: WorkloadState): string | undefined {
  if (w.kind === 'StatefulSet' && w.strategy === 'OnDelete') {
    const pods = w.pods.filter((p) => !p.ready).map((p) => `pod/${p.name}`);
    return pods.length > 0 ? `kubectl -n ${namespace} wait --for=condition=Ready ${pods.join(' ')} --timeout=10m` : undefined;
  }
  return `kubectl -n ${namespace} rollout status ${w.kind.toLowerCase()}/${w.name} --timeout=10m`;
}
