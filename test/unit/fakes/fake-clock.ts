import type { Clock } from '../../../src/apply/clock.js';

/**
 * A Clock whose time moves only when told: sleep(ms) and advance(ms) move it at once, in steps of at
 * most `stepMs`, telling the listeners after each step (so a simulation sees time pass gradually).
 */
export class FakeClock implements Clock {
  private time: number;
  private readonly listeners = new Set<(ms: number, last: boolean) => void>();
  private readonly timers = new Set<{ due: number; callback: () => void }>();
  /** Every sleep asked for, in ms. */
  readonly sleeps: number[] = [];

  constructor(
    start: number | string = '2025-01-01T00:00:00.000Z',
    private readonly stepMs = 1000,
  ) {
    this.time = typeof start === 'number' ? start : Date.parse(start);
  }

  now(): number {
    return this.time;
  }

  /** Moves time by `ms` (the simulation ticks along) and resolves on the next turn of the event loop. */
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return;
    this.sleeps.push(ms);
    this.advance(ms);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  advance(ms: number): void {
    for (let left = ms; left > 0; ) {
      const step = Math.min(left, this.stepMs);
      this.time += step;
      left -= step;
      for (const listener of this.listeners) listener(step, left <= 0);
      for (const timer of [...this.timers]) {
        if (timer.due > this.time) continue;
        this.timers.delete(timer);
        timer.callback();
      }
    }
  }

  /** Fires when advance() passes its time, like a timer on the real clock. */
  timer(ms: number, callback: () => void): () => void {
    const timer = { due: this.time + ms, callback };
    this.timers.add(timer);
    return () => this.timers.delete(timer);
  }

  /** Timers set and not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** `last` is true for the last step of one advance(). */
  onAdvance(listener: (ms: number, last: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

// ─── Public types ────────────────────────────────────────────────────────────────────────────────
