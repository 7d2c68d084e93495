// fs.promises, read when called: loading node:fs/promises costs every start ~6 ms (scripts/build.mjs).
import { promises as fsp } from 'node:fs';
import type { Command } from 'commander';
import { readUnfinishedRun } from '../../apply/checkpoint-store.js';
import { CannotListWorkloads, initSpec } from '../../discover/init-spec.js';
import { UserError } from '../../errors.js';
import { ExitCode } from '../../exit-code.js';
import { summaryLine } from '../../plan/summary-line.js';
import { connect, printTarget } from '../connect.js';
import type { GlobalOptions } from '../global-options.js';
import { colourLevel, makeStyle } from '../io.js';
import { nextCommands, planWords } from '../plan-words.js';
import type { CommandContext } from '../main.js';

interface InitFlags {
  to?: string;
  out?: string;
  force?: boolean;
}

export function registerInit(program: Command, context: CommandContext): void {
  program
    .command('init')
    .description('write a cluster spec from what a namespace runs (-n, else the context\'s namespace); checks that it plans')
    .option('--to <version>', 'the target version (default: the version the namespace runs)')
    .option('-o, --out <file>', 'write the spec to this file (default: stdout)')
    .option('--force', 'with --out: overwrite an existing file')
    .action(async (flags: InitFlags, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const { io } = context;
      const style = makeStyle(colourLevel(io, io.stderr, globals.color));
      const cluster = await connect(globals, io);
      const namespace = globals.namespace ?? cluster.target.namespace;
      printTarget(cluster, namespace, io, style);
      const invocation = ['peerdb-upgrade init', '-n', namespace, ...(flags.to ? ['--to', flags.to] : [])].join(' ');
      const result = await initSpec(cluster, { namespace, to: flags.to, file: flags.out ?? 'init', command: invocation, readCheckpoint: (s) => readUnfinishedRun(cluster, s) }).catch((error: unknown) => {
        if (!(error instanceof CannotListWorkloads)) throw error;
        throw new UserError(error.message, { hint: `init needs list on deployments and statefulsets (apps); \`${nextCommands({ specFile: undefined }).rbac(error.namespace)}\` prints a Role with it` });
      });

      if (flags.out !== undefined) {
        try {
          await fsp.writeFile(flags.out, result.text, { flag: flags.force ? 'w' : 'wx' });
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'EEXIST') throw new UserError(`-o ${flags.out}: the file exists; nothing was written`, { hint: 'pass --force to overwrite it, or another -o FILE' });
          throw new UserError(`-o ${flags.out}: cannot write (${code ?? 'error'})`);
        }
      } else {
        io.stdout.write(result.text);
      }

      const d = result.discovery;
      const where = flags.out ?? 'stdout';
      const versions = d.oldest && d.newest ? (d.oldest.tag === d.newest.tag ? d.oldest.tag : `${d.oldest.tag}–${d.newest.tag}`) : 'unknown versions';
      const helm = d.helm.length > 0 ? ` (Helm release ${d.helm.map((h) => h.release).join(', ')})` : '';
      io.stderr.write(`wrote the spec to ${where}: ${d.found.map((f) => `${f.name} (${f.workload})`).join(', ')} on ${versions}${helm}\n`);
      io.stderr.write(`maintenance mode: ${d.maintenance.usable ? 'on' : 'off'} — ${d.maintenance.reason}\n`);
      io.stderr.write(`${summaryLine(result.plan)}\n`);
      // The spec init wrote names its namespace: commands on it need only -f.
      const words = planWords({ specFile: flags.out });
      for (const warning of result.plan.warnings) io.stderr.write(style.warn(`warning: ${words.note(warning)}\n`));
      if (d.undecided.length > 0) {
        io.stderr.write(style.warn(`could not decide (${d.undecided.length}); settle these in the spec before you apply:\n`));
        for (const line of d.undecided) io.stderr.write(style.warn(`  - ${line}\n`));
      }
      if (flags.out !== undefined) io.stderr.write(`next: peerdb-upgrade plan -f ${flags.out}\n`);
      context.setExitCode(ExitCode.Success);
    });
}
