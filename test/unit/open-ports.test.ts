/**
 * A command that is done exits at once: main() closes every cluster port the command opened, so
 * no long-lived watch (reconnecting after a cut, say) keeps the process alive after the outcome is
 * printed. With a fault proxy that kept cutting watches, a finished `apply` lingered until killed.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KubeCluster } from '../../src/cluster/kube-adapter.js';
import { main } from '../../src/cli/main.js';
import { opened } from '../../src/cli/open-ports.js';
import { startFakeApiServer, type FakeApiServer } from './fakes/fake-apiserver.js';

let server: FakeApiServer | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await server?.close();
  server = undefined;
});

const quiet = { write: () => true };

describe('main() and the cluster connections of a command', () => {
  it('closes every port a command opened when the command ends, whatever its outcome', async () => {
    server = await startFakeApiServer(3);
    const close = vi.spyOn(KubeCluster.prototype, 'close');
    let stderr = '';
    const code = await main(['node', 'peerdb-upgrade', '--kubeconfig', server.kubeconfig, 'status', '-f', 'plans/helm-default.yaml'], {
      stdout: quiet,
      stderr: { write: (s: string) => ((stderr += s), true) },
      env: {},
      stdinIsTTY: false,
    });
    // The fake API server serves no ConfigMaps or Jobs: status finds no run and says so.
    expect(code, stderr).toBe(0);
    expect(stderr).toContain("server http://127.0.0.1:");
    expect(close).toHaveBeenCalled();
    expect(opened.size).toBe(0);
  }, 30_000);
});
