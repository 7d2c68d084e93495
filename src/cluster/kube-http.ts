import http from 'node:http';
import https from 'node:https';
import type tls from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { ClusterError, errorFromResponse, errorFromTransport } from './cluster-error.js';
import type { PodHttpSend } from './port.js';
import { forwardHttp } from './port-forward.js';
import { sharedSecureContext } from './tls-context.js';
import { DEFAULT_RETRY, withRetry, type RetryPolicy, type Sleep } from './retry.js';

export type PatchType = 'merge' | 'strategic';

export interface CallOptions {
  readonly query?: Record<string, string | number | boolean | undefined>;
  readonly body?: unknown;
  readonly patch?: PatchType;
  /** What is acted on, for messages: `statefulsets.apps peerdb/flow-snapshot-worker`. */
  readonly what: string;
  readonly dryRun?: boolean | undefined;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal | undefined;
  /** Do not retry (a watch has its own fallback). */
  readonly noRetry?: boolean;
}

export interface RequestLog {
  (entry: { method: string; path: string; status: number | undefined; ms: number; attempt: number }): void;
}

const CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

/**
 * JSON over HTTPS to the API server with the kubeconfig's credentials, a timeout on every request,
 * bounded retries of what is retryable, and every failure mapped to a ClusterError.
 */
export class KubeHttp {
  readonly server: string;
  private readonly agent: http.Agent | undefined;
  /**
   * Watches get sockets of their own, never pooled: a long-lived watch's socket is unref'd (it must
   * not keep the process alive), and a pooled one would carry that into the next request.
   */
  private readonly streamAgent: http.Agent | undefined;
  private readonly url: URL;
  /** The server as a transport error names it: with the kubeconfig's proxy-url, if any (no credentials). */
  private readonly reached: string;
  /** Until one request got an answer, an unreachable server fails fast instead of being retried. */
  private answered = false;

