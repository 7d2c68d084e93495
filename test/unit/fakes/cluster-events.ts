/** The fake's public vocabulary for tests: its options, and the history of what happened in it. */
import type { FakeClock } from './fake-clock.js';
import type { WorkloadKind } from '../../../src/cluster/types.js';

export interface MemoryClusterOptions {
  readonly clock?: FakeClock;
  /** Ticks a new pod takes to become Ready (default 1). */
  readonly readyAfterTicks?: number;
  /** Ticks from a Job's creation to its end (default 2; at least 2: a pod must exist for a tick). */
  readonly jobTicks?: number;
  /** Ticks a deleted Job stays visible with deleting: true (default 0: gone at once, like Background propagation). */
  readonly jobDeletionTicks?: number;
  /**
   * Ticks from the pod that decides a Job's outcome ending to the Job controller writing
   * Complete/Failed (default 0: the same tick; the real controller batches pod updates for ~1 s).
   */
  readonly jobConditionLagTicks?: number;
  /** Clock ms per tick when time advances (default 1000). */
  readonly tickMs?: number;
  /** Namespaces that exist from the start besides `default`. */
  readonly namespaces?: readonly string[];
  /** A run-away wait stops with an error after this many ticks (default 200 000). */
  readonly maxTicks?: number;
}

export interface PodSnapshot {
  readonly ordinal: number;
  readonly revision: string | undefined;
  readonly ready: boolean;
  readonly deleting: boolean;
}

export type EventType =
  | 'image'
  | 'partition'
  | 'strategy'
  | 'pod-update'
  | 'pod-deleted'
  | 'pod-created'
  | 'pod-ready'
  | 'job-created'
  | 'job-succeeded'
  | 'job-failed'
  | 'job-deleted';

/** What happened in the cluster, in order; for asserting on the history of a rollout. */
export interface ClusterEvent {
  readonly type: EventType;
  readonly at: number;
  readonly tick: number;
  readonly namespace: string;
  /** The owning object: the workload or Job (for pod events, the pod's owner). */
  readonly kind: WorkloadKind | 'Job';
  readonly name: string;
  readonly pod?: string;
  readonly ordinal?: number;
  readonly revision?: string;
  /** image: old/new image; partition: old/new partition; strategy: old/new type; pod-update: old/new revision. */
  readonly from?: string | number;
  readonly to?: string | number;
  /** StatefulSet events: the ordinals Ready (and not terminating) at that moment. */
  readonly readyOrdinals?: readonly number[];
  /** StatefulSet events: every pod at that moment, highest ordinal first, and the update revision. */
  readonly pods?: readonly PodSnapshot[];
  readonly updateRevision?: string;
  readonly by?: 'api' | 'controller';
  readonly reason?: string;
}
