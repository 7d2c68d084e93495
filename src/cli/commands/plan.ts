import { planUpgrade, type PlanRequest } from '../../apply/plan-upgrade.js';
import { Option, type Command } from 'commander';
import { UserError } from '../../errors.js';
import { ExitCode } from '../../exit-code.js';
import { renderBaseJson, renderBaseMarkdown, renderBaseText } from '../../plan/render-base.js';
import { renderJson } from '../../plan/render-json.js';
import { renderMarkdown } from '../../plan/render-markdown.js';
import { renderText } from '../../plan/render-text.js';
import { savePlan, writeSavedPlan } from '../../plan/saved-plan.js';
import { writeHelmValues } from '../helm-values-out.js';
import { loadSpecFile, resolveSpec } from '../../spec/load-spec.js';
import { ciOutput, groupAfterHead, type CiOutputMode } from '../ci-output.js';
import { openSpecOnCluster } from '../connect.js';
import { planWords } from '../plan-words.js';
import { repositoryPath } from '../repository-path.js';
import { planSourceOf } from '../flag-rules.js';
import { outputOption, type GlobalOptions } from '../global-options.js';
import { colourLevel, makeStyle } from '../io.js';
import type { CommandContext } from '../main.js';
import { TOOL_VERSION } from '../version.js';

interface PlanFlags {
  file: string;
  offline?: boolean;
  from?: string;
  output: 'text' | 'json' | 'markdown';
  out?: string;
  detailedExitcode?: boolean;
  allowDowngrade?: boolean;
  base?: string;
  dryRun?: 'server';
  helmChart?: string;
  helmValuesOut?: string;
}

export function registerPlan(program: Command, context: CommandContext): void {
  program
    .command('plan')
    .description('compute and print the upgrade plan; changes nothing')
    .requiredOption('-f, --file <spec>', 'cluster spec file (YAML)')
    .option('--offline', 'plan without a cluster: assume every workload needs the upgrade')
    .option('--from <version>', 'with --offline: the version the cluster runs now')
    .option('--base <spec>', 'plan the change from this earlier revision of the spec, offline (pull requests; see docs/ci.md)')
    .addOption(outputOption())
    .option('--out <file>', 'also save the plan, for `apply --plan FILE`')
    .option('--detailed-exitcode', 'exit 0 when there is nothing to do, 2 when there are changes')
    .addOption(new Option('--dry-run <mode>', 'also send every change the plan makes with dryRun=All and report what the API server refuses').choices(['server']))
    .addOption(new Option('--allow-downgrade', 'plan a downgrade (catalog migrations are forward-only: restore the catalog first)'))
    .option('--helm-chart <ref>', 'where the Helm release\'s chart is installed from (repo/chart or a directory), for the advised `helm upgrade`')
    .option('--helm-values-out <file>', 'write the Helm values that make the release agree with the upgrade (YAML to commit)')
    .action(async (flags: PlanFlags, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions & { ciOutput?: CiOutputMode }>();
      const { io } = context;
      const from = planSourceOf(flags);
      const loaded = await loadSpecFile(flags.file);
      const offlineSpec = () => resolveSpec(loaded.document, { namespaceFlag: globals.namespace });
      let request: PlanRequest;
      if (from === 'base') {
        const base = resolveSpec((await loadSpecFile(flags.base!, '--base')).document, { namespaceFlag: globals.namespace });
        request = { spec: offlineSpec(), source: { kind: 'base', base, baseFile: repositoryPath(flags.base!, io.env), file: repositoryPath(flags.file, io.env) }, allowDowngrade: flags.allowDowngrade ?? false };
      } else if (from === 'offline') {
        request = { spec: offlineSpec(), source: { kind: 'offline', from: flags.from }, allowDowngrade: flags.allowDowngrade ?? false };
      } else {
        const { cluster, spec } = await openSpecOnCluster(loaded, globals, io, { offlineFlag: true });
        request = { spec, source: { kind: 'live', cluster, dryRun: flags.dryRun === 'server', helmChart: flags.helmChart }, allowDowngrade: flags.allowDowngrade ?? false };
      }
      const { plan, base: basePlan, fingerprint, dryRun } = await planUpgrade(request);

      const style = makeStyle(colourLevel(io, io.stdout, globals.color));
      const ci = ciOutput(io.env, globals.ciOutput);
      const words = planWords({ specFile: flags.file, namespaceFlag: globals.namespace });
      const markdown = () => (basePlan ? renderBaseMarkdown(basePlan, words) : renderMarkdown(plan, words));
      if (flags.output === 'json') io.stdout.write(basePlan ? renderBaseJson(basePlan, words) : renderJson(plan, words));
      else if (flags.output === 'markdown') io.stdout.write(markdown());
      else {
        // Only text is grouped: json and markdown are usually redirected into files that must stay clean.
        const text = basePlan ? renderBaseText(basePlan, words, style) : renderText(plan, words, style);
        io.stdout.write(groupAfterHead(ci.format, `plan steps (${plan.steps.length})`, text, { id: 'peerdb_upgrade_plan' }));
      }
      // Annotations go to stderr: GitHub reads commands there too, and stdout stays the plan alone.
      for (const warning of plan.warnings) io.stderr.write(ci.warningAnnotation(words.note(warning), { title: 'peerdb-upgrade plan' }));
      const summaryProblem = ci.format === 'github' ? await ci.appendStepSummary(markdown()) : undefined;
      if (summaryProblem) io.stderr.write(`warning: job summary not written: ${summaryProblem}\n`);
      if (flags.out) {
        const text = savePlan({ plan, spec: loaded, allowDowngrade: flags.allowDowngrade ?? false, observedFingerprint: fingerprint, toolVersion: TOOL_VERSION, now: new Date(), words });
        try {
          // Owner-only: the plan names Jobs, images and env (masked), not for every local user.
          await writeSavedPlan(flags.out, text);
        } catch (error) {
          throw new UserError(`--out ${flags.out}: cannot write (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
        }
        io.stderr.write(`saved plan ${plan.hash.slice(0, 12)} to ${flags.out}\n`);
      }
      if (flags.helmValuesOut !== undefined) await writeHelmValues(io, flags.helmValuesOut, plan);
      if (dryRun) {
        const refused = dryRun.filter((r) => !r.ok).map((r) => `${r.step.id}: ${r.message}`);
        io.stderr.write(refused.length === 0 ? `server dry run: the API server accepts every change of the plan\n` : `server dry run: ${refused.length} change${refused.length === 1 ? '' : 's'} would be refused:\n${refused.map((r) => `  ${r}`).join('\n')}\n`);
        for (const r of refused) io.stderr.write(ci.errorAnnotation(r, { title: 'peerdb-upgrade: server dry run' }));
        if (refused.length > 0) throw new UserError(`the API server would refuse ${refused.length} of the plan's changes (see above); nothing was changed`);
      }
      context.setExitCode(flags.detailedExitcode && plan.steps.length > 0 ? ExitCode.ChangesPending : ExitCode.Success);
    });
}
