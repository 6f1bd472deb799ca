import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, PolicyService } from '@kumo/service-kit';
import type { Sql } from '../db/db.js';
import { isoTime } from '../images/image.view.js';
import { type Item, type ItemKind, MetadefsRepository, type Namespace } from './metadefs.repository.js';

const isAdmin = (auth: AuthContext) => auth.roles.includes('admin');

function obj(body: unknown, what: string): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw ApiError.badRequest(`Request body must be a JSON object (${what}).`);
  return body as Record<string, unknown>;
}

function str(value: unknown, key: string, max: number, required = false): string | null {
  if (value === undefined || value === null) {
    if (required) throw ApiError.badRequest(`'${key}' is required.`);
    return null;
  }
  if (typeof value !== 'string' || value.length === 0 || value.length > max) throw ApiError.badRequest(`Invalid '${key}': a string of 1 to ${max} characters.`);
  return value;
}

function namespaceFields(b: Record<string, unknown>) {
  const visibility = b.visibility ?? 'private';
  if (visibility !== 'public' && visibility !== 'private') throw ApiError.badRequest("Invalid 'visibility': public or private.");
  if (b.protected !== undefined && typeof b.protected !== 'boolean') throw ApiError.badRequest("Invalid 'protected': a boolean.");
  return {
    namespace: str(b.namespace, 'namespace', 80, true)!,
    displayName: str(b.display_name, 'display_name', 80),
    description: b.description === undefined || b.description === null ? null : String(b.description).slice(0, 500),
    visibility: visibility as Namespace['visibility'],
    protected: (b.protected as boolean | undefined) ?? false,
  };
}

const times = (x: { createdAt: Date; updatedAt: Date }) => ({ created_at: isoTime(x.createdAt), updated_at: isoTime(x.updatedAt) });

function renderObject(ns: string, i: Item) {
  return { ...i.body, name: i.name, ...times(i), schema: '/v2/schemas/metadefs/object', self: `/v2/metadefs/namespaces/${ns}/objects/${i.name}` };
}

function renderProperty(i: Item) {
  return { ...i.body, name: i.name };
}

function renderTag(i: Item) {
  return { name: i.name, ...times(i) };
}

function renderAssociation(i: Item) {
  return { name: i.name, ...i.body, ...times(i) };
}

function renderNamespace(n: Namespace) {
  const out: Record<string, unknown> = {
    namespace: n.namespace,
    visibility: n.visibility,
    protected: n.protected,
    owner: n.owner,
    ...times(n),
    schema: '/v2/schemas/metadefs/namespace',
    self: `/v2/metadefs/namespaces/${n.namespace}`,
  };
  if (n.displayName !== null) out.display_name = n.displayName;
  if (n.description !== null) out.description = n.description;
  return out;
}

/**
 * Glance's metadata definitions catalogue (`/v2/metadefs`), which Horizon and Tempest use:
 * namespaces holding objects, properties, tags and resource type associations. Everyone reads
 * public namespaces; writes are for admins (policy `modify_metadef`).
 */
@Controller('v2/metadefs')
export class MetadefsController {
  constructor(
    private readonly repo: MetadefsRepository,
    private readonly policy: PolicyService,
  ) {}

  private async visible(auth: AuthContext, name: string): Promise<Namespace> {
    this.policy.enforce('get_metadef', auth, { project_id: auth.projectId ?? '' });
    const ns = await this.repo.namespace(name);
    if (!ns || (ns.visibility !== 'public' && !isAdmin(auth) && ns.owner !== auth.projectId)) throw ApiError.notFound(`Metadata definition namespace=${name} was not found.`);
    return ns;
  }

  private async writable(auth: AuthContext, name: string): Promise<Namespace> {
    const ns = await this.visible(auth, name);
    this.policy.enforce('modify_metadef', auth, { project_id: ns.owner ?? '' });
    return ns;
  }

  // ---------------------------------------------------------------- namespaces

  @Get('namespaces')
  async list(@Auth() auth: AuthContext) {
    this.policy.enforce('get_metadef', auth, { project_id: auth.projectId ?? '' });
    const all = await this.repo.namespaces(auth.projectId ?? null, isAdmin(auth));
    return { namespaces: all.map(renderNamespace), first: '/v2/metadefs/namespaces', schema: '/v2/schemas/metadefs/namespaces' };
  }

