// Builds peerdb-upgrade as one executable file for machines and CI images without Node.js
// (`npm run build:binary` → dist-bin/peerdb-upgrade): Node's single executable applications (SEA).
// A copy of the node binary running this script, with the CLI injected by postject.
//
// SEA runs one CommonJS script, so the binary gets its own bundle: the same sources as dist/, but
// as a single file (the Kubernetes client inlined instead of a lazily loaded chunk; the code cache
// below makes that cheap at start-up). Its only run-time imports are Node built-ins, as SEA requires.
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
      // The same entry as bin/peerdb-upgrade.js.
      contents: `
        import { main } from './src/cli/main.ts';
        main(process.argv).then(
          (code) => { process.exitCode = code; },
          (error) => { console.error('peerdb-upgrade: internal error, please report this:', error); process.exitCode = 1; },
        );`,
      resolveDir: root,
      loader: 'ts',
      sourcefile: 'sea-main.ts',
    },
    outfile: join(work, 'peerdb-upgrade.cjs'),
    format: 'cjs',
    target: `node${major}`,
  });
  assertOnlyBuiltinImports(result.metafile);
  writeFileSync(
    join(work, 'sea-config.json'),
    JSON.stringify({
      main: join(work, 'peerdb-upgrade.cjs'),
      output: join(work, 'sea-prep.blob'),
      disableExperimentalSEAWarning: true,
      // V8's compiled code for the bundle, made now: start-up does not parse 1.5 MB of JavaScript.
      useCodeCache: true,
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
