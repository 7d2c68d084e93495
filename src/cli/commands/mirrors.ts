import type { Command } from 'commander';
import { ExitCode } from '../../exit-code.js';
import { loadSpecFile } from '../../spec/load-spec.js';
import { openSpecOnCluster } from '../connect.js';
import type { GlobalOptions } from '../global-options.js';
import type { CommandContext } from '../main.js';
import { wordStop } from '../stop-message.js';

export function registerMirrors(program: Command, context: CommandContext): void {
  const mirrors = program.command('mirrors').description("PeerDB's mirrors, through flow-api");
  mirrors
    .command('resume')
    .description('resume paused mirrors (default: those the last upgrade run paused that do not run now) and wait until they run')
    .argument('[names...]', 'mirror names')
    .requiredOption('-f, --file <spec>', 'cluster spec file (YAML)')
    .action(async (names: string[], flags: { file: string }, command: Command) => {
      const [{ systemClock }, { resumeMirrors }, { withSignals }] = await Promise.all([import('../../apply/clock.js'), import('../../apply/resume-mirrors.js'), import('../signals.js')]);
      const globals = command.optsWithGlobals<GlobalOptions>();
      const { io } = context;
      const { cluster, spec } = await openSpecOnCluster(await loadSpecFile(flags.file), globals, io);
      const outcome = await withSignals(io, (signal) =>
        resumeMirrors({ cluster, spec, names, clock: systemClock, signal, progress: (m) => io.stderr.write(`${m}\n`) }).catch((error: unknown) => {
          throw wordStop(error, { specFile: flags.file, namespaceFlag: globals.namespace });
        }),
      );
      const parts: string[] = [];
      if (outcome.resumed.length) parts.push(`resumed and running: ${outcome.resumed.join(', ')}`);
      if (outcome.alreadyRunning.length) parts.push(`already running: ${outcome.alreadyRunning.join(', ')}`);
      io.stdout.write(`${parts.join('; ') || 'nothing to resume: every mirror the last run paused is running'}\n`);
      context.setExitCode(ExitCode.Success);
    });
}
