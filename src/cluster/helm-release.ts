import { gunzipSync } from 'node:zlib';

/**
 * A Helm 3 release as its storage driver keeps it: a Secret `sh.helm.release.v1.<release>.v<N>`
 * labelled owner=helm, name=<release>, status=<status>, version=<N>, whose `release` key holds
 * base64(gzip(JSON)) (and the API adds its own base64 on top). Only what the tool needs is kept:
 * the values (which can hold passwords -- never printed, never written) and the chart's identity.
 */
export interface HelmReleaseState {
  readonly name: string;
  readonly namespace: string;
  readonly revision: number;
  readonly status: string;
  readonly chart: { readonly name: string; readonly version: string; readonly appVersion: string | undefined };
  /** The user-supplied values: what `helm get values` shows and `--reuse-values` keeps. */
  readonly config: Readonly<Record<string, unknown>>;
  /** The chart's own defaults (values.yaml), under the user-supplied values. */
  readonly chartValues: Readonly<Record<string, unknown>>;
}

export type HelmReleaseRead =
  | { readonly outcome: 'read'; readonly release: HelmReleaseState }
  /** forbidden: no `list secrets` in the namespace; not-found: no Secret-stored release of that name. */
  | { readonly outcome: 'forbidden' | 'not-found' | 'unreadable'; readonly detail: string };

export const HELM_RELEASE_SELECTOR = (release: string): string => `owner=helm,name=${release}`;

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const GZIP_MAGIC = [0x1f, 0x8b, 0x08];

/** The newest release among Helm's release Secrets (the deployed one when there is one). */
export function newestRelease(secrets: readonly Json[]): Json | undefined {
  const version = (s: Json) => Number(s.metadata?.labels?.version ?? 0);
  const sorted = [...secrets].sort((a, b) => version(b) - version(a));
  return sorted.find((s) => s.metadata?.labels?.status === 'deployed') ?? sorted[0];
}

/** Decodes a release Secret (as the API returns it); throws an Error with a short reason when it cannot. */
export function decodeReleaseSecret(secret: Json): HelmReleaseState {
  const data = secret.data?.release;
  if (typeof data !== 'string') throw new Error(`Secret ${secret.metadata?.name ?? '?'} has no "release" key`);
  const inner = Buffer.from(Buffer.from(data, 'base64').toString('latin1'), 'base64');
  const isGzip = GZIP_MAGIC.every((b, i) => inner[i] === b);
  let doc: Json;
  try {
    doc = JSON.parse((isGzip ? gunzipSync(inner) : inner).toString('utf8')) as Json;
  } catch {
    throw new Error(`Secret ${secret.metadata?.name ?? '?'} does not hold a Helm release (not gzip-compressed JSON)`);
  }
  const metadata = doc.chart?.metadata ?? {};
  return {
    name: String(doc.name ?? secret.metadata?.labels?.name ?? ''),
    namespace: String(doc.namespace ?? secret.metadata?.namespace ?? ''),
    revision: Number(doc.version ?? secret.metadata?.labels?.version ?? 0),
    status: String(doc.info?.status ?? secret.metadata?.labels?.status ?? 'unknown'),
    chart: { name: String(metadata.name ?? ''), version: String(metadata.version ?? ''), appVersion: metadata.appVersion === undefined ? undefined : String(metadata.appVersion) },
    config: isObject(doc.config) ? doc.config : {},
    chartValues: isObject(doc.chart?.values) ? doc.chart.values : {},
  };
}

/** The inverse, for tests and fakes: a release Secret as Helm 3 writes it. */
export function encodeReleaseSecret(release: HelmReleaseState, gzip: (b: Buffer) => Buffer): Json {
  const doc = {
    name: release.name,
    namespace: release.namespace,
    version: release.revision,
    info: { status: release.status },
    chart: { metadata: { name: release.chart.name, version: release.chart.version, appVersion: release.chart.appVersion }, values: release.chartValues },
    config: release.config,
  };
  const helmEncoded = gzip(Buffer.from(JSON.stringify(doc))).toString('base64');
  return {
    metadata: {
      name: `sh.helm.release.v1.${release.name}.v${release.revision}`,
      namespace: release.namespace,
      labels: { owner: 'helm', name: release.name, status: release.status, version: String(release.revision) },
    },
    type: 'helm.sh/release.v1',
    data: { release: Buffer.from(helmEncoded).toString('base64') },
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
