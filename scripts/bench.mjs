// `npm run bench`: builds the CLI, bundles the benchmark (scripts/bench/*.ts, which reuses the e2e
// harness in test/e2e) with esbuild, and runs it. Options go to scripts/bench/main.ts:
//   npm run bench -- [--runs N] [--ready-delay MS] [--replicas N] [--only a,b,c] [--out FILE]
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
// The single executable too (~5 s), so the start-up section measures the packaged form from these
// sources beside the npm form, never a binary left over from an older build.
// Without it (Node older than 20.19, say) the section measures the npm form alone and says so.
rmSync(`${root}/dist-bin`, { recursive: true, force: true });
try {
  execFileSync(process.execPath, ['scripts/build-binary.mjs'], { cwd: root, stdio: 'inherit' });
} catch {
  console.error('bench: the single executable could not be built (above); start-up is measured for the npm form only');
}
// A private copy of the built CLI: a test run elsewhere in the tree rebuilds dist/ (removing it
// first), which must not pull the CLI from under a benchmark that takes minutes.
const cli = `${root}/.bench/cli`;
rmSync(cli, { recursive: true, force: true });
for (const dir of ['bin', 'dist', 'dist-bin', 'plans']) if (existsSync(`${root}/${dir}`)) cpSync(`${root}/${dir}`, `${cli}/${dir}`, { recursive: true });
cpSync(`${root}/scripts/bench-startup.mjs`, `${cli}/scripts/bench-startup.mjs`);
process.env.PEERDB_BENCH_CLI_DIR = cli;
// Two levels below the repo, like test/e2e/*.ts: the harness finds the repo root from its own URL.
mkdirSync(`${root}/.bench/bundle`, { recursive: true });
const outfile = `${root}/.bench/bundle/bench.mjs`;
await build({
  entryPoints: [`${root}/scripts/bench/main.ts`],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Resolved at run time from the repo's node_modules (the bundle lives inside the repo).
  packages: 'external',
  logLevel: 'warning',
});
const { main } = await import(pathToFileURL(outfile).href);
await main(process.argv.slice(2));
