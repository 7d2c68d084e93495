import type { Step } from '../plan/plan-types.js';
import { formatChange } from '../plan/render-text.js';

/** How one list of steps differs from another, in lines a person can read. */
export function describeStepDiff(before: readonly { id: string; changes: readonly Step['changes'][number][] }[], after: readonly Step[]): string[] {
  const lines: string[] = [];
  const afterById = new Map(after.map((s) => [s.id, s]));
  const beforeIds = new Set(before.map((s) => s.id));
  for (const old of before) {
    const now = afterById.get(old.id);
    if (!now) {
      lines.push(`- ${old.id}: no longer needed`);
      continue;
    }
    const was = old.changes.map((c) => formatChange(c)).join('; ');
    const is = now.changes.map((c) => formatChange(c)).join('; ');
    if (was !== is) lines.push(`~ ${old.id}: was ${was || '(no changes)'}; now ${is || '(no changes)'}`);
  }
  for (const step of after) if (!beforeIds.has(step.id)) lines.push(`+ ${step.id}: new`);
  return lines;
}
