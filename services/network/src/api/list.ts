import type { Request } from 'express';
import { badRequest } from './common.js';

type Obj = Record<string, unknown>;

/** Query parameters Neutron treats as controls, not attribute filters. */
const CONTROL = new Set(['fields', 'sort_key', 'sort_dir', 'limit', 'marker', 'page_reverse', 'tags', 'tags-any', 'not-tags', 'not-tags-any', 'all_tenants', 'verbose']);

export function queryOf(req: Request): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(req.query)) {
    if (typeof v === 'string') out[k] = [v];
    else if (Array.isArray(v)) out[k] = v.map(String);
    else if (v !== undefined) throw badRequest(`Query parameter ${k} is malformed.`);
  }
  return out;
}

function asText(v: unknown): string {
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v === null || v === undefined) return '';
  return String(v);
}

/** One filter value against an attribute: exact match; booleans as True/False/1/0; lists by membership. */
function matches(actual: unknown, wanted: string, key: string): boolean {
  if (typeof actual === 'boolean') {
    const w = wanted.toLowerCase();
    if (!['true', 'false', '1', '0'].includes(w)) throw badRequest(`Invalid input for ${key}: '${wanted}' is not a boolean.`);
    return actual === (w === 'true' || w === '1');
  }
  if (key === 'fixed_ips' && Array.isArray(actual)) {
    // fixed_ips=ip_address=10.0.0.5 / fixed_ips=subnet_id=… (what the CLI's --fixed-ip filter sends)
    const [k, v] = wanted.split('=', 2);
    return actual.some((ip) => asText((ip as Obj)[k!]) === v);
  }
  if (Array.isArray(actual)) return actual.map(asText).includes(wanted);
  if (actual === null && (wanted === '' || wanted === 'None')) return true;
  return asText(actual) === wanted;
}

function splitTags(q: Record<string, string[]>, key: string): string[] {
  return (q[key] ?? []).flatMap((v) => v.split(',')).filter(Boolean);
}

/** Filters, sorting and limit/marker pagination of a rendered collection, then `fields=`. */
export function listResponse(collection: string, items: Obj[], req: Request, pathName = collection): Obj {
  const q = queryOf(req);
  let out = items.filter((item) => {
    for (const [key, values] of Object.entries(q)) {
      if (CONTROL.has(key)) continue;
      if (!(key in item)) continue; // Neutron ignores filters on unknown attributes
      if (!values.some((v) => matches(item[key], v, key))) return false;
    }
    const tags = (item.tags as string[] | undefined) ?? [];
    const all = splitTags(q, 'tags');
    if (all.length && !all.every((t) => tags.includes(t))) return false;
    const any = splitTags(q, 'tags-any');
    if (any.length && !any.some((t) => tags.includes(t))) return false;
    const notAll = splitTags(q, 'not-tags');
    if (notAll.length && notAll.every((t) => tags.includes(t))) return false;
    const notAny = splitTags(q, 'not-tags-any');
    if (notAny.length && notAny.some((t) => tags.includes(t))) return false;
    return true;
  });

  const keys = q.sort_key ?? [];
  const dirs = q.sort_dir ?? [];
  if (dirs.some((d) => d !== 'asc' && d !== 'desc')) throw badRequest("sort_dir must be 'asc' or 'desc'.");
  // Neutron (api_common.get_sorts) wants one direction per key, also when no direction is given.
  if (keys.length !== dirs.length) throw badRequest('The number of sort_keys and sort_dirs must be same');
  const sortKeys = keys.map((k, i) => ({ k, dir: dirs[i] === 'desc' ? -1 : 1 }));
  for (const s of sortKeys) if (out.length && !(s.k in out[0]!)) throw badRequest(`${s.k} is an invalid attribute for sort_keys.`);
  const tie = sortKeys.length ? sortKeys[sortKeys.length - 1]!.dir : 1;
  sortKeys.push({ k: 'id', dir: tie });
  const cmp = (a: Obj, b: Obj) => {
    for (const s of sortKeys) {
      const x = a[s.k];
      const y = b[s.k];
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : asText(x) < asText(y) ? -1 : asText(x) > asText(y) ? 1 : 0;
      if (c) return c * s.dir;
    }
    return 0;
  };
  out.sort(cmp);

  const links: Obj[] = [];
  const limitRaw = q.limit?.[0];
  const marker = q.marker?.[0];
  const reverse = (q.page_reverse?.[0] ?? '').toLowerCase() === 'true';
  if (reverse) out.reverse();
  if (marker) {
    const at = out.findIndex((o) => o.id === marker);
    out = at >= 0 ? out.slice(at + 1) : [];
  }
  if (limitRaw !== undefined) {
    const limit = Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 0) throw badRequest(`Bad limit request: limit must be a non-negative integer, not '${limitRaw}'.`);
    if (limit > 0 && out.length > limit) {
      out = out.slice(0, limit);
      const params = new URLSearchParams();
      for (const [k, vs] of Object.entries(q)) if (k !== 'marker') for (const v of vs) params.append(k, v);
      params.append('marker', String(out[out.length - 1]!.id));
      links.push({ rel: 'next', href: `${baseOf(req)}/v2.0/${pathName}?${params.toString()}` });
    }
    if (marker && out.length) {
      const params = new URLSearchParams();
      for (const [k, vs] of Object.entries(q)) if (k !== 'marker' && k !== 'page_reverse') for (const v of vs) params.append(k, v);
      params.append('marker', String(out[0]!.id));
      params.append('page_reverse', reverse ? 'False' : 'True');
      links.push({ rel: 'previous', href: `${baseOf(req)}/v2.0/${pathName}?${params.toString()}` });
    }
  }
  if (reverse) out.reverse();
  const fields = q.fields;
  const body: Obj = { [collection]: fields?.length ? out.map((o) => pick(o, fields)) : out };
  if (links.length) body[`${collection}_links`] = links;
  return body;
}

/** `fields=` on a show or list: only those attributes (unknown names are ignored). */
export function pick(o: Obj, fields: string[] | undefined): Obj {
  if (!fields?.length) return o;
  const out: Obj = {};
  for (const f of fields) if (f in o) out[f] = o[f];
  return out;
}

export function fieldsOf(req: Request): string[] | undefined {
  return queryOf(req).fields;
}

function baseOf(req: Request): string {
  const host = req.headers['x-forwarded-host'] ?? req.headers.host ?? '127.0.0.1';
  return `${req.protocol}://${String(host)}`;
}
