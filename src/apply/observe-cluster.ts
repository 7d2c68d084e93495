import type { HelmReleaseRead } from '../cluster/helm-release.js';
import type { ClusterReader } from '../cluster/port.js';
import type { WorkloadState } from '../cluster/types.js';
import { releaseKey } from '../plan/ownership.js';
import type { ObservedState } from '../plan/plan-input.js';
import type { ClusterSpec } from '../spec/schema.js';
import { observePeerDB } from '../peerdb/flow-api.js';

/** Reads what the planner needs: every workload the spec names, their Helm releases, PeerDB's own state (with maintenance mode), and optionally an unfinished run. */
export async function observeCluster(spec: ClusterSpec, cluster: ClusterReader, readUnfinishedRun?: () => Promise<ObservedState['unfinishedRun']>): Promise<ObservedState> {
  // The reads do not depend on each other (the Helm releases excepted, read once the workloads
  // name them): asked together, the start costs the slowest of them, not their sum.
  const [entries, namespaceWorkloads, peerdb, unfinishedRun] = await Promise.all([
    Promise.all(spec.components.map(async (component) => [component.workload, await cluster.getWorkload(spec.namespace, component.ref)] as const)),
    cluster.listWorkloads(spec.namespace),
    // PeerDB's own state matters where maintenance mode pauses mirrors.
    spec.maintenance ? observePeerDB(cluster, spec) : undefined,
    readUnfinishedRun?.(),
  ]);
  const workloads = new Map(entries);
  return { workloads, unfinishedRun, helmReleases: await readHelmReleases(workloads, cluster), namespaceWorkloads, ...(peerdb ? { peerdb } : {}) };
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
