// `npm run demo`: the whole upgrade on a real API server, without a cluster of your own.
// Starts the local control plane (test/cluster, built once and cached), installs the e2e suite's
// Helm-shaped PeerDB v0.36.7 into namespace peerdb, then runs `plan`, `apply` (live progress) and
// `status` of plans/helm-default.yaml against it, and stops everything it started: by PID, on
// success, on failure and on Ctrl-C; it checks that none of those processes is left.
//   npm run demo [-- --binary dist-bin/peerdb-upgrade]   (also plan with the single executable)
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const spec = 'plans/helm-default.yaml';
const binaryIndex = process.argv.indexOf('--binary');
const binary = binaryIndex > 0 ? resolve(process.argv[binaryIndex + 1] ?? '') : undefined;
if (binary !== undefined && !existsSync(binary)) fail(`--binary ${process.argv[binaryIndex + 1] ?? ''}: no such file (build it with \`npm run build:binary\`)`);

const started = Date.now();
const work = mkdtempSync(join(tmpdir(), 'peerdb-upgrade-demo-'));
const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)}s`;
const say = (text) => process.stderr.write(`\x1b[1m==>\x1b[0m ${text}\n`.replace(/\x1b\[[0-9;]*m/g, process.stderr.isTTY ? '$&' : ''));
function fail(message) {
  process.stderr.write(`demo: ${message}\n`);
  process.exit(1);
}

/** Every process we started, with its start time (so a reused PID is not mistaken for ours). */
const ours = new Map();
function startTime(pid) {
  try {
    // Field 22 of /proc/PID/stat, after the parenthesised command name.
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[19];
  } catch {
    return undefined;
  }
}
function track(pid, name) {
  const since = startTime(pid);
  if (since !== undefined) ours.set(pid, { name, since });
}
const alive = (pid) => ours.has(pid) && startTime(pid) === ours.get(pid).since;
/** Children of a process, from /proc (Linux). */
function descendants(pid) {
  const children = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [, rest] = stat.split(') ');
      if (Number(rest.split(' ')[1]) === pid) {
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        children.push({ pid: Number(entry), name }, ...descendants(Number(entry)));
      }
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

let current; // the child in the foreground, which a signal is passed on to
let launcher;
let stopping = false;
let interrupt;
const interrupted = new Promise((_, reject) => (interrupt = () => reject(new Error('interrupted'))));
interrupted.catch(() => {});

/** Runs a command in its own process group (so Ctrl-C reaches it once, through us); resolves with its exit. */
function run(command, args, { env = {}, capture = false, name = command } = {}) {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'],
      detached: true,
    });
    track(child.pid, name);
    current = child;
    let stdout = '';
    child.stdout?.on('data', (chunk) => (stdout += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      current = undefined;
      if (stopping) reject(new Error('interrupted'));
      else resolveRun({ code, signal, stdout });
    });
  });
}

async function startControlPlane(bin) {
  const log = join(work, 'control-plane.log');
  const logStream = createWriteStream(log);
  await new Promise((resolveOpen) => logStream.on('open', resolveOpen));
  // --exit-on-stdin-eof: should this script die without cleaning up, the launcher sees its stdin
  // close and stops; its children die with it (Pdeathsig).
  launcher = spawn(join(bin, 'launcher'), ['--dir', join(work, 'cluster'), '--exit-on-stdin-eof', '--ready-delay=1s', '--run-duration=1s'], {
    stdio: ['pipe', 'pipe', logStream],
    detached: true,
  });
  track(launcher.pid, 'launcher');
  const exited = new Promise((resolveExit) => launcher.on('exit', (code, signal) => resolveExit({ code, signal })));
  const ready = new Promise((resolveReady) => {
    createInterface({ input: launcher.stdout }).on('line', (line) => {
      const match = /^READY kubeconfig=(\S+) server=(\S+)/.exec(line);
      if (match) resolveReady({ kubeconfig: match[1], server: match[2] });
    });
  });
  const result = await Promise.race([ready, exited.then((exit) => ({ exit })), interrupted]);
  if ('exit' in result) {
    throw new Error(`the control plane stopped before it was ready (${result.exit.signal ?? `exit ${result.exit.code}`}); its log:\n${readFileSync(log, 'utf8').split('\n').slice(-15).join('\n')}`);
  }
  for (const { pid, name } of descendants(launcher.pid)) track(pid, name);
  return { ...result, exited };
}

async function stopEverything() {
  if (launcher && launcher.exitCode === null && launcher.signalCode === null) {
    const exited = new Promise((resolveExit) => launcher.once('exit', resolveExit));
    launcher.stdin.end();
    process.kill(launcher.pid, 'SIGTERM');
    const timer = setTimeout(() => alive(launcher.pid) && process.kill(-launcher.pid, 'SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
  // The launcher's children stop with it; give them a moment, then make sure.
  for (let i = 0; i < 50 && [...ours.keys()].some(alive); i++) await new Promise((r) => setTimeout(r, 100));
  const left = [...ours].filter(([pid]) => alive(pid));
  for (const [pid] of left) process.kill(pid, 'SIGKILL');
  rmSync(work, { recursive: true, force: true });
  return left;
}

function onSignal(signal) {
  if (stopping) return; // npm passes Ctrl-C on too: one is enough
  stopping = true;
  say(`${signal}: stopping`);
  if (current?.pid) process.kill(-current.pid, 'SIGINT');
  interrupt();
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('SIGHUP', onSignal);

async function cli(args, { capture = false } = {}, kubeconfig) {
  const shown = `peerdb-upgrade ${args.join(' ')}`;
  if (!capture) say(`$ ${shown}`);
  const t = Date.now();
  const result = await run(process.execPath, [join(root, 'bin', 'peerdb-upgrade.js'), ...args], { env: { KUBECONFIG: kubeconfig }, capture, name: 'peerdb-upgrade' });
  if (result.code !== 0) throw new Error(`\`${shown}\` exited ${result.signal ?? result.code}`);
  if (!capture) say(`(${seconds(t)})`);
  return result;
}

