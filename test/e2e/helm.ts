/**
 * Real Helm for the end-to-end tests: helm v3 built from Go modules by test/helm/build.sh (cached
 * outside the repo, keyed by its inputs), and the project's PeerDB-shaped chart in test/helm/chart.
 *
 * Also a vitest globalSetup (`setup`): builds helm once before any test runs (a cold build takes
 * minutes, longer than a test hook may), and hands its path to the test files.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { repoRoot } from './harness.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The helm binary test/helm/build.sh built. */
    e2eHelm: string;
  }
}

export const CHART_DIR = path.join(repoRoot, 'test/helm/chart');

export function buildHelm(): Promise<string> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    execFile('bash', [path.join(repoRoot, 'test/helm/build.sh')], { maxBuffer: 16 * 1024 * 1024, timeout: 60 * 60_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`test/helm/build.sh failed: ${err.message}\n${stderr.split('\n').slice(-40).join('\n')}`));
      const bin = stdout.trim().split('\n').pop() ?? '';
      if (!existsSync(bin)) return reject(new Error(`test/helm/build.sh printed no helm binary:\n${stdout}\n${stderr}`));
      if (Date.now() - started > 5_000) process.stderr.write(stderr);
      resolve(bin);
    });
  });
}

/** vitest globalSetup hook. */
export async function setup(project: { provide(key: 'e2eHelm', value: string): void }): Promise<void> {
  project.provide('e2eHelm', process.env.PEERDB_E2E_HELM ?? (await buildHelm()));
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Helm's own state (repositories, cache) in a private dir: the tests never touch ~/.config/helm. */
const helmHome = mkdtempSync(path.join(os.tmpdir(), 'peerdb-e2e-helm-'));

export function helmEnv(kubeconfig: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KUBECONFIG: kubeconfig,
    HELM_CACHE_HOME: path.join(helmHome, 'cache'),
    HELM_CONFIG_HOME: path.join(helmHome, 'config'),
    HELM_DATA_HOME: path.join(helmHome, 'data'),
    // The advised commands are run as a user would, by name.
    PATH: `${path.dirname(inject('e2eHelm'))}:${process.env.PATH ?? ''}`,
  };
}

/** Runs `helm ARGS` against the control plane. */
export function helm(kubeconfig: string, args: string[]): Promise<HelmResult> {
  return run(inject('e2eHelm'), args, kubeconfig);
}

/** Runs a command line the CLI printed, literally, in a shell (helm on PATH), from the repo root. */
export function shell(kubeconfig: string, commandLine: string): Promise<HelmResult> {
  return run('bash', ['-c', commandLine], kubeconfig);
}

function run(file: string, args: string[], kubeconfig: string): Promise<HelmResult> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: repoRoot, env: helmEnv(kubeconfig), timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
