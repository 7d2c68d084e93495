import { Command, CommanderError, Help, Option } from 'commander';
import { basename } from 'node:path';
import { ExitCode } from '../exit-code.js';
import { CI_OUTPUT_ENV, CI_OUTPUT_MODES, ciFormat, errorAnnotations, type CiOutputMode } from './ci-output.js';
import { registerApply } from './commands/apply.js';
import { registerInit } from './commands/init.js';
import { registerMaintenance } from './commands/maintenance.js';
import { registerMirrors } from './commands/mirrors.js';
import { registerPlan } from './commands/plan.js';
import { registerRbac } from './commands/rbac.js';
import { registerStatus } from './commands/status.js';
import { registerUnlock } from './commands/unlock.js';
import { registerSchema } from './commands/schema.js';
import { registerValidate } from './commands/validate.js';
import { addGlobalOptions } from './global-options.js';
import { colourLevel, makeStyle, processIO, type CliIO } from './io.js';
import { closeConnections } from './open-ports.js';
import { reportError } from './report-error.js';
import { wordStop } from './stop-message.js';
import { TOOL_VERSION } from './version.js';

/** What each command's action hands back to main(). */
export interface CommandContext {
  readonly io: CliIO;
  setExitCode(code: ExitCode): void;
}

/**
 * The name the CLI calls itself in usage lines and help: `kubectl peerdb-upgrade` when kubectl ran it
 * as the plugin `kubectl-peerdb_upgrade` (the npm bin entry, or the single executable renamed so),
 * otherwise `peerdb-upgrade`. kubectl maps a plugin's dashes to underscores in the file name.
 */
export function programName(argv: readonly string[]): string {
  const invoked = basename(argv[1] ?? '').replace(/\.(?:js|mjs|cjs|exe)$/, '');
  return invoked.startsWith('kubectl-') ? `kubectl ${invoked.slice('kubectl-'.length).replaceAll('_', '-')}` : 'peerdb-upgrade';
}

export function buildProgram(context: CommandContext, name = 'peerdb-upgrade'): Command {
  const program = new Command(name)
    .description('Upgrade PeerDB on Kubernetes without an operator: plan, apply, resume.')
    .version(TOOL_VERSION, '--version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => context.io.stdout.write(text),
      writeErr: (text) => context.io.stderr.write(text),
    });
  addGlobalOptions(program);
  // Subcommands inherit this: their --help lists the global options too, and marks required ones.
  const plainHelp = new Help();
  program.configureHelp({
    showGlobalOptions: true,
    optionDescription: (option) => {
      const text = plainHelp.optionDescription(option);
      return option.mandatory ? `(required) ${text}` : text;
    },
  });
  program.addOption(
    new Option('--ci-output <mode>', `CI log format: groups, annotations, job summary (auto: from GITHUB_ACTIONS / GITLAB_CI; also ${CI_OUTPUT_ENV}=none)`)
      .choices(CI_OUTPUT_MODES)
      .default('auto'),
  );
  registerInit(program, context);
  registerValidate(program, context);
  registerPlan(program, context);
  registerApply(program, context);
  registerStatus(program, context);
  registerUnlock(program, context);
  registerMaintenance(program, context);
  registerMirrors(program, context);
  registerRbac(program, context);
  registerSchema(program, context);
  return program;
}

/** Runs the CLI; resolves with the process exit code. Never throws for anything a user did. */
export async function main(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  let exitCode: ExitCode = ExitCode.Success;
  const context: CommandContext = { io, setExitCode: (code) => (exitCode = code) };
  const program = buildProgram(context, programName(argv));
  const colour = !argv.includes('--no-color');
  try {
    await program.parseAsync([...argv]);
    return exitCode;
  } catch (thrown) {
    // Commands word a stopped run naming their spec file; this is the fallback.
    const error = wordStop(thrown, { specFile: undefined });
    if (error instanceof CommanderError) {
      // Commander already printed its message (unknown option, missing argument, --help).
      return error.exitCode === 0 ? ExitCode.Success : ExitCode.Error;
    }
    const style = makeStyle(colourLevel(io, io.stderr, colour));
    const code = reportError(error, io.stderr, style);
    // On GitHub the same error also becomes an annotation (at the spec's line when it has one).
    io.stderr.write(errorAnnotations(ciFormat(io.env, program.opts<{ ciOutput?: CiOutputMode }>().ciOutput), error));
    return code;
  } finally {
    closeConnections();
  }
}
