import type { EnvVar } from '../cluster/types.js';
import type { ClusterSpec, Component, ComponentSpec, InitJobSpec } from '../spec/schema.js';
import { canonicalJson } from './hash.js';
import { maskEnv } from './mask.js';

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
  const baseComponents = new Map(base.components.map((c) => [c.name, c]));
  const targetComponents = new Map(target.components.map((c) => [c.name, c]));
  const components: Mutable<SpecDiff['components']> = { added: [], removed: [], changed: [], unchanged: [] };
  for (const component of target.components) {
    const before = baseComponents.get(component.name);
    if (!before) {
      components.added.push(entry(component));
      continue;
    }
    const changes = fieldChanges('', componentView(before), componentView(component));
    if (changes.length > 0) components.changed.push({ ...entry(component), changes });
    else components.unchanged.push(component.name);
  }
  for (const component of base.components) {
    if (!targetComponents.has(component.name)) components.removed.push(entry(component));
  }

  const baseJobs = new Map(base.initJobs.map((j) => [j.name, j]));
  const targetJobs = new Map(target.initJobs.map((j) => [j.name, j]));
  const initJobs: Mutable<SpecDiff['initJobs']> = { added: [], removed: [], changed: [], unchanged: [] };
  for (const job of target.initJobs) {
    const before = baseJobs.get(job.name);
    if (!before) {
      initJobs.added.push(job.name);
      continue;
    }
    // Compared as written (a changed secret literal is a change), shown masked.
    const changes = fieldChanges('', jobView(before), jobView(job)).map((c) =>
      c.field === 'env' ? { ...c, from: maskedEnv(c.from), to: maskedEnv(c.to) } : c,
    );
    if (changes.length > 0) initJobs.changed.push({ name: job.name, changes });
    else initJobs.unchanged.push(job.name);
  }
  for (const job of base.initJobs) if (!targetJobs.has(job.name)) initJobs.removed.push(job.name);

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

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends readonly (infer U)[] ? U[] : T[K] };

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

/** Env literals are masked in the diff itself, so no rendering of it can leak a secret-looking value. */
function maskedEnv(value: SpecValue): SpecValue {
  return Array.isArray(value) ? (maskEnv(value as unknown as EnvVar[]) as unknown as SpecValue) : value;
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
