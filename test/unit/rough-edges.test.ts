/**
 * The rough edges a first-time user hit (issue 13, part 4): one test each, through the built CLI
 * the way a user runs it, or through the pure function that words the output.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repositoryPath } from '../../src/cli/repository-path.js';
import { computePlan } from '../../src/plan/compute-plan.js';
import { renderMarkdown } from '../../src/plan/render-markdown.js';
import { renderText } from '../../src/plan/render-text.js';
import { specFromPlans } from './fakes/specs.js';
import { planWords } from '../../src/cli/plan-words.js';

/** The CLI's words for a plan of plans/helm-default.yaml. */
const WORDS = planWords({ specFile: 'helm-default.yaml' });

function run(args: string[], env: Record<string, string | undefined> = {}, cwd?: string) {
  const home = mkdtempSync(join(tmpdir(), 'peerdb-upgrade-home-'));
  const result = spawnSync(process.execPath, [join(process.cwd(), 'bin/peerdb-upgrade.js'), ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: home, ...env },
    timeout: 30_000,
    ...(cwd ? { cwd } : {}),
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function tempFile(name: string, content: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'peerdb-upgrade-')), name);
  writeFileSync(file, content);
  return file;
}

const kubeconfig = (user: string, namespace = 'data') =>
  tempFile(
    'config',
    `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: ${user}}]\n` +
      `contexts: [{name: ctx, context: {cluster: c, user: u, namespace: ${namespace}}}]\ncurrent-context: ctx\n`,
  );

const HEAD = 'apiVersion: peerdb-upgrade/v1alpha1\nkind: PeerDBCluster\nmetadata:\n  name: x\n';

