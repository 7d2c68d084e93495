// Bundles the CLI. The Kubernetes client stays in a chunk of its own, loaded only by commands that
// talk to a cluster, so offline commands never pay for it.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { assertOnlyBuiltinImports, builtinsThroughRequire, sharedOptions } from './bundle-options.mjs';

const started = Date.now();
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
const result = await build({
  ...sharedOptions,
  plugins: [...sharedOptions.plugins, builtinsThroughRequire],
  entryPoints: { cli: 'src/cli/main.ts' },
  outdir: 'dist',
  splitting: true,
  format: 'esm',
  target: 'node20',
  // Source maps are for development (`node --enable-source-maps bin/peerdb-upgrade.js`); the npm
  // package leaves them out (package.json "files"): 3.4 MB of maps for 1 MB of code, and Node only
  // reads them with --enable-source-maps. A bug report's stack trace names the version; the same
  // commit builds the same chunks and maps (esbuild output is deterministic), so it can be decoded.
  sourcemap: 'linked',
  // Bundled CommonJS dependencies call require() for Node built-ins.
  banner: {
    js: "import { createRequire as __peerdbCreateRequire } from 'node:module'; const require = __peerdbCreateRequire(import.meta.url);",
  },
});
try {
  assertOnlyBuiltinImports(result.metafile);
} catch (error) {
  console.error(`error: ${error.message}`);
  process.exit(1);
}
// On stderr: `npm pack --silent` prints only the tarball's name on stdout.
console.error(`built dist/ in ${Date.now() - started} ms`);