let exitCode = 0;
try {
  say(`work dir: ${work}`);
  if (!existsSync(join(root, 'dist', 'cli.js'))) {
    say('building the CLI (npm run build)');
    if ((await run(process.execPath, ['scripts/build.mjs'])).code !== 0) throw new Error('the build failed');
  }
  let t = Date.now();
  say('control plane binaries (built once, about 5 minutes on 2 cores; then cached)');
  const build = await run('bash', ['test/cluster/build.sh'], { capture: true, name: 'build.sh' });
  if (build.code !== 0) throw new Error('building the control plane failed (it needs Go and the Go module proxy)');
  const bin = build.stdout.trim().split('\n').pop();
  say(`control plane binaries ready (${seconds(t)})`);

  t = Date.now();
  const plane = await startControlPlane(bin);
  say(`control plane up: ${plane.server} (${seconds(t)}; kube-apiserver, kube-controller-manager, etcd and a pod simulator)`);

  t = Date.now();
  const fixture = await run(process.execPath, ['scripts/install-fixture.mjs', 'peerdb', 'v0.36.7', '3'], { env: { KUBECONFIG: plane.kubeconfig }, capture: true, name: 'install-fixture' });
  if (fixture.code !== 0) throw new Error('installing the PeerDB fixture failed');
  say(`PeerDB v0.36.7 installed in namespace peerdb (${seconds(t)}): the Helm chart's five workloads, flow-snapshot-worker a StatefulSet of 3 pods`);

  await cli(['plan', '-f', spec], {}, plane.kubeconfig);
  if (binary) {
    const fromNode = await cli(['plan', '-f', spec, '-o', 'json'], { capture: true }, plane.kubeconfig);
    const fromBinary = await run(binary, ['plan', '-f', spec, '-o', 'json'], { env: { KUBECONFIG: plane.kubeconfig }, capture: true, name: 'peerdb-upgrade (binary)' });
    if (fromBinary.code !== 0 || fromBinary.stdout !== fromNode.stdout) throw new Error(`the single executable ${binary} planned differently (exit ${fromBinary.code})`);
    say(`the single executable ${binary} makes the same live plan (${JSON.parse(fromBinary.stdout).steps.length} steps)`);
  }
  await cli(['apply', '-f', spec, '--yes'], {}, plane.kubeconfig);
  await cli(['status', '-f', spec], {}, plane.kubeconfig);
  say(`demo done in ${seconds(started)}`);
} catch (error) {
  exitCode = stopping ? 130 : 1;
  process.stderr.write(`demo: ${stopping ? 'interrupted; the control plane and everything in it go away now (\`npm run demo\` starts afresh)' : error.message}\n`);
} finally {
  const count = ours.size;
  const left = await stopEverything();
  if (left.length > 0) {
    process.stderr.write(`demo: ${left.length} process(es) we started were still running and were killed: ${left.map(([pid, p]) => `${p.name} (${pid})`).join(', ')}\n`);
    exitCode ||= 1;
  } else {
    say(`all ${count} processes the demo started have exited (${[...new Set([...ours.values()].map((p) => p.name))].join(', ')}); none left`);
  }
}
process.exit(exitCode);
