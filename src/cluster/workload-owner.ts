/**
 * Who manages a workload, read from the marks each tool leaves on what it creates. A pure function
 * of the object's labels and annotations, so that the planner, `init` and the tests share one reading.
 *
 * - Helm 3 (3.2+) annotates `meta.helm.sh/release-name` / `meta.helm.sh/release-namespace` and labels
 *   `app.kubernetes.io/managed-by: Helm` on everything `helm install/upgrade` creates.
 * - Flux labels `helm.toolkit.fluxcd.io/name|namespace` (helm-controller, which installs through the
 *   Helm library, so the Helm marks are there too) or `kustomize.toolkit.fluxcd.io/name|namespace`.
 * - Argo CD annotates `argocd.argoproj.io/tracking-id: <app>:<group>/<kind>:<namespace>/<name>`
 *   (annotation tracking, the default since Argo CD 3.0), or only sets the label
 *   `app.kubernetes.io/instance: <app>` (label tracking, the default before). Helm charts set that
 *   label too, so the label alone proves nothing: it is read as Argo CD only when the object was
 *   rendered from a Helm chart (`app.kubernetes.io/managed-by: Helm`) but not installed by Helm (no
 *   release annotations) -- which is how Argo CD deploys a chart (it runs `helm template`).
 */

export const HELM_RELEASE_NAME = 'meta.helm.sh/release-name';
export const HELM_RELEASE_NAMESPACE = 'meta.helm.sh/release-namespace';
export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const INSTANCE = 'app.kubernetes.io/instance';
export const ARGOCD_TRACKING_ID = 'argocd.argoproj.io/tracking-id';
export const FLUX_HELM_NAME = 'helm.toolkit.fluxcd.io/name';
export const FLUX_HELM_NAMESPACE = 'helm.toolkit.fluxcd.io/namespace';
export const FLUX_KUSTOMIZE_NAME = 'kustomize.toolkit.fluxcd.io/name';
export const FLUX_KUSTOMIZE_NAMESPACE = 'kustomize.toolkit.fluxcd.io/namespace';

export interface HelmMark {
  readonly release: string;
  readonly namespace: string;
}

export type WorkloadOwner =
  | { readonly manager: 'none'; readonly helm?: undefined }
  | { readonly manager: 'helm'; readonly helm: HelmMark }
  | {
      readonly manager: 'argocd';
      /** As the argocd CLI takes it: `name`, or `namespace/name` for an Application outside Argo CD's namespace. */
      readonly application: string;
      readonly evidence: 'tracking-id' | 'instance-label';
      readonly helm?: undefined;
    }
  | {
      readonly manager: 'flux';
      readonly kind: 'HelmRelease' | 'Kustomization';
      readonly name: string;
      readonly namespace: string;
      /** helm-controller installs through Helm: its release marks, when present. */
      readonly helm?: HelmMark | undefined;
    };

export type OwnerManager = WorkloadOwner['manager'];

/** `objectNamespace` is the workload's own namespace (the default for marks that omit one). */
export function ownerOf(labels: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>>, objectNamespace: string): WorkloadOwner {
  const releaseName = annotations[HELM_RELEASE_NAME];
  const helm: HelmMark | undefined = releaseName ? { release: releaseName, namespace: annotations[HELM_RELEASE_NAMESPACE] || objectNamespace } : undefined;

  const fluxHelm = labels[FLUX_HELM_NAME];
  if (fluxHelm) return { manager: 'flux', kind: 'HelmRelease', name: fluxHelm, namespace: labels[FLUX_HELM_NAMESPACE] || objectNamespace, helm };
  const fluxKustomize = labels[FLUX_KUSTOMIZE_NAME];
  if (fluxKustomize) return { manager: 'flux', kind: 'Kustomization', name: fluxKustomize, namespace: labels[FLUX_KUSTOMIZE_NAMESPACE] || objectNamespace, helm };

  const trackingId = annotations[ARGOCD_TRACKING_ID];
  if (trackingId) {
    const app = trackingId.split(':')[0] ?? '';
    // Applications in any namespace are tracked as `<namespace>_<name>` (names cannot contain `_`).
    return { manager: 'argocd', application: app.replace('_', '/'), evidence: 'tracking-id' };
  }
  if (helm) return { manager: 'helm', helm };
  const instance = labels[INSTANCE];
  if (instance && labels[MANAGED_BY] === 'Helm') return { manager: 'argocd', application: instance, evidence: 'instance-label' };
  return { manager: 'none' };
}

/** The managers that revert the tool's changes on their own (reconciliation). */
export function isGitOps(owner: WorkloadOwner): owner is Extract<WorkloadOwner, { manager: 'argocd' | 'flux' }> {
  return owner.manager === 'argocd' || owner.manager === 'flux';
}

export function describeOwner(owner: WorkloadOwner): string {
  switch (owner.manager) {
    case 'none':
      return 'no manager observed';
    case 'helm':
      return `Helm release ${owner.helm.release} (namespace ${owner.helm.namespace})`;
    case 'argocd':
      return owner.evidence === 'tracking-id'
        ? `Argo CD application ${owner.application}`
        : `Argo CD application ${owner.application} (label tracking: a Helm chart's objects without Helm's release annotations)`;
    case 'flux':
      return `Flux ${owner.kind} ${owner.namespace}/${owner.name}`;
  }
}
