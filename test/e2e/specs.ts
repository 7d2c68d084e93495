/**
 * Cluster spec files for end-to-end tests: each test writes its own into a temp dir, pointing at
 * its own namespace, so tests never share a checkpoint, a lock or a workload.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { HELM_DEFAULT_COMPONENTS } from '../../src/spec/helm-defaults.js';
import { repoRoot } from './harness.js';

/** The version the fixture installs and the one the specs target (plans/helm-default.yaml's). */
export const FROM = 'v0.36.7';
export const TO = 'v0.37.4';

/** A fresh temp dir for one test's files (specs, saved plans, kubeconfigs). */
export function tempDir(prefix = 'peerdb-e2e-spec-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * plans/helm-default.yaml (the chart's five components, maintenance on, catalog migrations) with
 * metadata.namespace replaced, comments kept. Returns the file's path.
 */
export function helmDefaultSpec(namespace: string, dir = tempDir()): string {
  const doc = parseDocument(readFileSync(path.join(repoRoot, 'plans/helm-default.yaml'), 'utf8'));
  doc.setIn(['metadata', 'namespace'], namespace);
  const file = path.join(dir, `${namespace}.yaml`);
  writeFileSync(file, doc.toString());
  return file;
}

export interface SpecOptions {
  namespace: string;
  /** metadata.name (names the checkpoint ConfigMap and Lease). Default "peerdb". */
  name?: string;
  /** spec.version. Default TO. */
  version?: string;
  /** spec.images. */
  images?: { registry?: string; tagPrefix?: string };
  /** spec.maintenance; false for none. Default { envFrom: flow-worker }. */
  maintenance?: false | Record<string, unknown>;
  /** spec.initJobs. Default: catalog migrations (the preset). */
  initJobs?: Record<string, unknown>[];
  /** spec.components. Default: omitted (the Helm chart's five). */
  components?: Record<string, unknown>[];
  /** spec.flowApi. Default: omitted (required, 5m). */
  flowApi?: Record<string, unknown>;
}

/** The spec document for `opts`, as plain data. */
export function specDocument(opts: SpecOptions): Record<string, unknown> {
  const spec: Record<string, unknown> = { version: opts.version ?? TO };
  if (opts.images) spec.images = opts.images;
  if (opts.maintenance !== false) spec.maintenance = opts.maintenance ?? { envFrom: 'flow-worker' };
  spec.initJobs = opts.initJobs ?? [{ name: 'catalog-migrations', preset: 'catalog-migrations' }];
  if (opts.components) spec.components = opts.components;
  if (opts.flowApi) spec.flowApi = opts.flowApi;
  return {
    apiVersion: 'peerdb-upgrade/v1alpha1',
    kind: 'PeerDBCluster',
    metadata: { name: opts.name ?? 'peerdb', namespace: opts.namespace },
    spec,
  };
}

/** Writes the spec for `opts` as YAML to `file` (default: a new temp dir) and returns the path. */
export function writeSpec(opts: SpecOptions, file = path.join(tempDir(), `${opts.namespace}.yaml`)): string {
  writeFileSync(file, stringify(specDocument(opts)));
  return file;
}

/**
 * `components` plus `skip: true` for every default component they do not name: components merge
 * onto the Helm chart's five, so this is how a spec upgrades only the ones listed.
 */
export function onlyComponents(components: Record<string, unknown>[]): Record<string, unknown>[] {
  const named = new Set(components.map((c) => c.name));
  return [...components, ...HELM_DEFAULT_COMPONENTS.filter((c) => !named.has(c.name)).map((c) => ({ name: c.name, skip: true }))];
}
