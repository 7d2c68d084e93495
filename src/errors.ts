import { ExitCode } from './exit-code.js';

/**
 * An error the user can act on: printed as its message (one or two lines), never with a stack.
 * `hint` is the next thing to do.
 */
export class UserError extends Error {
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;

  constructor(message: string, options: { exitCode?: ExitCode; hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UserError';
    this.exitCode = options.exitCode ?? ExitCode.Error;
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

export function isUserError(error: unknown): error is UserError {
  return error instanceof UserError;
}
