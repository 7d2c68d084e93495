/** A step could not finish: its reason, and an optional detail such as a pod's log tail. */
export class StepFailure extends Error {
  constructor(
    message: string,
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'StepFailure';
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
