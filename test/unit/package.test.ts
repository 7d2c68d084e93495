import { spawnSync } from 'node:child_process';
import { accessSync, constants, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  version: string;
  dependencies?: Record<string, string>;
  bin: Record<string, string>;
  files: string[];
  scripts: Record<string, string>;
  repository?: { url: string };
};

describe('the npm package', () => {
  it('declares no dependencies: the bundle carries them, so an install pulls nothing else', () => {
    expect(pkg.dependencies ?? {}).toEqual({});
  });

  it('builds dist/ on pack, publish and git installs (prepare)', () => {
    expect(pkg.scripts.prepare).toMatch(/scripts\/build\.mjs/);
  });

  it('has two executable entry points: peerdb-upgrade and the kubectl plugin', () => {
    expect(Object.keys(pkg.bin).sort()).toEqual(['kubectl-peerdb_upgrade', 'peerdb-upgrade']);
    for (const file of Object.values(pkg.bin)) {
      accessSync(file, constants.X_OK);
      expect(readFileSync(file, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    }
  });

  it('ships the code without its source maps, and the licence it declares', () => {
    expect(pkg.files).toContain('dist/*.cjs');
    expect(pkg.files.some((entry) => entry === 'dist' || entry.endsWith('.map'))).toBe(false);
    expect(readFileSync('LICENSE', 'utf8')).toMatch(/Apache License\s+Version 2\.0, January 2004/);
    expect(pkg.repository?.url).toMatch(/^git\+https:\/\/github\.com\//);
  });
});

/**
 * The installed package is bin/, dist/*.cjs, plans/ and package.json with no node_modules anywhere above
 * it. Every command, including one that loads the Kubernetes client, must run there.
 */
describe('the bundle outside the repository (no node_modules)', () => {
  const root = mkdtempSync(join(tmpdir(), 'peerdb-upgrade-pkg-'));
  cpSync('bin', join(root, 'bin'), { recursive: true });
  cpSync('plans', join(root, 'plans'), { recursive: true });
  cpSync('package.json', join(root, 'package.json'));
  for (const file of readdirSync('dist').filter((name) => name.endsWith('.cjs'))) cpSync(join('dist', file), join(root, 'dist', file));
  const run = (bin: string, args: string[]) => {
    const result = spawnSync(process.execPath, [join(root, 'bin', bin), ...args], {
      cwd: root,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: root },
      timeout: 30_000,
    });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  it('has no node_modules to fall back on', () => {
    for (let dir = root; ; dir = dirname(dir)) {
      expect(existsSync(join(dir, 'node_modules')), dir).toBe(false);
      if (dirname(dir) === dir) break;
    }
  });

  it('prints its version and an offline plan', () => {
    expect(run('peerdb-upgrade.js', ['--version'])).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    const plan = run('peerdb-upgrade.js', ['plan', '-f', 'plans/helm-default.yaml', '--offline', '--from', 'v0.36.7']);
    expect(plan.stderr).toBe('');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/^Plan: \d+ steps/);
  });

  it('loads the Kubernetes client for a live command (a closed loopback port: exit 1, no stack)', () => {
    writeFileSync(
      join(root, 'kubeconfig'),
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {token: not-a-secret}}]',
        'contexts: [{name: x, context: {cluster: c, user: u, namespace: peerdb}}]',
        'current-context: x',
      ].join('\n'),
    );
    const live = run('peerdb-upgrade.js', ['plan', '-f', 'plans/helm-default.yaml', '--kubeconfig', 'kubeconfig']);
    expect(live.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (package|module)|^\s+at /m);
    expect(live.stderr).toMatch(/cannot reach the API server at https:\/\/127\.0\.0\.1:1/);
    expect(live.code).toBe(1);
  });

  it('calls itself `kubectl peerdb-upgrade` when run as the kubectl plugin', () => {
    const help = run('kubectl-peerdb_upgrade.js', ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: kubectl peerdb-upgrade \[options\] \[command\]/);
    const sub = run('kubectl-peerdb_upgrade.js', ['plan', '--help']);
    expect(sub.stdout).toMatch(/^Usage: kubectl peerdb-upgrade plan \[options\]/);
    expect(run('peerdb-upgrade.js', ['--help']).stdout).toMatch(/^Usage: peerdb-upgrade \[options\] \[command\]/);
  });
});

describe('docs/ci.md install steps', () => {
  const docs = readFileSync('docs/ci.md', 'utf8');
  const gitInstalls = [...docs.matchAll(/npm install[^\n]*git\+https:[^\n]*/g)].map((m) => m[0]);

  it('install from git into a prefix of their own, never --global (npm/cli#8440: no build tools for prepare)', () => {
    expect(gitInstalls.length).toBeGreaterThanOrEqual(4); // the snippet, two GitHub jobs, GitLab
    for (const line of gitInstalls) {
      expect(line).not.toMatch(/--global|\s-g\s/);
      expect(line).toContain('--prefix "$HOME/.peerdb-upgrade"');
    }
    // …and put its bin directory on PATH, in each pipeline's way.
    expect(docs.split('>> "$GITHUB_PATH"').length - 1).toBe(2);
    expect(docs).toContain('- export PATH="$HOME/.peerdb-upgrade/node_modules/.bin:$PATH"');
  });

  it('names the repository package.json names', () => {
    const repository = pkg.repository?.url.replace(/^git\+/, '') ?? '';
    for (const line of gitInstalls) expect(line).toContain(`git+${repository}#`);
  });
});
