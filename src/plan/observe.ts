import type { ClusterReader } from '../cluster/port.js';
import { hashOf } from './hash.js';
import type { WorkloadKind } from '../cluster/types.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { ObservedState } from './compute-plan.js';

/** Reads what the planner needs; the only part of planning that awaits. */
export async function observeCluster(spec: ClusterSpec, cluster: ClusterReader, readCheckpoint: (spec: ClusterSpec) => Promise<ObservedState['unfinishedRun']>): Promise<ObservedState> {
  const entries = await Promise.all(
    spec.components.map(async (component) => {
      const [kind, name] = component.workload.split('/') as [WorkloadKind, string];
      return [component.workload, await cluster.getWorkload(spec.namespace, { kind, name })] as const;
    }),
  );
  return { workloads: new Map(entries), unfinishedRun: await readCheckpoint(spec) };
}

/** What a saved plan records of the cluster, to tell that the cluster moved on since. */
export function observedFingerprint(observed: ObservedState): string {
  const view = [...observed.workloads].map(([ref, w]) =>
    w
      ? {
          ref,
          images: w.containers.map((c) => `${c.name}=${c.image}`),
          replicas: w.replicas,
          strategy: w.strategy,
          partition: w.partition,
          updateRevision: w.updateRevision ?? null,
        }
      : { ref, missing: true },
  );
  return hashOf(view);
}
