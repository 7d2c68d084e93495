import type { ApplyEvent } from '../../apply/events.js';
import { componentOf, isJobStep } from '../../plan/plan-types.js';
import type { Sink } from '../io.js';

/** `--output json`: one JSON object per line and event, for machines. */
export function jsonProgress(out: Sink): (event: ApplyEvent) => void {
  return (event) => {
    const { at, ...rest } = event;
    const doc: Record<string, unknown> = { time: new Date(at).toISOString(), ...rest };
    if ('step' in event) {
      const step = event.step;
      doc.step = {
        id: step.id,
        kind: step.kind,
        component: componentOf(step),
        ordinal: step.kind === 'statefulset-pod' ? step.ordinal : undefined,
        job: isJobStep(step) ? step.job : undefined,
      };
    }
    out.write(`${JSON.stringify(doc)}\n`);
  };
}
