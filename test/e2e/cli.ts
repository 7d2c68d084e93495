/**
 * Runs the built CLI as a subprocess, the way a user or a CI job does, and can kill it -9 at a
 * chosen moment of an `apply -o json` run:
 *
 *   const r = await runCli(['plan', '-f', spec, '--detailed-exitcode'], { kubeconfig });
 *   const { result } = await killWhen(['apply', '-f', spec, '--yes', '-o', 'json'], stepStarted('maintenance-start'), { kubeconfig });
 *
 * Also a vitest globalSetup (`setup`): builds the CLI once from a snapshot of src/ into a private
 * temp dir (scripts/build.mjs run there), so that `npm test` or `npm run build` rebuilding the
 * shared dist/ in the middle of the suite cannot pull modules from under a running CLI. Set
 * PEERDB_E2E_CLI to a bin/peerdb-upgrade.js to test that build instead.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { repoRoot } from './harness.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** bin/peerdb-upgrade.js of the CLI build the suite runs. */
    e2eCli: string;
  }
}

let privateBuild: string | undefined;

/** vitest globalSetup hook: build the CLI once, privately, before any test runs it. */
export async function setup(project: { provide(key: 'e2eCli', value: string): void }): Promise<void> {
  if (process.env.PEERDB_E2E_CLI) {
    project.provide('e2eCli', path.resolve(process.env.PEERDB_E2E_CLI));
    return;
  }
  const root = mkdtempSync(path.join(os.tmpdir(), 'peerdb-upgrade-e2e-cli-'));
  privateBuild = root;
  for (const entry of ['src', 'scripts', 'bin', 'package.json']) cpSync(path.join(repoRoot, entry), path.join(root, entry), { recursive: true });
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(root, 'node_modules'), 'dir');
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, [path.join(root, 'scripts/build.mjs')], { cwd: root }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`building the CLI (scripts/build.mjs on a copy of src/) failed: ${err.message}\n${stderr}`));
      else resolve();
    });
  });
  const bin = path.join(root, 'bin/peerdb-upgrade.js');
  if (!existsSync(path.join(root, 'dist/cli.cjs'))) throw new Error(`the CLI build in ${root} produced no dist/cli.cjs`);
  project.provide('e2eCli', bin);
}

export async function teardown(): Promise<void> {
  if (privateBuild && process.env.PEERDB_E2E_KEEP !== '1') rmSync(privateBuild, { recursive: true, force: true });
}

/** The CLI under test: the globalSetup's private build, else the repo's bin (dist/ as built). */
export function cliUnderTest(): string {
  return inject('e2eCli') ?? path.join(repoRoot, 'bin/peerdb-upgrade.js');
}

/** One line of `apply -o json` (an ApplyEvent, or the final {type:'outcome'}). */
export interface CliEvent {
  type: string;
  time?: string;
  runId?: string;
  resumed?: boolean;
  message?: string;
  error?: string;
  detail?: string;
  outcome?: string;
  text?: string;
  step?: { id: string; kind: string; component?: string; ordinal?: number; job?: string };
  [key: string]: unknown;
}

export interface CliResult {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The stdout lines that are JSON objects (apply -o json streams one event per line). */
  events: CliEvent[];
  durationMs: number;
}

export interface CliOptions {
  /** Passed as --kubeconfig (and KUBECONFIG is pointed at it, so nothing falls back to ~/.kube). */
  kubeconfig?: string;
  /** Extra env for the CLI. */
  env?: Record<string, string>;
  cwd?: string;
  /** Kill -9 after this long (a hung CLI must not hang the suite). Default 120 s. */
  timeoutMs?: number;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** A running CLI process whose JSON events can be awaited. */
export class CliRun {
  readonly child: ChildProcess;
  readonly events: CliEvent[] = [];
  readonly done: Promise<CliResult>;
  private stdout = '';
  private stderr = '';
  private partial = '';
  private readonly waiters = new Set<{ predicate: (e: CliEvent) => boolean; resolve: (e: CliEvent) => void }>();
  private readonly started = Date.now();

