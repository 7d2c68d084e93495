/**
 * ConfigMaps (the checkpoint) and Leases (the lock) in the fake: what the API accepts (names,
 * labels, keys, the 1 MiB limit, a positive lease duration), the resourceVersion preconditions of
 * create / update / delete, and the views the adapter reports (Lease times as MicroTime).
 */
import type { ClusterState, StoredLease } from './cluster-state.js';
import { conflict, invalid, precondition, validateLabels, validateName } from './api-rules.js';
import { ClusterError } from '../../../src/cluster/cluster-error.js';
import type { ConfigMapState, LeaseSpec, LeaseState, WriteOptions } from '../../../src/cluster/port.js';

const CONFIGMAP_LIMIT = 1024 * 1024;

export interface ConfigMapContent {
  readonly data: Record<string, string>;
  readonly labels: Record<string, string>;
}

export function seedConfigMap(s: ClusterState, namespace: string, name: string, content: ConfigMapContent): ConfigMapState {
  s.addNamespace(namespace).configMaps.set(name, { rv: s.nextRv(), data: { ...content.data }, labels: { ...content.labels } });
  return configMapState(s, namespace, name)!;
}

export function configMapState(s: ClusterState, namespace: string, name: string): ConfigMapState | undefined {
  const cm = s.namespaces.get(namespace)?.configMaps.get(name);
  return cm && { name, resourceVersion: cm.rv, data: { ...cm.data }, labels: { ...cm.labels } };
}

/** Create (no resourceVersion) or update (of exactly that resourceVersion). */
export function writeConfigMap(s: ClusterState, namespace: string, name: string, content: ConfigMapContent, resourceVersion: string | undefined, options: WriteOptions): ConfigMapState {
  const what = `configmap ${namespace}/${name}`;
  const ns = s.existingNamespace(namespace, what);
  validateName(name, 253, 'metadata.name');
  validateLabels(content.labels);
  let size = 0;
  for (const [k, v] of Object.entries(content.data)) {
    if (!/^[-._a-zA-Z0-9]+$/.test(k)) throw invalid(`data[${k}]: Invalid value: "${k}": a valid config key must consist of alphanumeric characters, '-', '_' or '.'`);
    size += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (size > CONFIGMAP_LIMIT) throw invalid(`[]: Too long: must have at most ${CONFIGMAP_LIMIT} bytes (${what} has ${size})`);
  const existing = ns.configMaps.get(name);
  precondition(what, existing?.rv, resourceVersion);
  const state: ConfigMapState = { name, resourceVersion: options.dryRun ? (resourceVersion ?? '') : '', data: { ...content.data }, labels: { ...content.labels } };
  if (options.dryRun) return state;
  const rv = s.nextRv();
  ns.configMaps.set(name, { rv, data: { ...content.data }, labels: { ...content.labels } });
  if (!resourceVersion) s.count('ConfigMap', name);
  return { ...state, resourceVersion: rv };
}

export function seedLease(s: ClusterState, namespace: string, name: string, spec: Partial<LeaseSpec>): LeaseState {
  s.addNamespace(namespace).leases.set(name, {
    rv: s.nextRv(),
    holderIdentity: spec.holderIdentity,
    leaseDurationSeconds: spec.leaseDurationSeconds,
    acquireTime: spec.acquireTime === undefined ? undefined : microTime(spec.acquireTime),
    renewTime: spec.renewTime === undefined ? undefined : microTime(spec.renewTime),
    annotations: { ...spec.annotations },
    labels: { ...spec.labels },
  });
  return leaseState(s, namespace, name)!;
}

export function leaseState(s: ClusterState, namespace: string, name: string): LeaseState | undefined {
  const lease = s.namespaces.get(namespace)?.leases.get(name);
  return lease && toLeaseState(name, lease);
}

/** Create (no resourceVersion) or update (of exactly that resourceVersion). */
export function writeLease(s: ClusterState, namespace: string, name: string, lease: LeaseSpec, resourceVersion: string | undefined, options: WriteOptions): LeaseState {
  const what = `lease ${namespace}/${name}`;
  const ns = s.existingNamespace(namespace, what);
  validateName(name, 253, 'metadata.name');
  validateLabels(lease.labels);
  if (!(lease.leaseDurationSeconds > 0)) throw invalid(`spec.leaseDurationSeconds: Invalid value: ${lease.leaseDurationSeconds}: must be greater than 0`);
  const stored: StoredLease = {
    rv: '',
    holderIdentity: lease.holderIdentity || undefined,
    leaseDurationSeconds: lease.leaseDurationSeconds,
    acquireTime: microTime(lease.acquireTime),
    renewTime: microTime(lease.renewTime),
    annotations: { ...lease.annotations },
    labels: { ...lease.labels },
  };
  precondition(what, ns.leases.get(name)?.rv, resourceVersion);
  if (options.dryRun) return toLeaseState(name, { ...stored, rv: resourceVersion ?? '' });
  stored.rv = s.nextRv();
  ns.leases.set(name, stored);
  if (!resourceVersion) s.count('Lease', name);
  return toLeaseState(name, stored);
}

/** A delete, of exactly that resourceVersion when one is given; a missing Lease is a no-op. */
export function deleteLease(s: ClusterState, namespace: string, name: string, resourceVersion: string | undefined, options: WriteOptions): void {
  const ns = s.namespaces.get(namespace);
  const lease = ns?.leases.get(name);
  if (!ns || !lease) return;
  if (resourceVersion && lease.rv !== resourceVersion) throw conflict(`lease ${namespace}/${name}`);
  if (options.dryRun) return;
  ns.leases.delete(name);
  s.nextRv();
}

function toLeaseState(name: string, lease: StoredLease): LeaseState {
  return {
    name,
    resourceVersion: lease.rv,
    holderIdentity: lease.holderIdentity,
    leaseDurationSeconds: lease.leaseDurationSeconds,
    acquireTime: lease.acquireTime,
    renewTime: lease.renewTime,
    annotations: { ...lease.annotations },
  };
}

/** Lease times come back from the API server as MicroTime: RFC 3339 with six fraction digits. */
function microTime(value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new ClusterError('bad-request', `request refused (400): "${value}" is not an RFC 3339 time`, { status: 400 });
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
