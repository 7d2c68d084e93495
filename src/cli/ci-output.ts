// fs.promises, read when called: loading node:fs/promises costs every start ~6 ms (scripts/build.mjs).
import { promises as fsp } from 'node:fs';
import { UserError } from '../errors.js';
import { SpecError } from '../spec/spec-error.js';

/**
 * Output for CI logs: GitHub Actions workflow commands (groups, annotations, the step summary) and
 * GitLab CI collapsible sections. Everything here returns text or takes the env it is given, so
 * commands (plan now, apply's step logs later) decide where it goes, and tests need no CI.
 */

export const CI_OUTPUT_MODES = ['auto', 'github', 'gitlab', 'none'] as const;
export type CiOutputMode = (typeof CI_OUTPUT_MODES)[number];
export type CiFormat = Exclude<CiOutputMode, 'auto'>;

/** Turns CI output off (`none`) or forces it, for when the flag cannot be added (wrapper scripts). */
export const CI_OUTPUT_ENV = 'PEERDB_UPGRADE_CI_OUTPUT';

type Env = Readonly<Record<string, string | undefined>>;

/** The flag wins over the env var; `auto` looks at the variables the CI systems set themselves. */
export function ciFormat(env: Env, mode: CiOutputMode = 'auto'): CiFormat {
  if (mode !== 'auto') return mode;
  const setting = env[CI_OUTPUT_ENV]?.trim().toLowerCase();
  if (setting === 'none' || setting === 'off' || setting === 'false' || setting === '0') return 'none';
  if (setting === 'github' || setting === 'gitlab') return setting;
  if (env.GITHUB_ACTIONS === 'true') return 'github';
  if (env.GITLAB_CI === 'true') return 'gitlab';
  return 'none';
}

export interface AnnotationLocation {
  readonly file?: string | undefined;
  readonly line?: number | undefined;
  readonly column?: number | undefined;
  readonly title?: string | undefined;
}

/** GitHub's escaping for a workflow command's message: one command is one line. */
export function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Property values additionally may not hold the `,` and `:` that delimit them. */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** `::error file=…,line=…,col=…::message` on GitHub; nothing elsewhere (the error is printed anyway). */
export function annotation(format: CiFormat, level: 'error' | 'warning' | 'notice', message: string, location: AnnotationLocation = {}): string {
  if (format !== 'github') return '';
  const properties = [
    location.file !== undefined ? `file=${escapeProperty(location.file)}` : undefined,
    location.line !== undefined ? `line=${location.line}` : undefined,
    location.column !== undefined ? `col=${location.column}` : undefined,
    location.title !== undefined ? `title=${escapeProperty(location.title)}` : undefined,
  ].filter((p) => p !== undefined);
  return `::${level}${properties.length > 0 ? ` ${properties.join(',')}` : ''}::${escapeData(message)}\n`;
}

export function errorAnnotation(format: CiFormat, message: string, location?: AnnotationLocation): string {
  return annotation(format, 'error', message, location);
}

export function warningAnnotation(format: CiFormat, message: string, location?: AnnotationLocation): string {
  return annotation(format, 'warning', message, location);
}

/**
 * The annotations for an error the CLI reports: one per spec problem, placed at its line in the
 * pull request's diff; one for anything else.
 */
export function errorAnnotations(format: CiFormat, error: unknown): string {
  if (format !== 'github') return '';
  if (error instanceof SpecError) {
    return error.problems
      .map((p) => errorAnnotation(format, p.path ? `${p.path}: ${p.message}` : p.message, { file: p.file, line: p.line, column: p.column, title: 'peerdb-upgrade: invalid spec' }))
      .join('');
  }
  if (error instanceof UserError) return errorAnnotation(format, error.hint ? `${error.message}\nhint: ${error.hint}` : error.message, { title: 'peerdb-upgrade' });
  const message = error instanceof Error ? error.message : String(error);
  return errorAnnotation(format, message, { title: 'peerdb-upgrade: internal error' });
}

/** GitLab section names allow only these characters. */
function sectionName(text: string): string {
  const slug = text.toLowerCase().replace(/[^a-z0-9_.-]+/g, '_').replace(/^_+|_+$/g, '');
  return (slug || 'section').slice(0, 60);
}

