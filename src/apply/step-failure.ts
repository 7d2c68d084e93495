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

/**
 * Preflight found permissions missing in `namespace`. The core names no command: the CLI points
 * to the Role `peerdb-upgrade rbac -n NAMESPACE` prints (stop-message.ts).
 */
export class MissingAccess extends StepFailure {
  constructor(
    message: string,
    readonly namespace: string,
  ) {
    super(message);
    this.name = 'MissingAccess';
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
