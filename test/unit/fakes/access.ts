/**
 * RBAC in the fake: what a test denies. deniedAccess (SelfSubjectAccessReview) reports it, and a
 * call that needs a denied verb fails with forbidden, worded as the API server words it, with the
 * request's namespace as the adapter gives it (the CLI words the way out).
 */
import { ClusterError } from '../../../src/cluster/cluster-error.js';
import type { AccessCheck } from '../../../src/cluster/port.js';

interface Denial {
  readonly verb: string;
  readonly resource: string;
  readonly subresource: string | undefined;
  readonly group: string | undefined;
}

export class Access {
  private readonly denials: Denial[] = [];

  constructor(private readonly user: string) {}

  /** `resource` may name a subresource (`pods/log`); without `group`, the denial holds in every group. */
  deny(verb: string, resource: string, group?: string): void {
    const [res, sub] = resource.split('/');
    this.denials.push({ verb, resource: res!, subresource: sub, group });
  }

  isDenied(verb: string, resource: string, group: string | undefined, subresource: string | undefined): boolean {
    return this.denials.some(
      (d) => (d.verb === verb || d.verb === '*') && d.resource === resource && d.subresource === (subresource || undefined) && (d.group === undefined || d.group === group),
    );
  }

  /** The checks of the list that RBAC denies. */
  denied(checks: readonly AccessCheck[]): readonly AccessCheck[] {
    return checks.filter((c) => this.isDenied(c.verb, c.resource, c.group, c.subresource));
  }

  /** Throws the API server's forbidden error when the verb is denied. */
  authorize(namespace: string, verb: string, resource: string, group: string, subresource?: string): void {
    if (!this.isDenied(verb, resource, group, subresource)) return;
    const res = subresource ? `${resource}/${subresource}` : resource;
    throw new ClusterError(
      'forbidden',
      `forbidden: ${res}${group ? `.${group}` : ''} is forbidden: User "${this.user}" cannot ${verb} resource "${res}" in API group "${group}" in the namespace "${namespace}"`,
      { status: 403, namespace },
    );
  }
}