export interface Section {
  /** The text that opens the section (print before the body). */
  readonly start: string;
  /** The text that closes it; GitLab records the time, so call it when the body is done. */
  end(): string;
}

/**
 * A collapsible section for streamed logs (apply's steps): `::group::` on GitHub (which cannot
 * nest them), a collapsed `section_start` on GitLab, nothing elsewhere. `id` keeps GitLab section
 * names unique when titles repeat.
 */
export function section(format: CiFormat, title: string, options: { id?: string; now?: () => Date } = {}): Section {
  const now = options.now ?? (() => new Date());
  const oneLine = title.replace(/[\r\n]+/g, ' ');
  if (format === 'github') return { start: `::group::${escapeData(oneLine)}\n`, end: () => '::endgroup::\n' };
  if (format === 'gitlab') {
    const name = sectionName(options.id ?? oneLine);
    const seconds = () => Math.floor(now().getTime() / 1000);
    return {
      start: `\u001b[0Ksection_start:${seconds()}:${name}[collapsed=true]\r\u001b[0K${oneLine}\n`,
      end: () => `\u001b[0Ksection_end:${seconds()}:${name}\r\u001b[0K\n`,
    };
  }
  return { start: '', end: () => '' };
}

/** `body` inside a collapsible section (see section()); unchanged when not on CI. */
export function group(format: CiFormat, title: string, body: string, options: { id?: string; now?: () => Date } = {}): string {
  if (format === 'none') return body;
  const s = section(format, title, options);
  return `${s.start}${body.endsWith('\n') || body === '' ? body : `${body}\n`}${s.end()}`;
}

/**
 * Text output with everything after its head (up to the first blank line: the summary and the
 * warnings) in a collapsed section, so a CI log shows what matters and keeps the long list a click away.
 */
export function groupAfterHead(format: CiFormat, title: string, text: string, options: { id?: string; now?: () => Date } = {}): string {
  const cut = text.indexOf('\n\n');
  if (format === 'none' || cut < 0) return text;
  return `${text.slice(0, cut + 1)}${group(format, title, text.slice(cut + 2), options)}`;
}

/**
 * Appends markdown to the GitHub job summary (the file $GITHUB_STEP_SUMMARY names). Resolves with
 * the reason it could not, or undefined; the summary is a courtesy, never a reason to fail a step.
 */
export async function appendStepSummary(env: Env, markdown: string, append: (file: string, text: string) => Promise<void> = fsp.appendFile): Promise<string | undefined> {
  const file = env.GITHUB_STEP_SUMMARY;
  if (!file) return 'GITHUB_STEP_SUMMARY is not set';
  try {
    await append(file, markdown.endsWith('\n') ? `${markdown}\n` : `${markdown}\n\n`);
    return undefined;
  } catch (error) {
    return `cannot append to ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
  }
}

/** The helpers bound to one format, for a command that prints several things. */
export interface CiOutput {
  readonly format: CiFormat;
  group(title: string, body: string, options?: { id?: string }): string;
  section(title: string, options?: { id?: string }): Section;
  errorAnnotation(message: string, location?: AnnotationLocation): string;
  warningAnnotation(message: string, location?: AnnotationLocation): string;
  /** Appends on GitHub only; resolves with why it did not when it should have. */
  appendStepSummary(markdown: string): Promise<string | undefined>;
}

export function ciOutput(env: Env, mode: CiOutputMode = 'auto', now: () => Date = () => new Date()): CiOutput {
  const format = ciFormat(env, mode);
  return {
    format,
    group: (title, body, options = {}) => group(format, title, body, { ...options, now }),
    section: (title, options = {}) => section(format, title, { ...options, now }),
    errorAnnotation: (message, location) => errorAnnotation(format, message, location),
    warningAnnotation: (message, location) => warningAnnotation(format, message, location),
    appendStepSummary: async (markdown) => {
      if (format !== 'github') return undefined;
      // Forced on outside GitHub (or an old runner): there is no summary file, and that is fine.
      if (!env.GITHUB_STEP_SUMMARY) return undefined;
      return appendStepSummary(env, markdown);
    },
  };
}
