import { HELM_DEFAULT_COMPONENTS } from '../../../src/spec/helm-defaults.js';

/**
 * spec.components entries (YAML flow lines, list indent 4) that leave out every default component
 * but `keep`: components merge onto the Helm chart's five, so a spec for a made-up installation
 * says which defaults it does not have.
 */
export function skipDefaults(...keep: string[]): string {
  return HELM_DEFAULT_COMPONENTS.filter((c) => !keep.includes(c.name))
    .map((c) => `    - { name: ${c.name}, skip: true }\n`)
    .join('');
}
