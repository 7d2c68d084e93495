// esbuild settings shared by the npm package's bundle (scripts/build.mjs) and the single executable's
// (scripts/build-binary.mjs), and the check that a bundle needs nothing but Node at run time.
import { builtinModules } from 'node:module';
import { readFileSync } from 'node:fs';

export const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

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
 * Packages bundled code asks for with require() inside try/catch and does without: node-fetch's
 * `encoding` (only for textConverted(), which nothing calls) and debug's `supports-color`. We ship
 * neither; an empty module makes both take their fallback at build time instead of a run-time
 * require() that would look outside the package (and that a single executable warns about).
 */
const optionalPackagesLeftOut = {
  name: 'optional-packages-left-out',
  setup(b) {
    b.onResolve({ filter: /^(encoding|supports-color)$/ }, (args) => ({ path: args.path, namespace: 'left-out' }));
    b.onLoad({ filter: /.*/, namespace: 'left-out' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
    // ws's native speed-ups: it uses them only when require() succeeds, and an empty module would
    // look like a present one, so these throw as a missing package does.
    b.onResolve({ filter: /^(bufferutil|utf-8-validate)$/ }, (args) => ({ path: args.path, namespace: 'left-out-throwing' }));
    b.onLoad({ filter: /.*/, namespace: 'left-out-throwing' }, (args) => ({
      contents: `throw Object.assign(new Error(${JSON.stringify(`${args.path} is not bundled`)}), { code: 'MODULE_NOT_FOUND' });`,
      loader: 'js',
    }));
  },
};

/**
 * Node built-ins through require() in the ESM bundle, not through `import`: Node builds an ES module
 * facade for every built-in a module imports, and building it reads every export, which runs lazy
 * getters (`process.stdin` opens a stream, `fs.ReadStream` loads the streams). require() returns the
 * module object as it is. Bundled code reads the properties it uses when it uses them.
 */
export const builtinsThroughRequire = {
  name: 'builtins-through-require',
  setup(b) {
    // A built-in's name that sharedOptions.alias gives a package (punycode) stays the package's.
    const isBuiltin = (path) => path.startsWith('node:') || (builtinModules.includes(path) && !(path in (b.initialOptions.alias ?? {})));
    b.onResolve({ filter: /^[a-z0-9_:/]+$/ }, (args) => {
      if (!isBuiltin(args.path)) return undefined;
      if (args.kind === 'require-call') return { path: args.path, external: true };
      return { path: args.path, namespace: 'builtin-require' };
    });
    b.onLoad({ filter: /.*/, namespace: 'builtin-require' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};

/**
 * node-fetch 2 (the Kubernetes client's HTTP) takes `URL` from whatwg-url only where Node has none
 * (`Url.URL || whatwgUrl.URL`); every Node we support has one. whatwg-url would bring tr46 and its
 * Unicode mapping table: 265 KB of the 513 KB client chunk, parsed by every live command before its
 * first request. Node's own URL in its place, as node-fetch itself uses it.
 */
const whatwgUrlIsNodes = {
  name: 'whatwg-url-is-nodes',
  setup(b) {
    b.onResolve({ filter: /^whatwg-url$/ }, (args) => (args.importer.includes('node-fetch') ? { path: args.path, namespace: 'whatwg-url-is-nodes' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'whatwg-url-is-nodes' }, () => ({ contents: "module.exports = { URL: require('node:url').URL };", loader: 'js' }));
  },
};

export const sharedOptions = {
  bundle: true,
  platform: 'node',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
  plugins: [clientApisAreSideEffectFree, optionalPackagesLeftOut, whatwgUrlIsNodes],
  // Should anything bundled require Node's deprecated built-in punycode (tr46 did, before
  // whatwgUrlIsNodes), Node 21+ would print a deprecation warning; the userland package instead.
  alias: { punycode: 'punycode/' },
  define: { __PEERDB_UPGRADE_VERSION__: JSON.stringify(version) },
};

/**
 * Throws unless every import the bundle leaves to run time is a Node built-in: the package declares
 * no dependencies, so an installed copy has nothing else to load (checked for every chunk, including
 * the lazily loaded ones).
 */
export function assertOnlyBuiltinImports(metafile) {
  const unbundled = [];
  for (const [file, output] of Object.entries(metafile.outputs)) {
    for (const { path, external } of output.imports) {
      if (external && !path.startsWith('node:') && !builtinModules.includes(path.split('/')[0])) unbundled.push(`${file} imports ${path}`);
    }
  }
  if (unbundled.length > 0) throw new Error(`the bundle loads packages at run time, which an installed copy does not have: ${unbundled.join('; ')}`);
}
