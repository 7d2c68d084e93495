import { ExitCode } from '../exit-code.js';
import type { CliIO } from './io.js';

/**
 * Runs `work` with an AbortSignal tied to SIGINT/SIGTERM. The first signal asks the run to stop at a
 * safe point (finish the request in flight, save the checkpoint, release the lock); a second one
 * exits at once.
 */
export async function withSignals<T>(io: CliIO, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (name: string) => {
    if (controller.signal.aborted) {
      io.stderr.write(`\n${name} again: exiting now; the checkpoint may miss the last step (apply --resume re-checks it)\n`);
      process.exit(ExitCode.Interrupted);
    }
    io.stderr.write(`\n${name}: stopping safely (saving the checkpoint, releasing the lock); press Ctrl-C again to exit at once\n`);
    controller.abort();
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
