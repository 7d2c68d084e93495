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

/** The spec's image settings. */
export interface ImageSettings {
  readonly registry: string;
  readonly tagPrefix: string;
}

/**
 * The one place image references are built: `<repository>:<tagPrefix><version>`, where the
 * repository is the component's own (`image:`) or `<registry>/<name>`.
 */
export function imageFor(images: ImageSettings, component: { readonly name: string; readonly image?: string | undefined }, version: string): string {
  return `${repositoryFor(images, component)}:${images.tagPrefix}${version}`;
}

export function repositoryFor(images: ImageSettings, component: { readonly name: string; readonly image?: string | undefined }): string {
  return component.image ?? `${images.registry}/${component.name}`;
}
