import { UserError } from '../errors.js';
import { ExitCode } from '../exit-code.js';

/** A step could not finish: its reason, and an optional detail such as a pod's log tail. */
export class StepFailure extends Error {
  constructor(
    message: string,
    readonly detail?: string,
    /** The cluster is in a state a person must look at (exit 5); `detail` says what to run. */
    readonly needsPerson = false,
  ) {
    super(message);
    this.name = 'StepFailure';
  }
}

/** The run stopped because a step failed; the checkpoint is saved. Exit 4, or 5 with mirrors paused. */
export class RunFailedError extends UserError {
  constructor(message: string, options: { mirrorsPaused: boolean; hint: string }) {
    super(message, { exitCode: options.mirrorsPaused ? ExitCode.NeedsPerson : ExitCode.StepFailed, hint: options.hint });
    this.name = 'RunFailedError';
  }
}

/** SIGINT/SIGTERM: the checkpoint is saved and the lock released. Exit 130. */
export class InterruptedError extends UserError {
  constructor(message: string, hint: string) {
    super(message, { exitCode: ExitCode.Interrupted, hint });
    this.name = 'InterruptedError';
  }
}

/** Another run holds the lock. Exit 3. */
export class LockedError extends UserError {
  constructor(message: string, hint: string) {
    super(message, { exitCode: ExitCode.Locked, hint });
    this.name = 'LockedError';
  }
}

/** Pod states that will not get better by waiting: fail the step now with the reason. */
export const STUCK_REASONS = new Set([
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImageNeverPull',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);
