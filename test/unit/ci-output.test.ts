import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  annotation,
  appendStepSummary,
  ciFormat,
  ciOutput,
  errorAnnotations,
  escapeData,
  escapeProperty,
  group,
  groupAfterHead,
  section,
} from '../../src/cli/ci-output.js';
import { buildProgram } from '../../src/cli/main.js';
import { UserError } from '../../src/errors.js';
import { parseSpecText } from '../../src/spec/load-spec.js';

const at = (seconds: number) => () => new Date(seconds * 1000);
const tempDir = () => mkdtempSync(join(tmpdir(), 'peerdb-upgrade-ci-'));

describe('which CI format', () => {
  it.each([
    [{}, 'auto', 'none'],
    [{ GITHUB_ACTIONS: 'true' }, 'auto', 'github'],
    [{ GITLAB_CI: 'true' }, 'auto', 'gitlab'],
    [{ GITHUB_ACTIONS: 'false' }, 'auto', 'none'],
    [{ GITHUB_ACTIONS: 'true', PEERDB_UPGRADE_CI_OUTPUT: 'none' }, 'auto', 'none'],
    [{ GITHUB_ACTIONS: 'true', PEERDB_UPGRADE_CI_OUTPUT: 'off' }, 'auto', 'none'],
    [{ PEERDB_UPGRADE_CI_OUTPUT: 'gitlab' }, 'auto', 'gitlab'],
    [{ GITHUB_ACTIONS: 'true' }, 'none', 'none'],
    [{ PEERDB_UPGRADE_CI_OUTPUT: 'none' }, 'github', 'github'],
  ] as const)('env %j with --ci-output %s is %s', (env, mode, expected) => {
    expect(ciFormat(env, mode)).toBe(expected);
  });
});

describe('GitHub Actions workflow commands', () => {
  it('escapes messages and properties so one command stays one line', () => {
    expect(escapeData('50% done\r\nnext')).toBe('50%25 done%0D%0Anext');
    expect(escapeProperty('a:b,c')).toBe('a%3Ab%2Cc');
  });

  it('writes an error annotation with file, line and column', () => {
    expect(annotation('github', 'error', 'bad\nthing', { file: 'clusters/prod.yaml', line: 9, column: 19, title: 'x: y' })).toBe(
      '::error file=clusters/prod.yaml,line=9,col=19,title=x%3A y::bad%0Athing\n',
    );
    expect(annotation('github', 'warning', 'careful')).toBe('::warning::careful\n');
    expect(annotation('gitlab', 'error', 'bad')).toBe('');
    expect(annotation('none', 'error', 'bad')).toBe('');
  });

  it('places each problem of an invalid spec at its line and column', () => {
    let error: unknown;
    try {
      parseSpecText('clusters/prod.yaml', 'apiVersion: peerdb-upgrade/v1alpha1\nkind: PeerDBCluster\nmetadata: { name: prod }\nspec:\n  version: latest\n  initJobs: 3\n');
    } catch (e) {
      error = e;
    }
    expect(errorAnnotations('github', error).split('\n')).toEqual([
      '::error file=clusters/prod.yaml,line=5,col=12,title=peerdb-upgrade%3A invalid spec::spec.version: "latest" is a mutable tag, not a version; name the release, e.g. v0.37.4; found "latest"',
      '::error file=clusters/prod.yaml,line=6,col=13,title=peerdb-upgrade%3A invalid spec::spec.initJobs: expected a list, found the number 3',
      '',
    ]);
    expect(errorAnnotations('none', error)).toBe('');
  });

  it('annotates other errors with their hint, and internal errors as such', () => {
    expect(errorAnnotations('github', new UserError('no such file', { hint: 'pass -f FILE' }))).toBe('::error title=peerdb-upgrade::no such file%0Ahint: pass -f FILE\n');
    expect(errorAnnotations('github', new TypeError('x is undefined'))).toBe('::error title=peerdb-upgrade%3A internal error::x is undefined\n');
  });

  it('groups long output', () => {
    expect(group('github', 'plan steps (3)', '1. a\n2. b\n3. c')).toBe('::group::plan steps (3)\n1. a\n2. b\n3. c\n::endgroup::\n');
    expect(group('none', 'plan steps', 'body\n')).toBe('body\n');
  });

  it('folds everything after the head of a text plan, keeping summary and warnings in view', () => {
    const text = 'Plan: 2 steps\nwarning: w\n\n1. a\n2. b\n';
    expect(groupAfterHead('github', 'plan steps (2)', text)).toBe('Plan: 2 steps\nwarning: w\n::group::plan steps (2)\n1. a\n2. b\n::endgroup::\n');
    expect(groupAfterHead('github', 'plan steps (0)', 'No changes.\n')).toBe('No changes.\n');
    expect(groupAfterHead('none', 'x', text)).toBe(text);
  });

  it('appends markdown to the job summary file, and says why when it cannot', async () => {
    const file = join(tempDir(), 'summary.md');
    writeFileSync(file, '# earlier step\n');
    expect(await appendStepSummary({ GITHUB_STEP_SUMMARY: file }, '### plan\n')).toBeUndefined();
    expect(await appendStepSummary({ GITHUB_STEP_SUMMARY: file }, '### again')).toBeUndefined();
    expect(readFileSync(file, 'utf8')).toBe('# earlier step\n### plan\n\n### again\n\n');
    expect(await appendStepSummary({}, 'x')).toBe('GITHUB_STEP_SUMMARY is not set');
    expect(await appendStepSummary({ GITHUB_STEP_SUMMARY: join(tempDir(), 'no', 'such', 'dir') }, 'x')).toMatch(/^cannot append to .* \(ENOENT\)$/);
  });

  it('binds the helpers to the detected format, for the step logs of other commands', async () => {
    const github = ciOutput({ GITHUB_ACTIONS: 'true' });
    expect(github.format).toBe('github');
    const step = github.section('roll out flow-api');
    expect(step.start + 'log\n' + step.end()).toBe('::group::roll out flow-api\nlog\n::endgroup::\n');
    expect(github.errorAnnotation('failed', { file: 'a.yaml', line: 1 })).toBe('::error file=a.yaml,line=1::failed\n');
    const plain = ciOutput({ GITHUB_STEP_SUMMARY: join(tempDir(), 'never.md') });
    expect(plain.group('t', 'body\n')).toBe('body\n');
    expect(plain.errorAnnotation('failed')).toBe('');
    expect(await plain.appendStepSummary('x')).toBeUndefined();
  });
});

