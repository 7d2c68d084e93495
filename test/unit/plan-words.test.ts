import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import { planWords, type Invocation } from '../../src/cli/plan-words.js';
import { stopError } from '../../src/cli/stop-message.js';
import { computePlan } from '../../src/plan/compute-plan.js';
import type { CommandNote } from '../../src/plan/plan-types.js';
import { renderMarkdown } from '../../src/plan/render-markdown.js';
import { renderText } from '../../src/plan/render-text.js';
import { applyUpgrade } from '../../src/apply/apply-upgrade.js';
import { CannotListWorkloads, initSpec } from '../../src/discover/init-spec.js';
import { ExitCode } from '../../src/exit-code.js';
import { applyRequest, outcomeOf } from './fakes/apply-request.js';
import { MemoryCluster } from './fakes/memory-cluster.js';
import { helmInstallation } from './fakes/workloads.js';
import { specFromPlans } from './fakes/specs.js';

/**
 * The commands the plan's notes point to are worded by the CLI for the invocation at hand, so that
 * followed literally they work: each printed command is parsed here by the CLI's own commander
 * program (actions replaced, nothing runs), and must name the spec file and namespace it needs.
 */
interface Parsed {
  readonly command: string;
  readonly options: Record<string, unknown>;
}

async function parse(line: string): Promise<Parsed> {
  const words = line.split(' ');
  expect(words[0]).toBe('peerdb-upgrade');
  const out: string[] = [];
  const program = buildProgram({ io: { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => out.push(t) }, env: {}, stdinIsTTY: false }, setExitCode: () => undefined });
  let parsed: Parsed | undefined;
  const replace = (commands: readonly Command[]): void => {
    for (const sub of commands) {
      // Subcommands too (`maintenance end`): nothing of the real command runs.
      if (sub.commands.length > 0) replace(sub.commands);
      else
        sub.action((...args: unknown[]) => {
          const command = args.at(-1) as Command;
          parsed = { command: command.name(), options: command.optsWithGlobals() };
        });
    }
  };
  replace(program.commands);
  await program.parseAsync(words.slice(1), { from: 'user' }).catch((error: unknown) => {
    throw new Error(`\`${line}\` does not parse: ${(error as Error).message} ${out.join('')}`);
  });
  if (!parsed) throw new Error(`\`${line}\` ran no command`);
  return parsed;
}

