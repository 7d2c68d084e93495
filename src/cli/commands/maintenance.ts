import type { Command } from 'commander';
import { ExitCode } from '../../exit-code.js';
import { loadSpecFile } from '../../spec/load-spec.js';
import { ciOutput, type CiOutputMode } from '../ci-output.js';
import { thisHost } from '../host.js';
import { wordStop } from '../stop-message.js';
import { openSpecOnCluster } from '../connect.js';
import { durationArgument, type GlobalOptions } from '../global-options.js';
import type { CommandContext } from '../main.js';

export function registerMaintenance(program: Command, context: CommandContext): void {
  const maintenance = program.command('maintenance').description("PeerDB's maintenance mode by hand (pauses or resumes mirrors)");
  for (const mode of ['start', 'end'] as const) {
    maintenance
      .command(mode)
      .description(mode === 'start' ? 'enter maintenance mode: wait for snapshots, pause mirrors' : 'leave maintenance mode: resume the paused mirrors, on the versions now running')
      .requiredOption('-f, --file <spec>', 'cluster spec file (YAML)')
      .option('--lock-timeout <duration>', 'wait this long for another run to release the lock', durationArgument('--lock-timeout'), 0)
      .option('--running-version <version>', 'the version the flow workers run, when their image does not say (an image by digest)')
      .action(async (flags: { file: string; lockTimeout: number; runningVersion?: string }, command: Command) => {
        // Loaded only when it runs: the executor's code is not needed by other commands' start-up.
        const [{ systemClock }, { runMaintenance }, { PlainProgress }, { withSignals }] = await Promise.all([
          import('../../apply/clock.js'),
          import('../../apply/run-maintenance.js'),
          import('../progress/plain-progress.js'),
          import('../signals.js'),
        ]);
        const globals = command.optsWithGlobals<GlobalOptions & { ciOutput?: CiOutputMode }>();
        const { io } = context;
        const { cluster, spec } = await openSpecOnCluster(await loadSpecFile(flags.file), globals, io);
        const progress = new PlainProgress(io.stdout, ciOutput(io.env, globals.ciOutput));
        try {
          const result = await withSignals(io, (signal) =>
            runMaintenance({ cluster, spec, mode, lockTimeoutMs: flags.lockTimeout, clock: systemClock, host: thisHost(), signal, emit: (e) => progress.handle(e), version: flags.runningVersion }),
          ).catch((error: unknown) => {
            throw wordStop(error, { specFile: flags.file, namespaceFlag: globals.namespace });
          });
          io.stdout.write(
            `Maintenance ${mode === 'start' ? 'started: mirrors are paused' : 'ended: mirrors are resumed'} (Job ${result.job}, flow-maintenance ${result.version}); ${result.verified}.\n` +
              (result.closedRun ? `The unfinished upgrade run ${result.closedRun} is closed; \`peerdb-upgrade apply -f ${flags.file}\` plans what is left.\n` : ''),
          );
        } finally {
          progress.close();
        }
        context.setExitCode(ExitCode.Success);
      });
  }
}
