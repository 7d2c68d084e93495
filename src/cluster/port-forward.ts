import type http from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import WebSocket from 'ws';
import { ClusterError, errorFromResponse, errorFromTransport } from './cluster-error.js';
import type { PodHttpRequest, PodHttpResponse, PodHttpSend } from './port.js';
import { sharedSecureContext } from './tls-context.js';

/** The port-forward channel protocol the kubelet speaks over WebSocket (one data and one error channel per port). */
const PROTOCOL = 'v4.channel.k8s.io';
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** Where forwardHttp connects, and how it reports each request (method, path, status, ms). */
export interface ForwardTarget {
  readonly kc: KubeConfig;
  readonly server: string;
  readonly namespace: string;
  readonly pod: string;
  readonly port: number;
  /**
   * The API requests' keep-alive agent: the forward's upgrade then goes out on one of its idle
   * connections (the connection leaves the pool when it is upgraded) instead of a TLS handshake of
   * its own. Undefined: a connection of its own (a proxy-url's agent, say).
   */
  readonly agent?: http.Agent | undefined;
  readonly log?: ((entry: { method: string; path: string; status: number | undefined; ms: number }) => void) | undefined;
}

/**
 * HTTP/1.1 to a port of a pod through the API server's `pods/portforward` subresource (what
 * `kubectl port-forward` uses), over WebSocket: the kubeconfig's credentials are all it needs, no
 * network path to the pod, and it works where the API server cannot reach pod IPs on arbitrary
 * ports.
 *
 * The requests `exchange` sends travel over one forwarded connection (keep-alive), opened at the
 * first send and closed when `exchange` settles, so nothing stays open. Reads (GET, or marked
 * idempotent) are pipelined: written at once, answered in order. A request that may act goes only
 * as the first request of a fresh forward, so it is never lost in a connection the server is
 * closing, and never sent twice. A server that closes the connection (Connection: close, or it just
 * ends) gets the reads it did not answer again over a new forward, one request per forward from then
 * on (what each request had before keep-alive).
 */
export async function forwardHttp<T>(target: ForwardTarget, exchange: (send: PodHttpSend) => Promise<T>): Promise<T> {
  const session = new ForwardSession(target);
  try {
    return await exchange((request) => session.send(request));
  } finally {
    session.close();
  }
}

interface Pending {
  readonly request: PodHttpRequest;
  readonly bytes: Buffer;
  readonly resolve: (response: PodHttpResponse) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
  /** Written to the current connection: its answer is due there. */
  sent: boolean;
  sentAt: number;
}

/**
 * The requests of one exchange and the connection they go over. Invariant: the requests written
 * to the connection are a prefix of the queue, answered in that order (HTTP/1.1).
 */
class ForwardSession {
  private connection: ForwardConnection | undefined;
  /** Requests not answered yet, in the order they were given. */
  private readonly queue: Pending[] = [];
  /** The server closed a connection after an answer: one request per connection from then on. */
  private oneAtATime = false;
  /** A pooled connection failed to upgrade (an idle one the server had dropped): connections of its own from then on. */
  private ownConnections = false;
  private closed = false;

  constructor(private readonly target: ForwardTarget) {}

  send(request: PodHttpRequest): Promise<PodHttpResponse> {
    if (this.closed) return Promise.reject(new Error(`${request.method} ${request.path} sent after the exchange ended`));
    const promise = new Promise<PodHttpResponse>((resolve, reject) => {
      const { pod, port } = this.target;
      const timer = setTimeout(() => this.timedOut(entry), request.timeoutMs);
      const entry: Pending = { request, bytes: requestBytes(request, pod, port), resolve, reject, timer, sent: false, sentAt: 0 };
      this.queue.push(entry);
      this.pump();
    });
    // Rejected by close() when the exchange ended without waiting for it: not an unhandled rejection.
    promise.catch(() => undefined);
    return promise;
  }

