// Installs the PeerDB-shaped fixture of the end-to-end suite (test/e2e/fixture.ts) into a
// namespace of the cluster in $KUBECONFIG, so a person can try the CLI on `npm run cluster`:
//   KUBECONFIG=… npm run fixture -- [namespace=peerdb] [version=v0.36.7] [snapshot-replicas=3]
//       [--mirrors N] [--snapshotting NAME]… [--fails-to-resume NAME]… [--paused NAME]…
// --mirrors N makes running mirrors mirror-1 … mirror-N; --snapshotting NAME a mirror in its initial
// snapshot (it finishes 5 s after maintenance start first waits for it); --fails-to-resume NAME a
// running mirror that PeerDB's maintenance end does not manage to resume; --paused NAME a mirror
// the user paused.
import { build } from 'esbuild';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const positional = [];
const peerdb = { snapshotting: [], failsToResume: [], paused: [] };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  const value = () => {
    const v = args[++i];
    if (v === undefined || v.startsWith('--')) fail(`${arg} needs a value`);
    return v;
  };
  if (arg === '--mirrors') {
    const n = Number(value());
    if (!Number.isInteger(n) || n < 0 || n > 1000) fail('--mirrors takes a whole number from 0 to 1000');
    peerdb.mirrors = n;
  } else if (arg === '--snapshotting') peerdb.snapshotting.push(value());
  else if (arg === '--fails-to-resume') peerdb.failsToResume.push(value());
  else if (arg === '--paused') peerdb.paused.push(value());
  else if (arg.startsWith('--')) fail(`unknown option ${arg} (known: --mirrors N, --snapshotting NAME, --fails-to-resume NAME, --paused NAME)`);
  else positional.push(arg);
}
const [namespace = 'peerdb', version = 'v0.36.7', replicas = '3'] = positional;
const kubeconfig = process.env.KUBECONFIG;
if (!kubeconfig) fail('set KUBECONFIG to the kubeconfig that `npm run cluster` printed');
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
  await installPeerDB(kubeconfig, { namespace, version, snapshotReplicas: Number(replicas), peerdb });
} catch (error) {
  fail(error.message);
}
const mirrorCount = (peerdb.mirrors ?? 0) + peerdb.snapshotting.length + peerdb.failsToResume.length + peerdb.paused.length;
console.log(`installed PeerDB ${version} with ${mirrorCount} mirror${mirrorCount === 1 ? '' : 's'} in namespace ${namespace} (${Date.now() - started} ms); try:`);
console.log(`  node bin/peerdb-upgrade.js plan -f plans/helm-default.yaml${namespace === 'peerdb' ? '' : `   (after setting metadata.namespace: ${namespace})`}`);

function fail(message) {
  console.error(`error: ${message}`);
  process.exit(1);
}
