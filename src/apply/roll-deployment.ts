import type { DeploymentRolloutStep } from '../plan/plan-types.js';
import { containerImage, currentWorkload, waitUntil, type StepContext } from './step-context.js';
import { STUCK_REASONS, StepFailure } from './step-failure.js';

/** Sets the image (when it is not set yet) and waits for the rollout to finish. */
export async function rollDeployment(context: StepContext<DeploymentRolloutStep>): Promise<string> {
  const { cluster, spec, step } = context;
  const { workload, image: target } = step;
  const ref = { kind: 'Deployment' as const, name: workload.name };

  const before = await currentWorkload(context, ref);
  if (containerImage(before, workload.container) !== target) {
    await cluster.patchWorkload(spec.namespace, ref, { image: { container: workload.container, image: target } });
  }

  await waitUntil(context, { kind: 'deployments', fieldSelector: `metadata.name=${workload.name}` }, async () => {
    const d = await currentWorkload(context, ref);
    if (containerImage(d, workload.container) !== target) {
      throw new StepFailure(`Deployment ${d.name}: its image was changed to ${containerImage(d, workload.container)} by someone else during the rollout`);
    }
    const stalled = d.conditions.find((c) => c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded');
    if (stalled) throw new StepFailure(`Deployment ${d.name}: ProgressDeadlineExceeded${stalled.message ? ` (${stalled.message})` : ''}`);
    const settled = d.observedGeneration >= d.generation && d.updatedReplicas === d.replicas && d.availableReplicas === d.replicas && d.readyReplicas >= d.replicas && d.statusReplicas === d.replicas;
    if (settled) return { done: true, status: `${d.replicas}/${d.replicas} updated and available` };
    const pods = await cluster.listPods(spec.namespace, d.selector);
    const stuck = pods.find((p) => p.images.includes(target) && p.waitingReason !== undefined && STUCK_REASONS.has(p.waitingReason));
    if (stuck) throw new StepFailure(`pod ${stuck.name}: ${stuck.waitingReason}${stuck.waitingMessage ? ` (${stuck.waitingMessage})` : ''}`);
    const old = Math.max(0, d.statusReplicas - d.updatedReplicas);
    return {
      done: false,
      status: `${d.name}: ${d.updatedReplicas}/${d.replicas} updated, ${d.availableReplicas} available${old ? `, ${old} old pod${old === 1 ? '' : 's'} terminating` : ''}`,
    };
  });
  return `${workload.name} runs ${target}`;
}

