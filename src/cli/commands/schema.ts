import type { Command } from 'commander';
import { ExitCode } from '../../exit-code.js';
import { JSON_SCHEMA_FILE, renderJsonSchema } from '../../spec/json-schema.js';
import type { CommandContext } from '../main.js';

export function registerSchema(program: Command, context: CommandContext): void {
  program
    .command('schema')
    .description(`print the JSON Schema of the cluster spec file (checked in as ${JSON_SCHEMA_FILE}, for editors)`)
    .action(() => {
      context.io.stdout.write(renderJsonSchema());
      context.setExitCode(ExitCode.Success);
    });
}
