import tls from 'node:tls';

type TlsMaterial = { ca?: unknown; cert?: unknown; key?: unknown; passphrase?: unknown; pfx?: unknown };

let last: { id: string; context: tls.SecureContext } | undefined;

/**
 * One TLS context for the run's credentials, instead of one per connection: Node builds a context
 * for every new TLS socket from `ca`/`cert`/`key` unless it is given one, and parsing the CA and the
 * client key costs ~5–10 ms of CPU each time (the start opens about ten connections at once: LISTs,
 * watches, port-forwards). Credentials that change (an exec plugin's rotated client certificate)
 * get a context of their own. Undefined when there is no TLS material to build from.
 */
export function sharedSecureContext(options: TlsMaterial): tls.SecureContext | undefined {
  const { ca, cert, key, passphrase, pfx } = options;
  if (ca === undefined && cert === undefined && key === undefined && pfx === undefined) return undefined;
  const id = JSON.stringify([ca, cert, key, passphrase, pfx].map((v) => (Buffer.isBuffer(v) ? v.toString('base64') : v ?? null)));
  if (last?.id !== id) last = { id, context: tls.createSecureContext({ ca, cert, key, passphrase, pfx } as tls.SecureContextOptions) };
  return last.context;
}
