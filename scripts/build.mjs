// Bundles the CLI into one CommonJS file, dist/cli.cjs, loaded by bin/peerdb-upgrade.js with V8's
// code cache (see there). CommonJS because Node 20 has no code cache for ES modules, and its ES
// module loader alone costs ~15 ms per start. Modules a command may not need (the Kubernetes client,
// apply's executor) are still evaluated only when a command imports them: esbuild turns each
// dynamic import() of a bundled module into a lazily run initialiser, so offline commands never pay
// for them.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { assertOnlyBuiltinImports, sharedOptions } from './bundle-options.mjs';

const started = Date.now();
const dist = new URL('../dist/', import.meta.url);
rmSync(dist, { recursive: true, force: true });
const result = await build({
  ...sharedOptions,
  entryPoints: { cli: 'src/cli/main.ts' },
  outfile: 'dist/cli.cjs',
  format: 'cjs',
  target: 'node20',
  write: false,
  // Source maps are for development (`node --enable-source-maps bin/peerdb-upgrade.js`); the npm
  // package leaves them out (package.json "files"): 3.4 MB of maps for 1 MB of code, and Node only
  // reads them with --enable-source-maps. A bug report's stack trace names the version; the same
  // commit builds the same bundle and map (esbuild output is deterministic), so it can be decoded.
  sourcemap: 'linked',
});
try {
  assertOnlyBuiltinImports(result.metafile);
} catch (error) {
  console.error(`error: ${error.message}`);
  process.exit(1);
}
mkdirSync(dist, { recursive: true });
for (const file of result.outputFiles) {
  let text = file.text;
  // The loader keys its code cache by this digest of the bundle (V8 itself checks only the source's
  // length). Appended after the source map comment, so no line moves.
  if (file.path.endsWith('.cjs')) text += `//# peerdb-upgrade-build=${createHash('sha256').update(text).digest('hex').slice(0, 16)}\n`;
  writeFileSync(file.path, text);
}
// On stderr: `npm pack --silent` prints only the tarball's name on stdout.
console.error(`built dist/ in ${Date.now() - started} ms`);
