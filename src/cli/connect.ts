import type { ClusterPort } from '../cluster/port.js';
import type { GlobalOptions } from './global-options.js';
import type { CliIO } from './io.js';
import type { Style } from '../plan/style.js';

/**
 * Loads the Kubernetes client only now: offline commands never pay its start-up cost (it is a
 * chunk of its own in the bundle).
 */
export async function connect(globals: GlobalOptions, io: CliIO, options: { requestTimeoutMs?: number } = {}): Promise<ClusterPort> {
  const { connectKube } = await import('../cluster/kube-adapter.js');
  return connectKube({
    kubeconfig: globals.kubeconfig,
    context: globals.context,
    env: io.env,
    requestTimeoutMs: options.requestTimeoutMs,
  });
}

/** Which cluster a live command acts on: on stderr, so stdout stays machine-readable. */
export function printTarget(cluster: ClusterPort, namespace: string, io: CliIO, style: Style): void {
  const t = cluster.target;
  io.stderr.write(style.dim(`context ${t.context} · server ${t.server} · namespace ${namespace}`) + '\n');
}
