import { compareVersions, parseVersion, type Version } from '../spec/version.js';

export interface PolicyOutcome {
  readonly errors: string[];
  readonly warnings: string[];
}

/** Releases that older installations must pass through on the way up (see peerdb.md). */
const STEPPING_STONES: readonly { tag: string; why: string }[] = [
  { tag: 'v0.14.2', why: 'versions up to v0.13 must upgrade to v0.14.2 before anything newer' },
  { tag: 'v0.15.1a', why: 'around v0.15: pause mirrors, upgrade to v0.15.1a, resume, then pause and upgrade further' },
];

export function checkVersionPolicy(
  from: Version | undefined,
  to: Version,
  options: { allowDowngrade: boolean; subject?: string },
): PolicyOutcome {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (!from) return { errors, warnings };
  const who = options.subject ? `${options.subject}: ` : '';
  const order = compareVersions(to, from);
  if (order < 0) {
    const message = `${who}${from.tag} → ${to.tag} is a downgrade; PeerDB catalog migrations are forward-only`;
    if (options.allowDowngrade) warnings.push(`${message} (allowed by --allow-downgrade)`);
    else errors.push(`${message}; pass --allow-downgrade only if you restored the catalog to ${to.tag}`);
    return { errors, warnings };
  }
  for (const stone of STEPPING_STONES) {
    const version = (parseVersion(stone.tag) as { ok: true; version: Version }).version;
    if (compareVersions(from, version) < 0 && compareVersions(to, version) > 0) {
      errors.push(`${who}${from.tag} → ${to.tag} skips the required stepping stone ${stone.tag}: ${stone.why}; upgrade to ${stone.tag} first`);
    }
  }
  if (to.major === from.major && to.minor - from.minor > 1) {
    const skipped = to.minor - from.minor - 1;
    warnings.push(
      `${who}${from.tag} → ${to.tag} skips ${skipped} minor version${skipped === 1 ? '' : 's'} (v${from.major}.${from.minor + 1} … v${to.major}.${to.minor - 1}); read their release notes for upgrade steps`,
    );
  } else if (to.major > from.major) {
    warnings.push(`${who}${from.tag} → ${to.tag} crosses a major version; read the release notes for upgrade steps`);
  }
  return { errors, warnings };
}
