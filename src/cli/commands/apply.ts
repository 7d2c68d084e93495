import { Option, type Command } from 'commander';
import { durationArgument } from '../global-options.js';
import type { CommandContext } from '../main.js';
import type { ApplyFlags } from './apply-action.js';

export function registerApply(program: Command, context: CommandContext): void {
  program
    .command('apply')
    .description('upgrade: run the plan step by step, checkpointing after every step')
    .option('-f, --file <spec>', 'cluster spec file (YAML)')
    .option('--plan <file>', 'apply a plan saved by `plan --out`, exactly, without asking again')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--resume', 'continue the unfinished run recorded in the checkpoint (a run with none starts as usual)')
    .option('--restart', 'discard an unfinished run (not while it holds maintenance mode) and start over')
    .addOption(new Option('--dry-run <mode>', 'send every change with dryRun=All; nothing persists').choices(['server']))
    .option('--timeout <duration>', 'bound on the whole run, e.g. 2h', durationArgument('--timeout'))
    .option('--lock-timeout <duration>', 'wait this long for another run to release the lock', durationArgument('--lock-timeout'), 0)
    .addOption(new Option('-o, --output <format>', 'progress format').choices(['text', 'json']).default('text'))
    .option('--allow-downgrade', 'allow a downgrade (catalog migrations are forward-only: restore the catalog first)')
    .option('--reconciliation-suspended', 'Argo CD / Flux manage the workloads and their reconciliation is suspended (else apply refuses)')
    .option('--helm-chart <ref>', 'where the Helm release\'s chart is installed from (repo/chart or a directory), for the advised `helm upgrade`')
    .option('--helm-values-out <file>', 'write the Helm values that make the release agree with the upgrade (YAML to commit)')
    .action(async (flags: ApplyFlags, command: Command) => {
      const { applyAction } = await import('./apply-action.js');
      await applyAction(flags, command, context);
    });
}
