import { stringify } from 'yaml';
import { UserError } from '../errors.js';
import { PEERDB_IMAGE_NAMES } from '../plan/peerdb-images.js';
import type { Version } from '../spec/version.js';
import { API_VERSION, KIND } from '../spec/schema.js';
import { defaultOf, type Discovery } from './discover-peerdb.js';

const DEFAULT_REGISTRY = 'ghcr.io/peerdb-io';
const DEFAULT_TAG_PREFIX = 'stable-';
const COMMENT_COLUMN = 36;

/**
 * The spec for what was discovered, as YAML text: only what differs from the defaults, with a
 * short comment on each line a reader would ask about, and what could not be decided at the top.
 * `to`: the target version (else the newest version the namespace runs).
 */
export function writeSpecText(d: Discovery, options: { to?: Version | undefined; command: string }): string {
  if (d.found.length === 0 && d.ambiguous.size === 0) {
    throw new UserError(`no PeerDB workloads in namespace ${d.namespace} (no Deployment or StatefulSet runs an image named ${PEERDB_IMAGE_NAMES.join(', ')})`, {
      hint: 'name the namespace PeerDB runs in with -n NAMESPACE',
    });
  }
  const target = options.to ?? d.newest;
  if (!target) {
    throw new UserError(`no PeerDB component in ${d.namespace} runs a release version, so the target cannot be read from the namespace`, { hint: 'pass --to vX.Y.Z' });
  }
  const running = d.oldest && d.newest ? (d.oldest.tag === d.newest.tag ? d.oldest.tag : `${d.oldest.tag} to ${d.newest.tag}`) : 'an unknown version';

  const out: string[] = [`# Written by \`${options.command}\` from what namespace ${d.namespace} runs.`];
  if (d.undecided.length > 0) {
    out.push('# Could not decide (settle these before you apply):');
    for (const line of d.undecided) out.push(`#   - ${line}`);
  }
  out.push(`apiVersion: ${API_VERSION}`, `kind: ${KIND}`, 'metadata:');
  line(out, 2, 'name', d.name.value, `names the checkpoint ConfigMap and lock Lease; ${d.name.source}`);
  line(out, 2, 'namespace', d.namespace);
  out.push('spec:');
  line(out, 2, 'version', target.tag, options.to ? `the target; the namespace runs ${running}` : `the namespace runs ${running}: set the target here (or init --to vX.Y.Z)`);

  const registry = d.registry ?? DEFAULT_REGISTRY;
  const tagPrefix = d.tagPrefix ?? DEFAULT_TAG_PREFIX;
  if (registry !== DEFAULT_REGISTRY || tagPrefix !== DEFAULT_TAG_PREFIX) {
    out.push('  images:');
    if (registry !== DEFAULT_REGISTRY) line(out, 4, 'registry', registry, 'where the images come from (a mirror)');
    if (tagPrefix !== DEFAULT_TAG_PREFIX) line(out, 4, 'tagPrefix', tagPrefix, `image tags are ${tagPrefix}${target.tag}`);
  }

  const decided = new Set(d.found.map((f) => f.name));
  if (d.maintenance.usable) {
    withComment(out, '  maintenance:', 'pause mirrors around the upgrade (PeerDB maintenance mode)');
    line(out, 4, 'envFrom', 'flow-worker', d.maintenance.reason.includes('assumed') ? 'settings assumed: see the top' : 'it carries the Temporal and catalog settings');
  } else {
    out.push(`  # maintenance left out: ${d.maintenance.reason}`);
  }
  if (decided.has('peerdb-server')) {
    out.push('  initJobs:');
    out.push('    - name: catalog-migrations');
    line(out, 6, 'preset', 'catalog-migrations', 'migrate the catalog with the new peerdb-server first');
  }

  const entries: string[] = [];
  for (const name of PEERDB_IMAGE_NAMES) {
    const found = d.found.find((f) => f.name === name);
    const lines: string[] = [];
    if (found) {
      const fallback = defaultOf(name)!;
      if (found.workload !== fallback.workload) line(lines, 6, 'workload', found.workload);
      if (found.container !== undefined) line(lines, 6, 'container', found.container, 'the workload has several containers');
      if (found.image.registry !== registry) line(lines, 6, 'image', found.image.repository, 'not from the registry the rest use');
    } else {
      const candidates = d.ambiguous.get(name);
      line(lines, 6, 'skip', true, candidates ? `several candidates (see the top): name one with workload: and drop skip` : `no workload runs a ${name} image here`);
    }
    if (lines.length > 0) entries.push(`    - name: ${name}`, ...lines);
  }
  if (entries.length > 0) {
    withComment(out, '  components:', "merged onto the Helm chart's five; only what differs");
    out.push(...entries);
  }
  return `${out.join('\n')}\n`;
}

function line(out: string[], indent: number, key: string, value: string | boolean, comment?: string): void {
  const text = `${' '.repeat(indent)}${key}: ${stringify(value).trim()}`;
  if (comment === undefined) out.push(text);
  else withComment(out, text, comment);
}

function withComment(out: string[], text: string, comment: string): void {
  out.push(`${text.padEnd(COMMENT_COLUMN - 1)} # ${comment}`);
}
