import { createHash } from 'node:crypto';
// Read synchronously: a spec is at most 1 MiB, and node:fs/promises would cost every start ~6 ms.
import { readFileSync, statSync } from 'node:fs';
import { isMap, isNode, isPair, isScalar, LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { z } from 'zod/mini';
import { UserError } from '../errors.js';
import { didYouMean } from './did-you-mean.js';
import { mergeComponents } from './merge-components.js';
import { clusterSpecSchema, type ClusterSpec, type ClusterSpecDocument, type Component, type ComponentSpec } from './schema.js';
import { SpecError, type SpecProblem } from './spec-error.js';

/** Larger than any sensible spec; refusing earlier keeps a wrong file (a dump, a binary) cheap. */
const MAX_SPEC_BYTES = 1024 * 1024;

export interface LoadedSpec {
  readonly file: string;
  readonly text: string;
  /** sha256 of the file's bytes: what a saved plan records to notice an edited spec. */
  readonly hash: string;
  readonly document: ClusterSpecDocument;
}

/** `flag` is how the file was given, so that the hint for a missing one names that flag. */
export async function loadSpecFile(file: string, flag: '-f' | '--base' = '-f'): Promise<LoadedSpec> {
  let text: string;
  try {
    const info = statSync(file);
    if (info.isDirectory()) throw new UserError(`${file}: is a directory; -f takes a cluster spec file (YAML)`);
    if (info.size > MAX_SPEC_BYTES) {
      throw new UserError(`${file}: ${info.size} bytes is too large for a cluster spec (at most ${MAX_SPEC_BYTES})`);
    }
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof UserError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : `cannot read (${code ?? 'unknown error'})`;
    const hint = flag === '--base' ? 'pass the earlier revision of the spec with --base FILE (e.g. from `git show main:FILE > base.yaml`)' : 'pass the cluster spec with -f FILE, e.g. -f plans/helm-default.yaml';
    throw new UserError(`${flag} ${file}: ${reason}`, { hint });
  }
  return parseSpecText(file, text);
}

/** Parses and validates a spec; throws SpecError listing every problem with its position. */
export function parseSpecText(file: string, text: string): LoadedSpec {
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => lineCounter.linePos(offset);
  const problem = (offset: number, path: string, message: string): SpecProblem => {
    const { line, col } = at(offset);
    return { file, line, column: col, path, message };
  };

  if (!Array.isArray(documents)) {
    // An EmptyStream: nothing but comments or white space.
    throw new SpecError([problem(0, '', 'the file is empty; expected a PeerDBCluster spec (see plans/helm-default.yaml)')]);
  }
  if (documents.length === 0) {
    throw new SpecError([problem(0, '', 'the file is empty; expected a PeerDBCluster spec (see plans/helm-default.yaml)')]);
  }
  if (documents.length > 1) {
    const second = documents[1]!;
    throw new SpecError([problem(second.range[0], '', `${documents.length} YAML documents; a spec file holds exactly one`)]);
  }
  const doc = documents[0]!;
  const syntax = doc.errors.map((e) => problem(e.pos[0], '', yamlMessage(e.message)));
  if (syntax.length > 0) throw new SpecError(syntax);
  if (doc.contents === null) {
    throw new SpecError([problem(0, '', 'the file is empty; expected a PeerDBCluster spec (see plans/helm-default.yaml)')]);
  }

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new SpecError([problem(0, '', `cannot read the YAML: ${(error as Error).message}`)]);
  }
  const result = clusterSpecSchema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.flatMap((issue) => describeIssue(issue, doc, value, problem));
    problems.sort((a, b) => a.line - b.line || a.column - b.column);
    throw new SpecError(dedupe(problems));
  }
  return { file, text, hash: createHash('sha256').update(text).digest('hex'), document: result.data };
}

