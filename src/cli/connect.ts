import type { ClusterPort } from '../cluster/port.js';
import type { GlobalOptions } from './global-options.js';
import type { CliIO } from './io.js';
import type { Style } from '../plan/style.js';
import { resolveSpec, type LoadedSpec } from '../spec/load-spec.js';
import type { ClusterSpec } from '../spec/schema.js';
import { colourLevel, makeStyle } from './io.js';
import { opened } from './open-ports.js';

/**
 * Loads the Kubernetes client only now: offline commands never pay its start-up cost (it is a
 * chunk of its own in the bundle).
 */
export async function connect(globals: GlobalOptions, io: CliIO, options: { requestTimeoutMs?: number; offlineFlag?: boolean } = {}): Promise<ClusterPort> {
  const { connectKube } = await import('../cluster/kube-adapter.js');
  const cluster = connectKube({
    kubeconfig: globals.kubeconfig,
    context: globals.context,
    env: io.env,
    requestTimeoutMs: options.requestTimeoutMs,
    offlineFlag: options.offlineFlag,
    outageMs: globals.apiOutage,
  });
  opened.add(cluster);
  return cluster;
}

/** Which cluster a live command acts on: on stderr, so stdout stays machine-readable. */
export function printTarget(cluster: ClusterPort, namespace: string, io: CliIO, style: Style): void {
  const t = cluster.target;
  io.stderr.write(style.dim(`context ${t.context} · server ${t.server} · namespace ${namespace}`) + '\n');
}

/**
 * The start of every live command that works from a spec: the spec (so a bad one fails before any
 * connection), the cluster, the namespace decided, and the header naming where it acts.
 */
export async function openSpecOnCluster(
  loaded: LoadedSpec,
  globals: GlobalOptions,
  io: CliIO,
  options: { offlineFlag?: boolean } = {},
): Promise<{ cluster: ClusterPort; spec: ClusterSpec }> {
  const cluster = await connect(globals, io, options);
  const spec = resolveSpec(loaded.document, { namespaceFlag: globals.namespace, fallbackNamespace: cluster.target.namespace });
  printTarget(cluster, spec.namespace, io, makeStyle(colourLevel(io, io.stderr, globals.color)));
  return { cluster, spec };
}