  constructor(
    private readonly kc: KubeConfig,
    private readonly options: { requestTimeoutMs: number; retry?: RetryPolicy; sleep?: Sleep; log?: RequestLog },
  ) {
    const cluster = kc.getCurrentCluster()!;
    this.server = cluster.server.replace(/\/+$/, '');
    this.url = new URL(this.server);
    this.reached = cluster.proxyUrl ? `${this.server} through proxy ${withoutCredentials(cluster.proxyUrl)}` : this.server;
    // One keep-alive agent for the run instead of a TLS handshake per request.
    this.agent = cluster.proxyUrl ? undefined : this.url.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets: 8 }) : new http.Agent({ keepAlive: true, maxSockets: 8 });
    this.streamAgent = cluster.proxyUrl ? undefined : this.url.protocol === 'https:' ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false });
  }

  async call<T>(method: string, path: string, options: CallOptions): Promise<T> {
    const attempt = () => this.once<T>(method, path, options);
    if (options.noRetry) return attempt();
    const policy = this.options.retry ?? DEFAULT_RETRY;
    return withRetry(attempt, {
      // Until the server answered once, a wrong server fails fast instead of being waited for. Any
      // HTTP answer counts, a 503 too (a busy server is there): asked again after each failure, so
      // the run's very first request rides out a busy server like any other.
      policy: () => (this.answered ? policy : { ...policy, attempts: Math.min(policy.attempts, 2), outageMs: 0 }),
      ...(this.options.sleep ? { sleep: this.options.sleep } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      // Reads are repeated freely, and so are writes a repeat cannot do twice: a PUT carries its
      // resourceVersion (a landed one makes the repeat conflict), a POST creates (the repeat says
      // already-exists), a DELETE of what is gone is a no-op. A PATCH carries no precondition: it is
      // sent again only when it surely did nothing (no connection; 429; 503), otherwise the step
      // that sent it looks at the cluster again before acting.
      ...(method === 'PATCH' ? { retryIf: (error: ClusterError) => error.notSent || error.kind === 'throttled' || error.status === 503 } : {}),
    });
  }

  /**
   * Opens a streaming GET (watch) on a socket of its own; resolves with the response once headers
   * arrive, which must be within the request timeout.
   */
  async stream(path: string, options: CallOptions): Promise<http.IncomingMessage> {
    const request = await this.prepare('GET', path, options, this.streamAgent);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => req.destroy(Object.assign(new Error('no answer'), { code: 'PEERDB_REQUEST_TIMEOUT' })), options.timeoutMs ?? this.options.requestTimeoutMs);
      const req = this.send(request, (res) => {
        clearTimeout(timer);
        if ((res.statusCode ?? 0) >= 300) {
          readBody(res).then((body) => reject(errorFromResponse(res.statusCode ?? 0, body, { method: 'GET', what: options.what, path }, header(res, 'retry-after'))), reject);
          return;
        }
        resolve(res);
      });
      req.on('error', (error) => {
        clearTimeout(timer);
        if ((error as { code?: string }).code === 'PEERDB_REQUEST_TIMEOUT') reject(new ClusterError('timeout', `no answer from the API server at ${this.server} to the ${options.what}`));
        else reject(isAbort(error) ? new ClusterError('timeout', `watch of ${options.what} was stopped`) : errorFromTransport(error, this.reached));
      });
      req.end();
    });
  }

  /** HTTP to a pod's port through pods/portforward (see port-forward.ts); each request logged. */
  podHttp<T>(namespace: string, pod: string, port: number, exchange: (send: PodHttpSend) => Promise<T>): Promise<T> {
    const log = this.options.log;
    return forwardHttp({ kc: this.kc, server: this.server, namespace, pod, port, agent: this.agent, log: log && ((entry) => log({ ...entry, attempt: 1 })) }, exchange);
  }

  close(): void {
    this.agent?.destroy();
    this.streamAgent?.destroy();
  }

  private async once<T>(method: string, path: string, options: CallOptions): Promise<T> {
    const request = await this.prepare(method, path, options);
    const started = Date.now();
    let status: number | undefined;
    try {
      const { statusCode, body, retryAfter } = await new Promise<{ statusCode: number; body: unknown; retryAfter: string | undefined }>((resolve, reject) => {
        const req = this.send(request, (res) => {
          readBody(res).then((parsed) => resolve({ statusCode: res.statusCode ?? 0, body: parsed, retryAfter: header(res, 'retry-after') }), reject);
        });
        req.setTimeout(options.timeoutMs ?? this.options.requestTimeoutMs, () => {
          req.destroy(Object.assign(new Error('request timed out'), { code: 'PEERDB_REQUEST_TIMEOUT' }));
        });
        req.on('error', reject);
        if (request.payload !== undefined) req.write(request.payload);
        req.end();
      }).catch((error: unknown) => {
        if ((error as { code?: string }).code === 'PEERDB_REQUEST_TIMEOUT') {
          throw new ClusterError('timeout', `no answer from the API server at ${this.server} within ${Math.round((options.timeoutMs ?? this.options.requestTimeoutMs) / 1000)}s (${method} ${options.what})`);
        }
        if (isAbort(error)) throw new ClusterError('timeout', `${method} ${options.what} was stopped`);
        if (error instanceof ClusterError) throw error;
        throw errorFromTransport(error, this.reached);
      });
      status = statusCode;
      this.answered = true;
      if (statusCode >= 300) throw errorFromResponse(statusCode, body, { method, what: options.what, path }, retryAfter);
      return body as T;
    } finally {
      this.options.log?.({ method, path, status, ms: Date.now() - started, attempt: 1 });
    }
  }

  private async prepare(method: string, path: string, options: CallOptions, agent: http.Agent | undefined = this.agent) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(options.query ?? {})) if (value !== undefined) query.set(key, String(value));
    if (options.dryRun) query.set('dryRun', 'All');
    const search = query.toString();
    const basePath = this.url.pathname === '/' ? '' : this.url.pathname.replace(/\/+$/, '');
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'peerdb-upgrade' };
    let payload: string | undefined;
    if (options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers['Content-Type'] = options.patch ? CONTENT_TYPES[options.patch] : 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const requestOptions: https.RequestOptions = {
      method,
      protocol: this.url.protocol,
      hostname: this.url.hostname.replace(/^\[|\]$/g, ''),
      port: this.url.port || (this.url.protocol === 'https:' ? 443 : 80),
      path: `${basePath}${path}${search ? `?${search}` : ''}`,
      headers,
      ...(options.signal ? { signal: options.signal } : {}),
    };
    try {
      await this.kc.applyToHTTPSOptions(requestOptions);
    } catch (error) {
      if (/HTTP protocol is not allowed/.test(String((error as Error)?.message))) {
        throw new ClusterError('tls', `the kubeconfig's server ${this.server} is plain http:// without insecure-skip-tls-verify: true; refusing to send credentials unencrypted`);
      }
      throw credentialError(this.kc.getCurrentUser(), error);
    }
    if (this.url.protocol === 'https:') {
      const context = sharedSecureContext(requestOptions as Parameters<typeof sharedSecureContext>[0]);
      if (context) (requestOptions as tls.ConnectionOptions).secureContext = context;
    }
    if (agent) {
      // applyToHTTPSOptions also put the TLS material on the request itself and built a throwaway
      // agent; our keep-alive agent pools sockets by that material instead.
      (requestOptions.agent as http.Agent | undefined)?.destroy();
      requestOptions.agent = agent;
    }
    return { options: requestOptions, payload };
  }

  private send(request: { options: https.RequestOptions }, onResponse: (res: http.IncomingMessage) => void): http.ClientRequest {
    return request.options.protocol === 'http:' ? http.request(request.options, onResponse) : https.request(request.options, onResponse);
  }
}

/** A proxy URL as it may be printed: a user name or password in it is left out. */
export function withoutCredentials(proxyUrl: string): string {
  try {
    const url = new URL(proxyUrl);
    if (!url.username && !url.password) return proxyUrl;
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return '(the kubeconfig\'s proxy-url)';
  }
}

function header(res: http.IncomingMessage, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function isAbort(error: unknown): boolean {
  return (error as { name?: string })?.name === 'AbortError';
}

async function readBody(res: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.slice(0, 300) };
  }
}

/** Names the credential command that failed, so that the user can run it and see why. */
function credentialError(user: { name: string; exec?: { command?: string; args?: string[] }; authProvider?: { name?: string } } | null, error: unknown): ClusterError {
  const command = user?.exec?.command;
  if (command) {
    const missing = (error as NodeJS.ErrnoException)?.code === 'ENOENT' || /\bENOENT\b/.test(String((error as Error)?.message));
    const line = [command, ...(user.exec?.args ?? [])].join(' ');
    return new ClusterError(
      'unauthorized',
      missing
        ? `the kubeconfig's exec plugin for user ${user.name} could not run: command not found: ${command}`
        : `the kubeconfig's exec plugin for user ${user.name} failed: ${command}`,
      { hint: missing ? `install ${command} or put it on PATH, then check with \`${line}\`` : `run \`${line}\` to see its error, then log in again` },
    );
  }
  const provider = user?.authProvider?.name;
  return new ClusterError('unauthorized', `could not obtain credentials from the kubeconfig${provider ? ` (auth provider ${provider} of user ${user?.name} failed)` : ''}`, {
    hint: 'run `kubectl get ns` to see the credential error, then log in again',
  });
}
