import type { DomainRow, ProjectRow, RoleRow, UserRow } from './directory.js';
import type { Json } from './validate.js';

/** Keystone's JSON for each object; `base` is `http://host:port/v3`. */
export function domainJson(d: DomainRow, base: string): Json {
  return { ...d.extra, id: d.id, name: d.name, description: d.description ?? '', enabled: d.enabled, tags: d.tags ?? [], options: {}, links: { self: `${base}/domains/${d.id}` } };
}

export function projectJson(p: ProjectRow, base: string): Json {
  return {
    ...p.extra,
    id: p.id,
    name: p.name,
    domain_id: p.domain_id,
    description: p.description ?? '',
    enabled: p.enabled,
    parent_id: p.parent_id ?? p.domain_id,
    is_domain: false,
    tags: p.tags ?? [],
    options: {},
    links: { self: `${base}/projects/${p.id}` },
  };
}

/** A domain seen through the projects API (`is_domain: true`). */
export function domainAsProjectJson(d: DomainRow, base: string): Json {
  return { id: d.id, name: d.name, domain_id: null, description: d.description ?? '', enabled: d.enabled, parent_id: null, is_domain: true, tags: d.tags ?? [], options: {}, links: { self: `${base}/projects/${d.id}` } };
}

export function userJson(u: UserRow, base: string): Json {
  const out: Json = { ...u.extra, id: u.id, name: u.name, domain_id: u.domain_id, enabled: u.enabled, password_expires_at: null, options: {}, links: { self: `${base}/users/${u.id}` } };
  if (u.default_project_id) out.default_project_id = u.default_project_id;
  if (u.idp_id) out.federated = [{ idp_id: u.idp_id, protocols: [{ protocol_id: u.protocol_id, unique_id: u.unique_id }] }];
  return out;
}

export function groupJson(g: Json, base: string): Json {
  return { ...(g.extra as Json), id: g.id, name: g.name, domain_id: g.domain_id, description: g.description ?? '', links: { self: `${base}/groups/${g.id as string}` } };
}

export function roleJson(r: RoleRow, base: string): Json {
  return { ...r.extra, id: r.id, name: r.name, domain_id: r.domain_id, description: r.description ?? null, options: r.options ?? {}, links: { self: `${base}/roles/${r.id}` } };
}

export function roleRef(r: RoleRow, base: string): Json {
  const out: Json = { id: r.id, name: r.name, links: { self: `${base}/roles/${r.id}` } };
  if (r.domain_id) out.domain_id = r.domain_id;
  return out;
}
