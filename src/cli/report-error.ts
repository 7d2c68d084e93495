import { BugError, UserError } from '../errors.js';
import { ExitCode } from '../exit-code.js';
import type { Style } from '../plan/style.js';
import type { Sink } from './io.js';
import { isClusterError } from '../cluster/cluster-error.js';
import { exitCodeOf, grantRole } from './stop-message.js';

/** The one place errors become text and exit codes. User errors never show a stack. */
export function reportError(error: unknown, stderr: Sink, style: Style): ExitCode {
  if (error instanceof UserError) {
    stderr.write(`${style.error('error:')} ${error.message}\n`);
    const hint = error.hint ?? (isClusterError(error, 'forbidden') ? grantRole(error.namespace ?? 'NAMESPACE') : undefined);
    if (hint) stderr.write(`${style.dim('hint:')} ${hint}\n`);
    return exitCodeOf(error);
  }
  const bug = error instanceof BugError ? error : new BugError(String((error as Error)?.message ?? error), { cause: error });
  const stack = error instanceof Error ? error.stack : String(error);
  stderr.write(`${style.error('internal error:')} ${bug.message}\n${stack ?? ''}\nThis is a bug in peerdb-upgrade; please report it with the output above.\n`);
  return ExitCode.Error;
}