  constructor(
    readonly args: string[],
    opts: CliOptions = {},
  ) {
    const argv = [cliUnderTest(), ...(opts.kubeconfig ? ['--kubeconfig', opts.kubeconfig] : []), ...args];
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', PEERDB_UPGRADE_CI_OUTPUT: 'none', ...opts.env };
    // Never touch a real cluster by accident.
    env.KUBECONFIG = opts.kubeconfig ?? path.join(repoRoot, 'nonexistent-kubeconfig');
    delete env.GITHUB_ACTIONS;
    delete env.GITLAB_CI;
    delete env.GITHUB_STEP_SUMMARY;
    this.child = spawn(process.execPath, argv, { cwd: opts.cwd ?? repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(this.child);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => this.onStdout(d));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.done = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('close', (code, signal) => {
        clearTimeout(timer);
        children.delete(this.child);
        if (this.partial) this.onLine(this.partial);
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr, events: this.events, durationMs: Date.now() - this.started });
      });
    });
  }

  private onStdout(chunk: string): void {
    this.stdout += chunk;
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.onLine(line);
  }

  private onLine(line: string): void {
    if (!line.startsWith('{')) return;
    let event: CliEvent;
    try {
      event = JSON.parse(line) as CliEvent;
    } catch {
      return;
    }
    this.events.push(event);
    for (const w of [...this.waiters]) {
      if (w.predicate(event)) {
        this.waiters.delete(w);
        w.resolve(event);
      }
    }
  }

  /** Resolves with the first event (seen or to come) matching; rejects if the CLI exits first. */
  waitForEvent(predicate: (e: CliEvent) => boolean, timeoutMs = 60_000): Promise<CliEvent> {
    const seen = this.events.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = {
        predicate,
        resolve: (e: CliEvent) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no matching event after ${timeoutMs}ms from peerdb-upgrade ${this.args.join(' ')}\n${this.transcript()}`));
      }, timeoutMs);
      this.waiters.add(waiter);
      void this.done.then((r) => {
        if (!this.waiters.has(waiter)) return;
        this.waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`peerdb-upgrade exited (code ${r.code}, signal ${r.signal}) before the awaited event\n${transcript(r)}`));
      });
    });
  }

  /** Sends `signal` (default SIGKILL) and waits for the process to be gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<CliResult> {
    this.child.kill(signal);
    return this.done;
  }

  /** Closes the read end of the CLI's stdout, as `| head` does after its lines. */
  closeStdout(): void {
    this.child.stdout!.destroy();
  }

  transcript(): string {
    return `---- stdout ----\n${this.stdout}\n---- stderr ----\n${this.stderr}`;
  }
}

export function startCli(args: string[], opts: CliOptions = {}): CliRun {
  return new CliRun(args, opts);
}

export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return new CliRun(args, opts).done;
}

/**
 * Starts the CLI, waits for the first event matching `predicate`, kills it -9 right then (no
 * chance to save a checkpoint or release the lock), and returns that event and the dead run.
 */
export async function killWhen(args: string[], predicate: (e: CliEvent) => boolean, opts: CliOptions = {}): Promise<{ event: CliEvent; result: CliResult }> {
  const run = startCli(args, opts);
  const event = await run.waitForEvent(predicate);
  const result = await run.kill('SIGKILL');
  return { event, result };
}

/** Predicate: the step with this id started. */
export const stepStarted =
  (id: string) =>
  (e: CliEvent): boolean =>
    e.type === 'step-start' && e.step?.id === id;

/** Predicate: a progress event of this step whose message matches. */
export const stepProgress =
  (id: string, message: RegExp) =>
  (e: CliEvent): boolean =>
    e.type === 'step-progress' && e.step?.id === id && message.test(e.message ?? '');

/** The ids of the steps that emitted `type` (step-start, step-done, step-skip, step-failed), in order. */
export function stepIds(result: Pick<CliResult, 'events'>, type: string): string[] {
  return result.events.filter((e) => e.type === type && e.step).map((e) => e.step!.id);
}

/** A run's exit and output, for assertion messages: `expect(r.code, transcript(r)).toBe(0)`. */
export function transcript(r: CliResult): string {
  return `exit ${r.code}${r.signal ? ` (signal ${r.signal})` : ''} after ${r.durationMs}ms\n---- stdout ----\n${r.stdout}\n---- stderr ----\n${r.stderr}`;
}
