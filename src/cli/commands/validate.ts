import type { Command } from 'commander';
import { ExitCode } from '../../exit-code.js';
import { loadSpecFile, resolveSpec } from '../../spec/load-spec.js';
import type { GlobalOptions } from '../global-options.js';
import type { CommandContext } from '../main.js';

export function registerValidate(program: Command, context: CommandContext): void {
  program
    .command('validate')
    .description('check a cluster spec file; touches no cluster')
    .requiredOption('-f, --file <spec>', 'cluster spec file (YAML)')
    .action(async (options: { file: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const loaded = await loadSpecFile(options.file);
      const spec = resolveSpec(loaded.document, { namespaceFlag: globals.namespace });
      const components = spec.components.map((c) => c.name).join(', ');
      context.io.stdout.write(
        `${options.file}: valid — ${spec.namespace}/${spec.name} to ${spec.version}; components: ${components}; ` +
          `init jobs: ${spec.initJobs.length}; maintenance: ${spec.maintenance ? 'on' : 'off'}\n`,
      );
      context.setExitCode(ExitCode.Success);
    });
}
