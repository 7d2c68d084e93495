import type { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import WebSocket from 'ws';
import { ClusterError, errorFromResponse, errorFromTransport } from './cluster-error.js';
import type { PodHttpRequest, PodHttpResponse } from './port.js';

/** The port-forward channel protocol the kubelet speaks over WebSocket (one data and one error channel per port). */
const PROTOCOL = 'v4.channel.k8s.io';
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/**
 * One HTTP/1.1 request to a port of a pod through the API server's `pods/portforward` subresource
 * (what `kubectl port-forward` uses), over WebSocket: the kubeconfig's credentials are all it
 * needs, no network path to the pod, and it works where the API server cannot reach pod IPs on
 * arbitrary ports. Each request opens its own forward and closes it, so nothing stays open.
 */
export async function forwardHttp(kc: KubeConfig, server: string, namespace: string, pod: string, port: number, request: PodHttpRequest): Promise<PodHttpResponse> {
  const url = new URL(server.replace(/^http/, 'ws'));
  const basePath = url.pathname.replace(/\/+$/, '');
  const target = `${url.protocol}//${url.host}${basePath}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/portforward?ports=${port}`;
  const what = `pods/portforward ${namespace}/${pod} port ${port}`;
  const options: { headers?: Record<string, string>; [key: string]: unknown } = {};
  try {
    await kc.applyToHTTPSOptions(options as never);
  } catch {
    throw new ClusterError('unauthorized', 'could not obtain credentials from the kubeconfig (its auth provider or exec plugin failed)', {
      hint: 'run `kubectl get ns` to see the credential error, then log in again',
    });
  }
  const payload = request.body === undefined ? '' : JSON.stringify(request.body);
  const head = [
    `${request.method} ${request.path} HTTP/1.1`,
    `Host: ${pod}:${port}`,
    'Accept: application/json',
    'User-Agent: peerdb-upgrade',
    'Connection: close',
    ...(request.body === undefined ? [] : ['Content-Type: application/json', `Content-Length: ${Buffer.byteLength(payload)}`]),
    '',
    '',
  ].join('\r\n');

  return new Promise<PodHttpResponse>((resolve, reject) => {
    const ws = new WebSocket(target, [PROTOCOL], { ...options, handshakeTimeout: request.timeoutMs, perMessageDeflate: false } as WebSocket.ClientOptions);
    const data: Buffer[] = [];
    let size = 0;
    const errors: Buffer[] = [];
    const seenPortPrefix = [false, false];
    let settled = false;
    const finish = (error: Error | undefined, value?: PodHttpResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.terminate();
      if (error) reject(error);
      else resolve(value!);
    };
    const timer = setTimeout(
      () => finish(new ClusterError('timeout', `no answer from pod ${namespace}/${pod} port ${port} within ${Math.round(request.timeoutMs / 1000)}s (${request.method} ${request.path}, through ${what})`)),
      request.timeoutMs,
    );
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          body = { message: Buffer.concat(chunks).toString('utf8').slice(0, 300) };
        }
        finish(errorFromResponse(res.statusCode ?? 0, body, { method: 'POST', what }));
      });
      res.on('error', (error) => finish(errorFromTransport(error, server)));
    });
    ws.on('error', (error) => finish(errorFromTransport(error, server)));
    ws.on('open', () => {
      if (ws.protocol !== PROTOCOL) {
        finish(new ClusterError('bad-request', `the API server answered ${what} with WebSocket protocol "${ws.protocol}", not ${PROTOCOL}`));
        return;
      }
      ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(head + payload, 'utf8')]));
    });
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      if (!isBinary || raw.length === 0) return;
      const channel = raw[0]!;
      let chunk = raw.subarray(1);
      if (channel > 1) return;
      // The first frame of each channel starts with the port number (2 bytes, little endian).
      if (!seenPortPrefix[channel]) {
        seenPortPrefix[channel] = true;
        chunk = chunk.subarray(2);
      }
      if (channel === 1) errors.push(chunk);
      else {
        data.push(chunk);
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) finish(new ClusterError('bad-request', `the answer of pod ${namespace}/${pod} to ${request.method} ${request.path} is larger than ${MAX_RESPONSE_BYTES} bytes`));
      }
    });
    ws.on('close', () => {
      const errorText = Buffer.concat(errors).toString('utf8').trim();
      const raw = Buffer.concat(data);
      if (raw.length === 0) {
        finish(
          new ClusterError('network', errorText ? `cannot reach pod ${namespace}/${pod} port ${port}: ${shorten(errorText)}` : `pod ${namespace}/${pod} port ${port} closed the connection without an answer`, {
            hint: `is the pod Ready and serving on port ${port}?`,
          }),
        );
        return;
      }
      try {
        finish(undefined, parseHttpResponse(raw));
      } catch (error) {
        finish(new ClusterError('bad-request', `pod ${namespace}/${pod} port ${port} did not answer HTTP to ${request.method} ${request.path}: ${(error as Error).message}`));
      }
    });
  });
}

/** A whole HTTP/1.1 response (the connection was closed after it): status line, headers, body (chunked or not). */
export function parseHttpResponse(raw: Buffer): PodHttpResponse {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error('incomplete response headers');
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!match) throw new Error(`not an HTTP status line: ${JSON.stringify((lines[0] ?? '').slice(0, 40))}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  let body = raw.subarray(end + 4);
  if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) body = dechunk(body);
  else if (headers.has('content-length')) body = body.subarray(0, Number(headers.get('content-length')));
  const text = body.toString('utf8');
  let parsed: unknown;
  if (text.trim() !== '') {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = { message: text.slice(0, 300) };
    }
  }
  return { status: Number(match[1]), body: parsed };
}

function dechunk(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = body.indexOf('\r\n', at);
    if (lineEnd < 0) throw new Error('truncated chunked body');
    const size = parseInt(body.subarray(at, lineEnd).toString('latin1').split(';')[0]!, 16);
    if (!Number.isFinite(size)) throw new Error('bad chunk size');
    if (size === 0) return Buffer.concat(out);
    out.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

function shorten(text: string): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}
