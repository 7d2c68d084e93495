// Builds peerdb-upgrade as one executable file for machines and CI images without Node.js
// (`npm run build:binary` → dist-bin/peerdb-upgrade): Node's single executable applications (SEA).
// A copy of the node binary running this script, with the CLI injected by postject.
//
// SEA runs one CommonJS script, so the binary gets its own bundle: the same sources as dist/, but
// as a single file (the Kubernetes client inlined instead of a lazily loaded chunk, still evaluated
// only by the commands that use it; the startup snapshot below makes the rest cheap at start-up).
// Its only run-time imports are Node built-ins, as SEA requires.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertOnlyBuiltinImports, sharedOptions, version } from './bundle-options.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const started = Date.now();
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  console.error(`error: building the single executable needs Node.js 20.19+ (this is ${process.version})`);
  process.exit(1);
}
const out = join(root, 'dist-bin');
const binary = join(out, process.platform === 'win32' ? 'peerdb-upgrade.exe' : 'peerdb-upgrade');
const work = mkdtempSync(join(tmpdir(), 'peerdb-upgrade-sea-'));
try {
  // The same esbuild settings as scripts/build.mjs, for one CommonJS file.
  const result = await build({
    ...sharedOptions,
    stdin: {
      // The same entry as bin/peerdb-upgrade.js, run from a V8 startup snapshot (see sea-config below).
      // Building the snapshot evaluates the modules main.ts imports (not the ones loaded lazily: the
      // Kubernetes client, listr2) and runs one offline plan into a sink, so that the code an offline
      // plan runs is compiled in the snapshot. What this freezes was checked: no module of ours reads
      // the environment or the terminal when it loads (colour, CI format and TTY are read from the
      // process when main() runs; chalk's colour detection is left out of the bundle, see bundle-options.mjs);
      // the warm-up plan is given its own io and leaves no state behind (no module-level cache).
      // .ci/install-check.sh runs the binary with a terminal and as a GitHub Actions step to show it.
      contents: `
        import { startupSnapshot } from 'node:v8';
        import { main } from './src/cli/main.ts';
        const run = () => main(process.argv).then(
          (code) => { process.exitCode = code; },
          (error) => { console.error('peerdb-upgrade: internal error, please report this:', error); process.exitCode = 1; },
        );
        if (startupSnapshot.isBuildingSnapshot()) {
          startupSnapshot.setDeserializeMainFunction(run);
          const sink = { write: () => true, isTTY: false };
          const io = { stdout: sink, stderr: sink, env: {}, stdinIsTTY: false };
          main(['peerdb-upgrade', 'peerdb-upgrade', 'plan', '-f', WARM_UP_SPEC, '--offline', '--from', 'v0.36.7'], io).then((code) => {
            if (code !== 0) throw new Error('the warm-up plan for the startup snapshot exited ' + code);
          });
        } else run();`,
      resolveDir: root,
      loader: 'ts',
      sourcefile: 'sea-main.ts',
    },
    // The warm-up's spec, read at build time only (a copy in the build's temporary directory).
    define: { ...sharedOptions.define, WARM_UP_SPEC: JSON.stringify(join(work, 'warm-up.yaml')) },
    outfile: join(work, 'peerdb-upgrade.cjs'),
    format: 'cjs',
    target: `node${major}`,
  });
  assertOnlyBuiltinImports(result.metafile);
  copyFileSync(join(root, 'plans', 'helm-default.yaml'), join(work, 'warm-up.yaml'));
  writeFileSync(
    join(work, 'sea-config.json'),
    JSON.stringify({
      main: join(work, 'peerdb-upgrade.cjs'),
      output: join(work, 'sea-prep.blob'),
      disableExperimentalSEAWarning: true,
      // A V8 startup snapshot of the heap once the CLI's modules are loaded and an offline plan ran:
      // start-up deserializes it instead of compiling and evaluating them (plan --offline 1.5× → 1.1×
      // `node -e 0`; V8's code cache, used before, left the modules' evaluation to every start).
      useSnapshot: true,
    }),
  );
  execFileSync(process.execPath, ['--experimental-sea-config', join(work, 'sea-config.json')], { stdio: ['ignore', 'ignore', 'pipe'] });
  mkdirSync(out, { recursive: true });
  rmSync(binary, { force: true });
  copyFileSync(process.execPath, binary);
  chmodSync(binary, 0o755);
  const postject = join(root, 'node_modules', 'postject', 'dist', 'cli.js');
  const args = [postject, binary, 'NODE_SEA_BLOB', join(work, 'sea-prep.blob'), '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'];
  if (process.platform === 'darwin') args.push('--macho-segment-name', 'NODE_SEA');
  // postject (LIEF) warns about every ELF note section it cannot name: noise unless it fails.
  try {
    execFileSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    process.stderr.write(error.stderr ?? '');
    throw new Error(`postject could not inject the CLI into ${binary}`);
  }
  if (process.platform === 'darwin') execFileSync('codesign', ['--sign', '-', binary]);
} catch (error) {
  rmSync(binary, { force: true });
  console.error(`error: ${error.message}`);
  process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
if (!process.exitCode) {
  const size = statSync(binary).size;
  console.error(`built ${binary} (${(size / 1e6).toFixed(1)} MB, Node ${process.version} ${process.platform}-${process.arch}) in ${Date.now() - started} ms`);
}
