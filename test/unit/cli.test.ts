import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Runs the built CLI (npm test builds it first) the way a user or CI job does. */
function run(args: string[], env: Record<string, string | undefined> = {}) {
  const home = mkdtempSync(join(tmpdir(), 'peerdb-upgrade-home-'));
  const result = spawnSync(process.execPath, ['bin/peerdb-upgrade.js', ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: home, ...env },
    timeout: 30_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function tempFile(name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'peerdb-upgrade-'));
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

const noStack = (text: string) => expect(text).not.toMatch(/^\s+at /m);

describe('peerdb-upgrade CLI (subprocess)', () => {
  it('plan --offline prints the JSON plan and exits 0; with --detailed-exitcode exits 2', () => {
    const plain = run(['plan', '-f', 'plans/helm-default.yaml', '--offline', '--from', 'v0.36.7', '--output', 'json']);
    expect(plain.code).toBe(0);
    const doc = JSON.parse(plain.stdout);
    expect(doc.format_version).toBe(1);
    expect(doc.steps.map((s: { kind: string }) => s.kind)).toContain('statefulset-pod');
    const detailed = run(['plan', '-f', 'plans/helm-default.yaml', '--offline', '--from', 'v0.36.7', '--output', 'json', '--detailed-exitcode']);
    expect(detailed.code).toBe(2);
    expect(detailed.stdout).toBe(plain.stdout);
  });

  it('plan --detailed-exitcode exits 0 when already on the target version', () => {
    const result = run(['plan', '-f', 'plans/helm-default.yaml', '--offline', '--from', 'v0.37.4', '--detailed-exitcode']);
    expect(result.code).toBe(0);
  });

  it('plan --offline without maintenance plans rollouts only', () => {
    const result = run(['plan', '-f', 'plans/no-maintenance.yaml', '--offline', '--from', 'v0.36.7']);
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')[0]).toBe('Plan: 8 steps — 0 Jobs, 4 components, 5 pod restarts (peerdb-staging/staging v0.36.7 → v0.37.4, offline plan)');
  });

  it('validate accepts the example specs', () => {
    const result = run(['validate', '-f', 'plans/statefulset-workers.yaml']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('valid — data-platform/analytics to v0.37.4');
  });

  it('a spec with errors exits 1 naming file:line and the field path of each, without a stack', () => {
    const text = readFileSync('plans/helm-default.yaml', 'utf8').replace('backoffLimit: 4', 'backoffLimit: four').replace('timeout: 2h', 'timeout: 2 hours');
    const file = tempFile('helm-default.yaml', text);
    const lineOf = (needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
    for (const command of [['validate'], ['plan', '--offline']]) {
      const result = run([...command, '-f', file]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`${file}:${lineOf('2 hours')}:14: spec.maintenance.timeout: a duration such as 90s, 15m or 2h; found "2 hours"`);
      expect(result.stderr).toContain(`${file}:${lineOf('four')}:19: spec.maintenance.backoffLimit: expected a number, found "four"`);
      expect(result.stdout).toBe('');
      noStack(result.stderr);
    }
  });

  it.each([
    [['plan', '-f', 'nope.yaml', '--offline'], 'nope.yaml: no such file'],
    [['plan', '-f', 'plans', '--offline'], 'plans: is a directory'],
    [['plan', '-f', 'plans/helm-default.yaml', '--from', 'v0.36.7'], '--from goes with --offline'],
    [['plan', '-f', 'plans/helm-default.yaml', '--offline', '--from', 'latest-stable'], '--from: "latest-stable" is a mutable tag'],
    [['plan', '-f', 'plans/helm-default.yaml', '--offline', '--from', 'v0.38.0'], 'is a downgrade'],
    [['plan', '-f', 'plans/helm-default.yaml', '--offline', '--output', 'yaml'], "argument 'yaml' is invalid"],
    [['plan', '--offline'], "required option '-f, --file <spec>' not specified"],
    [['plann'], "unknown command 'plann'"],
    [['plan', '-f', 'plans/helm-default.yaml'], 'no kubeconfig found'],
  ])('%j exits 1 with a one-line reason', (args, message) => {
    const result = run(args);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(message);
    expect(result.stderr.trim().split('\n').length, result.stderr).toBeLessThanOrEqual(3);
    noStack(result.stderr);
  });

  it('an unreachable cluster exits 1 quickly, naming the server', () => {
    const kubeconfig = tempFile(
      'config',
      `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "https://127.0.0.1:1"}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: ctx\n  context: {cluster: c, user: u, namespace: peerdb}\ncurrent-context: ctx\n`,
    );
    const result = run(['plan', '-f', 'plans/helm-default.yaml', '--kubeconfig', kubeconfig]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cannot reach the API server at https://127.0.0.1:1 (connection refused)');
    expect(result.stderr).toContain('context ctx · server https://127.0.0.1:1 · namespace peerdb');
    noStack(result.stderr);
    const wrongContext = run(['plan', '-f', 'plans/helm-default.yaml', '--kubeconfig', kubeconfig, '--context', 'prod']);
    expect(wrongContext.code).toBe(1);
    expect(wrongContext.stderr).toContain('--context prod: no such context');
  });

  it('prints its version and help', () => {
    expect(run(['--version'])).toMatchObject({ code: 0, stdout: '0.1.0\n' });
    const help = run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('plan');
  });
});
