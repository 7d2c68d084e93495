import type { ClusterSpec, Component, ComponentSpec, InitJobSpec } from '../spec/schema.js';
import { canonicalJson } from './hash.js';
import { maskValue } from './mask.js';

/** A JSON value as it appears in a spec file. */
export type SpecValue = string | number | boolean | null | readonly SpecValue[] | { readonly [key: string]: SpecValue };

/** One field that differs between the base spec and the new one; `null` = not set. */
export interface FieldChange {
  readonly field: string;
  readonly from: SpecValue;
  readonly to: SpecValue;
}

export interface ComponentEntry {
  readonly name: string;
  readonly workload: string;
}

export interface ChangedEntry {
  readonly name: string;
  readonly changes: readonly FieldChange[];
}

/**
 * What changed between two revisions of a spec, for a reviewer. Components and init jobs are
 * matched by name: a renamed component is one removed and one added.
 */
export interface SpecDiff {
  readonly baseFile: string;
  readonly file: string;
  /** Versions as written in the specs. */
  readonly from: string;
  readonly to: string;
  readonly components: {
    /** Only in the new spec: assumed to run the base version (see plan-from-base.ts). */
    readonly added: readonly ComponentEntry[];
    /** Only in the base spec: no longer upgraded; they stay on the base version. */
    readonly removed: readonly ComponentEntry[];
    readonly changed: readonly (ComponentEntry & { readonly changes: readonly FieldChange[] })[];
    readonly unchanged: readonly string[];
  };
  readonly initJobs: {
    readonly added: readonly string[];
    readonly removed: readonly string[];
    readonly changed: readonly ChangedEntry[];
    readonly unchanged: readonly string[];
  };
  /** Everything else: metadata, images, maintenance, checkpoint names, the order of lists. */
  readonly settings: readonly FieldChange[];
}

export function diffSpecs(base: ClusterSpec, target: ClusterSpec, files: { baseFile: string; file: string }): SpecDiff {
  const components = byName(base.components, target.components, entry, entry, (before, component) => fieldChanges('', componentView(before), componentView(component)));
  const initJobs = byName(
    base.initJobs,
    target.initJobs,
    (job) => job.name,
    (job) => ({ name: job.name }),
    // Compared as written (a changed secret literal is a change), shown masked.
    (before, job) => fieldChanges('', jobView(before), jobView(job)).map((c) => (c.field === 'env' ? { ...c, from: maskedEnv(c.from), to: maskedEnv(c.to) } : c)),
  );

  const settings: FieldChange[] = [
    ...fieldChanges('metadata.', { name: base.name, namespace: base.namespace }, { name: target.name, namespace: target.namespace }),
    ...fieldChanges('spec.images.', base.images, target.images),
    ...maintenanceChanges(base, target),
    ...fieldChanges('spec.checkpoint.', { configMap: base.checkpointName, lease: base.leaseName }, { configMap: target.checkpointName, lease: target.leaseName }),
    // Order matters: init jobs run, and components roll, in the order listed.
    ...orderChange('spec.components', base.components.map((c) => c.name), target.components.map((c) => c.name)),
    ...orderChange('spec.initJobs', base.initJobs.map((j) => j.name), target.initJobs.map((j) => j.name)),
  ];
  return { ...files, from: base.version, to: target.version, components, initJobs, settings };
}

/**
 * Two lists matched by name: what only the target has (added), only the base (removed), and what
 * both have, changed (with its field changes) or not. `listed` is how an added, removed or
 * changed one is named.
 */
function byName<T extends { readonly name: string }, L, C extends object>(
  base: readonly T[],
  target: readonly T[],
  listed: (item: T) => L,
  changedAs: (item: T) => C,
  changesOf: (before: T, after: T) => FieldChange[],
): { added: L[]; removed: L[]; changed: (C & { changes: FieldChange[] })[]; unchanged: string[] } {
  const baseByName = new Map(base.map((item) => [item.name, item]));
  const targetNames = new Set(target.map((item) => item.name));
  const out = { added: [] as L[], removed: [] as L[], changed: [] as (C & { changes: FieldChange[] })[], unchanged: [] as string[] };
  for (const item of target) {
    const before = baseByName.get(item.name);
    if (!before) {
      out.added.push(listed(item));
      continue;
    }
    const changes = changesOf(before, item);
    if (changes.length > 0) out.changed.push({ ...changedAs(item), changes });
    else out.unchanged.push(item.name);
  }
  for (const item of base) if (!targetNames.has(item.name)) out.removed.push(listed(item));
  return out;
}


function entry(component: ComponentSpec): ComponentEntry {
  return { name: component.name, workload: component.workload };
}

function componentView(component: Component): Record<string, SpecValue> {
  // The parsed workload reference is `workload` again: not a field of its own.
  const { name: _name, entry: _entry, ref: _ref, ...rest } = component;
  return rest as Record<string, SpecValue>;
}

function jobView(job: InitJobSpec): Record<string, SpecValue> {
  const { name: _name, ...rest } = job;
  return rest as Record<string, SpecValue>;
}

/**
 * Env literals are masked in the diff itself, so no rendering of it can leak a secret-looking value:
 * each `{name, value}` of the list gets the value maskValue gives it (as maskEnv does for EnvVars).
 */
function maskedEnv(value: SpecValue): SpecValue {
  return isList(value) ? value.map(maskedEnvVar) : value;
}

function maskedEnvVar(item: SpecValue): SpecValue {
  if (item === null || typeof item !== 'object' || isList(item)) return item;
  const { name, value } = item;
  return typeof name === 'string' && typeof value === 'string' ? { ...item, value: maskValue(name, value) } : item;
}

function isList(value: SpecValue): value is readonly SpecValue[] {
  return Array.isArray(value);
}

function maintenanceChanges(base: ClusterSpec, target: ClusterSpec): FieldChange[] {
  if (!base.maintenance && !target.maintenance) return [];
  if (!base.maintenance || !target.maintenance) {
    return [{ field: 'spec.maintenance', from: base.maintenance ? 'on' : 'off', to: target.maintenance ? 'on' : 'off' }];
  }
  return fieldChanges('spec.maintenance.', base.maintenance as Record<string, SpecValue>, target.maintenance as Record<string, SpecValue>);
}

/** Field-by-field changes of two flat records; lists and nested values compare as a whole. */
function fieldChanges(prefix: string, before: Record<string, unknown>, after: Record<string, unknown>): FieldChange[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  const changes: FieldChange[] = [];
  for (const key of keys) {
    const from = (before[key] ?? null) as SpecValue;
    const to = (after[key] ?? null) as SpecValue;
    if (canonicalJson(from) !== canonicalJson(to)) changes.push({ field: `${prefix}${key}`, from, to });
  }
  return changes;
}

/** The order of the names both lists share, when it changed; additions and removals are listed elsewhere. */
function orderChange(field: string, before: readonly string[], after: readonly string[]): FieldChange[] {
  const common = new Set(before.filter((name) => after.includes(name)));
  const from = before.filter((name) => common.has(name));
  const to = after.filter((name) => common.has(name));
  return from.join('\n') === to.join('\n') ? [] : [{ field: `${field} order`, from: from.join(', '), to: to.join(', ') }];
}