  @Post('namespaces')
  @HttpCode(201)
  async create(@Auth() auth: AuthContext, @Body() body: unknown) {
    this.policy.enforce('modify_metadef', auth, { project_id: auth.projectId ?? '' });
    const b = obj(body, 'a namespace');
    const fields = namespaceFields(b);
    const owner = typeof b.owner === 'string' && isAdmin(auth) ? b.owner : (auth.projectId ?? null);
    return this.repo.transaction(async (tx) => {
      const ns = await this.repo.insertNamespace(tx, { ...fields, owner });
      if (!ns) throw ApiError.conflict(`Namespace ${fields.namespace} already exists.`);
      const rts = Array.isArray(b.resource_type_associations) ? b.resource_type_associations : [];
      for (const rt of rts) await this.addAssociation(tx, ns.namespace, obj(rt, 'a resource type association'));
      if (b.properties && typeof b.properties === 'object') {
        for (const [name, p] of Object.entries(b.properties as Record<string, unknown>)) await this.repo.insertItem(tx, ns.namespace, 'property', name, obj(p, 'a property'));
      }
      for (const o of Array.isArray(b.objects) ? b.objects : []) {
        const ob = obj(o, 'an object');
        await this.repo.insertItem(tx, ns.namespace, 'object', str(ob.name, 'name', 255, true)!, this.objectBody(ob));
      }
      for (const t of Array.isArray(b.tags) ? b.tags : []) await this.repo.insertItem(tx, ns.namespace, 'tag', str(obj(t, 'a tag').name, 'name', 255, true)!, {});
      return renderNamespace(ns);
    });
  }

  @Get('namespaces/:ns')
  async show(@Auth() auth: AuthContext, @Param('ns') name: string) {
    const ns = await this.visible(auth, name);
    const out = renderNamespace(ns);
    const [rts, props, objects, tags] = await Promise.all(['rt', 'property', 'object', 'tag'].map((k) => this.repo.itemsOf(ns.namespace, k as ItemKind)));
    if (rts!.length) out.resource_type_associations = rts!.map(renderAssociation);
    if (props!.length) out.properties = Object.fromEntries(props!.map((p) => [p.name, renderProperty(p)]));
    if (objects!.length) out.objects = objects!.map((o) => renderObject(ns.namespace, o));
    if (tags!.length) out.tags = tags!.map(renderTag);
    return out;
  }

  @Put('namespaces/:ns')
  async update(@Auth() auth: AuthContext, @Param('ns') name: string, @Body() body: unknown) {
    await this.writable(auth, name);
    const fields = namespaceFields({ namespace: name, ...obj(body, 'a namespace') });
    return this.repo.transaction(async (tx) => {
      if (fields.namespace !== name && (await this.repo.namespace(fields.namespace, tx))) throw ApiError.conflict(`Namespace ${fields.namespace} already exists.`);
      const ns = await this.repo.updateNamespace(tx, name, fields);
      if (!ns) throw ApiError.notFound(`Metadata definition namespace=${name} was not found.`);
      return renderNamespace(ns);
    });
  }

  @Delete('namespaces/:ns')
  @HttpCode(204)
  async delete(@Auth() auth: AuthContext, @Param('ns') name: string) {
    const ns = await this.writable(auth, name);
    if (ns.protected) throw ApiError.forbidden(`Namespace ${name} is protected and cannot be deleted.`);
    await this.repo.deleteNamespace(name);
  }

  // ---------------------------------------------------------------- objects

  private objectBody(b: Record<string, unknown>) {
    const out: Record<string, unknown> = {};
    if (b.description !== undefined) out.description = b.description;
    if (b.required !== undefined) out.required = b.required;
    out.properties = b.properties && typeof b.properties === 'object' ? b.properties : {};
    return out;
  }

  @Get('namespaces/:ns/objects')
  async objects(@Auth() auth: AuthContext, @Param('ns') name: string) {
    const ns = await this.visible(auth, name);
    return { objects: (await this.repo.itemsOf(ns.namespace, 'object')).map((o) => renderObject(ns.namespace, o)), schema: 'v2/schemas/metadefs/objects' };
  }

  @Post('namespaces/:ns/objects')
  @HttpCode(201)
  async createObject(@Auth() auth: AuthContext, @Param('ns') name: string, @Body() body: unknown) {
    const ns = await this.writable(auth, name);
    const b = obj(body, 'an object');
    const item = await this.repo.insertItem(this.repo.sql, ns.namespace, 'object', str(b.name, 'name', 255, true)!, this.objectBody(b));
    if (!item) throw ApiError.conflict(`A metadata definition object with name=${String(b.name)} already exists in namespace=${name}.`);
    return renderObject(ns.namespace, item);
  }

  @Get('namespaces/:ns/objects/:name')
  async showObject(@Auth() auth: AuthContext, @Param('ns') name: string, @Param('name') item: string) {
    const ns = await this.visible(auth, name);
    return renderObject(ns.namespace, await this.mustItem(ns.namespace, 'object', item, 'object'));
  }

