#!/usr/bin/env node
// Starts the CLI: dist/cli.cjs, one CommonJS bundle (scripts/build.mjs), compiled with V8's code
// cache. Every CI step pays the start-up, and Node 20 keeps no compiled code between runs of its
// own, so this does: the first run of each command saves what V8 compiled for it (once the command
// has finished, so the functions it ran are in it) under $XDG_CACHE_HOME/peerdb-upgrade/code-cache
// (default ~/.cache/peerdb-upgrade/code-cache), and later runs start from that instead of
// compiling again. A cache that is missing, unreadable, unwritable or made by another build or
// Node only costs the compile.
'use strict';
// The commands main.ts registers (test/unit/code-cache.test.ts keeps the two lists equal); any other
// argument shares the cache 'other'.
const COMMANDS = new Set(['plan', 'apply', 'status', 'validate', 'init', 'schema', 'rbac', 'unlock', 'maintenance', 'mirrors']);
const CACHES_KEPT = 24;
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const bundle = path.join(__dirname, '..', 'dist', 'cli.cjs');
const source = fs.readFileSync(bundle, 'utf8');
const cacheFile = codeCacheFile(source, process.argv);
let cachedData;
if (cacheFile) {
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    // not made yet
  }
}
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: bundle, cachedData });
const cli = { exports: {} };
script.runInThisContext().call(cli.exports, cli.exports, require('node:module').createRequire(bundle), cli, bundle, path.dirname(bundle));

cli.exports.main(process.argv).then(
  (code) => {
    process.exitCode = code;
    if (cacheFile && (cachedData === undefined || script.cachedDataRejected)) saveCodeCache(cacheFile);
  },
  (error) => {
    // main() maps every error it knows; reaching here is a bug in peerdb-upgrade itself.
    console.error('peerdb-upgrade: internal error, please report this:', error);
    process.exitCode = 1;
  },
);

/** The cache for this build, Node, CPU and command: each command runs different code. */
function codeCacheFile(text, argv) {
  const marker = text.lastIndexOf('peerdb-upgrade-build=');
  if (marker < 0) return undefined;
  const build = text.slice(marker + 'peerdb-upgrade-build='.length).trim();
  const xdg = process.env.XDG_CACHE_HOME;
  let base;
  if (xdg && path.isAbsolute(xdg)) base = xdg;
  else if (process.platform === 'win32' && process.env.LOCALAPPDATA) base = process.env.LOCALAPPDATA;
  else {
    const home = require('node:os').homedir();
    if (!home) return undefined;
    base = path.join(home, '.cache');
  }
  const command = COMMANDS.has(argv[2]) ? argv[2] : 'other';
  const offline = argv.includes('--offline') ? '-offline' : '';
  // V8 rejects a cache made under other V8 flags: runs with and without, say, --inspect each get one.
  const flags = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ').trim();
  const variant = flags ? `-${fnv1a(flags)}` : '';
  return path.join(base, 'peerdb-upgrade', 'code-cache', `code-${build}-v8-${process.versions.v8}-${process.arch}${variant}-${command}${offline}.bin`);
}

/** 32-bit FNV-1a, in hex: a short name for a string (node:crypto would cost more than it saves). */
function fnv1a(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0).toString(16).padStart(8, '0');
}

/** Writes the cache atomically, keeps at most CACHES_KEPT of them, and never fails the command. */
function saveCodeCache(file) {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    const dir = path.dirname(file);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(temporary, script.createCachedData(), { mode: 0o600 });
    fs.renameSync(temporary, file);
    const caches = fs
      .readdirSync(dir)
      .filter((name) => name.startsWith('code-') && name.endsWith('.bin'))
      .map((name) => ({ name, time: fs.statSync(path.join(dir, name)).mtimeMs }))
      .sort((a, b) => b.time - a.time);
    for (const old of caches.slice(CACHES_KEPT)) fs.rmSync(path.join(dir, old.name), { force: true });
  } catch {
    try {
      fs.rmSync(temporary, { force: true });
    } catch {
      // nothing more to do
    }
  }
}
