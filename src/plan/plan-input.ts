import type { HelmReleaseRead } from '../cluster/helm-release.js';
import type { WorkloadState } from '../cluster/types.js';
import type { PeerDBObservation } from '../peerdb/flow-api.js';
import { hashOf } from './hash.js';

/** What the planner knows of the cluster in a live plan. */
export interface ObservedState {
  /** Keyed by the spec's workload reference, e.g. `StatefulSet/flow-snapshot-worker`; undefined = not found. */
  readonly workloads: ReadonlyMap<string, WorkloadState | undefined>;
  /** An unfinished run recorded in the checkpoint, if any. */
  readonly unfinishedRun?: { readonly to: string; readonly stoppedAt: string | undefined } | undefined;
  /** Helm releases that own workloads, keyed `namespace/release` (ownership.ts releaseKey). */
  readonly helmReleases?: ReadonlyMap<string, HelmReleaseRead> | undefined;
  /** Every Deployment and StatefulSet of the namespace, to name PeerDB workloads the spec leaves out. */
  readonly namespaceWorkloads?: readonly WorkloadState[] | 'forbidden' | undefined;
  /**
   * The StatefulSet partitions the user had, as recorded by a run that did not finish (by workload
   * reference): the partition found now may be the one that run left mid-roll, not the user's.
   */
  readonly userPartitions?: ReadonlyMap<string, number> | undefined;
  /** PeerDB's own state from flow-api (live, with maintenance mode). */
  readonly peerdb?: PeerDBObservation | undefined;
}

/**
 * What a plan starts from: offline, the version every named workload is assumed to run (unknown
 * without --from); live, what was observed in the cluster.
 */
export type PlanBasis = { readonly mode: 'offline'; readonly from?: string | undefined } | { readonly mode: 'live'; readonly observed: ObservedState };

export interface PlanOptions {
  readonly allowDowngrade?: boolean | undefined;
  /** Where the user installs the Helm chart from: fills CHART in the advised `helm upgrade`. */
  readonly helmChart?: string | undefined;
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
