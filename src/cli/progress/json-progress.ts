import type { ApplyEvent } from '../../apply/events.js';
import type { Sink } from '../io.js';

/** `--output json`: one JSON object per line and event, for machines. */
export function jsonProgress(out: Sink): (event: ApplyEvent) => void {
  return (event) => {
    const { at, ...rest } = event;
    const doc: Record<string, unknown> = { time: new Date(at).toISOString(), ...rest };
    if ('step' in event) doc.step = { id: event.step.id, kind: event.step.kind, component: event.step.component, ordinal: event.step.ordinal, job: event.step.job };
    out.write(`${JSON.stringify(doc)}\n`);
  };
}
