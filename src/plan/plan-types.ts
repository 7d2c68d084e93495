import type { EnvFromSource, EnvVar, JobManifest, WorkloadKind } from '../cluster/types.js';
import type { PlanOwnership } from './ownership.js';

export const STEP_KINDS = [
  'preflight',
  'pre-pull',
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

interface StepBase {
  readonly id: string;
  readonly title: string;
  readonly changes: readonly Change[];
}

/** Read-only checks before anything changes; and the end of a run. */
export interface PreflightStep extends StepBase {
  readonly kind: 'preflight';
}
export interface CompleteStep extends StepBase {
  readonly kind: 'complete';
}

/** After maintenance end: PeerDB, asked through flow-api, is out of maintenance with its mirrors running again. */
export interface VerifyMirrorsStep extends StepBase {
  readonly kind: 'verify-mirrors';
  /** Bound on the wait for the paused mirrors to run again (spec.flowApi.verifyTimeout). */
  readonly timeoutMs: number;
}

/**
 * spec.rollout.prePull: the images the upgrade will run, pulled onto the nodes that run the
 * installation, before maintenance starts. Best effort, bounded by timeoutMs.
 */
export interface PrePullStep extends StepBase {
  readonly kind: 'pre-pull';
  readonly images: readonly string[];
  readonly timeoutMs: number;
}

export const JOB_STEP_KINDS = ['maintenance-start', 'init-job', 'maintenance-end'] as const;
export type JobStepKind = (typeof JOB_STEP_KINDS)[number];

/** Runs one Job to completion. */
export interface JobStep extends StepBase {
  readonly kind: JobStepKind;
  /** The Job's name. */
  readonly job: string;
  /** The image the Job runs. */
  readonly image: string;
  readonly manifest: JobManifest;
  /** Offline plans cannot read the env a Job copies; apply resolves it. */
  readonly envSource?: EnvSource;
  /** Bound on the Job, from the spec. */
  readonly timeoutMs: number;
}

interface WorkloadStepBase extends StepBase {
  readonly component: string;
  readonly workload: StepWorkload;
  /** The image the step sets. */
  readonly image: string;
  /** Bound on the step's wait (the component's readyTimeout). */
  readonly timeoutMs: number;
  /** spec.rollout.concurrent: the steps of one group run side by side, one lane per component. */
  readonly group?: string;
}

export interface DeploymentRolloutStep extends WorkloadStepBase {
  readonly kind: 'deployment-rollout';
}

/** Holds every pod (partition = replicas) and sets the image; OnDelete: the image only. */
export interface StatefulSetPrepareStep extends WorkloadStepBase {
  readonly kind: 'statefulset-prepare';
  readonly finalPartition: number;
}

/** Updates one pod: moves the partition to its ordinal, or (OnDelete) deletes it. */
export interface StatefulSetPodStep extends WorkloadStepBase {
  readonly kind: 'statefulset-pod';
  readonly ordinal: number;
  /** The partition to leave when the last pod is done (the user's own). */
  readonly finalPartition: number;
}

/** One step of a plan; its kind decides what it carries. */
export type Step = PreflightStep | PrePullStep | CompleteStep | VerifyMirrorsStep | JobStep | DeploymentRolloutStep | StatefulSetPrepareStep | StatefulSetPodStep;
export type ComponentStep = DeploymentRolloutStep | StatefulSetPrepareStep | StatefulSetPodStep;

export function isJobStep(step: Step): step is JobStep {
  return (JOB_STEP_KINDS as readonly string[]).includes(step.kind);
}

export function isComponentStep(step: Step): step is ComponentStep {
  return step.kind === 'deployment-rollout' || step.kind === 'statefulset-prepare' || step.kind === 'statefulset-pod';
}

/** The component a step rolls, if it rolls one. */
export function componentOf(step: Step): string | undefined {
  return isComponentStep(step) ? step.component : undefined;
}

/** The bound on a step's wait, if it waits. */
export function timeoutOf(step: Step): number | undefined {
  return isJobStep(step) || isComponentStep(step) || step.kind === 'verify-mirrors' || step.kind === 'pre-pull' ? step.timeoutMs : undefined;
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

/**
 * A note of the plan that points to a command of this tool, as data: src/cli words it
 * (cli/plan-words.ts), with the spec file and namespace of the invocation, so that the command it
 * prints works when followed literally.
 */
export type CommandNote =
  /** A run that did not finish is recorded: `apply --resume` continues it. */
  | { readonly kind: 'unfinished-run'; readonly to: string; readonly checkpoint: string; readonly stoppedAt: string | undefined }
  /** A PeerDB workload the spec leaves out (`init` shows what the namespace runs). */
  | { readonly kind: 'uncovered-workload'; readonly workload: string; readonly runs: string; readonly namespace: string }
  /** Argo CD / Flux reconcile these components: apply needs --reconciliation-suspended once it is suspended. */
  | { readonly kind: 'reconciliation-active'; readonly what: string; readonly components: readonly string[]; readonly suspend: string };

/** A warning or notice: plain text, or a note that points to a command. */
export type PlanNote = string | CommandNote;

/** How src/cli words what a rendering of the plan needs worded: notes, and the command that shows the plan in full. */
export interface PlanWords {
  note(note: PlanNote): string;
  /** `peerdb-upgrade plan -f SPEC --output text`, for the invocation at hand. */
  readonly planTextCommand: string;
  /** `peerdb-upgrade apply -f SPEC --reconciliation-suspended`: the run once GitOps is suspended. */
  readonly applySuspendedCommand: string;
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
  readonly warnings: readonly PlanNote[];
  readonly notices: readonly PlanNote[];
  /** Live plans: who manages each workload, and how to make a Helm release agree. */
  readonly ownership?: PlanOwnership;
  readonly summary: PlanSummary;
  /** Live plans with maintenance mode: the mirrors and what the upgrade does to them. */
  readonly peerdb?: PlanPeerDB;
}

export type { EnvFromSource, EnvVar };
