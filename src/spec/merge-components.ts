import { HELM_DEFAULT_COMPONENTS } from './helm-defaults.js';
import type { ComponentEntry, ComponentSpec } from './schema.js';

/** A problem with one spec.components entry, for the schema to report at that entry's field. */
export interface MergeProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

export interface MergedComponents {
  readonly components: readonly ComponentSpec[];
  readonly problems: readonly MergeProblem[];
}

/** The readyTimeout of a component that is not one of the defaults. */
const NEW_COMPONENT_READY_TIMEOUT = '10m';

/**
 * spec.components merged by name onto the Helm chart's defaults: an entry that names a default
 * changes only the fields it sets (an explicit `flow-snapshot-worker` keeps its 15m readyTimeout);
 * `skip: true` leaves a default out; any other name is a new component, appended unless `before`
 * or `after` places it. `before`/`after` move defaults too. Entries are applied in file order, so
 * the result does not depend on anything but the file.
 */
export function mergeComponents(entries: readonly ComponentEntry[] | undefined): MergedComponents {
  const problems: MergeProblem[] = [];
  const list: ComponentSpec[] = HELM_DEFAULT_COMPONENTS.map((c) => ({ ...c }));
  const defaultNames = HELM_DEFAULT_COMPONENTS.map((c) => c.name);
  const skipped = new Set<string>();
  const seen = new Map<string, number>();

  (entries ?? []).forEach((entry, index) => {
    const at = ['spec', 'components', index];
    const earlier = seen.get(entry.name);
    if (earlier !== undefined) {
      problems.push({ path: [...at, 'name'], message: `duplicate component name "${entry.name}" (also spec.components[${earlier}])` });
      return;
    }
    seen.set(entry.name, index);
    const isDefault = defaultNames.includes(entry.name);
    if (entry.skip) {
      if (!isDefault) {
        problems.push({ path: [...at, 'skip'], message: `skip leaves out a default component; "${entry.name}" is not one (defaults: ${defaultNames.join(', ')})` });
        return;
      }
      const extra = Object.keys(entry).filter((k) => k !== 'name' && k !== 'skip');
      if (extra.length > 0) {
        problems.push({ path: [...at, extra[0]!], message: `a skipped component is left out entirely; remove ${extra.join(', ')} or skip` });
        return;
      }
      skipped.add(entry.name);
      return;
    }
    const { skip: _skip, before: _before, after: _after, ...fields } = entry;
    if (isDefault) {
      const i = list.findIndex((c) => c.name === entry.name);
      list[i] = { ...list[i]!, ...definedOnly(fields), entry: index };
    } else if (entry.workload === undefined) {
      problems.push({
        path: [...at, 'workload'],
        message: `"${entry.name}" is not a default component (${defaultNames.join(', ')}), so it needs workload: Deployment/<name> or StatefulSet/<name>`,
      });
    } else {
      list.push({ readyTimeout: NEW_COMPONENT_READY_TIMEOUT, ...definedOnly(fields), name: entry.name, workload: entry.workload, entry: index });
    }
  });

  let merged = list.filter((c) => !skipped.has(c.name));
  // Placement, in file order; checked afterwards so that contradicting placements are named.
  const placed: { index: number; name: string; where: 'before' | 'after'; target: string }[] = [];
  (entries ?? []).forEach((entry, index) => {
    if (entry.skip || seen.get(entry.name) !== index) return;
    if (entry.before !== undefined && entry.after !== undefined) {
      problems.push({ path: ['spec', 'components', index, 'after'], message: 'give before or after, not both' });
      return;
    }
    const where = entry.before !== undefined ? 'before' : entry.after !== undefined ? 'after' : undefined;
    if (where === undefined) return;
    const target = (entry.before ?? entry.after)!;
    const path = ['spec', 'components', index, where];
    if (!merged.some((c) => c.name === entry.name)) return; // already reported (no workload)
    if (target === entry.name) {
      problems.push({ path, message: `a component cannot be placed ${where} itself` });
      return;
    }
    if (!merged.some((c) => c.name === target)) {
      const why = skipped.has(target) ? `"${target}" is skipped` : `there is no component "${target}"`;
      problems.push({ path, message: `${why}; components: ${merged.map((c) => c.name).join(', ')}` });
      return;
    }
    const moving = merged.find((c) => c.name === entry.name)!;
    merged = merged.filter((c) => c !== moving);
    const at = merged.findIndex((c) => c.name === target) + (where === 'after' ? 1 : 0);
    merged.splice(at, 0, moving);
    placed.push({ index, name: entry.name, where, target });
  });
  const position = (name: string) => merged.findIndex((c) => c.name === name);
  for (const p of placed) {
    const holds = p.where === 'before' ? position(p.name) < position(p.target) : position(p.name) > position(p.target);
    if (!holds) problems.push({ path: ['spec', 'components', p.index, p.where], message: `contradicts another placement: the order came out ${merged.map((c) => c.name).join(', ')}` });
  }
  if (merged.length === 0 && problems.length === 0) {
    problems.push({ path: ['spec', 'components'], message: 'every component is skipped: there is nothing to upgrade' });
  }
  return { components: merged, problems };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
