import type { Command } from 'commander';
import { describeLease, runIdOf } from '../../apply/lock.js';
import { UserError } from '../../errors.js';
import { ExitCode } from '../../exit-code.js';
import { loadSpecFile } from '../../spec/load-spec.js';
import { openSpecOnCluster } from '../connect.js';
import type { GlobalOptions } from '../global-options.js';
import type { CommandContext } from '../main.js';

export function registerUnlock(program: Command, context: CommandContext): void {
  program
    .command('unlock')
    .description("release a dead run's lock; the checkpoint stays, so `apply --resume` continues")
    .requiredOption('-f, --file <spec>', 'cluster spec file (YAML)')
    .requiredOption('--force <run-id>', 'the run id the lock names (see `status`), as a guard against releasing the wrong one')
    .action(async (flags: { file: string; force: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const { io } = context;
      const { cluster, spec } = await openSpecOnCluster(await loadSpecFile(flags.file), globals, io);
      const lease = await cluster.getLease(spec.namespace, spec.leaseName);
      if (!lease?.holderIdentity) {
        io.stdout.write(`No lock is held (Lease ${spec.namespace}/${spec.leaseName}).\n`);
        context.setExitCode(ExitCode.Success);
        return;
      }
      if (runIdOf(lease) !== flags.force && lease.holderIdentity !== flags.force) {
        throw new UserError(`the lock is held by ${describeLease(lease, Date.now())}, not by ${flags.force}`, { hint: `to release it: --force ${runIdOf(lease)}` });
      }
      await cluster.deleteLease(spec.namespace, spec.leaseName, lease.resourceVersion);
      io.stdout.write(`Released the lock of run ${runIdOf(lease)}. If that run is still alive, it stops at its next step.\n`);
      context.setExitCode(ExitCode.Success);
    });
}
