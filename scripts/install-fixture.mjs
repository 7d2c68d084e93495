// Installs the PeerDB-shaped fixture of the end-to-end suite (test/e2e/fixture.ts) into a
// namespace of the cluster in $KUBECONFIG, so a person can try the CLI on `npm run cluster`:
//   KUBECONFIG=… npm run fixture -- [namespace=peerdb] [version=v0.36.7] [snapshot-replicas=3]
import { build } from 'esbuild';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [namespace = 'peerdb', version = 'v0.36.7', replicas = '3'] = process.argv.slice(2);
const kubeconfig = process.env.KUBECONFIG;
if (!kubeconfig) {
  console.error('error: set KUBECONFIG to the kubeconfig that `npm run cluster` printed');
  process.exit(1);
}
const out = join(mkdtempSync(join(tmpdir(), 'peerdb-upgrade-fixture-')), 'fixture.mjs');
// Both test helpers are TypeScript: bundle them for plain node.
await build({
  stdin: {
    contents: "export { installPeerDB } from './test/e2e/fixture.ts'; export { createNamespace } from './test/e2e/harness.ts';",
    resolveDir: new URL('..', import.meta.url).pathname,
    loader: 'ts',
  },
  outfile: out,
  bundle: true,
  platform: 'node',
  format: 'esm',
  logLevel: 'warning',
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
});
const { installPeerDB, createNamespace } = await import(pathToFileURL(out).href);
const started = Date.now();
try {
  await createNamespace(kubeconfig, namespace);
  await installPeerDB(kubeconfig, { namespace, version, snapshotReplicas: Number(replicas) });
} catch (error) {
  console.error(`error: ${error.message}`);
  process.exit(1);
}
console.log(`installed PeerDB ${version} in namespace ${namespace} (${Date.now() - started} ms); try:`);
console.log(`  node bin/peerdb-upgrade.js plan -f plans/helm-default.yaml${namespace === 'peerdb' ? '' : `   (after setting metadata.namespace: ${namespace})`}`);
