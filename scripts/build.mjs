// Bundles the CLI. The Kubernetes client stays in a chunk of its own, loaded only by commands that
// talk to a cluster, so offline commands never pay for it.
import { build } from 'esbuild';
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

await build({
  plugins: [clientApisAreSideEffectFree],
  entryPoints: { cli: 'src/cli/main.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
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
console.log(`built dist/ in ${Date.now() - started} ms`);
