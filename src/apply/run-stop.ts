/**
 * Why a run stopped, as data. The core never words these for a person, never chooses an exit code
 * and never names a command to run next: src/cli/stop-message.ts does all three, in one place.
 */

/** What is known of the mirrors when a run stops. */
export type MirrorState = 'paused' | 'maybe-paused' | 'running';

/** An unfinished run recorded in the checkpoint, as refusals describe it. */
export interface UnfinishedRun {
  readonly runId: string;
  readonly to: string;
  readonly state: string;
  readonly stoppedAt: string | undefined;
  readonly error: string | undefined;
  readonly mirrorsPaused: boolean;
}

export type RunStop =
  /** A step failed; the checkpoint is saved. */
  | {
      readonly kind: 'step-failed';
      readonly step: string;
      readonly reason: string;
      readonly detail: string | undefined;
      readonly mirrors: MirrorState;
      /** The step found permissions missing in this namespace (preflight of a resumed run). */
      readonly missingAccess?: string;
    }
  /** Preflight of a new run found permissions missing; nothing was changed. */
  | { readonly kind: 'missing-access'; readonly reason: string; readonly namespace: string }
  /** SIGINT/SIGTERM; `step` is where the run stopped (undefined: before anything changed). */
  | { readonly kind: 'interrupted'; readonly step: string | undefined; readonly mirrors: MirrorState }
  /** Another live run holds the lock. */
  | { readonly kind: 'locked'; readonly lease: string; readonly holder: string; readonly runId: string | undefined }
  /** The Lease was deleted (unlock --force) or taken over while this run held it. */
  | { readonly kind: 'lock-lost' }
  /** Another run wrote the checkpoint while this one held the lock: two runs act at once. */
  | { readonly kind: 'checkpoint-taken'; readonly runId: string; readonly holder: string }
  /** The checkpoint kept moving while this run planned. */
  | { readonly kind: 'checkpoint-moved' }
  /** An unfinished run stands in the way of what was asked (a fresh run, a saved plan, a restart). */
  | { readonly kind: 'unfinished-run'; readonly run: UnfinishedRun; readonly asked: 'fresh' | 'saved-plan' | 'restart' }
  /** `--resume` with a spec whose target differs from the unfinished run's. */
  | { readonly kind: 'target-changed'; readonly runTo: string; readonly specVersion: string }
  /** `apply --plan` with a plan made --offline. */
  | { readonly kind: 'saved-plan-offline' }
  /** `maintenance start|end` by hand failed or was interrupted. */
  | { readonly kind: 'maintenance-failed'; readonly mode: 'start' | 'end'; readonly reason: string; readonly detail: string | undefined }
  | { readonly kind: 'maintenance-interrupted'; readonly mode: 'start' | 'end'; readonly namespace: string; readonly job: string }
  /** The maintenance start Job succeeded, yet PeerDB is not in maintenance mode (or mirrors still run). */
  | { readonly kind: 'maintenance-not-on'; readonly instance: string; readonly running: readonly string[]; readonly namespace: string; readonly job: string }
  /** `maintenance start|end`: the flow workers' image names no version (a digest) and no run recorded one. */
  | { readonly kind: 'running-version-unknown'; readonly mode: 'start' | 'end'; readonly workload: string; readonly image: string }
  /**
   * After maintenance end PeerDB is not back as it was: `notRunning` are the mirrors that ran before
   * the upgrade and do not now (none: PeerDB itself is not back). `step` is the run's verify step;
   * undefined after `maintenance end` by hand.
   */
  | { readonly kind: 'mirrors-not-back'; readonly step: string | undefined; readonly reason: string; readonly notRunning: readonly { readonly name: string; readonly status: string }[] }
  /** `mirrors resume` without names, and no run recorded which mirrors ran. */
  | { readonly kind: 'mirrors-unnamed'; readonly paused: readonly string[] }
  /** `mirrors resume` while PeerDB is in maintenance mode (it refuses). */
  | { readonly kind: 'mirrors-in-maintenance' }
  /** `mirrors resume`: a mirror is not paused, PeerDB refused, or it did not run after the resume (`waited`). */
  | { readonly kind: 'mirrors-not-resumed'; readonly reason: string; readonly waited: boolean }
  /** Argo CD or Flux would revert the image patches mid-upgrade; nothing was changed. */
  | { readonly kind: 'reconciliation-active'; readonly owners: readonly string[]; readonly suspend: readonly string[]; readonly commit: string };

/** Thrown by the core when a run stops for a reason in RunStop. */
export class RunStopped extends Error {
  constructor(readonly stop: RunStop) {
    super(`run stopped: ${stop.kind}`);
    this.name = 'RunStopped';
  }
}
