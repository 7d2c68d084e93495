/**
 * What the API server checks of what is written to it (names, labels, a Job's spec), how it answers
 * a missing, existing or changed object, and how it reads a label selector, for the in-memory fake
 * (memory-cluster.ts).
 */
import { ClusterError } from '../../../src/cluster/cluster-error.js';
import type { JobManifest } from '../../../src/cluster/types.js';

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

export function invalid(message: string): ClusterError {
  return new ClusterError('invalid', `invalid: ${message}`, { status: 422 });
}

export function notFound(what: string): ClusterError {
  return new ClusterError('not-found', `not found: ${what}`, { status: 404 });
}

export function alreadyExists(what: string): ClusterError {
  return new ClusterError('already-exists', `already exists: ${what}`, { status: 409 });
}

export function conflict(what: string): ClusterError {
  return new ClusterError('conflict', `conflict: ${what} changed since it was read`, { status: 409 });
}

/** A get of a missing object is undefined, a delete of one a no-op: what the adapter makes of a 404. */
export function absent(error: ClusterError): { value: undefined } | undefined {
  return error.kind === 'not-found' ? { value: undefined } : undefined;
}

/** A write's resourceVersion precondition: none = create (must not exist); one = update of exactly that version. */
export function precondition(what: string, current: string | undefined, expected: string | undefined): void {
  if (!expected) {
    if (current !== undefined) throw alreadyExists(what);
  } else if (current === undefined) {
    throw notFound(what);
  } else if (current !== expected) {
    throw conflict(what);
  }
}

export function validateName(name: string, max: number, field: string): void {
  if (!name || name.length > max || !NAME.test(name)) {
    throw invalid(`${field}: Invalid value: "${name}": must be a lowercase RFC 1123 subdomain of at most ${max} characters`);
  }
}

export function validateLabels(labels: Record<string, string>, field = 'metadata.labels'): void {
  for (const [k, v] of Object.entries(labels)) {
    const slash = k.lastIndexOf('/');
    const prefix = slash >= 0 ? k.slice(0, slash) : undefined;
    const name = slash >= 0 ? k.slice(slash + 1) : k;
    if ((prefix !== undefined && (prefix.length > 253 || !NAME.test(prefix))) || !name || name.length > 63 || !LABEL_VALUE.test(name)) {
      throw invalid(`${field}: Invalid value: "${k}": not a valid label key`);
    }
    if (v.length > 63 || !LABEL_VALUE.test(v)) throw invalid(`${field}: Invalid value: "${v}": a label value must be at most 63 characters of [-A-Za-z0-9_.], starting and ending alphanumeric`);
  }
}

export function validateJob(manifest: JobManifest): void {
  // The Job's name becomes the value of the job-name label of its pods: at most 63 characters.
  validateName(manifest.metadata.name, 63, 'metadata.name');
  validateLabels(manifest.metadata.labels);
  validateLabels(manifest.spec.template.metadata.labels, 'spec.template.metadata.labels');
  const spec = manifest.spec;
  if (!(spec.backoffLimit >= 0)) throw invalid(`spec.backoffLimit: Invalid value: ${spec.backoffLimit}: must be greater than or equal to 0`);
  if (!(spec.activeDeadlineSeconds > 0)) throw invalid(`spec.activeDeadlineSeconds: Invalid value: ${spec.activeDeadlineSeconds}: must be greater than 0`);
  const pod = spec.template.spec;
  if (pod.restartPolicy !== 'Never' && pod.restartPolicy !== ('OnFailure' as string)) throw invalid(`spec.template.spec.restartPolicy: Unsupported value: "${pod.restartPolicy}"`);
  if (!pod.containers.length) throw invalid('spec.template.spec.containers: Required value');
  pod.containers.forEach((c, i) => {
    if (!c.name || c.name.length > 63 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(c.name)) throw invalid(`spec.template.spec.containers[${i}].name: Invalid value: "${c.name}"`);
    if (!c.image?.trim()) throw invalid(`spec.template.spec.containers[${i}].image: Required value`);
    (c.env ?? []).forEach((e, j) => {
      if (!e.name) throw invalid(`spec.template.spec.containers[${i}].env[${j}].name: Required value`);
      if (e.value !== undefined && e.value !== '' && e.valueFrom) {
        throw invalid(`spec.template.spec.containers[${i}].env[${j}].valueFrom: Invalid value: may not be specified when \`value\` is not empty`);
      }
    });
  });
}

/** Label selector in query-string form: k=v, k==v, k!=v, k in (a,b), k notin (a,b), k, !k. */
export function parseSelector(selector: string): (labels: Record<string, string>) => boolean {
  const requirements: ((labels: Record<string, string>) => boolean)[] = [];
  const parts = selector.trim() ? selector.match(/[^,(]+(\([^)]*\))?/g) ?? [] : [];
  for (const raw of parts) {
    const part = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part))) {
      const [, k, op, list] = m;
      const values = list!.split(',').map((v) => v.trim());
      requirements.push(op === 'in' ? (l) => l[k!] !== undefined && values.includes(l[k!]!) : (l) => l[k!] === undefined || !values.includes(l[k!]!));
    } else if ((m = /^([^\s!=]+)\s*(==|=|!=)\s*([^\s!=]*)$/.exec(part))) {
      const [, k, op, v] = m;
      requirements.push(op === '!=' ? (l) => l[k!] !== v : (l) => l[k!] === v);
    } else if ((m = /^!\s*([^\s!=]+)$/.exec(part))) {
      const k = m[1]!;
      requirements.push((l) => l[k] === undefined);
    } else if ((m = /^([^\s!=()]+)$/.exec(part))) {
      const k = m[1]!;
      requirements.push((l) => l[k] !== undefined);
    } else {
      throw new ClusterError('bad-request', `request refused (400): unable to parse requirement: "${part}"`, { status: 400 });
    }
  }
  return (labels) => requirements.every((r) => r(labels));
}
