import type { Request } from 'express';
import { type Caller, unwrap } from './common.js';
import { fieldsOf, listResponse, pick } from './list.js';

/** What the REST controllers share: list/show/create wrappers in Neutron's body shapes. */
export interface Crud {
  list(c: Caller, req: Request): Promise<Record<string, unknown>[]>;
  show(c: Caller, id: string): Promise<Record<string, unknown>>;
}

export async function listBody(collection: string, items: Promise<Record<string, unknown>[]>, req: Request, path = collection) {
  return listResponse(collection, await items, req, path);
}

export async function showBody(singular: string, item: Promise<Record<string, unknown>>, req: Request) {
  return { [singular]: pick(await item, fieldsOf(req)) };
}

/** Create, single or bulk: `{"network": {...}}` → `{"network": ...}`, `{"networks": [...]}` → `{"networks": [...]}`. */
export async function createBody(singular: string, plural: string, body: unknown, create: (items: Record<string, unknown>[]) => Promise<Record<string, unknown>[]>) {
  const { items, bulk } = unwrap(body, singular, plural);
  const out = await create(items);
  return bulk ? { [plural]: out } : { [singular]: out[0] };
}

export function updateOf(body: unknown, singular: string): Record<string, unknown> {
  return unwrap(body, singular, `${singular}s__never`).items[0]!;
}
