/**
 * Issue 14 item 4 (client's own time): every new TLS connection built its own TLS context from the
 * kubeconfig's CA and client key (~5–10 ms of CPU each), and a run's start opens about ten at once.
 * Against an HTTPS server on loopback with a client certificate, as kubeadm clusters and the e2e
 * control plane are reached: many connections, one context.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectKube } from '../../src/cluster/kube-adapter.js';
import { sharedSecureContext } from '../../src/cluster/tls-context.js';

const dir = mkdtempSync(join(tmpdir(), 'peerdb-upgrade-tls-'));
const file = (name: string) => join(dir, name);
let server: ReturnType<typeof createServer>;
let kubeconfig: string;
let connections = 0;

function certificate(name: string, cn: string, ip?: string): void {
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${cn}`, ...(ip ? ['-addext', `subjectAltName=IP:${ip}`] : []),
    '-keyout', file(`${name}.key`), '-out', file(`${name}.crt`),
  ], { stdio: 'ignore' });
}

beforeAll(async () => {
  certificate('server', 'apiserver', '127.0.0.1');
  certificate('client', 'upgrader');
  server = createServer({ key: readFileSync(file('server.key')), cert: readFileSync(file('server.crt')), ca: readFileSync(file('client.crt')), requestCert: true, rejectUnauthorized: true }, (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind: 'ConfigMap', metadata: { name: 'x', resourceVersion: '1' }, data: {} }));
  });
  server.on('secureConnection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const b64 = (name: string) => readFileSync(file(name)).toString('base64');
  kubeconfig = file('config');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "https://127.0.0.1:${port}", certificate-authority-data: ${b64('server.crt')}}\nusers:\n- name: u\n  user: {client-certificate-data: ${b64('client.crt')}, client-key-data: ${b64('client.key')}}\ncontexts:\n- name: t\n  context: {cluster: c, user: u, namespace: peerdb}\ncurrent-context: t\n`,
  );
});
afterAll(() => server.close());

describe('one TLS context for the run, not one per connection', () => {
  it('opens many verified connections with a client certificate and builds the context from the kubeconfig once', async () => {
    const built = vi.spyOn(tls, 'createSecureContext');
    const cluster = connectKube({ kubeconfig, env: {}, requestTimeoutMs: 5_000 });
    try {
      // Twelve at once: more than the pool keeps (8), so new sockets keep being opened.
      const reads = await Promise.all(Array.from({ length: 12 }, () => cluster.getConfigMap('peerdb', 'x')));
      expect(reads.every((r) => r?.name === 'x')).toBe(true);
      expect(connections).toBeGreaterThanOrEqual(8);
      // Built with the client key: the server accepted every connection (requestCert, rejectUnauthorized).
      expect(built.mock.calls.filter(([options]) => options && 'key' in options && options.key !== undefined)).toHaveLength(1);
    } finally {
      cluster.close();
      built.mockRestore();
    }
  }, 30_000);

  it('builds a new context when the credentials change (a rotated client certificate), and none without TLS material', () => {
    const a = sharedSecureContext({ cert: readFileSync(file('client.crt')), key: readFileSync(file('client.key')) });
    expect(sharedSecureContext({ cert: readFileSync(file('client.crt')), key: readFileSync(file('client.key')) })).toBe(a);
    const b = sharedSecureContext({ cert: readFileSync(file('server.crt')), key: readFileSync(file('server.key')) });
    expect(b).not.toBe(a);
    expect(sharedSecureContext({})).toBeUndefined();
  });
});
