/**
 * An error the user can act on (bad input, a refusal): printed as its message (one or two lines),
 * never with a stack, and exit 1. `hint` is the next thing to do. Runs that stop for other reasons
 * throw RunStopped (src/apply/run-stop.ts); the CLI chooses their exit codes.
 */
export class UserError extends Error {
  readonly hint: string | undefined;

  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UserError';
    this.hint = options.hint;
  }
}

/** Something that should never happen: printed with its stack and a request to report it. */
export class BugError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BugError';
  }
}