  close(): void {
    this.closed = true;
    this.connection?.terminate();
    this.connection = undefined;
    for (const entry of [...this.queue]) this.fail(entry, new Error(`${entry.request.method} ${entry.request.path}: the exchange ended before its answer`));
  }

  private what(): string {
    return `pods/portforward ${this.target.namespace}/${this.target.pod} port ${this.target.port}`;
  }

  /** Opens a connection when requests wait, and writes each request that may go now, in order. */
  private pump(): void {
    if (this.closed || this.queue.length === 0) return;
    const head = this.queue[0]!;
    // A connection that answered before takes no request that may act (the server may be closing
    // it as we write: that request would be lost with its fate unknown), and none at all once the
    // server is known to close after an answer: a new forward does. Nothing is in flight on it.
    if (this.connection && !head.sent && this.connection.responses > 0 && (this.oneAtATime || !isRead(head.request))) {
      this.connection.terminate();
      this.connection = undefined;
    }
    if (!this.connection) {
      this.connection = new ForwardConnection(this.target, this.what(), {
        onOpen: () => this.pump(),
        onResponse: (connection, response) => this.answered(connection, response),
        onEnd: (connection, reason) => this.ended(connection, reason),
      }, this.target.agent !== undefined && !this.ownConnections);
      return;
    }
    const connection = this.connection;
    if (!connection.open) return;
    // What may go now leaves in one WebSocket frame, as a single request did: an API server that
    // proxies the forward tears it down on a failed write, possibly before the kubelet's error
    // text (a refused port) reached us; more frames, more such chances.
    const out: Buffer[] = [];
    for (let i = 0; i < this.queue.length; i++) {
      const entry = this.queue[i]!;
      if (entry.sent) continue;
      // Behind a request not answered yet: only a read, and only on a server that keeps connections.
      if (i > 0 && (this.oneAtATime || !isRead(entry.request))) break;
      entry.sent = true;
      entry.sentAt = Date.now();
      out.push(entry.bytes);
    }
    if (out.length > 0) connection.write(Buffer.concat(out));
  }

  private answered(connection: ForwardConnection, response: PodHttpResponse & { close: boolean }): void {
    if (connection !== this.connection) return;
    const entry = this.queue[0];
    if (!entry?.sent) {
      // An answer nobody asked for: the stream is out of step.
      connection.terminate();
      this.ended(connection, new ClusterError('bad-request', `pod ${this.target.namespace}/${this.target.pod} port ${this.target.port} sent an HTTP answer to no request`));
      return;
    }
    this.settle(entry, { status: response.status, body: response.body });
    if (response.close) {
      // The server closes after this answer (Connection: close): the rest go over a new forward.
      connection.terminate();
      this.ended(connection, new ClusterError('network', `pod ${this.target.namespace}/${this.target.pod} port ${this.target.port} closed the connection`));
      return;
    }
    this.pump();
  }

  /**
   * The connection ended. If it answered something (a server that closes after an answer), the
   * requests it did not answer go over a new forward: reads whether written or not, others only if
   * never written (one written may have acted); the rest fail. If it answered nothing, the forward
   * itself failed (refused, forbidden, unreachable): every request fails with why.
   */
  private ended(connection: ForwardConnection, reason: Error): void {
    if (connection !== this.connection) return;
    this.connection = undefined;
    // An idle pooled connection may have been closed by the server as it was taken: nothing was
    // written on it, so the forward is tried once more on a connection of its own.
    if (connection.pooled && connection.failedToConnect) {
      this.ownConnections = true;
      this.pump();
      return;
    }
    const answeredAny = connection.responses > 0;
    if (answeredAny) this.oneAtATime = true;
    const { namespace, pod, port } = this.target;
    for (const entry of [...this.queue]) {
      if (answeredAny && (!entry.sent || isRead(entry.request))) {
        entry.sent = false;
        continue;
      }
      const error = answeredAny
        ? new ClusterError('network', `pod ${namespace}/${pod} port ${port} closed the connection before answering ${entry.request.method} ${entry.request.path}`, { hint: `is the pod Ready and serving on port ${port}?` })
        : reason;
      this.fail(entry, error);
    }
    this.pump();
  }