/** The spec with defaults applied and the namespace decided (flag, then spec, then fallback). */
export function resolveSpec(
  document: ClusterSpecDocument,
  options: { namespaceFlag?: string | undefined; fallbackNamespace?: string | undefined } = {},
): ClusterSpec {
  const fromSpec = document.metadata.namespace;
  if (options.namespaceFlag !== undefined && fromSpec !== undefined && options.namespaceFlag !== fromSpec) {
    throw new UserError(
      `--namespace ${options.namespaceFlag} contradicts metadata.namespace ${fromSpec} in the spec`,
      { hint: 'drop --namespace, or change the spec' },
    );
  }
  const base = `${document.metadata.name}-peerdb-upgrade`;
  return {
    name: document.metadata.name,
    namespace: options.namespaceFlag ?? fromSpec ?? options.fallbackNamespace ?? 'default',
    version: document.spec.version,
    images: document.spec.images,
    maintenance: document.spec.maintenance,
    flowApi: document.spec.flowApi,
    initJobs: document.spec.initJobs,
    components: mergeComponents(document.spec.components).components.map(withRef),
    rollout: document.spec.rollout ?? {},
    checkpointName: document.spec.checkpoint?.configMap ?? base,
    leaseName: document.spec.checkpoint?.lease ?? base,
  };
}

function withRef(component: ComponentSpec): Component {
  // The schema checked the form: exactly one '/', a known kind before it.
  const slash = component.workload.indexOf('/');
  return { ...component, ref: { kind: component.workload.slice(0, slash) as Component['ref']['kind'], name: component.workload.slice(slash + 1) } };
}

type Locate = (offset: number, path: string, message: string) => SpecProblem;
type Issue = z.core.$ZodIssue;

function describeIssue(issue: Issue, doc: Document, value: unknown, locate: Locate): SpecProblem[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const node = nearestNode(doc, path);
  const found = valueAt(value, path);
  const dotted = formatPath(path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeys(path);
      return issue.keys.map((key) => {
        const keyNode = keyNodeOf(doc, path, key);
        const misplaced = misplacedKey(path, key);
        const suggestion = didYouMean(key, known);
        const message = misplaced
          ? `"${key}" does not go here: it belongs in ${misplaced}`
          : `unknown field "${key}"${suggestion ? `; did you mean "${suggestion}"?` : ''} (expected one of: ${known.join(', ')})`;
        return locate(keyNode ?? node.offset, dotted, message);
      });
    }
    case 'invalid_type': {
      if (found === undefined && !node.exact) {
        return [locate(node.offset, dotted, `required field is missing (expected ${article(issue.expected)})`)];
      }
      const hint = typeHint(path, found);
      return [locate(node.offset, dotted, `expected ${article(issue.expected)}, found ${describeValue(found)}${hint ? `: ${hint}` : ''}`)];
    }
    case 'invalid_value': {
      const values = issue.values.map((v) => JSON.stringify(v));
      const expected = values.length === 1 ? values[0] : `one of ${values.join(', ')}`;
      if (found === undefined && !node.exact) return [locate(node.offset, dotted, `required field is missing (expected ${expected})`)];
      return [locate(node.offset, dotted, `expected ${expected}, found ${describeValue(found)}`)];
    }
    case 'too_small':
    case 'too_big': {
      const bound = Number(issue.code === 'too_small' ? issue.minimum : issue.maximum);
      const word = issue.code === 'too_small' ? 'at least' : 'at most';
      const unit = issue.origin === 'array' ? ' entries' : issue.origin === 'string' ? ' characters' : '';
      return [locate(node.offset, dotted, `expected ${word} ${bound}${unit}, found ${describeValue(found)}`)];
    }
    case 'invalid_format':
    case 'custom':
      return [locate(node.offset, dotted, found === undefined ? issue.message : `${issue.message}; found ${describeValue(found)}`)];
    default:
      return [locate(node.offset, dotted, issue.message)];
  }
}

/** Fields people put one level off; the message says where they belong. */
const MISPLACED: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  spec: { namespace: 'metadata (metadata.namespace)', name: 'metadata (metadata.name)', registry: 'spec.images (spec.images.registry)', tagPrefix: 'spec.images (spec.images.tagPrefix)' },
  metadata: { version: 'spec (spec.version)' },
  '': { version: 'spec (spec.version)', namespace: 'metadata (metadata.namespace)', components: 'spec (spec.components)' },
};

