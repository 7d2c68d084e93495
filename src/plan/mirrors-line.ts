import type { PlanPeerDB } from './plan-types.js';

/** One line on what the upgrade does to the mirrors, for text and markdown plans. */
export function mirrorsLine(peerdb: PlanPeerDB): string {
  if (!peerdb.reachable) return `mirrors: unknown (flow-api cannot be asked: ${peerdb.reason ?? 'no reason given'})`;
  if (peerdb.mirrors.length === 0) return `mirrors: none (PeerDB ${peerdb.version ?? '?'}, ${short(peerdb.instance)})`;
  const parts: string[] = [];
  if (peerdb.willPause.length) parts.push(`${peerdb.willPause.length} running, paused during the upgrade and verified running after it: ${peerdb.willPause.join(', ')}`);
  if (peerdb.waitFor.length) parts.push(`${peerdb.waitFor.length} in snapshot or setup, maintenance-start waits for them: ${peerdb.waitFor.join(', ')}`);
  if (peerdb.leftAlone.length) {
    const statuses = new Map(peerdb.mirrors.map((m) => [m.name, m.status]));
    parts.push(`${peerdb.leftAlone.length} paused or stopped by you, left alone: ${peerdb.leftAlone.map((n) => `${n} (${short(statuses.get(n))})`).join(', ')}`);
  }
  return `mirrors (PeerDB ${peerdb.version ?? '?'}, ${short(peerdb.instance)}): ${parts.join('; ')}`;
}

/** STATUS_PAUSED → paused, INSTANCE_STATUS_READY → ready. */
export function short(status: string | undefined): string {
  return (status ?? 'unknown').replace(/^(INSTANCE_)?STATUS_/, '').toLowerCase();
}