  /**
   * No answer within the request's time: it fails, and so does every request written with it (their
   * answers queue behind its, on the same stream); the connection is dropped, and requests not yet
   * written go over a new one.
   */
  private timedOut(entry: Pending): void {
    const { namespace, pod, port } = this.target;
    const error = new ClusterError('timeout', `no answer from pod ${namespace}/${pod} port ${port} within ${Math.round(entry.request.timeoutMs / 1000)}s (${entry.request.method} ${entry.request.path}, through ${this.what()})`);
    if (!entry.sent) {
      this.fail(entry, error);
      return;
    }
    this.connection?.terminate();
    this.connection = undefined;
    for (const other of [...this.queue]) if (other.sent) this.fail(other, error);
    this.pump();
  }

  private settle(entry: Pending, response: PodHttpResponse): void {
    this.remove(entry);
    this.log(entry, response.status);
    entry.resolve(response);
  }

  private fail(entry: Pending, error: Error): void {
    if (!this.remove(entry)) return;
    this.log(entry, undefined);
    entry.reject(error);
  }

  private remove(entry: Pending): boolean {
    const index = this.queue.indexOf(entry);
    if (index < 0) return false;
    this.queue.splice(index, 1);
    clearTimeout(entry.timer);
    return true;
  }

  private log(entry: Pending, status: number | undefined): void {
    const { namespace, pod, port } = this.target;
    this.target.log?.({ method: entry.request.method, path: `/api/v1/namespaces/${namespace}/pods/${pod}/portforward:${port}${entry.request.path}`, status, ms: entry.sentAt ? Date.now() - entry.sentAt : 0 });
  }
}

/** Reads: safe to pipeline, and to send again when a connection closed before their answer. */
function isRead(request: PodHttpRequest): boolean {
  return request.method === 'GET' || request.idempotent === true;
}

function requestBytes(request: PodHttpRequest, pod: string, port: number): Buffer {
  const payload = request.body === undefined ? '' : JSON.stringify(request.body);
  const head = [
    `${request.method} ${request.path} HTTP/1.1`,
    `Host: ${pod}:${port}`,
    'Accept: application/json',
    'User-Agent: peerdb-upgrade',
    ...(request.body === undefined ? [] : ['Content-Type: application/json', `Content-Length: ${Buffer.byteLength(payload)}`]),
    '',
    '',
  ].join('\r\n');
  return Buffer.from(head + payload, 'utf8');
}

interface ConnectionEvents {
  onOpen(): void;
  onResponse(connection: ForwardConnection, response: PodHttpResponse & { close: boolean }): void;
  onEnd(connection: ForwardConnection, reason: Error): void;
}

/** One WebSocket port-forward: bytes out on the data channel, HTTP responses parsed from what comes back. */
class ForwardConnection {
  open = false;
  /** The upgrade failed in transport (no HTTP answer) before the forward opened. */
  failedToConnect = false;
  /** Answers read from it so far. */
  responses = 0;
  private ws: WebSocket | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private readonly errors: Buffer[] = [];
  private readonly seenPortPrefix = [false, false];
  private ended = false;

  constructor(
    private readonly target: ForwardTarget,
    private readonly what: string,
    private readonly events: ConnectionEvents,
    /** On one of target.agent's idle connections (see ForwardTarget.agent). */
    readonly pooled: boolean,
  ) {
    void this.connect();
  }

