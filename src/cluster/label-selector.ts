/**
 * Label selectors in their string form (`app=x,tier in (a,b),!legacy`), matched here the way the
 * API server matches them, so a namespace-wide cache can answer a LIST that names a selector.
 */
type Requirement = (labels: Readonly<Record<string, string>>) => boolean;

/** A matcher for the selector, or undefined when it is not one this parser reads (the caller asks the API server). */
export function parseLabelSelector(selector: string): Requirement | undefined {
  const requirements: Requirement[] = [];
  for (const raw of splitTopLevel(selector)) {
    const part = raw.trim();
    if (part === '') continue;
    const requirement = parseRequirement(part);
    if (!requirement) return undefined;
    requirements.push(requirement);
  }
  return (labels) => requirements.every((r) => r(labels));
}

const KEY = String.raw`[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?`;
const VALUE = String.raw`([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?`;
const EQUALS = new RegExp(`^(${KEY})\\s*(==|=|!=)\\s*(${VALUE})$`);
const SET = new RegExp(`^(${KEY})\\s+(in|notin)\\s+\\(([^()]*)\\)$`);
const EXISTS = new RegExp(`^(!?)\\s*(${KEY})$`);

function parseRequirement(part: string): Requirement | undefined {
  const eq = EQUALS.exec(part);
  if (eq) {
    const key = eq[1]!;
    const value = eq[4] ?? '';
    return eq[3] === '!=' ? (labels) => labels[key] !== value : (labels) => labels[key] === value;
  }
  const set = SET.exec(part);
  if (set) {
    const key = set[1]!;
    const values = set[4]!.split(',').map((v) => v.trim());
    if (values.some((v) => !new RegExp(`^${VALUE}$`).test(v))) return undefined;
    return set[3] === 'in' ? (labels) => labels[key] !== undefined && values.includes(labels[key]) : (labels) => labels[key] === undefined || !values.includes(labels[key]);
  }
  const exists = EXISTS.exec(part);
  if (exists) {
    const key = exists[2]!;
    return exists[1] === '!' ? (labels) => !Object.hasOwn(labels, key) : (labels) => Object.hasOwn(labels, key);
  }
  return undefined;
}

/** Splits on the commas that separate requirements, not on those inside `in (a,b)`. */
function splitTopLevel(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts;
}
