import { UserError } from '../errors.js';

export type ClusterErrorKind =
  | 'not-found'
  | 'already-exists'
  | 'conflict'
  | 'invalid'
  | 'forbidden'
  | 'unauthorized'
  | 'throttled'
  | 'server'
  | 'gone'
  | 'network'
  | 'timeout'
  | 'tls'
  | 'bad-request';

/** A failed API call, already in words a person can act on; the raw client exception never leaks. */
export class ClusterError extends UserError {
  readonly kind: ClusterErrorKind;
  readonly status: number | undefined;
  /** Seconds the server asked to wait (429/503 Retry-After). */
  readonly retryAfterSeconds: number | undefined;
  /** The request surely never reached a server (no connection): sending it again repeats nothing. */
  readonly notSent: boolean;

  /** Namespace of the request, when it had one: what the CLI's way out of a 403 names. */
  readonly namespace: string | undefined;

  constructor(kind: ClusterErrorKind, message: string, options: { status?: number; retryAfterSeconds?: number; hint?: string; notSent?: boolean; namespace?: string } = {}) {
    super(message, options.hint === undefined ? {} : { hint: options.hint });
    this.name = 'ClusterError';
    this.kind = kind;
    this.namespace = options.namespace;
    this.status = options.status;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.notSent = options.notSent ?? false;
  }

  get retryable(): boolean {
    return this.kind === 'throttled' || this.kind === 'server' || this.kind === 'network' || this.kind === 'timeout';
  }
}

export function isClusterError(error: unknown, kind?: ClusterErrorKind): error is ClusterError {
  return error instanceof ClusterError && (kind === undefined || error.kind === kind);
}

/** Maps an HTTP status and a Kubernetes Status body to a ClusterError. */
export function errorFromResponse(
  status: number,
  body: unknown,
  request: { method: string; what: string; path?: string },
  retryAfterHeader?: string | undefined,
): ClusterError {
  const s = (body && typeof body === 'object' ? body : {}) as { message?: unknown; reason?: unknown; details?: { causes?: { field?: string; message?: string }[] } };
  const serverMessage = typeof s.message === 'string' && s.message.length > 0 ? oneLine(s.message) : undefined;
  const reason = typeof s.reason === 'string' ? s.reason : undefined;
  const retryAfter = parseRetryAfter(retryAfterHeader);
  const retryOptions = retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter };
  const action = `${request.method} ${request.what}`;
  switch (true) {
    case status === 401:
      return new ClusterError('unauthorized', `unauthorized: the API server rejected the credentials for ${action}`, {
        status,
        hint: 'log in again or refresh the kubeconfig credentials',
      });
    case status === 403:
      // The way out (the Role `rbac` prints for this namespace) is worded by the CLI.
      return new ClusterError('forbidden', `forbidden: ${serverMessage ?? action}`, {
        status,
        ...(request.path ? namespaceOf(request.path) : {}),
      });
    case status === 404:
      return new ClusterError('not-found', `not found: ${request.what}`, { status });
    case status === 409:
      return reason === 'AlreadyExists'
        ? new ClusterError('already-exists', `already exists: ${request.what}`, { status })
        : new ClusterError('conflict', `conflict: ${request.what} changed since it was read`, { status });
    case status === 410:
      return new ClusterError('gone', `expired: ${serverMessage ?? request.what}`, { status });
    case status === 422: {
      const causes = s.details?.causes?.map((c) => (c.field ? `${c.field}: ${c.message ?? ''}` : (c.message ?? ''))).filter(Boolean);
      return new ClusterError('invalid', `invalid: ${causes?.length ? causes.join('; ') : (serverMessage ?? action)}`, { status });
    }
    case status === 429:
      return new ClusterError('throttled', `throttled: the API server asked to slow down (${action})`, { status, ...retryOptions });
    case status >= 500:
      return new ClusterError('server', `server error ${status} for ${action}${serverMessage ? `: ${serverMessage}` : ''}`, { status, ...retryOptions });
    default:
      return new ClusterError('bad-request', `request refused (${status}) for ${action}${serverMessage ? `: ${serverMessage}` : ''}`, { status });
  }
}

/** Failures to connect at all: the request was never sent. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  ECONNABORTED: 'connection aborted',
  UND_ERR_SOCKET: 'connection closed',
};

/** Maps a transport failure (no HTTP response) to a ClusterError. */
export function errorFromTransport(error: unknown, server: string): ClusterError {
  const e = error as { code?: string; message?: string };
  const code = e?.code ?? '';
  if (code in NETWORK_CODES) {
    return new ClusterError('network', `cannot reach the API server at ${server} (${NETWORK_CODES[code]})`, {
      hint: 'check the kubeconfig context (--context) and that the cluster is up',
      notSent: NOT_SENT.has(code),
    });
  }
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/i.test(code)) {
    return new ClusterError('tls', `TLS failure talking to ${server} (${code}); the kubeconfig's certificate authority does not match the server`);
  }
  if (e?.message === 'socket hang up') return new ClusterError('network', `the API server at ${server} closed the connection`);
  return new ClusterError('network', `cannot talk to the API server at ${server} (${code || 'transport error'})`);
}

function parseRetryAfter(header: string | undefined): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - Date.now()) / 1000);
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/** The namespace an API path is in (`/api/v1/namespaces/NS/…`), if any. */
function namespaceOf(path: string): { namespace?: string } {
  const match = /\/namespaces\/([^/?]+)\//.exec(path);
  return match ? { namespace: decodeURIComponent(match[1]!) } : {};
}