  private async connect(): Promise<void> {
    const { kc, server, namespace, pod, port } = this.target;
    const url = new URL(server.replace(/^http/, 'ws'));
    const basePath = url.pathname.replace(/\/+$/, '');
    const address = `${url.protocol}//${url.host}${basePath}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/portforward?ports=${port}`;
    const options: { headers?: Record<string, string>; [key: string]: unknown } = {};
    try {
      await kc.applyToHTTPSOptions(options as never);
    } catch {
      this.end(new ClusterError('unauthorized', 'could not obtain credentials from the kubeconfig (its auth provider or exec plugin failed)', {
        hint: 'run `kubectl get ns` to see the credential error, then log in again',
      }));
      return;
    }
    if (this.ended) return;
    if (url.protocol === 'wss:') {
      const context = sharedSecureContext(options as Parameters<typeof sharedSecureContext>[0]);
      if (context) options['secureContext'] = context;
    }
    if (this.pooled && this.target.agent) {
      // applyToHTTPSOptions built a throwaway agent with the same TLS material (see kube-http.ts).
      (options['agent'] as http.Agent | undefined)?.destroy();
      options['agent'] = this.target.agent;
    }
    const ws = new WebSocket(address, [PROTOCOL], { ...options, perMessageDeflate: false } as WebSocket.ClientOptions);
    this.ws = ws;
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
        this.end(errorFromResponse(res.statusCode ?? 0, body, { method: 'POST', what: this.what }));
      });
      res.on('error', (error) => this.end(errorFromTransport(error, server)));
    });
    ws.on('error', (error) => {
      if (!this.open) this.failedToConnect = true;
      this.end(errorFromTransport(error, server));
    });
    ws.on('open', () => {
      if (ws.protocol !== PROTOCOL) {
        this.end(new ClusterError('bad-request', `the API server answered ${this.what} with WebSocket protocol "${ws.protocol}", not ${PROTOCOL}`));
        return;
      }
      this.open = true;
      this.events.onOpen();
    });
    ws.on('message', (raw: Buffer, isBinary: boolean) => this.message(raw, isBinary));
    ws.on('close', () => this.closedByServer());
  }

  write(bytes: Buffer): void {
    this.ws?.send(Buffer.concat([Buffer.from([0]), bytes]));
  }

  terminate(): void {
    this.ended = true;
    const ws = this.ws;
    if (!ws) return;
    ws.removeAllListeners();
    ws.on('error', () => undefined);
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.terminate();
  }

  private message(raw: Buffer, isBinary: boolean): void {
    if (this.ended || !isBinary || raw.length === 0) return;
    const channel = raw[0]!;
    let chunk = raw.subarray(1);
    if (channel > 1) return;
    // The first frame of each channel starts with the port number (2 bytes, little endian).
    if (!this.seenPortPrefix[channel]) {
      this.seenPortPrefix[channel] = true;
      chunk = chunk.subarray(2);
    }
    if (channel === 1) {
      this.errors.push(chunk);
      return;
    }
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    if (this.buffer.length > MAX_RESPONSE_BYTES) {
      this.end(new ClusterError('bad-request', `an answer of pod ${this.target.namespace}/${this.target.pod} is larger than ${MAX_RESPONSE_BYTES} bytes`));
      return;
    }
    this.drain(false);
  }

  /** Hands on every whole response at the front of the buffer; at the end, one without a length too. */
  private drain(atEnd: boolean): void {
    while (!this.ended && this.buffer.length > 0) {
      let parsed: { response: PodHttpResponse & { close: boolean }; length: number } | undefined;
      try {
        parsed = nextHttpResponse(this.buffer, atEnd);
      } catch (error) {
        this.end(new ClusterError('bad-request', `pod ${this.target.namespace}/${this.target.pod} port ${this.target.port} did not answer HTTP: ${(error as Error).message}`));
        return;
      }
      if (!parsed) return;
      this.buffer = this.buffer.subarray(parsed.length);
      this.responses++;
      this.events.onResponse(this, parsed.response);
    }
  }

  private closedByServer(): void {
    if (this.ended) return;
    this.drain(true);
    if (this.ended) return;
    const { namespace, pod, port } = this.target;
    const errorText = Buffer.concat(this.errors).toString('utf8').trim();
    this.end(
      new ClusterError('network', errorText ? `cannot reach pod ${namespace}/${pod} port ${port}: ${shorten(errorText)}` : `pod ${namespace}/${pod} port ${port} closed the connection without an answer`, {
        hint: `is the pod Ready and serving on port ${port}?`,
      }),
    );
  }

  private end(reason: Error): void {
    if (this.ended) return;
    this.terminate();
    this.events.onEnd(this, reason);
  }
}