function misplacedKey(path: readonly (string | number)[], key: string): string | undefined {
  return MISPLACED[formatPath(path)]?.[key];
}

/** What to write instead of a value YAML read as the wrong type, for the mistakes people make. */
function typeHint(path: readonly (string | number)[], found: unknown): string | undefined {
  const last = path.at(-1);
  if (formatPath(path) === 'spec.maintenance' && typeof found === 'boolean') {
    return found ? 'write maintenance: {} for the defaults' : 'to upgrade without maintenance mode, omit the maintenance section';
  }
  if (formatPath(path) === 'spec.version' && typeof found === 'number') {
    return 'YAML reads it as a number; write the release as vX.Y.Z, e.g. version: v0.37.4 (quote it if it has no v)';
  }
  if ((last === 'readyTimeout' || last === 'timeout') && typeof found === 'number') {
    return `a duration needs a unit, e.g. ${found >= 60 && found % 60 === 0 ? `${found / 60}m` : `${found}s`}`;
  }
  return undefined;
}

function valueAt(value: unknown, path: readonly (string | number)[]): unknown {
  let current = value;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[part];
  }
  return current;
}

function article(expected: string): string {
  const names: Record<string, string> = { int: 'an integer', object: 'a mapping', array: 'a list', string: 'a string', boolean: 'true or false', number: 'a number' };
  return names[expected] ?? expected;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'number' && !Number.isInteger(value)) return `the number ${value}`;
  return `${typeof value === 'boolean' ? '' : 'the number '}${String(value)}`;
}

/** The node at `path`, or its nearest ancestor that exists (for a missing field: its parent). */
function nearestNode(doc: Document, path: readonly (string | number)[]): { offset: number; exact: boolean } {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth), true);
    if (isNode(node) && node.range) return { offset: node.range[0], exact: depth === path.length };
  }
  return { offset: 0, exact: false };
}

function keyNodeOf(doc: Document, path: readonly (string | number)[], key: string): number | undefined {
  const parent = path.length === 0 ? doc.contents : doc.getIn(path, true);
  if (!isMap(parent)) return undefined;
  for (const item of parent.items) {
    if (isPair(item) && isScalar(item.key) && item.key.value === key) return item.key.range?.[0];
  }
  return undefined;
}

export function formatPath(path: readonly (string | number)[]): string {
  return path.reduce<string>((text, part) => (typeof part === 'number' ? `${text}[${part}]` : text ? `${text}.${part}` : part), '');
}

function dedupe(problems: SpecProblem[]): SpecProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.line}:${p.column}:${p.path}:${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function yamlMessage(message: string): string {
  // The yaml library appends its own "at line N, column M" and a source excerpt; we give the position.
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

/** The field names the schema allows at `path`, for "did you mean". */
function knownKeys(path: readonly (string | number)[]): string[] {
  let schema: unknown = clusterSpecSchema;
  for (const part of [...path, undefined]) {
    schema = unwrap(schema);
    if (part === undefined) break;
    const def = (schema as { _zod: { def: Record<string, unknown> } })._zod.def;
    if (typeof part === 'number' && def.type === 'array') schema = def.element;
    else if (typeof part === 'string' && def.type === 'object') schema = (def.shape as Record<string, unknown>)[part];
    else return [];
  }
  const def = (schema as { _zod: { def: Record<string, unknown> } })._zod.def;
  return def.type === 'object' ? Object.keys(def.shape as Record<string, unknown>) : [];
}

function unwrap(schema: unknown): unknown {
  let current = schema as { _zod: { def: Record<string, unknown> } };
  for (;;) {
    const def = current._zod.def;
    if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable' || def.type === 'prefault') current = def.innerType as typeof current;
    else if (def.type === 'pipe') current = def.in as typeof current;
    else return current;
  }
}
