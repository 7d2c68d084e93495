/**
 * PeerDB release versions. Releases are tagged vX.Y.Z, with a few irregular ones in the history
 * (v0.15.1a, v0.13.5b, v0.11.3-patch1): a letter or a -patchN marks a re-release of the same X.Y.Z
 * and orders after it, before X.Y.(Z+1).
 */
export interface Version {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** '' for a regular release, 'a'/'b'… for letter re-releases, 'patchN' for -patchN. */
  readonly suffix: string;
  /** The canonical tag, e.g. `v0.15.1a`. */
  readonly tag: string;
}

const VERSION = /^v?(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})(?:([a-z])|-(patch[1-9]\d{0,3}))?$/;
const MUTABLE_TAGS = new Set(['latest', 'latest-stable', 'stable', 'dev', 'latest-dev', 'main', 'nightly']);

export type VersionParse = { ok: true; version: Version } | { ok: false; reason: string };

export function parseVersion(input: string): VersionParse {
  const text = input.trim();
  if (text === '') return { ok: false, reason: 'a version is empty; expected vX.Y.Z, e.g. v0.37.4' };
  if (MUTABLE_TAGS.has(text)) {
    return {
      ok: false,
      reason: `"${text}" is a mutable tag, not a version; name the release, e.g. v0.37.4`,
    };
  }
  if (/^stable-v?\d/.test(text)) {
    return {
      ok: false,
      reason: `"${text}" is an image tag; give the version without the "stable-" prefix (${text.slice(7)})`,
    };
  }
  const match = VERSION.exec(text);
  if (!match) {
    return {
      ok: false,
      reason: `"${text}" is not a PeerDB version; expected vX.Y.Z (e.g. v0.37.4, v0.15.1a, v0.11.3-patch1)`,
    };
  }
  const [, major, minor, patch, letter, patchN] = match;
  const suffix = letter ?? patchN ?? '';
  const core = `v${major}.${minor}.${patch}`;
  const tag = letter ? `${core}${letter}` : patchN ? `${core}-${patchN}` : core;
  return {
    ok: true,
    version: { major: Number(major), minor: Number(minor), patch: Number(patch), suffix, tag },
  };
}

/** Letter re-releases order alphabetically; -patchN after every letter, by N. */
function suffixRank(suffix: string): [number, number] {
  if (suffix === '') return [0, 0];
  if (suffix.startsWith('patch')) return [2, Number(suffix.slice(5))];
  return [1, suffix.charCodeAt(0)];
}

export function compareVersions(a: Version, b: Version): number {
  const [ra, na] = suffixRank(a.suffix);
  const [rb, nb] = suffixRank(b.suffix);
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch || ra - rb || na - nb;
}

/** The version an image tag carries under the given prefix, if it carries one. */
export function versionFromTag(tag: string, tagPrefix: string): Version | undefined {
  if (!tag.startsWith(tagPrefix)) return undefined;
  const parsed = parseVersion(tag.slice(tagPrefix.length));
  return parsed.ok ? parsed.version : undefined;
}

/**
 * The version in a tag whatever its prefix (`stable-v0.36.7`, `v0.36.7`, `custom-v0.36.7`): the
 * first `v<digit>…` from which the rest parses as a version, and the prefix before it.
 */
export function versionInTag(tag: string): { version: Version; prefix: string } | undefined {
  for (let i = tag.indexOf('v'); i >= 0; i = tag.indexOf('v', i + 1)) {
    if (!/\d/.test(tag[i + 1] ?? '')) continue;
    const parsed = parseVersion(tag.slice(i));
    if (parsed.ok) return { version: parsed.version, prefix: tag.slice(0, i) };
  }
  return undefined;
}
