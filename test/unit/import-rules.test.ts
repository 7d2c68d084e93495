import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layering of src/ (design.md, "Layering"), checked on the source text: what each layer may
 * import, and what only the CLI may touch. A violation names the file, the line and the rule.
 */
const SRC = 'src';
type Layer = 'cli' | 'discover' | 'apply' | 'plan' | 'peerdb' | 'spec' | 'cluster' | 'shared';

/** Layers each layer may import (itself always). Shared leaves (errors, labels) import nothing. */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  cli: ['discover', 'apply', 'plan', 'peerdb', 'spec', 'cluster', 'shared'],
  discover: ['apply', 'plan', 'peerdb', 'spec', 'cluster', 'shared'],
  apply: ['plan', 'peerdb', 'spec', 'cluster', 'shared'],
  // plan reads PeerDB's observed state (types, the in-between statuses); it never asks flow-api.
  plan: ['peerdb', 'spec', 'cluster', 'shared'],
  // PeerDB's own API (flow-api), reached through the cluster port.
  peerdb: ['spec', 'cluster', 'shared'],
  spec: ['shared'],
  cluster: ['shared'],
  shared: [],
};

/** Packages only one layer may import. */
const OWNED_PACKAGES: readonly { pattern: RegExp; layer: Layer; why: string }[] = [
  { pattern: /^@kubernetes\/client-node(\/|$)/, layer: 'cluster', why: 'only src/cluster talks to Kubernetes' },
  { pattern: /^(chalk|listr2|commander)$/, layer: 'cli', why: 'only src/cli prints, colours and parses flags' },
  { pattern: /^node:readline(\/promises)?$/, layer: 'cli', why: 'only src/cli asks questions' },
];

/** Source text only the CLI may contain: the process, its streams, the console. */
const CLI_ONLY_TEXT: readonly { pattern: RegExp; why: string }[] = [
  { pattern: /\bprocess\.\w+/, why: 'only src/cli touches the process (exit, streams, signals, env, pid)' },
  { pattern: /\bconsole\.\w+/, why: 'only src/cli prints' },
];

/** Source text no layer may contain. */
const NOWHERE_TEXT: readonly { pattern: RegExp; why: string }[] = [
  { pattern: /\.localeCompare\(/, why: "its first call loads ICU's collation data, ~12 ms of a command's start: use compareText (src/compare.ts)" },
];

/** Modules of shared/ that only the CLI may import: the core never chooses an exit code. */
const CLI_ONLY_MODULES = ['exit-code.ts'];

interface Import {
  readonly file: string;
  readonly line: number;
  readonly specifier: string;
}

export function layerOf(file: string): Layer {
  const [first] = path.relative(SRC, file).split(path.sep);
  return first === 'cli' || first === 'discover' || first === 'apply' || first === 'plan' || first === 'peerdb' || first === 'spec' || first === 'cluster' ? first : 'shared';
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Static imports and exports (type-only included: a type dependency is a dependency) and dynamic import(). */
export function importsOf(file: string, text: string): Import[] {
  const found: Import[] = [];
  const patterns = [/\b(?:import|export)\s[^'"]*?\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const pattern of patterns) {
    for (const match of text.matchAll(pattern)) {
      found.push({ file, line: text.slice(0, match.index).split('\n').length, specifier: match[1]! });
    }
  }
  return found;
}

/** Every broken rule in one file, as `file:line: what (why)`. */
export function violations(file: string, text: string): string[] {
  const out: string[] = [];
  const layer = layerOf(file);
  for (const { line, specifier } of importsOf(file, text)) {
    const where = `${file}:${line}`;
    if (specifier.startsWith('.')) {
      const target = path.join(path.dirname(file), specifier);
      const to = layerOf(target);
      if (to !== layer && !MAY_IMPORT[layer].includes(to)) out.push(`${where}: ${layer} imports ${to} (${specifier}); ${layer} may import ${MAY_IMPORT[layer].join(', ') || 'nothing'}`);
      if (layer !== 'cli' && CLI_ONLY_MODULES.includes(path.basename(target).replace(/\.js$/, '.ts'))) out.push(`${where}: ${layer} imports ${specifier}; only src/cli chooses exit codes`);
      continue;
    }
    for (const owned of OWNED_PACKAGES) {
      if (owned.pattern.test(specifier) && layer !== owned.layer) out.push(`${where}: ${layer} imports ${specifier} (${owned.why})`);
    }
  }
  text.split('\n').forEach((content, index) => {
    const code = content.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '');
    const rules = layer === 'cli' ? NOWHERE_TEXT : [...CLI_ONLY_TEXT, ...NOWHERE_TEXT];
    for (const rule of rules) if (rule.pattern.test(code)) out.push(`${file}:${index + 1}: ${code.trim()} (${rule.why})`);
  });
  return out;
}

describe('import rules of src/', () => {
  const files = sourceFiles(SRC);

  it('finds the source files of every layer', () => {
    expect(new Set(files.map(layerOf))).toEqual(new Set(['cli', 'discover', 'apply', 'plan', 'peerdb', 'spec', 'cluster', 'shared']));
  });

  it('has no import or process use that breaks the layering', () => {
    expect(files.flatMap((file) => violations(file, readFileSync(file, 'utf8')))).toEqual([]);
  });

  it('would catch each kind of violation', () => {
    expect(violations('src/plan/x.ts', "import { applyUpgrade } from '../apply/apply-upgrade.js';")).toHaveLength(1);
    expect(violations('src/plan/x.ts', "const { main } = await import('../cli/main.js');")).toHaveLength(1);
    expect(violations('src/spec/x.ts', "import type { Plan } from '../plan/plan-types.js';")).toHaveLength(1);
    expect(violations('src/apply/x.ts', "import { KubeConfig } from '@kubernetes/client-node';")).toHaveLength(1);
    expect(violations('src/apply/x.ts', "import { ExitCode } from '../exit-code.js';")).toHaveLength(1);
    expect(violations('src/plan/x.ts', "import chalk from 'chalk';")).toHaveLength(1);
    expect(violations('src/peerdb/x.ts', "import type { Plan } from '../plan/plan-types.js';")).toHaveLength(1);
    expect(violations('src/apply/x.ts', 'process.stdout.write(text);')).toHaveLength(1);
    expect(violations('src/cluster/x.ts', "import { KubeConfig } from '@kubernetes/client-node/dist/config.js';\nconst pid = 1; // process.pid")).toEqual([]);
    expect(violations('src/cli/x.ts', "import chalk from 'chalk';\nprocess.exit(1);")).toEqual([]);
    expect(violations('src/cli/x.ts', 'names.sort((a, b) => a.localeCompare(b));')).toHaveLength(1);
  });
});
