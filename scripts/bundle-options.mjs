// esbuild settings shared by the npm package's bundle (scripts/build.mjs) and the single executable's
// (scripts/build-binary.mjs), and the check that a bundle needs nothing but Node at run time.
import { builtinModules } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

/**
 * The Kubernetes client's generated API modules (models and API classes, most of its size) declare
 * no side effects flag, so a bundler must keep every one of them. We use none of them: only
 * KubeConfig for credentials. Marking them side-effect free lets esbuild drop what is unused.
 */
const clientApisAreSideEffectFree = {
  name: 'client-node-generated-apis',
  setup(b) {
    // The package is ES modules with full relative paths ('./gen/models/V1Pod.js'), so the path is
    // joined here: asking esbuild to resolve each of its ~2000 imports (b.resolve) took 16 s a build.
    b.onResolve({ filter: /^\.\.?\/.*\.js$/ }, (args) => {
      if (!args.importer.includes('/@kubernetes/client-node/')) return undefined;
      const path = join(args.resolveDir, args.path);
      return path.includes('/client-node/dist/gen/') && existsSync(path) ? { path, sideEffects: false } : undefined;
    });
  },
};

/**
 * KubeConfig's module (client-node's dist/config.js, all we use of the client) takes two names from
 * the generated code's index, which re-exports every model: evaluating them cost every live command
 * ~8 ms before its first request. The two names come from their own modules instead. Should a
 * later client-node take more from the index, the build fails (no such export), never the CLI.
 */
const clientConfigWithoutModels = {
  name: 'client-node-config-without-models',
  setup(b) {
    b.onResolve({ filter: /^\.\/gen\/index\.js$/ }, (args) =>
      /[\\/]client-node[\\/]dist[\\/]config\.js$/.test(args.importer) ? { path: join(args.resolveDir, 'gen', 'index.js'), namespace: 'client-node-config-gen' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'client-node-config-gen' }, (args) => ({
      contents: "export { createConfiguration } from './configuration.js';\nexport { ServerConfiguration } from './servers.js';\n",
      resolveDir: dirname(args.path),
      loader: 'js',
    }));
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

/**
 * commander requires node:child_process when it loads, for executable subcommands (`git-foo` style),
 * which peerdb-upgrade has none of. Loading it costs ~10 ms of every start (a sixth of an offline
 * plan's own time); commander's copy is required when first used instead.
 */
const lazyChildProcessForCommander = {
  name: 'lazy-child-process-for-commander',
  setup(b) {
    b.onResolve({ filter: /^node:child_process$/ }, (args) =>
      args.importer.includes('/commander/') ? { path: args.path, namespace: 'lazy-child-process' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-child-process' }, () => ({
      contents: "let m; module.exports = new Proxy({}, { get: (_, key) => (m ??= require('node:child_process'))[key] });",
      loader: 'js',
    }));
  },
};

/**
 * chalk detects colour support when it loads (its vendored supports-color, which loads node:tty: ~10
 * ms of every start whose output is not a terminal) for its default instance. peerdb-upgrade never
 * uses that instance: src/cli/io.ts decides the colour level itself and makes `new Chalk({ level })`.
 * So the detection is left out: the default instance would have no colour.
 */
const chalkWithoutColorDetection = {
  name: 'chalk-without-color-detection',
  setup(b) {
    b.onResolve({ filter: /^#supports-color$/ }, (args) => (args.importer.includes('/chalk/') ? { path: args.path, namespace: 'no-color-detection' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'no-color-detection' }, () => ({ contents: 'export default { stdout: false, stderr: false };', loader: 'js' }));
  },
};

/**
 * Packages the Kubernetes client imports when it loads but needs only for what a kubeconfig rarely
 * has: a proxy-url (socks-proxy-agent, with ip-address, socks, smart-buffer, agent-base and debug;
 * hpagent) and the azure and gcp auth providers' token paths (jsonpath-plus). Evaluating them cost
 * every live command ~8 ms of CPU before its first request. Each name the client takes from them is
 * a function that loads the package when first called (as a constructor or not) and hands over the
 * package's own object, so nothing else changes; test/unit/proxy-url.test.ts runs the bundle
 * through both kinds of proxy.
 */
const LAZY_PACKAGES = [
  { name: 'socks-proxy-agent', importer: /[\\/]@kubernetes[\\/]client-node[\\/]dist[\\/]config\.js$/, exports: ['SocksProxyAgent'] },
  { name: 'hpagent', importer: /[\\/]@kubernetes[\\/]client-node[\\/]dist[\\/]config\.js$/, exports: ['HttpProxyAgent', 'HttpsProxyAgent'] },
  { name: 'jsonpath-plus', importer: /[\\/]@kubernetes[\\/]client-node[\\/]dist[\\/](azure|gcp)_auth\.js$/, exports: ['JSONPath'] },
];
const lazyRarelyUsedPackages = {
  name: 'lazy-rarely-used-packages',
  setup(b) {
    b.onResolve({ filter: /^(socks-proxy-agent|hpagent|jsonpath-plus)$/ }, (args) => {
      const lazy = LAZY_PACKAGES.find((p) => p.name === args.path && p.importer.test(args.importer));
      return lazy ? { path: lazy.name, namespace: 'lazy-package', pluginData: { resolveDir: dirname(args.importer) } } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-package' }, (args) => {
      const lazy = LAZY_PACKAGES.find((p) => p.name === args.path);
      const load = `let loaded;\nconst load = () => (loaded ??= require(${JSON.stringify(lazy.name)}));\n`;
      const wrappers = lazy.exports.map(
        (name) => `export function ${name}(...args) {\n  const real = load().${name};\n  return new.target ? Reflect.construct(real, args) : real.apply(this, args);\n}\n`,
      );
      return { contents: load + wrappers.join(''), resolveDir: args.pluginData.resolveDir, loader: 'js' };
    });
  },
};

export const sharedOptions = {
  bundle: true,
  platform: 'node',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
  plugins: [clientConfigWithoutModels, clientApisAreSideEffectFree, optionalPackagesLeftOut, whatwgUrlIsNodes, chalkWithoutColorDetection, lazyChildProcessForCommander, lazyRarelyUsedPackages],
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