/** The `peerdb-upgrade …` commands quoted in a text. */
function commandsIn(text: string): string[] {
  return [...text.matchAll(/`(peerdb-upgrade [^`]+)`/g)].map((m) => m[1]!);
}

const NOTES: Record<CommandNote['kind'], CommandNote> = {
  'unfinished-run': { kind: 'unfinished-run', to: 'v0.37.4', checkpoint: 'data/peerdb-peerdb-upgrade', stoppedAt: 'statefulset-pod/flow-snapshot-worker/1' },
  'uncovered-workload': { kind: 'uncovered-workload', workload: 'Deployment/flow-worker-canary', runs: 'flow-worker v0.36.5', namespace: 'data' },
  'reconciliation-active': { kind: 'reconciliation-active', what: 'Argo CD application peerdb-prod', components: ['flow-api'], suspend: 'argocd app set peerdb-prod --sync-policy none' },
};

describe.each([
  ['with -n', { specFile: 'prod/peerdb.yaml', namespaceFlag: 'data' }],
  ['without -n', { specFile: 'prod/peerdb.yaml' }],
] as [string, Invocation][])('the commands the plan points to, %s', (_, invocation) => {
  const words = planWords(invocation);
  const namespace = invocation.namespaceFlag;

  it.each([
    ['unfinished-run', { resume: true }],
    ['reconciliation-active', { reconciliationSuspended: true }],
  ] as const)('%s: apply on the same spec file (and namespace), with the flag it needs', async (kind, flag) => {
    const [line, ...more] = commandsIn(words.note(NOTES[kind]));
    expect(more).toEqual([]);
    const parsed = await parse(line!);
    expect(parsed).toMatchObject({ command: 'apply', options: { file: 'prod/peerdb.yaml', ...flag } });
    expect(parsed.options.namespace).toBe(namespace);
  });

  it("uncovered workload: init -n on the workload's namespace", async () => {
    const [line, ...more] = commandsIn(words.note(NOTES['uncovered-workload']));
    expect(more).toEqual([]);
    expect(await parse(line!)).toMatchObject({ command: 'init', options: { namespace: 'data' } });
  });

  it('the whole plan as text: plan -f --output text', async () => {
    const parsed = await parse(words.planTextCommand);
    expect(parsed).toMatchObject({ command: 'plan', options: { file: 'prod/peerdb.yaml', output: 'text' } });
    expect(parsed.options.namespace).toBe(namespace);
  });
});

describe('renderings print the worded commands', () => {
  const words = planWords({ specFile: 'prod/peerdb.yaml' });
  const spec = specFromPlans('helm-default.yaml');
  const plan = computePlan(spec, { mode: 'live', observed: { workloads: helmInstallation('v0.36.7'), unfinishedRun: { to: 'v0.37.4', stoppedAt: undefined } } });

  it('text: the notice names `apply -f SPEC --resume`', () => {
    expect(renderText(plan, words)).toContain(
      'notice: an unfinished run to v0.37.4 is recorded in ConfigMap peerdb/peerdb-peerdb-upgrade; `peerdb-upgrade apply -f prod/peerdb.yaml --resume` continues it',
    );
  });

  it('markdown cut short: names `plan -f SPEC --output text`', async () => {
    const cut = renderMarkdown(plan, words, { limit: 1_000 });
    expect(cut).toContain('**Output cut:**');
    const lines = commandsIn(cut);
    expect(lines).toContain('peerdb-upgrade plan -f prod/peerdb.yaml --output text');
    for (const line of lines) await parse(line);
  });

  it('a command that does not parse is caught (the check itself works)', async () => {
    await expect(parse('peerdb-upgrade apply --resume-it')).rejects.toThrow('does not parse');
    await expect(parse('peerdb-upgrade plan --output text')).rejects.toThrow("required option '-f, --file <spec>' not specified");
  });
});

describe('missing permissions point to `rbac -n NAMESPACE`', () => {
  const rbacIn = async (message: string) => {
    const lines = commandsIn(message).filter((line) => line.startsWith('peerdb-upgrade rbac'));
    expect(lines).toHaveLength(1);
    return parse(lines[0]!);
  };

  it('in the preflight of a new run (exit 1, nothing changed)', async () => {
    const cluster = new MemoryCluster().seedHelm('peerdb', 'v0.36.7').deny('patch', 'statefulsets', { group: 'apps' });
    const result = await outcomeOf(applyUpgrade(applyRequest(cluster).request));
    expect(result.code).toBe(ExitCode.Error);
    expect(result.message).toContain('preflight: missing permissions in namespace peerdb: patch statefulsets.apps');
    expect(await rbacIn(result.message)).toMatchObject({ command: 'rbac', options: { namespace: 'peerdb' } });
    expect(cluster.calls.filter((c) => c.method === 'patchWorkload' || c.method === 'createJob')).toEqual([]);
  });

  it('when a request is refused (403) mid-run', async () => {
    const cluster = new MemoryCluster().seedHelm('peerdb', 'v0.36.7');
    await outcomeOf(applyUpgrade(applyRequest(cluster, { abortAfterStep: 'deployment-rollout/flow-api' }).request));
    cluster.deny('patch', 'deployments', { group: 'apps' });
    const result = await outcomeOf(applyUpgrade(applyRequest(cluster, { mode: 'resume' }).request));
    expect(result.message).toContain('step deployment-rollout/flow-worker failed: forbidden');
    expect(await rbacIn(result.message)).toMatchObject({ command: 'rbac', options: { namespace: 'peerdb' } });
  });

  it('init that may not list the workloads: the core says which namespace, as data', async () => {
    const cluster = new MemoryCluster().seedHelm('peerdb', 'v0.36.7').deny('list', 'deployments', { group: 'apps' });
    const error = await initSpec(cluster, { namespace: 'peerdb', file: 'init.yaml', command: 'peerdb-upgrade init -n peerdb', readCheckpoint: async () => undefined }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CannotListWorkloads);
    expect((error as CannotListWorkloads).namespace).toBe('peerdb');
  });
});

describe('the GitOps refusal', () => {
  it('names the complete apply command to run once reconciliation is suspended', async () => {
    const error = stopError({ kind: 'reconciliation-active', owners: ['Argo CD application peerdb-prod manages flow-api'], suspend: ['argocd app set peerdb-prod --sync-policy none'], commit: 'commit v0.37.4 to Git' }, { specFile: 'prod/peerdb.yaml' });
    const line = /then: (peerdb-upgrade [^;]+);/.exec(error.hint ?? '')?.[1];
    expect(await parse(line!)).toMatchObject({ command: 'apply', options: { file: 'prod/peerdb.yaml', reconciliationSuspended: true } });
  });
});

describe('the ways out of a stopped run', () => {
  /** Every `peerdb-upgrade …` command in a text, quoted or at the end of a line. */
  const printed = (text: string) => [...text.matchAll(/peerdb-upgrade [^`\n(;]+/g)].map((m) => m[0].trim());
  const stops = [
    { kind: 'step-failed', step: 'statefulset-pod/flow-snapshot-worker/1', reason: 'timed out', detail: undefined, mirrors: 'paused' },
    { kind: 'interrupted', step: 'deployment-rollout/flow-api', mirrors: 'paused' },
    { kind: 'locked', lease: 'peerdb-peerdb-upgrade', holder: 'ci@runner-7', runId: '20261201T000000Z-abcdef' },
  ] as const;

  it.each(stops)('name the namespace the user gave with -n (it overrides the spec), so they act where the run did: $kind', async (stop) => {
    const error = stopError(stop, { specFile: 'prod/peerdb.yaml', namespaceFlag: 'data' });
    const lines = printed(`${error.message}\n${error.hint ?? ''}`);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(await parse(line), line).toMatchObject({ options: { file: 'prod/peerdb.yaml', namespace: 'data' } });
    }
  });
});
