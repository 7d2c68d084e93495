// fs.promises, read when called: loading node:fs/promises costs every start ~6 ms (scripts/build.mjs).
import { promises as fsp } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { applyUpgrade, type ApplyOutcome } from '../../apply/apply-upgrade.js';
import { systemClock } from '../../apply/clock.js';
import type { ApplyEvent } from '../../apply/events.js';
import { UserError } from '../../errors.js';
import { ExitCode } from '../../exit-code.js';
import { NotASavedPlan, readSavedPlan, type SavedPlan } from '../../plan/saved-plan.js';
import { renderMarkdown } from '../../plan/render-markdown.js';
import { renderText } from '../../plan/render-text.js';
import { ownershipDocument, ownershipText } from '../../plan/render-ownership.js';
import { writeHelmValues } from '../helm-values-out.js';
import type { Plan, PlanWords } from '../../plan/plan-types.js';
import { planWords } from '../plan-words.js';
import { loadSpecFile, parseSpecText, type LoadedSpec } from '../../spec/load-spec.js';
import { ciOutput, type CiOutputMode } from '../ci-output.js';
import { openSpecOnCluster } from '../connect.js';
import type { GlobalOptions } from '../global-options.js';
import { colourLevel, makeStyle, type CliIO } from '../io.js';
import type { CommandContext } from '../main.js';
import { jsonProgress } from '../progress/json-progress.js';
import type { ListrProgress } from '../progress/listr-progress.js';
import { PlainProgress } from '../progress/plain-progress.js';
import { withSignals } from '../signals.js';
import { applyModeOf } from '../flag-rules.js';
import { thisHost } from '../host.js';
import { exitCodeOf, wordStop } from '../stop-message.js';

export interface ApplyFlags {
  file?: string;
  plan?: string;
  yes?: boolean;
  resume?: boolean;
  restart?: boolean;
  dryRun?: 'server';
  timeout?: number;
  lockTimeout: number;
  output: 'text' | 'json';
  allowDowngrade?: boolean;
  reconciliationSuspended?: boolean;
  helmChart?: string;
  helmValuesOut?: string;
}

/** The body of `apply`, loaded only when apply runs (it brings the executor; listr2 for a terminal). */
export async function applyAction(flags: ApplyFlags, command: Command, context: CommandContext): Promise<void> {
  const globals = command.optsWithGlobals<GlobalOptions & { ciOutput?: CiOutputMode }>();
  const { io } = context;
  const mode = applyModeOf(flags);

  const { loaded, saved } = await loadInput(flags);
  const { cluster, spec } = await openSpecOnCluster(loaded, globals, io);

  const ci = ciOutput(io.env, globals.ciOutput);
  const interactive = flags.output === 'text' && Boolean(io.stdout.isTTY) && !io.env.CI && io.env.TERM !== 'dumb' && ci.format === 'none';
  const specFile = flags.file ?? saved!.spec.file;
  let listr: ListrProgress | undefined;
  const plain = flags.output === 'json' || interactive ? undefined : new PlainProgress(io.stdout, ci);
  const json = flags.output === 'json' ? jsonProgress(io.stdout) : undefined;
  const words = planWords({ specFile, namespaceFlag: globals.namespace });
  const emit = (coreEvent: ApplyEvent) => {
    // A plan warning that points to a command is worded here, with this run's spec file.
    const event: ApplyEvent = coreEvent.type === 'note' ? { type: 'warning', message: words.note(coreEvent.note), at: coreEvent.at } : coreEvent;
    if (json) json(event);
    else if (listr) listr.handle(event);
    else plain?.handle(event);
    if (listr && (event.type === 'warning' || event.type === 'info')) io.stderr.write(`${event.type === 'warning' ? 'warning: ' : ''}${event.message}\n`);
  };

  const outcome = await withSignals(io, async (signal) => {
    try {
      return await applyUpgrade({
        cluster,
        loaded,
        spec,
        mode,
        savedPlan: saved,
        allowDowngrade: flags.allowDowngrade ?? saved?.options.allow_downgrade ?? false,
        lockTimeoutMs: flags.lockTimeout,
        runTimeoutMs: flags.timeout,
        dryRun: flags.dryRun === 'server',
        clock: systemClock,
        host: thisHost(),
        signal,
        emit,
        reconciliationSuspended: flags.reconciliationSuspended ?? false,
        helmChart: flags.helmChart,
        outageMs: globals.apiOutage,
        confirm: async (plan, resumed) => {
          const ok = flags.yes || (await confirm(io, plan, words, resumed, cluster.target.context, spec.namespace, globals.color));
          // listr2 is loaded only for a terminal: a CI step's start does not pay for it (~5 ms).
          if (ok && interactive) listr = new (await import('../progress/listr-progress.js')).ListrProgress(plan);
          return ok;
        },
      });
    } catch (thrown) {
      const error = wordStop(thrown, { specFile, namespaceFlag: globals.namespace });
      // A machine reading the event stream learns how the run ended from the stream itself.
      if (json && error instanceof UserError) {
        io.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), type: 'error', exit_code: exitCodeOf(error), message: error.message, hint: error.hint ?? null })}\n`);
      }
      throw error;
    } finally {
      plain?.close();
      await listr?.close();
    }
  });
  context.setExitCode(await report(outcome, io, ci, flags, words));
  if ((outcome.kind === 'done' || outcome.kind === 'nothing-to-do') && flags.helmValuesOut !== undefined) await writeHelmValues(io, flags.helmValuesOut, outcome.plan);
}

async function loadInput(flags: ApplyFlags): Promise<{ loaded: LoadedSpec; saved: SavedPlan | undefined }> {
  if (!flags.plan) return { loaded: await loadSpecFile(flags.file!), saved: undefined };
  let text: string;
  try {
    text = await fsp.readFile(flags.plan!, 'utf8');
  } catch (error) {
    throw new UserError(`--plan ${flags.plan}: cannot read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let saved: SavedPlan;
  try {
    saved = readSavedPlan(flags.plan!, text);
  } catch (error) {
    if (error instanceof NotASavedPlan) throw new UserError(error.message, { hint: `make one with \`peerdb-upgrade plan -f ${flags.file ?? 'SPEC'} --out ${error.file}\`` });
    throw error;
  }
  // Plans saved by earlier versions carried the spec's text.
  if (saved.spec.text !== undefined && !flags.file) return { loaded: parseSpecText(saved.spec.file, saved.spec.text), saved };
  const file = flags.file ?? saved.spec.file;
  let loaded: LoadedSpec;
  try {
    loaded = await loadSpecFile(file);
  } catch (error) {
    if (error instanceof UserError && !flags.file) throw new UserError(`--plan ${flags.plan}: ${error.message}`, { hint: `the plan was made from ${saved.spec.file}; name the spec with -f FILE if it moved` });
    throw error;
  }
  if (loaded.hash !== saved.spec.sha256) {
    throw new UserError(`--plan ${flags.plan}: the spec ${file} changed since the plan was saved (sha256 ${loaded.hash.slice(0, 12)}, the plan's ${saved.spec.sha256.slice(0, 12)})`, {
      hint: `make a new plan: peerdb-upgrade plan -f ${file} --out ${flags.plan}`,
    });
  }
  return { loaded, saved };
}

