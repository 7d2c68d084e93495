import { Chalk } from 'chalk';
import { createRequire } from 'node:module';
import type { Style } from '../plan/style.js';

export interface Sink {
  write(text: string): unknown;
  readonly isTTY?: boolean | undefined;
}

/** The process edges the CLI touches; tests pass their own. */
export interface CliIO {
  readonly stdout: Sink;
  readonly stderr: Sink;
  readonly env: NodeJS.ProcessEnv;
  readonly stdinIsTTY: boolean;
}

export function processIO(): CliIO {
  let stdinIsTTY: boolean | undefined;
  return {
    stdout: closable(process.stdout),
    stderr: closable(process.stderr),
    env: process.env,
    // Asked only by the confirmation prompt, so looked up then: isatty(0), not process.stdin.isTTY,
    // which opens a stream on stdin; and node:tty loaded only then, as loading it costs ~10 ms of a
    // start whose output is not a terminal (CI). Built-ins resolve from any path given to createRequire.
    get stdinIsTTY() {
      return (stdinIsTTY ??= (createRequire(process.execPath)('node:tty') as typeof import('node:tty')).isatty(0));
    },
  };
}

/**
 * A reader that goes away (`apply | head`) must not kill a run halfway: after EPIPE, output is
 * dropped and the run goes on to save its checkpoint and release its lock.
 */
function closable(stream: NodeJS.WriteStream): Sink {
  let closed = false;
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') closed = true;
    else throw error;
  });
  return {
    get isTTY() {
      return stream.isTTY;
    },
    write: (text: string) => (closed ? false : stream.write(text)),
  };
}

/** Colour only on a terminal, never with NO_COLOR or --no-color, always with FORCE_COLOR. */
export function colourLevel(io: CliIO, sink: Sink, colourFlag: boolean): 0 | 1 | 2 | 3 {
  if (!colourFlag) return 0;
  const force = io.env.FORCE_COLOR;
  if (force !== undefined && force !== '0' && force !== 'false') return force === '2' ? 2 : force === '3' ? 3 : 1;
  if (force === '0' || force === 'false') return 0;
  if (io.env.NO_COLOR !== undefined && io.env.NO_COLOR !== '') return 0;
  if (!sink.isTTY || io.env.TERM === 'dumb') return 0;
  return 1;
}

export function makeStyle(level: 0 | 1 | 2 | 3): Style {
  const chalk = new Chalk({ level });
  return {
    bold: (t) => chalk.bold(t),
    dim: (t) => chalk.dim(t),
    added: (t) => chalk.green(t),
    removed: (t) => chalk.red(t),
    warn: (t) => chalk.yellow(t),
    error: (t) => chalk.red.bold(t),
  };
}
