import type { EnvFromSource, EnvVar, JobManifest, WorkloadKind } from '../cluster/types.js';
import type { PlanOwnership } from './ownership.js';

export const STEP_KINDS = [
  'preflight',
  'maintenance-start',
  'init-job',
  'deployment-rollout',
  'statefulset-prepare',
  'statefulset-pod',
  'maintenance-end',
  'verify-mirrors',
  'complete',
] as const;
export type StepKind = (typeof STEP_KINDS)[number];

/** One field a step changes: `object` is Kind/name, `field` a readable path. */
export interface Change {
  readonly object: string;
  readonly field: string;
  readonly from: string | number | null;
  readonly to: string | number | null;
}

export interface StepWorkload {
  readonly kind: WorkloadKind;
  readonly name: string;
  readonly container: string;
  /** StatefulSet update strategy: RollingUpdate is rolled by partition, OnDelete by deleting pods. */
  readonly strategy: string;
}

/** Where a Job's env comes from when it could not be read (an offline plan). */
export interface EnvSource {
  readonly component: string;
  readonly workload: string;
  readonly container: string;
  /** Variables added on top of the copied ones. */
  readonly extra: readonly EnvVar[];
}

export interface Step {
  readonly id: string;
  readonly kind: StepKind;
  readonly title: string;
  readonly component?: string;
  readonly ordinal?: number;
  /** Jobs: the Job's name. */
  readonly job?: string;
  readonly workload?: StepWorkload;
  /** The image the step sets (rollouts, prepare) or the Job runs. */
  readonly image?: string;
  readonly changes: readonly Change[];
  readonly manifest?: JobManifest;
  /** Offline plans cannot read the env a Job copies; apply resolves it. */
  readonly envSource?: EnvSource;
  /** Bound on the step's wait, from the spec. */
  readonly timeoutMs?: number;
  /** StatefulSet pod steps: the partition to leave when the last pod is done (the user's own). */
  readonly finalPartition?: number;
}

/** PeerDB's own view before the upgrade (live plans with maintenance mode), from flow-api. */
export interface PlanPeerDB {
  readonly reachable: boolean;
  /** Why flow-api could not be asked. */
  readonly reason?: string;
  readonly instance?: string;
  readonly version?: string;
  readonly mirrors: readonly { readonly name: string; readonly status: string }[];
  /** Running now: maintenance-start pauses them, maintenance-end resumes them. */
  readonly willPause: readonly string[];
  /** In snapshot, setup or another in-between state: maintenance-start waits for them. */
  readonly waitFor: readonly string[];
  /** Paused (by the user) or stopped: left alone. */
  readonly leftAlone: readonly string[];
}

export interface PlanSummary {
  readonly steps: number;
  readonly jobs: number;
  readonly components: number;
  readonly podRestarts: number;
}

export interface Plan {
  readonly cluster: { readonly name: string; readonly namespace: string };
  readonly mode: 'offline' | 'live';
  /** Lowest version the components run now (unknown offline without --from). */
  readonly from: string | undefined;
  readonly to: string;
  /** Each component's current version as read from its image tag ('unknown' when not a version). */
  readonly componentVersions: Readonly<Record<string, string>>;
  /** sha256 of the steps: equal plans have equal hashes. */
  readonly hash: string;
  readonly steps: readonly Step[];
  readonly warnings: readonly string[];
  readonly notices: readonly string[];
  /** Live plans: who manages each workload, and how to make a Helm release agree. */
  readonly ownership?: PlanOwnership;
  readonly summary: PlanSummary;
  /** Live plans with maintenance mode: the mirrors and what the upgrade does to them. */
  readonly peerdb?: PlanPeerDB;
}

export type { EnvFromSource, EnvVar };
