import type { ClusterReader } from '../cluster/port.js';
import { hashOf } from './hash.js';
import type { HelmReleaseRead } from '../cluster/helm-release.js';
import type { WorkloadKind, WorkloadState } from '../cluster/types.js';
import { releaseKey } from './ownership.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { ObservedState } from './compute-plan.js';
import { observePeerDB } from '../peerdb/flow-api.js';

/** Reads what the planner needs; the only part of planning that awaits. */
export async function observeCluster(spec: ClusterSpec, cluster: ClusterReader, readCheckpoint: (spec: ClusterSpec) => Promise<ObservedState['unfinishedRun']>): Promise<ObservedState> {
  const entries = await Promise.all(
    spec.components.map(async (component) => {
      const [kind, name] = component.workload.split('/') as [WorkloadKind, string];
      return [component.workload, await cluster.getWorkload(spec.namespace, { kind, name })] as const;
    }),
  );
  const workloads = new Map(entries);
  const namespaceWorkloads = await cluster.listWorkloads(spec.namespace);
  // PeerDB's own state matters where maintenance mode pauses mirrors.
  const peerdb = spec.maintenance ? await observePeerDB(cluster, spec) : undefined;
  return { workloads, unfinishedRun: await readCheckpoint(spec), helmReleases: await readHelmReleases(workloads, cluster), namespaceWorkloads, ...(peerdb ? { peerdb } : {}) };
}

/** The release of every Helm mark on the workloads, read once each (a `forbidden` answer is kept, not thrown). */
export async function readHelmReleases(workloads: ReadonlyMap<string, WorkloadState | undefined>, cluster: ClusterReader): Promise<ReadonlyMap<string, HelmReleaseRead>> {
  const marks = new Map<string, { namespace: string; release: string }>();
  for (const w of workloads.values()) {
    const helm = w?.owner.helm;
    if (helm) marks.set(releaseKey(helm.namespace, helm.release), { namespace: helm.namespace, release: helm.release });
  }
  const reads = await Promise.all([...marks].map(async ([key, m]) => [key, await cluster.readHelmRelease(m.namespace, m.release)] as const));
  return new Map(reads);
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