  @Put('namespaces/:ns/objects/:name')
  async updateObject(@Auth() auth: AuthContext, @Param('ns') name: string, @Param('name') item: string, @Body() body: unknown) {
    const ns = await this.writable(auth, name);
    const b = obj(body, 'an object');
    const updated = await this.replace(ns.namespace, 'object', item, str(b.name, 'name', 255) ?? item, this.objectBody(b), 'object');
    return renderObject(ns.namespace, updated);
  }

  @Delete('namespaces/:ns/objects/:name')
  @HttpCode(204)
  async deleteObject(@Auth() auth: AuthContext, @Param('ns') name: string, @Param('name') item: string) {
    const ns = await this.writable(auth, name);
    if (!(await this.repo.deleteItem(ns.namespace, 'object', item))) throw this.itemNotFound('object', item, name);
  }

  // ---------------------------------------------------------------- properties

  private propertyBody(b: Record<string, unknown>) {
    str(b.title, 'title', 255, true);
    str(b.type, 'type', 32, true);
    const { name: _name, ...rest } = b;
    return rest;
  }

  @Get('namespaces/:ns/properties')
  async properties(@Auth() auth: AuthContext, @Param('ns') name: string) {
    const ns = await this.visible(auth, name);
    const items = await this.repo.itemsOf(ns.namespace, 'property');
    return { properties: Object.fromEntries(items.map((p) => [p.name, renderProperty(p)])) };
  }

  @Post('namespaces/:ns/properties')
  @HttpCode(201)
  async createProperty(@Auth() auth: AuthContext, @Param('ns') name: string, @Body() body: unknown) {
    const ns = await this.writable(auth, name);
    const b = obj(body, 'a property');
    const item = await this.repo.insertItem(this.repo.sql, ns.namespace, 'property', str(b.name, 'name', 255, true)!, this.propertyBody(b));
    if (!item) throw ApiError.conflict(`A metadata definition property with name=${String(b.name)} already exists in namespace=${name}.`);
    return renderProperty(item);
  }

  @Get('namespaces/:ns/properties/:name')
  async showProperty(@Auth() auth: AuthContext, @Param('ns') name: string, @Param('name') item: string) {
    const ns = await this.visible(auth, name);
    return renderProperty(await this.mustItem(ns.namespace, 'property', item, 'property'));
  }

  @Put('namespaces/:ns/properties/:name')
  async updateProperty(@Auth() auth: AuthContext, @Param('ns') name: string, @Param('name') item: string, @Body() body: unknown) {
    const ns = await this.writable(auth, name);
    const b = obj(body, 'a property');
    return renderProperty(await this.replace(ns.namespace, 'property', item, str(b.name, 'name', 255) ?? item, this.propertyBody(b), 'property'));
  }

  @Delete('namespaces/:ns/properties/:name')
  @HttpCode(204)
  async deleteProperty(@Auth() auth: AuthContext, @Param('ns') name: string, @Param('name') item: string) {
    const ns = await this.writable(auth, name);
    if (!(await this.repo.deleteItem(ns.namespace, 'property', item))) throw this.itemNotFound('property', item, name);
  }

  // ---------------------------------------------------------------- tags

  @Get('namespaces/:ns/tags')
  async tags(@Auth() auth: AuthContext, @Param('ns') name: string) {
    const ns = await this.visible(auth, name);
    return { tags: (await this.repo.itemsOf(ns.namespace, 'tag')).map(renderTag) };
  }

  /** Replaces every tag of the namespace with the given ones (Glance's default, append=false). */
  @Post('namespaces/:ns/tags')
  @HttpCode(201)
  async createTags(@Auth() auth: AuthContext, @Param('ns') name: string, @Body() body: unknown) {
    const ns = await this.writable(auth, name);
    const list = obj(body, 'a list of tags').tags;
    if (!Array.isArray(list)) throw ApiError.badRequest('Request body must be {"tags": [{"name": "..."}]}.');
    const names = list.map((t) => str(obj(t, 'a tag').name, 'name', 255, true)!);
    if (new Set(names).size !== names.length) throw ApiError.conflict('Duplicate tag names in the request.');
    const created = await this.repo.transaction(async (tx) => {
      await this.repo.deleteItems(tx, ns.namespace, 'tag');
      const out: Item[] = [];
      for (const n of names) out.push((await this.repo.insertItem(tx, ns.namespace, 'tag', n, {}))!);
      return out;
    });
    return { tags: created.map(renderTag) };
  }

  @Delete('namespaces/:ns/tags')
  @HttpCode(204)
  async deleteTags(@Auth() auth: AuthContext, @Param('ns') name: string) {
    const ns = await this.writable(auth, name);
    await this.repo.deleteItems(this.repo.sql, ns.namespace, 'tag');
  }

