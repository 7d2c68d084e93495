import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

/**
 * A kubeconfig's proxy-url, through the built CLI (dist/cli.cjs): the bundle loads the proxy
 * agents of the Kubernetes client only when a kubeconfig asks for one (scripts/bundle-options.mjs,
 * lazyRarelyUsedPackages), and they must then work as the client's own do. The "proxy" is a
 * loopback listener that records what it is sent and closes: the command fails, saying why.
 */
const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** A loopback listener that keeps the first bytes of the first connection. */
async function recordingProxy(): Promise<{ port: number; first: Promise<Buffer> }> {
  let received: (b: Buffer) => void = () => undefined;
  const first = new Promise<Buffer>((resolve) => (received = resolve));
  const server = createServer((socket) => {
    socket.once('data', (data) => {
      received(data);
      socket.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => server.close());
  return { port: (server.address() as AddressInfo).port, first };
}

/** What the proxy was sent; fails at once if the command ended without sending it anything. */
function sentThrough(proxy: { first: Promise<Buffer> }, run: Promise<{ stderr: string }>): Promise<Buffer> {
  return Promise.race([proxy.first, run.then(({ stderr }) => Promise.reject(new Error(`the command ended without going through the proxy:\n${stderr}`)))]);
}

function runPlan(proxyUrl: string, server: string): Promise<{ code: number | null; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'peerdb-upgrade-proxy-'));
  const kubeconfig = join(dir, 'config');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "${server}", insecure-skip-tls-verify: true, proxy-url: "${proxyUrl}"}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: p\n  context: {cluster: c, user: u, namespace: peerdb}\ncurrent-context: p\n`,
  );
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/peerdb-upgrade.js', 'plan', '-f', 'plans/helm-default.yaml', '--kubeconfig', kubeconfig], {
      env: { PATH: process.env.PATH, HOME: dir, XDG_CACHE_HOME: dir, NO_COLOR: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe("a kubeconfig's proxy-url, in the built CLI", () => {
  it('goes through a SOCKS proxy: the request opens with a SOCKS5 greeting; the error names the proxy, never its password', async () => {
    const proxy = await recordingProxy();
    const run = runPlan(`socks5://ops:s3cret-pw@127.0.0.1:${proxy.port}`, 'https://127.0.0.1:6443');
    const greeting = await sentThrough(proxy, run);
    expect(greeting[0]).toBe(0x05);
    const { code, stderr } = await run;
    expect(code).not.toBe(0);
    expect(stderr).toMatch(new RegExp(`^error: .*https://127\\.0\\.0\\.1:6443 through proxy socks5://127\\.0\\.0\\.1:${proxy.port}\\b`, 'm'));
    expect(stderr).not.toContain('s3cret-pw');
    expect(stderr).not.toMatch(/^\s+at /m);
  }, 40_000);

  it('goes through an HTTP proxy: an https server is asked for with CONNECT', async () => {
    const proxy = await recordingProxy();
    const run = runPlan(`http://127.0.0.1:${proxy.port}`, 'https://127.0.0.1:6443');
    expect((await sentThrough(proxy, run)).toString('latin1')).toMatch(/^CONNECT 127\.0\.0\.1:6443 HTTP\/1\.1\r\n/);
    const { code, stderr } = await run;
    expect(code).not.toBe(0);
    expect(stderr).toMatch(new RegExp(`^error: .* through proxy http://127\\.0\\.0\\.1:${proxy.port}\\b`, 'm'));
    expect(stderr).not.toMatch(/^\s+at /m);
  }, 40_000);
});
