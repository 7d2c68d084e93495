// Start-up benchmark: whole-process wall time of `plan --offline` and the time a live command
// takes to send its first request, each against `node -e 0`; the same for the single executable
// when it is built (dist-bin/peerdb-upgrade, `npm run build:binary`). The variants take turns in each
// round (interleaved), so a busy machine slows them alike. Prints medians against issue 14's targets
// (`plan --offline` ≤ 1.5× `node -e 0`; a live command's first request within 0.3 s) and the load
// average; never asserts.
//
// The npm form keeps V8's compiled code between runs (bin/peerdb-upgrade.js): timed "warm", with a
// cache its command made on a finished run before (what every run after the first on a machine
// gets), and "no code cache", with an empty cache directory each time (the first run on a machine,
// or a CI job on a fresh runner). Both use cache directories of their own, never the user's.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const runs = Number(process.argv[2] ?? 15);
const node = process.execPath;
const cli = new URL('../bin/peerdb-upgrade.js', import.meta.url).pathname;
const spec = new URL('../plans/helm-default.yaml', import.meta.url).pathname;
const binary = new URL('../dist-bin/peerdb-upgrade', import.meta.url).pathname;
const withBinary = existsSync(binary);

/** Code caches: `warm` is kept for the whole benchmark; `cold()` is a new, empty directory. */
const caches = mkdtempSync(join(tmpdir(), 'peerdb-upgrade-bench-cache-'));
const warm = join(caches, 'warm');
let colds = 0;
const cold = () => join(caches, `cold-${++colds}`);
const envWith = (cacheHome) => ({ ...process.env, XDG_CACHE_HOME: cacheHome });

function timeProcess(args, command = node, env = process.env) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { stdio: 'ignore', env });
    child.on('error', reject);
    child.on('exit', () => resolve(Number(process.hrtime.bigint() - started) / 1e6));
  });
}

/** Spawn a live command against a loopback server and time until its first connection arrives. */
async function timeFirstRequest(kubeconfig, command = node, args = [cli], env = process.env) {
  return new Promise((resolve, reject) => {
    let started;
    const guard = setTimeout(() => {
      child?.kill('SIGKILL');
      server.close();
      reject(new Error('the live command sent no request within 15 s'));
    }, 15_000);
    const server = createServer((socket) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      clearTimeout(guard);
      socket.destroy();
      child.kill('SIGKILL');
      server.close();
      resolve(ms);
    });
    let child;
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      writeFileSync(kubeconfig, kubeconfigText(port));
      started = process.hrtime.bigint();
      child = spawn(command, [...args, 'plan', '-f', spec, '--kubeconfig', kubeconfig], { stdio: ['ignore', 'ignore', process.env.BENCH_DEBUG ? 'inherit' : 'ignore'], env });
      child.on('error', reject);
    });
  });
}

function kubeconfigText(port) {
  return `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: bench\n  context: {cluster: c, user: u, namespace: peerdb}\ncurrent-context: bench\n`;
}

/** A whole live `plan` (against a loopback API server that answers 403 to everything), so its code cache is made. */
async function finishLivePlan(kubeconfig, env) {
  const { createServer: createHttpServer } = await import('node:http');
  const server = createHttpServer((req, res) => {
    res.writeHead(403, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403, message: 'bench: refused' }));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  writeFileSync(kubeconfig, kubeconfigText(server.address().port));
  await new Promise((resolve, reject) => {
    const child = spawn(node, [cli, 'plan', '-f', spec, '--kubeconfig', kubeconfig], { stdio: 'ignore', env });
    child.on('error', reject);
    child.on('exit', resolve);
  });
  server.close();
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

const loadAtStart = loadavg();
const dir = mkdtempSync(join(tmpdir(), 'peerdb-upgrade-bench-'));
const kubeconfig = join(dir, 'kubeconfig');
const results = { baseline: [], offline: [], offlineCold: [], live: [], liveCold: [], binaryVersion: [], binaryOffline: [], binaryLive: [] };
const offlineArgs = [cli, 'plan', '-f', spec, '--offline', '--from', 'v0.36.7'];
// The warm caches: one finished run of each command.
await timeProcess(offlineArgs, node, envWith(warm));
await finishLivePlan(kubeconfig, envWith(warm));
for (let i = 0; i < runs; i++) {
  results.baseline.push(await timeProcess(['-e', '0']));
  results.offline.push(await timeProcess(offlineArgs, node, envWith(warm)));
  results.offlineCold.push(await timeProcess(offlineArgs, node, envWith(cold())));
  results.live.push(await timeFirstRequest(kubeconfig, node, [cli], envWith(warm)));
  results.liveCold.push(await timeFirstRequest(kubeconfig, node, [cli], envWith(cold())));
  if (withBinary) {
    results.binaryVersion.push(await timeProcess(['--version'], binary));
    results.binaryOffline.push(await timeProcess(['plan', '-f', spec, '--offline', '--from', 'v0.36.7'], binary));
    results.binaryLive.push(await timeFirstRequest(kubeconfig, binary, []));
  }
}
const base = median(results.baseline);
/** target: a ratio to `node -e 0` (number) or a time ({ ms }). */
const row = (name, xs, target) => {
  const m = median(xs);
  const against = target === undefined ? '' : typeof target === 'number' ? `  target ≤ ${target}× ${m / base <= target ? 'met' : 'NOT met'}` : `  target ≤ ${target.ms} ms ${m <= target.ms ? 'met' : 'NOT met'}`;
  console.log(`${name.padEnd(40)} ${m.toFixed(0).padStart(6)} ms  ${(m / base).toFixed(2)}× node -e 0${against}`);
};
console.log(`start-up, medians of ${runs} interleaved runs, Node ${process.version}`);
row('node -e 0', results.baseline);
row('plan --offline (whole process)', results.offline, 1.5);
row('plan --offline, no code cache', results.offlineCold);
row('live plan: spawn → first request', results.live, { ms: 300 });
row('live plan: first request, no code cache', results.liveCold, { ms: 300 });
if (withBinary) {
  row('binary --version', results.binaryVersion);
  row('binary plan --offline (whole process)', results.binaryOffline, 1.5);
  row('binary live plan: spawn → first request', results.binaryLive, { ms: 300 });
} else {
  console.log('(no dist-bin/peerdb-upgrade: `npm run build:binary` adds the single executable)');
}
rmSync(caches, { recursive: true, force: true });
rmSync(dir, { recursive: true, force: true });
const loadAtEnd = loadavg();
console.log(`load average (1 min) ${loadAtStart[0].toFixed(2)} at start, ${loadAtEnd[0].toFixed(2)} at end, on ${cpus().length} CPUs${loadAtStart[0] > 0.5 * cpus().length ? ' — not idle: the 0.3 s target is for an idle machine' : ''}`);
