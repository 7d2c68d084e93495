import { isClusterError } from '../cluster/cluster-error.js';
import type { ClusterPort } from '../cluster/port.js';
import type { Plan, Step } from '../plan/plan-types.js';
import type { ClusterSpec } from '../spec/schema.js';
import { preparePatch } from './roll-statefulset.js';
import { runPreflight } from './run-preflight.js';
import { withRunLabel } from './run-job.js';
import { StepFailure } from './step-failure.js';

export interface DryRunResult {
  readonly step: Step;
  readonly ok: boolean;
  readonly message: string;
}

/**
 * Sends each mutation of the plan with dryRun=All: the API server validates and admits it (RBAC,
 * admission webhooks, quota, schema) and persists nothing — not even the checkpoint or the lock.
 */
export async function serverDryRun(cluster: ClusterPort, spec: ClusterSpec, plan: Plan): Promise<DryRunResult[]> {
  const ns = spec.namespace;
  const dry = { dryRun: true };
  const results: DryRunResult[] = [];
  for (const step of plan.steps) {
    try {
      results.push({ step, ok: true, message: await dryRunStep(step) });
    } catch (error) {
      if (error instanceof StepFailure || isClusterError(error)) results.push({ step, ok: false, message: error.message });
      else throw error;
    }
  }
  return results;

  async function dryRunStep(step: Step): Promise<string> {
    switch (step.kind) {
      case 'preflight':
        return runPreflight(cluster, spec, plan, { checkHealth: true });
      case 'verify-mirrors':
        return 'would read the mirrors through flow-api (a read: nothing to dry-run)';
      case 'pre-pull':
        return `would pull ${step.images.length} images onto the nodes running the installation (best effort: its Jobs depend on the nodes at the time)`;
      case 'maintenance-start':
      case 'maintenance-end':
      case 'init-job':
        try {
          await cluster.createJob(ns, withRunLabel(step.manifest, 'dry-run', plan.hash), dry);
          return `would create Job ${step.job}`;
        } catch (error) {
          if (isClusterError(error, 'already-exists')) return `Job ${step.job} exists; it would be adopted or replaced`;
          throw error;
        }
      case 'deployment-rollout': {
        const w = step.workload;
        await cluster.patchWorkload(ns, { kind: 'Deployment', name: w.name }, { image: { container: w.container, image: step.image } }, dry);
        return `would set ${w.container} image to ${step.image}`;
      }
      case 'statefulset-prepare': {
        // The very patch the executor would send, from the StatefulSet as it is now.
        const ref = { kind: 'StatefulSet' as const, name: step.workload.name };
        const current = await cluster.getWorkload(ns, ref);
        if (!current) throw new StepFailure(`StatefulSet ${ns}/${ref.name} does not exist`);
        const patch = preparePatch(step, current);
        if (!patch) return `${ref.name} already has image ${step.image}`;
        await cluster.patchWorkload(ns, ref, patch, dry);
        return `would set ${step.workload.container} image to ${step.image}${patch.partition !== undefined ? ` and partition ${patch.partition}` : ''}`;
      }
      case 'statefulset-pod': {
        const w = step.workload;
        if (w.strategy === 'OnDelete') {
          await cluster.deletePod(ns, `${w.name}-${step.ordinal}`, dry);
          return `would delete pod ${w.name}-${step.ordinal}`;
        }
        await cluster.patchWorkload(ns, { kind: 'StatefulSet', name: w.name }, { partition: step.ordinal }, dry);
        return `would set partition ${step.ordinal}`;
      }
      case 'complete': {
        const existing = await cluster.getConfigMap(ns, spec.checkpointName);
        await cluster.writeConfigMap(ns, spec.checkpointName, { data: { 'checkpoint.json': '{}' }, labels: {} }, existing?.resourceVersion, dry);
        const lease = await cluster.getLease(ns, spec.leaseName);
        const now = new Date().toISOString();
        await cluster.writeLease(ns, spec.leaseName, { holderIdentity: 'dry-run', leaseDurationSeconds: 60, acquireTime: now, renewTime: now, annotations: {}, labels: {} }, lease?.resourceVersion, dry);
        return `would write ConfigMap ${spec.checkpointName} and Lease ${spec.leaseName}`;
      }
    }
  }
}