async function confirm(io: CliIO, plan: Plan, words: PlanWords, resumed: boolean, context: string, namespace: string, colour: boolean): Promise<boolean> {
  if (!io.stdinIsTTY || !io.stdout.isTTY) {
    throw new UserError('refusing to apply without confirmation: there is no terminal to ask on', { hint: `review the plan (\`${words.planTextCommand}\`), then pass --yes` });
  }
  io.stdout.write(renderText(plan, words, makeStyle(colourLevel(io, io.stdout, colour))));
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await rl.question(`\n${resumed ? 'Resume' : 'Apply'} this plan in context ${context}, namespace ${namespace}? Only "yes" is accepted: `);
    return answer.trim() === 'yes';
  } finally {
    rl.close();
  }
}

async function report(outcome: ApplyOutcome, io: CliIO, ci: ReturnType<typeof ciOutput>, flags: ApplyFlags, words: PlanWords): Promise<ExitCode> {
  // After the run, again: who owns the workloads and how to make a Helm release agree with them.
  const owners = outcome.kind === 'done' || outcome.kind === 'nothing-to-do' ? ownershipText(outcome.plan.ownership, outcome.plan.to, words) : [];
  const extra = owners.length > 0 && outcome.plan.ownership ? { ownership: ownershipDocument(outcome.plan.ownership) } : {};
  const say = (text: string) =>
    flags.output === 'json'
      ? io.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), type: 'outcome', outcome: outcome.kind, text, ...extra })}\n`)
      : io.stdout.write(`${[text, ...owners].join('\n')}\n`);
  switch (outcome.kind) {
    case 'nothing-to-do':
      say(`Nothing to do: ${outcome.plan.cluster.namespace}/${outcome.plan.cluster.name} already runs ${outcome.plan.to}.`);
      return ExitCode.Success;
    case 'not-confirmed':
      say('Not applied: the answer was not "yes". Nothing was changed.');
      return ExitCode.Error;
    case 'dry-run': {
      const refused = outcome.results.filter((r) => !r.ok);
      for (const r of outcome.results) say(`${r.ok ? 'ok     ' : 'REFUSED'} ${r.step.id}: ${r.message}`);
      say(refused.length === 0 ? `Server dry run: the API server accepts all ${outcome.results.length} steps. Nothing was changed.` : `Server dry run: ${refused.length} of ${outcome.results.length} steps would be refused. Nothing was changed.`);
      for (const r of refused) io.stdout.write(ci.errorAnnotation(`${r.step.id}: ${r.message}`));
      return refused.length === 0 ? ExitCode.Success : ExitCode.Error;
    }
    case 'done': {
      say(`Upgrade of ${outcome.plan.cluster.namespace}/${outcome.plan.cluster.name} to ${outcome.plan.to} complete (run ${outcome.runId}${outcome.resumed ? ', resumed' : ''}).`);
      await ci.appendStepSummary(renderMarkdown(outcome.plan, words, { title: 'peerdb-upgrade applied' }));
      return ExitCode.Success;
    }
  }
}