/**
 * The HTTP/1.1 response at the start of `raw` and how many bytes it takes (framed by Content-Length
 * or chunked encoding), or undefined while it is incomplete. Without either it ends where the
 * connection ends (`atEnd`). `close`: the server said it closes the connection after it.
 */
export function nextHttpResponse(raw: Buffer, atEnd: boolean): { response: PodHttpResponse & { close: boolean }; length: number } | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) {
    if (atEnd) throw new Error('incomplete response headers');
    if (raw.length >= 5 && !raw.subarray(0, 5).equals(Buffer.from('HTTP/'))) throw new Error(`not an HTTP status line: ${JSON.stringify(raw.subarray(0, 40).toString('latin1').split('\r\n')[0])}`);
    return undefined;
  }
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const match = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? '');
  if (!match) throw new Error(`not an HTTP status line: ${JSON.stringify((lines[0] ?? '').slice(0, 40))}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const status = Number(match[2]);
  const connection = (headers.get('connection') ?? '').toLowerCase();
  const close = connection.includes('close') || (match[1] === '0' && !connection.includes('keep-alive'));
  const start = end + 4;
  let body: Buffer;
  let length: number;
  if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) {
    const chunked = dechunk(raw, start);
    if (!chunked) {
      if (atEnd) throw new Error('truncated chunked body');
      return undefined;
    }
    ({ body, length } = chunked);
  } else if (headers.has('content-length')) {
    const size = Number(headers.get('content-length'));
    if (!Number.isInteger(size) || size < 0) throw new Error(`bad Content-Length ${headers.get('content-length')}`);
    if (raw.length < start + size) {
      if (atEnd) throw new Error('truncated body');
      return undefined;
    }
    body = raw.subarray(start, start + size);
    length = start + size;
  } else if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
    body = Buffer.alloc(0);
    length = start;
  } else {
    // The body runs to the end of the connection.
    if (!atEnd) return undefined;
    body = raw.subarray(start);
    length = raw.length;
    return { response: { status, body: parseBody(body), close: true }, length };
  }
  return { response: { status, body: parseBody(body), close }, length };
}

/** A whole HTTP/1.1 response (the connection was closed after it): status line, headers, body (chunked or not). */
export function parseHttpResponse(raw: Buffer): PodHttpResponse {
  const parsed = nextHttpResponse(raw, true);
  if (!parsed) throw new Error('incomplete response');
  return { status: parsed.response.status, body: parsed.response.body };
}

function parseBody(body: Buffer): unknown {
  const text = body.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.slice(0, 300) };
  }
}

/** The chunked body starting at `at`, and where the response ends; undefined while incomplete. */
function dechunk(raw: Buffer, at: number): { body: Buffer; length: number } | undefined {
  const out: Buffer[] = [];
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const size = parseInt(raw.subarray(at, lineEnd).toString('latin1').split(';')[0]!, 16);
    if (!Number.isFinite(size)) throw new Error('bad chunk size');
    if (size === 0) {
      // Trailers (none expected), then the empty line that ends the message.
      const trailerEnd = raw.indexOf('\r\n\r\n', lineEnd);
      if (raw.subarray(lineEnd, lineEnd + 4).toString('latin1') === '\r\n\r\n') return { body: Buffer.concat(out), length: lineEnd + 4 };
      if (trailerEnd < 0) return undefined;
      return { body: Buffer.concat(out), length: trailerEnd + 4 };
    }
    if (raw.length < lineEnd + 2 + size + 2) return undefined;
    out.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

function shorten(text: string): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}