describe('rbac follows the spec or the context, like every other command', () => {
  it("writes the Role into the context's namespace, not a fixed one", () => {
    const r = run(['rbac', '--kubeconfig', kubeconfig('{token: t}', 'data')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('namespace data:');
    expect(r.stdout).not.toContain('namespace: peerdb');
  });

  it("takes the spec's metadata.namespace with -f, and -n above both", () => {
    expect(run(['rbac', '-f', 'plans/statefulset-workers.yaml']).stdout).toContain('  namespace: data-platform\n');
    expect(run(['rbac', '-n', 'other']).stdout).toContain('  namespace: other\n');
  });

  it('refuses to guess without a namespace anywhere, and its help lists -n and -f', () => {
    const r = run(['rbac']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('hint: pass -n NAMESPACE or -f SPEC');
    const help = run(['rbac', '--help']).stdout;
    expect(help).toMatch(/-n, --namespace <name>/);
    expect(help).toMatch(/-f, --file <spec>/);
  });
});

describe('hints offer only what the command has', () => {
  it('offers --offline only to plan when there is no kubeconfig', () => {
    for (const command of [['apply', '-f', 'plans/helm-default.yaml', '--yes'], ['status', '-f', 'plans/helm-default.yaml'], ['unlock', '-f', 'plans/helm-default.yaml', '--force', 'x']]) {
      const r = run(command);
      expect(r.code, command[0]).toBe(1);
      expect(r.stderr, command[0]).toContain('no kubeconfig found');
      expect(r.stderr, command[0]).not.toContain('--offline');
    }
    expect(run(['plan', '-f', 'plans/helm-default.yaml']).stderr).toContain('use --offline to plan without a cluster');
  });

  it('names --base, not -f, when the base spec is the missing file', () => {
    const r = run(['plan', '-f', 'plans/helm-default.yaml', '--base', 'nope.yaml']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--base nope.yaml: no such file');
    expect(r.stderr).toContain('hint: pass the earlier revision of the spec with --base FILE');
    expect(r.stderr).not.toContain('-f FILE');
  });

  it('does not offer --context NAME when the kubeconfig has no contexts', () => {
    const empty = tempFile('config', 'apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n');
    const r = run(['status', '-f', 'plans/helm-default.yaml', '--kubeconfig', empty]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the kubeconfig has no contexts');
    expect(r.stderr).not.toContain('--context NAME');
  });

  it('names the exec plugin command it could not run', () => {
    const exec = kubeconfig('{exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: no-such-auth-plugin, args: [token]}}');
    const r = run(['status', '-f', 'plans/helm-default.yaml', '--kubeconfig', exec]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('could not run: command not found: no-such-auth-plugin');
    expect(r.stderr).toContain('`no-such-auth-plugin token`');
  });
});

describe('subcommand help', () => {
  it('shows the global options and marks required ones', () => {
    const help = run(['plan', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Global Options:');
    expect(help.stdout).toMatch(/--kubeconfig <path>/);
    expect(help.stdout).toMatch(/-f, --file <spec>\s+\(required\) cluster spec file/);
    expect(help.stdout).not.toMatch(/--offline\s+\(required\)/);
  });
});

describe('YAML syntax errors', () => {
  it.each([
    ['bad indentation', `${HEAD} spec:\n  version: v0.37.4\n`],
    ['an unclosed flow sequence', `${HEAD}spec:\n  version: [v0.37.4\n  maintenance: {}\n`],
    ['a tab as indentation', `${HEAD}spec:\n\tversion: v0.37.4\n`],
    ['an unclosed quote', `${HEAD}spec:\n  version: "v0.37.4\n`],
  ])('%s: one line per problem at file:line:col, no parser excerpt', (_what, text) => {
    const file = tempFile('bad.yaml', text);
    const r = run(['validate', '-f', file]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^error: .*bad\.yaml: \d+ problems?:$/);
    for (const line of lines.slice(1)) expect(line).toMatch(/^ {2}\S*bad\.yaml:\d+:\d+: \S[^\n]*$/);
    expect(r.stderr).not.toContain('^');
  });
});

describe('targeted hints for the usual spec mistakes', () => {
  const problem = (body: string) => {
    const r = run(['validate', '-f', tempFile('c.yaml', `${HEAD}spec:\n${body}`)]);
    expect(r.code).toBe(1);
    return r.stderr;
  };

  it('maintenance: false says to omit the section', () => {
    expect(problem('  version: v0.37.4\n  maintenance: false\n')).toContain('spec.maintenance: expected a mapping, found false: to upgrade without maintenance mode, omit the maintenance section');
  });

  it('version: 0.37 says it is a number and how to write the version', () => {
    expect(problem('  version: 0.37\n')).toContain('spec.version: expected a string, found the number 0.37: YAML reads it as a number; write the release as vX.Y.Z');
  });

  it('namespace under spec says it belongs in metadata', () => {
    expect(problem('  version: v0.37.4\n  namespace: data\n')).toContain('spec: "namespace" does not go here: it belongs in metadata (metadata.namespace)');
  });

  it('readyTimeout: 600 says a duration needs a unit', () => {
    expect(problem('  version: v0.37.4\n  components:\n    - { name: flow-api, readyTimeout: 600 }\n')).toContain(
      'spec.components[0].readyTimeout: expected a string, found the number 600: a duration needs a unit, e.g. 10m',
    );
  });
});

describe('plan --offline --out', () => {
  it('is refused at plan time, and nothing is written', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'peerdb-upgrade-')), 'plan.json');
    const r = run(['plan', '-f', 'plans/helm-default.yaml', '--offline', '--from', 'v0.36.7', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--out does not go with --offline');
    expect(existsSync(out)).toBe(false);
  });
});

describe('offline wording', () => {
  it('says the workloads are assumed to run --from, naming it', () => {
    const text = renderText(computePlan(specFromPlans('helm-default.yaml'), { mode: 'offline', from: 'v0.36.7' }), WORDS);
    expect(text.split('\n')[1]).toBe('offline: every named workload is assumed to run --from (v0.36.7); apply re-checks the cluster');
  });

  it('reads an unknown current image as unknown, not (none); a Job not yet created stays (none)', () => {
    const plan = computePlan(specFromPlans('helm-default.yaml'), { mode: 'offline' });
    const text = renderText(plan, WORDS);
    expect(text).toContain('Deployment/flow-api container flow-api image: unknown → ghcr.io/peerdb-io/flow-api:stable-v0.37.4');
    expect(text).toContain('Pod/flow-snapshot-worker-0 image: unknown →');
    expect(text).not.toMatch(/image: \(none\)/);
    expect(renderMarkdown(plan, WORDS)).toContain('image: unknown →');
  });
});

describe('spec paths in markdown and pull-request comments', () => {
  it('are relative to the repository, not the runner', () => {
    const repo = mkdtempSync(join(tmpdir(), 'peerdb-upgrade-repo-'));
    mkdirSync(join(repo, '.git'));
    mkdirSync(join(repo, 'clusters'));
    writeFileSync(join(repo, 'clusters', 'prod.yaml'), readFileSync('plans/helm-default.yaml', 'utf8'));
    writeFileSync(join(repo, 'clusters', 'base.yaml'), readFileSync('plans/helm-default.yaml', 'utf8').replace('v0.37.4', 'v0.37.3'));
    expect(repositoryPath(join(repo, 'clusters', 'prod.yaml'), {})).toBe('clusters/prod.yaml');
    expect(repositoryPath('prod.yaml', {}, join(repo, 'clusters'))).toBe('clusters/prod.yaml');
    const r = run(['plan', '-f', join(repo, 'clusters', 'prod.yaml'), '--base', join(repo, 'clusters', 'base.yaml'), '-o', 'markdown']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('**Spec change** from `clusters/base.yaml` to `clusters/prod.yaml`');
    expect(r.stdout).not.toContain(repo);
  });

  it('fall back to the CI workspace outside a git checkout', () => {
    expect(repositoryPath('/home/runner/work/infra/clusters/prod.yaml', { GITHUB_WORKSPACE: '/home/runner/work/infra' }, '/')).toBe('clusters/prod.yaml');
  });
});