describe('GitLab CI collapsible sections', () => {
  it('opens a collapsed section with its start time and closes it with its end time', () => {
    let now = 1_700_000_000;
    const s = section('gitlab', 'roll out flow-api: 3 pods', { now: () => new Date(now * 1000) });
    expect(s.start).toBe('\u001b[0Ksection_start:1700000000:roll_out_flow-api_3_pods[collapsed=true]\r\u001b[0Kroll out flow-api: 3 pods\n');
    now += 42;
    expect(s.end()).toBe('\u001b[0Ksection_end:1700000042:roll_out_flow-api_3_pods\r\u001b[0K\n');
  });

  it('uses an id for the section name when given, and folds a body', () => {
    expect(group('gitlab', 'plan steps (2)', '1. a\n2. b\n', { id: 'peerdb_upgrade_plan', now: at(5) })).toBe(
      '\u001b[0Ksection_start:5:peerdb_upgrade_plan[collapsed=true]\r\u001b[0Kplan steps (2)\n1. a\n2. b\n\u001b[0Ksection_end:5:peerdb_upgrade_plan\r\u001b[0K\n',
    );
  });
});

describe('the CLI on CI (subprocess)', () => {
  function run(args: string[], env: Record<string, string>) {
    const result = spawnSync(process.execPath, ['bin/peerdb-upgrade.js', ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env }, timeout: 30_000 });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  }
  const offline = ['plan', '-f', 'plans/helm-default.yaml', '--offline', '--from', 'v0.36.7'];

  it('on GitHub: folds the steps, appends the markdown plan to the job summary, annotates warnings', () => {
    const summary = join(tempDir(), 'summary.md');
    const result = run(['plan', '-f', 'plans/helm-default.yaml', '--offline'], { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary });
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^Plan: 12 steps/);
    expect(lines).toContain('::group::plan steps (12)');
    expect(lines.at(-2)).toBe('::endgroup::');
    expect(result.stderr).toMatch(/^::warning title=peerdb-upgrade plan::offline plan without --from/m);
    expect(readFileSync(summary, 'utf8').split('\n')[0]).toBe('<!-- peerdb-upgrade:plan peerdb/peerdb -->');
  });

  it('on GitHub: keeps json and markdown output clean for redirection', () => {
    const json = run([...offline, '--output', 'json'], { GITHUB_ACTIONS: 'true' });
    expect(() => JSON.parse(json.stdout)).not.toThrow();
    const markdown = run([...offline, '--output', 'markdown'], { GITHUB_ACTIONS: 'true' });
    expect(markdown.stdout).not.toContain('::');
    expect(markdown.stdout.split('\n')[0]).toBe('<!-- peerdb-upgrade:plan peerdb/peerdb -->');
  });

  it('on GitHub: reports an invalid spec as annotations at its lines, after the plain error', () => {
    const file = join(tempDir(), 'bad.yaml');
    writeFileSync(file, 'apiVersion: peerdb-upgrade/v1alpha1\nkind: PeerDBCluster\nmetadata: { name: prod }\nspec:\n  version: v0.37.4\n  maintenance:\n    timeout: 2 hours\n');
    const result = run(['validate', '-f', file], { GITHUB_ACTIONS: 'true' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`error: ${file}: 1 problem:`);
    expect(result.stderr).toContain(`::error file=${file},line=7,col=14,title=peerdb-upgrade%3A invalid spec::spec.maintenance.timeout: a duration such as 90s, 15m or 2h; found "2 hours"\n`);
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  it('is turned off by --ci-output none or PEERDB_UPGRADE_CI_OUTPUT=none', () => {
    const summary = join(tempDir(), 'summary.md');
    for (const [args, env] of [
      [['--ci-output', 'none'], {}],
      [[], { PEERDB_UPGRADE_CI_OUTPUT: 'none' }],
    ] as const) {
      const result = run([...offline, ...args], { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary, ...env });
      expect(result.code).toBe(0);
      expect(result.stdout + result.stderr).not.toContain('::');
    }
    expect(() => readFileSync(summary)).toThrow();
  });

  it('on GitLab: folds the steps in a collapsed section', () => {
    const result = run(offline, { GITLAB_CI: 'true' });
    expect(result.stdout).toMatch(/\u001b\[0Ksection_start:\d+:peerdb_upgrade_plan\[collapsed=true\]\r\u001b\[0Kplan steps \(12\)\n/);
    expect(result.stdout).toMatch(/\u001b\[0Ksection_end:\d+:peerdb_upgrade_plan\r\u001b\[0K\n$/);
  });
});

describe('docs/ci.md pipelines', () => {
  const docs = readFileSync('docs/ci.md', 'utf8');
  const blocks = [...docs.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);

  it('has YAML blocks, each valid YAML', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    for (const block of blocks) {
      const documents = parseAllDocuments(block);
      for (const doc of Array.isArray(documents) ? documents : []) expect(doc.errors.map((e) => e.message)).toEqual([]);
    }
  });

  it('uses the hidden marker the markdown plan starts with to find its sticky comment', () => {
    expect(docs).toContain('<!-- peerdb-upgrade:plan NS/NAME -->');
    expect(docs).toMatch(/body\.split\('\\n'\)\[0\]/);
  });

  /** Every `peerdb-upgrade COMMAND [SUBCOMMAND] --flag` in the workflows' scripts. */
  const uses = new Map<string, Set<string>>();
  const strings = (value: unknown): string[] =>
    typeof value === 'string' ? [value] : value && typeof value === 'object' ? Object.values(value).flatMap(strings) : [];
  for (const block of blocks) {
    const documents = parseAllDocuments(block);
    const values = (Array.isArray(documents) ? documents : []).flatMap((doc) => strings(doc.toJS()));
    for (const text of values) {
      const lines = text.replace(/\\\n\s*/g, ' ').split('\n');
      // Flags kept in shell variables (`from=(--base …)`) count for the commands that expand them.
      const variables = new Map<string, string[]>();
      for (const line of lines) {
        const assignment = /^\s*([A-Za-z_]\w*)=(.*)$/.exec(line);
        if (assignment) variables.set(assignment[1]!, [...(variables.get(assignment[1]!) ?? []), ...assignment[2]!.replace(/[()"']/g, ' ').trim().split(/\s+/)]);
      }
      for (const line of lines) {
        for (const match of line.matchAll(/\bpeerdb-upgrade\s+([a-z][a-z-]*(?:\s+(?:start|end))?)((?:\s+[^\s|;&>]+)*)/g)) {
          const command = match[1]!.replace(/\s+/g, ' ');
          const flags = uses.get(command) ?? new Set<string>();
          const tokens = match[2]!.trim().split(/\s+/);
          const expanded = tokens.flatMap((token) => {
            const name = /\$\{?([A-Za-z_]\w*)/.exec(token)?.[1];
            return name !== undefined ? (variables.get(name) ?? []) : [token];
          });
          for (const token of expanded) if (/^--?[a-z]/.test(token)) flags.add(token.split('=')[0]!);
          uses.set(command, flags);
        }
      }
    }
  }

  const program = buildProgram({ io: { stdout: { write: () => true }, stderr: { write: () => true }, env: {}, stdinIsTTY: false }, setExitCode: () => {} });
  const findCommand = (path: string): Command | undefined =>
    path.split(' ').reduce<Command | undefined>((parent, name) => parent?.commands.find((c) => c.name() === name), program);
  const names = (command: Command) => command.options.flatMap((o) => [o.long, o.short]).filter((n): n is string => n !== undefined);

  it('names the commands that plan, comment, apply and resume', () => {
    expect([...uses.keys()].sort()).toEqual(['apply', 'plan']);
    expect([...uses.get('plan')!].sort()).toEqual(['--base', '--ci-output', '--detailed-exitcode', '--offline', '--output', '-f']);
    expect([...uses.get('apply')!].sort()).toEqual(['--dry-run', '--lock-timeout', '--resume', '--timeout', '--yes', '-f']);
  });

  for (const [path, flags] of uses) {
    // A command another change has yet to add is checked from the moment it is registered.
    it.skipIf(findCommand(path) === undefined)(`uses only flags \`peerdb-upgrade ${path}\` has: ${[...flags].join(' ')}`, () => {
      const known = new Set([...names(findCommand(path)!), ...names(program), '--help', '-h']);
      expect([...flags].filter((flag) => !known.has(flag))).toEqual([]);
    });
  }
});
