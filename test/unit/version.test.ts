import { describe, expect, it } from 'vitest';
import { compareVersions, parseVersion, versionFromTag, type Version } from '../../src/spec/version.js';
import { checkVersionPolicy } from '../../src/plan/version-policy.js';

function v(text: string): Version {
  const parsed = parseVersion(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.version;
}

describe('PeerDB versions', () => {
  it('orders releases, letter re-releases and -patchN re-releases into one total order', () => {
    const ordered = ['v0.9.0', 'v0.11.3', 'v0.11.3-patch1', 'v0.11.4', 'v0.13.5', 'v0.13.5b', 'v0.14.2', 'v0.15.1', 'v0.15.1a', 'v0.15.1b', 'v0.15.2', 'v0.36.7', 'v0.37.4', 'v1.0.0'];
    const shuffled = [...ordered].reverse().sort(() => 0).sort((a, b) => compareVersions(v(a), v(b)));
    expect(shuffled).toEqual(ordered);
    for (let i = 0; i + 1 < ordered.length; i++) {
      expect(compareVersions(v(ordered[i]!), v(ordered[i + 1]!))).toBeLessThan(0);
      expect(compareVersions(v(ordered[i + 1]!), v(ordered[i]!))).toBeGreaterThan(0);
    }
  });

  it('treats a missing v as the same version and keeps a canonical tag', () => {
    expect(v('0.37.4').tag).toBe('v0.37.4');
    expect(compareVersions(v('0.37.4'), v('v0.37.4'))).toBe(0);
    expect(v('v0.11.3-patch1').tag).toBe('v0.11.3-patch1');
    expect(v('v0.15.1a').tag).toBe('v0.15.1a');
  });

  it.each([
    ['latest-stable', 'mutable tag'],
    ['latest', 'mutable tag'],
    ['stable-v0.37.4', 'without the "stable-" prefix'],
    ['v0.37', 'not a PeerDB version'],
    ['v0.37.4.1', 'not a PeerDB version'],
    ['v01.2.3', 'not a PeerDB version'],
    ['v0.37.4-rc1', 'not a PeerDB version'],
    ['banana', 'not a PeerDB version'],
    ['', 'empty'],
  ])('refuses %j with a reason', (text, reason) => {
    const parsed = parseVersion(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toContain(reason);
  });

  it('reads the version from an image tag under the tag prefix only', () => {
    expect(versionFromTag('stable-v0.36.7', 'stable-')?.tag).toBe('v0.36.7');
    expect(versionFromTag('latest-stable', 'stable-')).toBeUndefined();
    expect(versionFromTag('v0.36.7', '')?.tag).toBe('v0.36.7');
  });
});

describe('version policy', () => {
  it('refuses a downgrade unless allowed, then only warns', () => {
    expect(checkVersionPolicy(v('v0.37.4'), v('v0.36.7'), { allowDowngrade: false }).errors[0]).toContain('downgrade');
    const allowed = checkVersionPolicy(v('v0.37.4'), v('v0.36.7'), { allowDowngrade: true });
    expect(allowed.errors).toEqual([]);
    expect(allowed.warnings[0]).toContain('--allow-downgrade');
  });

  it('warns when minor versions are skipped and says how many', () => {
    expect(checkVersionPolicy(v('v0.34.1'), v('v0.37.4'), { allowDowngrade: false }).warnings[0]).toContain('skips 2 minor versions (v0.35 … v0.36)');
    expect(checkVersionPolicy(v('v0.36.7'), v('v0.37.4'), { allowDowngrade: false }).warnings).toEqual([]);
  });

  it('requires the stepping stones of old releases', () => {
    expect(checkVersionPolicy(v('v0.13.5'), v('v0.20.0'), { allowDowngrade: false }).errors.join('\n')).toContain('upgrade to v0.14.2 first');
    expect(checkVersionPolicy(v('v0.14.2'), v('v0.16.0'), { allowDowngrade: false }).errors.join('\n')).toContain('upgrade to v0.15.1a first');
    expect(checkVersionPolicy(v('v0.15.1a'), v('v0.16.0'), { allowDowngrade: false }).errors).toEqual([]);
  });
});
