import type { RolloutSpec } from '../spec/schema.js';
import type { ComponentStep, Step } from './plan-types.js';

/**
 * spec.rollout.concurrent applied to the component steps (in spec order): the members of a group
 * move up to where its first member stands and carry the group's name; each member's own steps keep
 * their order (a StatefulSet still one pod at a time). Read in order, a grouped plan is still a valid
 * one-at-a-time plan; the executor runs a group's components side by side.
 */
export function groupRolls(rolls: readonly ComponentStep[], concurrent: RolloutSpec['concurrent']): ComponentStep[] {
  if (concurrent === undefined) return [...rolls];
  const groupOf = new Map<string, string>();
  if (concurrent === 'deployments') {
    const deployments = new Set(rolls.filter((s) => s.kind === 'deployment-rollout').map((s) => s.component));
    // One Deployment alone is not a group: nothing to run beside it.
    if (deployments.size > 1) for (const name of deployments) groupOf.set(name, 'deployments');
  } else {
    for (const group of concurrent) {
      const planned = group.filter((name) => rolls.some((s) => s.component === name));
      if (planned.length > 1) for (const name of planned) groupOf.set(name, planned.join('+'));
    }
  }
  const components = [...new Set(rolls.map((s) => s.component))];
  const out: ComponentStep[] = [];
  const placed = new Set<string>();
  for (const name of components) {
    if (placed.has(name)) continue;
    const group = groupOf.get(name);
    const members = group === undefined ? [name] : components.filter((c) => groupOf.get(c) === group);
    for (const member of members) {
      placed.add(member);
      for (const step of rolls) if (step.component === member) out.push(group === undefined ? step : { ...step, group });
    }
  }
  return out;
}

/** The steps a plan runs as one unit: a single step, or every step of one concurrent group. */
export function stepUnits(steps: readonly Step[]): { readonly group: string | undefined; readonly indexes: number[] }[] {
  const units: { group: string | undefined; indexes: number[] }[] = [];
  steps.forEach((step, index) => {
    const group = 'group' in step ? step.group : undefined;
    const last = units.at(-1);
    if (group !== undefined && last?.group === group) last.indexes.push(index);
    else units.push({ group, indexes: [index] });
  });
  return units;
}
