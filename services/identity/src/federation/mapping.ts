import type { Json } from '../common/validate.js';

/**
 * Keystone's federation mapping rules, applied to the claims of an OIDC access token.
 *
 *   {"rules": [{"remote": [{"type": "preferred_username"}, {"type": "groups", "any_one_of": ["admins"]}],
 *               "local":  [{"user": {"name": "{0}"}}, {"projects": [{"name": "demo", "roles": [{"name": "member"}]}]}]}]}
 *
 * `remote` conditions name a claim (`type`; Keystone's `OIDC-` / `HTTP_OIDC_` prefixes are
 * accepted and stripped); plain ones capture the claim's value as {0}, {1}, ...; `any_one_of`,
 * `not_any_of` (optionally `regex: true`), `whitelist` and `blacklist` filter list values. A
 * rule applies when every condition holds; the `local` parts of all applying rules are merged.
 */
export interface MappedIdentity {
  user?: { name?: string; id?: string; email?: string; domain?: { id?: string; name?: string } };
  groups: { id?: string; name?: string; domain?: { id?: string; name?: string } }[];
  projects: { name: string; roles: { name: string }[] }[];
}

export class MappingError extends Error {}

function claim(claims: Json, type: string): unknown {
  const key = type.replace(/^HTTP_OIDC_/i, '').replace(/^OIDC[-_]/i, '');
  if (key in claims) return claims[key];
  // dotted paths into nested claims (realm_access.roles)
  return key.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Json)[k] : undefined), claims);
}

function asList(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.map(String);
  return String(v)
    .split(';')
    .filter((s) => s.length > 0);
}

function matches(values: string[], patterns: string[], regex: boolean): boolean {
  return values.some((v) => patterns.some((p) => (regex ? new RegExp(`^(?:${p})$`).test(v) : v === p)));
}

function substitute(template: unknown, captured: string[]): unknown {
  if (typeof template === 'string') {
    return template.replace(/\{(\d+)\}/g, (_, i: string) => {
      const v = captured[Number(i)];
      if (v === undefined) throw new MappingError(`mapping refers to {${i}} but only ${captured.length} value(s) were captured`);
      return v;
    });
  }
  if (Array.isArray(template)) return template.map((t) => substitute(t, captured));
  if (template && typeof template === 'object') return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, substitute(v, captured)]));
  return template;
}

export function validateRules(rules: unknown): void {
  if (!Array.isArray(rules) || rules.length === 0) throw new MappingError('rules must be a non-empty list');
  for (const r of rules) {
    if (!r || typeof r !== 'object' || !Array.isArray((r as Json).remote) || !Array.isArray((r as Json).local)) throw new MappingError('each rule needs "remote" and "local" lists');
    for (const c of (r as Json).remote as Json[]) if (!c || typeof c.type !== 'string') throw new MappingError('each remote condition needs a "type"');
  }
}

export function applyMapping(rules: unknown, claims: Json): MappedIdentity {
  validateRules(rules);
  const out: MappedIdentity = { groups: [], projects: [] };
  let applied = false;
  for (const rule of rules as Json[]) {
    const captured: string[] = [];
    let ok = true;
    for (const cond of rule.remote as Json[]) {
      const values = asList(claim(claims, cond.type as string));
      const regex = cond.regex === true;
      if (Array.isArray(cond.any_one_of)) ok = matches(values, cond.any_one_of as string[], regex);
      else if (Array.isArray(cond.not_any_of)) ok = !matches(values, cond.not_any_of as string[], regex);
      else if (Array.isArray(cond.whitelist)) {
        const kept = values.filter((v) => (cond.whitelist as string[]).includes(v));
        ok = kept.length > 0;
        captured.push(kept.join(';'));
      } else if (Array.isArray(cond.blacklist)) {
        const kept = values.filter((v) => !(cond.blacklist as string[]).includes(v));
        ok = kept.length > 0;
        captured.push(kept.join(';'));
      } else {
        ok = values.length > 0;
        captured.push(values.join(';'));
      }
      if (!ok) break;
    }
    if (!ok) continue;
    applied = true;
    for (const local of substitute(rule.local, captured) as Json[]) {
      if (local.user) out.user = { ...out.user, ...(local.user as Json) } as MappedIdentity['user'];
      if (local.group) out.groups.push(local.group as MappedIdentity['groups'][number]);
      if (Array.isArray(local.groups)) out.groups.push(...(local.groups as MappedIdentity['groups']));
      if (typeof local.groups === 'string') {
        const domain = local.domain as MappedIdentity['groups'][number]['domain'];
        for (const name of (local.groups as string).split(';').filter(Boolean)) out.groups.push({ name, domain });
      }
      if (Array.isArray(local.projects)) out.projects.push(...(local.projects as MappedIdentity['projects']));
    }
  }
  if (!applied || !out.user) throw new MappingError('no mapping rule matched the identity');
  return out;
}
