/**
 * podstep: the CLI's own CPU per StatefulSet pod step, at growing replica counts (issue 10 defect 9:
 * a step's cost must not grow with the size of the StatefulSet).
 *
 * For each size a PeerDB fixture with flow-snapshot-worker × N (Parallel pod management, so that it
 * installs quickly) on the local control plane (test/cluster, loopback only), and an `apply -o json`
 * of a spec that upgrades only that StatefulSet. The CLI's user+sys CPU is read from
 * /proc/<pid>/stat when the first pod step starts and when the M-th pod step is done (M = N, or
 * --podstep-steps for the big ones: the first steps of a 1000-replica roll cost what every step
 * costs, and 1000 steps would take minutes); CPU per pod step = the difference / M. After M steps
 * the run is interrupted (SIGINT, which the CLI handles: it saves the checkpoint and exits 3).
 * Prints figures; never asserts.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { startFaultProxy } from '../../test/e2e/fault-proxy.js';
import { installPeerDB } from '../../test/e2e/fixture.js';
import { createNamespace, repoRoot, startControlPlane } from '../../test/e2e/harness.js';
import { FROM, onlyComponents, writeSpec } from '../../test/e2e/specs.js';

export interface PodStepRow {
  replicas: number;
  /** Pod steps measured. */
  steps: number;
  /** CLI user+sys CPU in the measured pod steps, ms. */
  cpuMs: number;
  cpuPerStepMs: number;
  /** Wall time of the measured pod steps per step, ms. */
  wallPerStepMs: number;
  /** The CLI's CPU from spawn to the first pod step (plan, preflight, prepare), ms. */
  headCpuMs: number;
  exitCode: number | null;
  /** API requests per pod step in the measured steps, by verb and resource (through a counting loopback proxy). */
  requestsPerStep: Record<string, number>;
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a live process, ms (fields 14 and 15 of /proc/PID/stat). */
function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

async function measure(cli: string, kubeconfig: string, replicas: number, steps: number): Promise<PodStepRow> {
  const ns = await createNamespace(kubeconfig);
  process.stderr.write(`podstep: installing flow-snapshot-worker × ${replicas} in ${ns}… `);
  const t0 = performance.now();
  await installPeerDB(kubeconfig, { namespace: ns, version: FROM, snapshotReplicas: replicas, podManagementPolicy: 'Parallel', timeoutMs: 900_000 });
  process.stderr.write(`${((performance.now() - t0) / 1000).toFixed(1)} s; applying… `);
  const spec = writeSpec({ namespace: ns, maintenance: false, initJobs: [], components: onlyComponents([{ name: 'flow-snapshot-worker', readyTimeout: '5m' }]) });
  // A counting proxy (no faults) between the CLI and the API server: requests per step by verb.
  const proxy = await startFaultProxy({ kubeconfig, keepBodies: false });
  const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: proxy.kubeconfig };
  delete env.GITHUB_ACTIONS;
  delete env.GITLAB_CI;
  delete env.GITHUB_STEP_SUMMARY;
  // PEERDB_BENCH_CPU_PROF=DIR: a V8 CPU profile of each apply, to see where the time goes.
  const prof = process.env.PEERDB_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PEERDB_BENCH_CPU_PROF}`, `--cpu-prof-name=podstep-${replicas}.cpuprofile`] : [];
  const child = spawn(process.execPath, [...prof, cli, 'apply', '-f', spec, '--yes', '-o', 'json', '--kubeconfig', proxy.kubeconfig], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid!;
  let buffer = '';
  let stderr = '';
  let started: { cpu: number; at: number; requests: number } | undefined;
  let ended: { cpu: number; at: number; requests: number } | undefined;
  let done = 0;
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buffer += d;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (!line.startsWith('{') || ended) continue;
      const event = JSON.parse(line) as { type: string; step?: { kind: string } };
      if (event.step?.kind !== 'statefulset-pod') continue;
      if (event.type === 'step-start' && !started) started = { cpu: cpuOf(pid), at: performance.now(), requests: proxy.records.length };
      if (event.type === 'step-done' && ++done >= steps) {
        ended = { cpu: cpuOf(pid), at: performance.now(), requests: proxy.records.length };
        if (steps < replicas) child.kill('SIGINT');
      }
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  await proxy.close();
  if (!started || !ended) throw new Error(`podstep: apply in ${ns} exited ${code} after ${done} pod steps:\n${stderr.slice(-3000)}`);
  const cpuMs = ended.cpu - started.cpu;
  const requestsPerStep: Record<string, number> = {};
  for (const r of proxy.records.slice(started.requests, ended.requests)) requestsPerStep[`${r.verb} ${r.resource}`] = (requestsPerStep[`${r.verb} ${r.resource}`] ?? 0) + 1 / steps;
  process.stderr.write(`${(cpuMs / steps).toFixed(1)} ms CPU per pod step\n`);
  return { replicas, steps, cpuMs, cpuPerStepMs: cpuMs / steps, wallPerStepMs: (ended.at - started.at) / steps, headCpuMs: started.cpu, exitCode: code, requestsPerStep };
}

/** One control plane for all sizes; sizes measured from small to large. */
export async function benchPodStep(cli: string, sizes: readonly number[], maxSteps: number): Promise<PodStepRow[]> {
  process.stderr.write('podstep: starting a control plane (ready-delay 100ms, delete-delay 50ms)…\n');
  const cp = await startControlPlane({ readyDelayMs: 100, runDurationMs: 100, deleteDelayMs: 50 });
  try {
    const rows: PodStepRow[] = [];
    for (const replicas of sizes) rows.push(await measure(cli, cp.kubeconfig, replicas, Math.min(replicas, maxSteps)));
    return rows;
  } finally {
    await cp.stop();
  }
}
