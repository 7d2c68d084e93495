/** Splits `registry:5000/path/name:tag@sha256:…` into repository, tag and digest. */
export function parseImageRef(ref: string): { repository: string; tag: string | undefined; digest: string | undefined } {
  const at = ref.indexOf('@');
  const digest = at >= 0 ? ref.slice(at + 1) : undefined;
  const withoutDigest = at >= 0 ? ref.slice(0, at) : ref;
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.indexOf(':', lastSlash + 1);
  if (colon < 0) return { repository: withoutDigest, tag: undefined, digest };
  return { repository: withoutDigest.slice(0, colon), tag: withoutDigest.slice(colon + 1), digest };
}
