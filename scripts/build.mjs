// Bundles the CLI. The Kubernetes client stays in a chunk of its own, loaded only by commands that
// talk to a cluster, so offline commands never pay for it.
import { build } from 'esbuild';
import { builtinModules } from 'node:module';
import { readFileSync, rmSync } from 'node:fs';

const started = Date.now();
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
/**
 * The Kubernetes client's generated API modules (models and API classes, most of its size) declare
 * no side effects flag, so a bundler must keep every one of them. We use none of them: only
 * KubeConfig for credentials. Marking them side-effect free lets esbuild drop what is unused.
 */
const clientApisAreSideEffectFree = {
  name: 'client-node-generated-apis',
  setup(b) {
    b.onResolve({ filter: /^\./ }, async (args) => {
      if (args.pluginData === 'skip' || !args.importer.includes('@kubernetes/client-node')) return undefined;
      const resolved = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'skip' });
      return resolved.path.includes('/client-node/dist/gen/') ? { path: resolved.path, sideEffects: false } : undefined;
    });
  },
};

/**
 * Imports the bundle may leave to run time. Everything else must be bundled: the package declares no
 * dependencies, so an installed copy has nothing else to load. The two optional ones are require()s
 * inside try/catch in bundled code (node-fetch's `encoding` for non-UTF-8 bodies, debug's
 * `supports-color`); both fall back when the package is missing.
 */
const optionalAtRunTime = new Set(['encoding', 'supports-color']);
const isBuiltin = (path) => path.startsWith('node:') || builtinModules.includes(path.split('/')[0]);

const result = await build({
  metafile: true,
  plugins: [clientApisAreSideEffectFree],
  entryPoints: { cli: 'src/cli/main.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Source maps are for development (`node --enable-source-maps bin/peerdb-upgrade.js`); the npm
  // package leaves them out (package.json "files"): 3.4 MB of maps for 1 MB of code, and Node only
  // reads them with --enable-source-maps. A bug report's stack trace names the version; the same
  // commit builds the same chunks and maps (esbuild output is deterministic), so it can be decoded.
  sourcemap: 'linked',
  legalComments: 'none',
  minify: true,
  logLevel: 'warning',
  // The Kubernetes client's URL code requires Node's deprecated built-in punycode, and Node 21+
  // prints a deprecation warning for it on every live command; bundle the userland package instead.
  alias: { punycode: 'punycode/' },
  define: { __PEERDB_UPGRADE_VERSION__: JSON.stringify(version) },
  // Bundled CommonJS dependencies call require() for Node built-ins.
  banner: {
    js: "import { createRequire as __peerdbCreateRequire } from 'node:module'; const require = __peerdbCreateRequire(import.meta.url);",
  },
});
const unbundled = new Map();
for (const [file, output] of Object.entries(result.metafile.outputs)) {
  for (const { path, external } of output.imports) {
    if (external && !isBuiltin(path) && !optionalAtRunTime.has(path)) unbundled.set(path, file);
  }
}
if (unbundled.size > 0) {
  for (const [path, file] of unbundled) console.error(`error: ${file} imports ${path} at run time; the installed package has no dependencies to load it from`);
  process.exit(1);
}
console.error(`built dist/ in ${Date.now() - started} ms`);
