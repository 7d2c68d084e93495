import type { ApplyEvent } from '../../apply/events.js';
import { formatDuration } from '../../spec/duration.js';
import { timeoutOf } from '../../plan/plan-types.js';
import type { CiOutput, Section } from '../ci-output.js';
import type { Sink } from '../io.js';

export const HEARTBEAT_MS = 30_000;

/**
 * For CI logs and pipes: one timestamped line when something changes, a heartbeat every 30 s
 * naming what the run waits for, each step's lines in a collapsible section on GitHub/GitLab.
 */
export class PlainProgress {
  private total = 0;
  /** The steps under way: one, or (spec.rollout.concurrent) those of a group's lanes. */
  private readonly running = new Map<string, { message: string; timeoutMs: number | undefined; startedAt: number; lastPrinted: number }>();
  /** Collapsible sections do not nest: one is open at a time, for the step that opened it. */
  private section: (Section & { stepId: string }) | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly out: Sink,
    private readonly ci: CiOutput,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => this.heartbeat(), 1_000);
    this.timer.unref();
  }

  handle(event: ApplyEvent): void {
    switch (event.type) {
      case 'run-start':
        this.total = event.steps;
        this.line(event.at, `${event.resumed ? 'resuming' : 'starting'} run ${event.runId} (plan ${event.planHash.slice(0, 12)}, ${event.steps} steps)`);
        break;
      case 'info':
        this.line(event.at, event.message);
        break;
      case 'warning':
        this.line(event.at, `warning: ${event.message}`);
        this.out.write(this.ci.warningAnnotation(event.message));
        break;
      case 'step-skip':
        this.line(event.at, `${this.counter(event.index)} ${event.step.id}: skipped (${event.reason})`);
        break;
      case 'step-start':
        if (!this.section) {
          this.section = { ...this.ci.section(`${this.counter(event.index)} ${event.step.id}`, { id: event.step.id }), stepId: event.step.id };
          this.out.write(this.section.start);
        }
        this.running.set(event.step.id, { message: event.step.title, timeoutMs: timeoutOf(event.step), startedAt: event.at, lastPrinted: this.now() });
        this.line(event.at, `${this.counter(event.index)} ${event.step.id}: ${event.step.title}${event.attempt > 1 ? ` (attempt ${event.attempt})` : ''}`);
        break;
      case 'step-progress': {
        const current = this.running.get(event.step.id);
        if (current) {
          current.message = event.message;
          current.lastPrinted = this.now();
        }
        this.line(event.at, `  ${this.running.size > 1 ? `${event.step.id}: ` : ''}${event.message} (${this.timing(event.elapsedMs, event.timeoutMs)})`);
        break;
      }
        break;
      case 'step-done':
        this.line(event.at, `${this.counter(event.index)} ${event.step.id}: done in ${formatDuration(event.elapsedMs)}${event.message ? ` — ${event.message}` : ''}`);
        this.closeSection(event.step.id);
        break;
      case 'step-failed':
        this.line(event.at, `${this.counter(event.index)} ${event.step.id}: FAILED: ${event.error}`);
        if (event.detail) this.out.write(`${event.detail}\n`);
        this.closeSection(event.step.id);
        break;
      case 'run-done':
        this.line(event.at, `run ${event.runId} done in ${formatDuration(event.elapsedMs)}`);
        break;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.closeSection();
  }

  private heartbeat(): void {
    const now = this.now();
    for (const [id, c] of this.running) {
      if (now - c.lastPrinted < HEARTBEAT_MS) continue;
      c.lastPrinted = now;
      this.line(now, `  still waiting: ${this.running.size > 1 ? `${id}: ` : ''}${c.message} (${this.timing(now - c.startedAt, c.timeoutMs)})`);
    }
  }

  /** A step ended (or, without one, the run): its section closes if it opened the one open. */
  private closeSection(stepId?: string): void {
    if (stepId !== undefined) this.running.delete(stepId);
    else this.running.clear();
    if (this.section && (stepId === undefined || this.section.stepId === stepId)) {
      this.out.write(this.section.end());
      this.section = undefined;
    }
  }

  private counter(index: number): string {
    return `[${index + 1}/${this.total}]`;
  }

  private timing(elapsedMs: number, timeoutMs: number | undefined): string {
    return timeoutMs === undefined ? formatDuration(elapsedMs) : `${formatDuration(elapsedMs)} of ${formatDuration(timeoutMs)}`;
  }

  private line(at: number, text: string): void {
    this.out.write(`${new Date(at).toISOString().replace(/\.\d+Z$/, 'Z')} ${text}\n`);
  }
}
