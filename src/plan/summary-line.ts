import type { Plan } from './plan-types.js';

const count = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** The one line that says how big a plan is; first in every rendering. */
export function summaryLine(plan: Plan): string {
  const where = `${plan.cluster.namespace}/${plan.cluster.name}`;
  const versions = `${plan.from ?? 'unknown'} → ${plan.to}`;
  if (plan.steps.length === 0) return `No changes: ${where} already runs ${plan.to} (${plan.mode} plan).`;
  const s = plan.summary;
  return (
    `Plan: ${count(s.steps, 'step')} — ${count(s.jobs, 'Job')}, ${count(s.components, 'component')}, ` +
    `${count(s.podRestarts, 'pod restart')} (${where} ${versions}, ${plan.mode} plan)`
  );
}