  @Post('namespaces/:ns/tags/:name')
  @HttpCode(201)
  async createTag(@Auth() auth: AuthContext, @Param('ns') name: string, @Param('name') tag: string) {
    const ns = await this.writable(auth, name);
    const item = await this.repo.insertItem(this.repo.sql, ns.namespace, 'tag', str(tag, 'name', 255, true)!, {});
    if (!item) throw ApiError.conflict(`A metadata tag with name=${tag} already exists in namespace=${name}.`);
    return renderTag(item);
  }

  @Get('namespaces/:ns/tags/:name')
  async showTag(@Auth() auth: AuthContext, @Param('ns') name: string, @Param('name') tag: string) {
    const ns = await this.visible(auth, name);
    return renderTag(await this.mustItem(ns.namespace, 'tag', tag, 'tag'));
  }

  @Put('namespaces/:ns/tags/:name')
  async updateTag(@Auth() auth: AuthContext, @Param('ns') name: string, @Param('name') tag: string, @Body() body: unknown) {
    const ns = await this.writable(auth, name);
    const newName = str(obj(body, 'a tag').name, 'name', 255, true)!;
    return renderTag(await this.replace(ns.namespace, 'tag', tag, newName, {}, 'tag'));
  }

  @Delete('namespaces/:ns/tags/:name')
  @HttpCode(204)
  async deleteTag(@Auth() auth: AuthContext, @Param('ns') name: string, @Param('name') tag: string) {
    const ns = await this.writable(auth, name);
    if (!(await this.repo.deleteItem(ns.namespace, 'tag', tag))) throw this.itemNotFound('tag', tag, name);
  }

  // ---------------------------------------------------------------- resource types

  @Get('resource_types')
  async resourceTypes(@Auth() auth: AuthContext) {
    this.policy.enforce('get_metadef', auth, { project_id: auth.projectId ?? '' });
    return { resource_types: (await this.repo.resourceTypes()).map((r) => ({ name: r.name, ...times(r) })) };
  }

  private async addAssociation(tx: Sql, namespace: string, b: Record<string, unknown>): Promise<Item> {
    const rt = str(b.name, 'name', 80, true)!;
    await this.repo.ensureResourceType(tx, rt);
    const body: Record<string, unknown> = {};
    if (b.prefix !== undefined) body.prefix = str(b.prefix, 'prefix', 80);
    if (b.properties_target !== undefined) body.properties_target = str(b.properties_target, 'properties_target', 80);
    const item = await this.repo.insertItem(tx, namespace, 'rt', rt, body);
    if (!item) throw ApiError.conflict(`Resource type ${rt} is already associated with namespace ${namespace}.`);
    return item;
  }

  @Get('namespaces/:ns/resource_types')
  async associations(@Auth() auth: AuthContext, @Param('ns') name: string) {
    const ns = await this.visible(auth, name);
    return { resource_type_associations: (await this.repo.itemsOf(ns.namespace, 'rt')).map(renderAssociation) };
  }

  @Post('namespaces/:ns/resource_types')
  @HttpCode(201)
  async associate(@Auth() auth: AuthContext, @Param('ns') name: string, @Body() body: unknown) {
    const ns = await this.writable(auth, name);
    return renderAssociation(await this.repo.transaction((tx) => this.addAssociation(tx, ns.namespace, obj(body, 'a resource type association'))));
  }

  @Delete('namespaces/:ns/resource_types/:name')
  @HttpCode(204)
  async dissociate(@Auth() auth: AuthContext, @Param('ns') name: string, @Param('name') rt: string) {
    const ns = await this.writable(auth, name);
    if (!(await this.repo.deleteItem(ns.namespace, 'rt', rt))) throw this.itemNotFound('resource type association', rt, name);
  }

  // ---------------------------------------------------------------- helpers

  private itemNotFound(what: string, item: string, ns: string) {
    return ApiError.notFound(`Metadata definition ${what} ${item} was not found in namespace ${ns}.`);
  }

  private async mustItem(ns: string, kind: ItemKind, name: string, what: string): Promise<Item> {
    const item = await this.repo.item(ns, kind, name);
    if (!item) throw this.itemNotFound(what, name, ns);
    return item;
  }

  private async replace(ns: string, kind: ItemKind, name: string, newName: string, body: Record<string, unknown>, what: string): Promise<Item> {
    try {
      const item = await this.repo.replaceItem(ns, kind, name, newName, body);
      if (!item) throw this.itemNotFound(what, name, ns);
      return item;
    } catch (err) {
      if ((err as { driverError?: { code?: string } }).driverError?.code === '23505') throw ApiError.conflict(`A metadata definition ${what} named ${newName} already exists in namespace ${ns}.`);
      throw err;
    }
  }
}
