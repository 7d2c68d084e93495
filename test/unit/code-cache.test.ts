import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';

/**
 * bin/peerdb-upgrade.js keeps V8's compiled code of dist/cli.cjs between runs (Node 20 has no
 * compile cache of its own). What must hold: the command's output never depends on the cache, a
 * cache is made once per command and then used as it is, and a damaged or unwritable cache only
 * costs the compile.
 */
const plan = ['plan', '-f', 'plans/helm-default.yaml', '--offline', '--from', 'v0.36.7'];

function run(args: string[], cacheHome: string) {
  const result = spawnSync(process.execPath, ['bin/peerdb-upgrade.js', ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: cacheHome, XDG_CACHE_HOME: cacheHome, NO_COLOR: '1' },
    timeout: 30_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const cacheDir = (home: string) => join(home, 'peerdb-upgrade', 'code-cache');
const files = (home: string) => readdirSync(cacheDir(home)).sort();

describe('the code cache of bin/peerdb-upgrade.js', () => {
  it('is made by the first run of a command, then used as it is by the next', () => {
    const home = mkdtempSync(join(tmpdir(), 'peerdb-upgrade-cache-'));
    const first = run(plan, home);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    const [made, ...others] = files(home);
    expect(others).toEqual([]);
    expect(made).toMatch(/^code-[0-9a-f]{16}-v8-.+-plan-offline\.bin$/);
    const before = statSync(join(cacheDir(home), made!));
    expect(before.size).toBeGreaterThan(10_000);
    expect(before.mode & 0o777).toBe(0o600);
    expect(statSync(cacheDir(home)).mode & 0o777).toBe(0o700);

    const second = run(plan, home);
    expect(second).toEqual(first);
    const after = statSync(join(cacheDir(home), made!));
    // Not written again: V8 took it (a rejected cache is replaced, see below).
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);

    // Another command runs other code: a cache of its own.
    expect(run(['validate', '-f', 'plans/helm-default.yaml'], home).code).toBe(0);
    expect(files(home)).toHaveLength(2);
    expect(files(home).some((name) => name.endsWith('-validate.bin'))).toBe(true);
  });

  it('replaces a damaged cache and gives the same output', () => {
    const home = mkdtempSync(join(tmpdir(), 'peerdb-upgrade-cache-'));
    const clean = run(plan, home);
    const [file] = files(home);
    writeFileSync(join(cacheDir(home), file!), 'not a code cache');
    const damaged = run(plan, home);
    expect(damaged).toEqual(clean);
    expect(readFileSync(join(cacheDir(home), file!)).length).toBeGreaterThan(10_000);
    expect(files(home)).toEqual([file]); // no temporary file left
  });

  it('runs as well where no cache can be written, and says nothing of it', () => {
    const home = mkdtempSync(join(tmpdir(), 'peerdb-upgrade-cache-'));
    const notADirectory = join(home, 'file');
    writeFileSync(notADirectory, '');
    const result = run(plan, notADirectory);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^Plan: \d+ steps/);
  });

  it('keeps at most 24 caches, dropping the oldest', () => {
    const home = mkdtempSync(join(tmpdir(), 'peerdb-upgrade-cache-'));
    mkdirSync(cacheDir(home), { recursive: true });
    const old = Date.now() / 1000 - 3600;
    for (let i = 0; i < 30; i++) {
      const name = join(cacheDir(home), `code-${String(i).padStart(16, '0')}-v8-old-x64-plan.bin`);
      writeFileSync(name, 'x');
      utimesSync(name, old + i, old + i);
    }
    expect(run(plan, home).code).toBe(0);
    const kept = files(home);
    expect(kept).toHaveLength(24);
    expect(kept.some((name) => name.endsWith('-plan-offline.bin'))).toBe(true);
    // The seven oldest went (30 + 1 made - 24).
    for (let i = 0; i < 7; i++) expect(kept).not.toContain(`code-${String(i).padStart(16, '0')}-v8-old-x64-plan.bin`);
  });

  it('knows every command the CLI has, so each gets a cache of its own', () => {
    const listed = /const COMMANDS = new Set\(\[([^\]]*)\]\)/.exec(readFileSync('bin/peerdb-upgrade.js', 'utf8'))![1]!.match(/'([a-z-]+)'/g)!.map((q) => q.slice(1, -1));
    const program = buildProgram({ io: { stdout: { write: () => true }, stderr: { write: () => true }, env: {}, stdinIsTTY: false }, setExitCode: () => undefined });
    expect(listed.sort()).toEqual(program.commands.map((c) => c.name()).sort());
  });
});
