import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ApiError, type AuthContext, PolicyService } from '@kumo/service-kit';
import type { Sql } from '../db/db.js';
import { ImageRepository, type Viewer } from '../db/image.repository.js';
import { EVENT_KICKER, type EventKicker } from '../events/event-kicker.js';
import { QuotaService } from '../quota/quota.service.js';
import { IMAGE_STORE, type ImageStore } from '../store/image-store.js';
import { StagingArea } from '../store/staging.js';
import {
  type Image,
  type ImageVisibility,
  isReservedKey,
  isUuid,
  MAX_PROPERTIES,
  MAX_TAGS,
  READ_ONLY,
  validateAttribute,
  validateProperty,
  validatePropertyKey,
  validateTag,
  WRITABLE_BASE,
} from './image.model.js';
import { toRecord } from './image.view.js';
import { type PatchChange, type PatchDialect, parsePatch } from './json-patch.js';
import { type ListQuery, parseListQuery } from './list-query.js';

export function viewerOf(auth: AuthContext): Viewer {
  return { projectId: auth.projectId ?? null, isAdmin: auth.roles.includes('admin') };
}

export function notFound(id: string): ApiError {
  return ApiError.notFound(`No image found with ID ${id}`);
}

/** Everything a create may set, already validated. */
export interface NewImage {
  id?: string;
  owner: string | null;
  name: string | null;
  visibility: ImageVisibility;
  protected: boolean;
  osHidden: boolean;
  diskFormat: string | null;
  containerFormat: string | null;
  minRam: number;
  minDisk: number;
  tags: string[];
  properties: Record<string, string>;
}

const BASE = new Set<string>(WRITABLE_BASE);

/**
 * Image records: create, read, list, change (PATCH), tags, (de)activation, delete. Data upload
 * and download are in ImageDataService; members in MembersService.
 */
@Injectable()
export class ImagesService {
  private readonly log = new Logger('images');

  constructor(
    readonly images: ImageRepository,
    private readonly policy: PolicyService,
    private readonly quota: QuotaService,
    private readonly staging: StagingArea,
    @Inject(IMAGE_STORE) private readonly store: ImageStore,
    @Inject(EVENT_KICKER) private readonly events: EventKicker,
  ) {}

  /** The image if `auth` may see it; 404 otherwise (never 403: existence is not disclosed). */
  async findVisible(auth: AuthContext | Viewer, id: string, sql?: Sql): Promise<Image> {
    if (!isUuid(id)) throw notFound(id);
    const viewer = 'token' in auth ? viewerOf(auth) : auth;
    const image = await this.images.getVisible(id.toLowerCase(), viewer, sql);
    if (!image) throw notFound(id);
    return image;
  }

  async show(auth: AuthContext, id: string): Promise<Image> {
    const image = await this.findVisible(auth, id);
    this.policy.enforce('get_image', auth, { project_id: image.owner ?? '' });
    return image;
  }

  async list(auth: AuthContext, raw: Record<string, string | string[] | undefined>): Promise<{ images: Image[]; query: ListQuery }> {
    this.policy.enforce('get_images', auth, { project_id: auth.projectId ?? '' });
    const query = parseListQuery(raw);
    if (query.marker && !(await this.images.getVisible(query.marker, viewerOf(auth)))) {
      throw ApiError.badRequest(`Invalid marker. Image ${query.marker} could not be found.`);
    }
    return { images: await this.images.list(query, viewerOf(auth)), query };
  }

  // ------------------------------------------------------------------ create

  /** Validates a `POST /v2/images` body the way Glance does; throws before anything is written. */
  parseCreate(auth: AuthContext, body: unknown): NewImage {
    if (body === undefined || body === null) body = {};
    if (typeof body !== 'object' || Array.isArray(body)) throw ApiError.badRequest('Request body must be a JSON object describing the image.');
    const input = body as Record<string, unknown>;
    const img: NewImage = {
      owner: auth.projectId ?? null,
      name: null,
      visibility: 'shared',
      protected: false,
      osHidden: false,
      diskFormat: null,
      containerFormat: null,
      minRam: 0,
      minDisk: 0,
      tags: [],
      properties: {},
    };
    for (const [key, value] of Object.entries(input)) {
      if (key === 'id') {
        if (!isUuid(value)) throw ApiError.badRequest(`Invalid value ${JSON.stringify(value)} for 'id': it must be a UUID.`);
        img.id = value.toLowerCase();
        continue;
      }
      if ((READ_ONLY as readonly string[]).includes(key)) throw ApiError.forbidden(`Attribute '${key}' is read-only.`);
      if (isReservedKey(key)) throw ApiError.forbidden(`Attribute '${key}' is reserved.`);
      if (BASE.has(key) || key === 'kernel_id' || key === 'ramdisk_id') {
        const v = validateAttribute(key, value);
        if (key === 'kernel_id' || key === 'ramdisk_id') {
          if (v !== null) img.properties[key] = v as string;
          continue;
        }
        this.assign(img, key, v);
        continue;
      }
      img.properties[key] = validateProperty(key, value);
    }
    if (Object.keys(img.properties).length > MAX_PROPERTIES) throw ApiError.tooLarge(`Maximum number of image properties exceeded: at most ${MAX_PROPERTIES}.`);
    if (img.owner !== (auth.projectId ?? null)) this.policy.enforce('set_image_owner', auth, { project_id: img.owner ?? '' });
    this.policy.enforce('add_image', auth, { project_id: img.owner ?? auth.projectId ?? '' });
    this.checkVisibilityChange(auth, img.visibility, img.owner);
    return img;
  }

  private assign(img: NewImage, key: string, v: unknown) {
    switch (key) {
      case 'name':
        img.name = v as string | null;
        break;
      case 'visibility':
        img.visibility = v as ImageVisibility;
        break;
      case 'protected':
        img.protected = v as boolean;
        break;
      case 'os_hidden':
        img.osHidden = v as boolean;
        break;
      case 'disk_format':
        img.diskFormat = v as string | null;
        break;
      case 'container_format':
        img.containerFormat = v as string | null;
        break;
      case 'min_ram':
        img.minRam = v as number;
        break;
      case 'min_disk':
        img.minDisk = v as number;
        break;
      case 'tags':
        img.tags = v as string[];
        break;
      case 'owner':
        img.owner = v as string | null;
        break;
    }
  }

  private checkVisibilityChange(auth: AuthContext, visibility: ImageVisibility, owner: string | null) {
    if (visibility === 'public') this.policy.enforce('publicize_image', auth, { project_id: owner ?? '' });
    if (visibility === 'community') this.policy.enforce('communitize_image', auth, { project_id: owner ?? '' });
  }

  async create(auth: AuthContext, body: unknown, requestId?: string): Promise<Image> {
    return this.insert(this.parseCreate(auth, body), requestId);
  }

  /** Inserts a validated image (quota claimed in the same transaction) and queues image.created. */
  async insert(n: NewImage, requestId?: string): Promise<Image> {
    const id = n.id ?? randomUUID();
    const now = new Date();
    const draft: Image = {
      id,
      name: n.name,
      status: 'queued',
      visibility: n.visibility,
      protected: n.protected,
      osHidden: n.osHidden,
      owner: n.owner,
      diskFormat: n.diskFormat,
      containerFormat: n.containerFormat,
      size: null,
      virtualSize: null,
      checksum: null,
      osHashAlgo: null,
      osHashValue: null,
      minRam: n.minRam,
      minDisk: n.minDisk,
      properties: n.properties,
      tags: n.tags,
      store: null,
      location: null,
      failureReason: null,
      staged: null,
      uploadOwner: null,
      createdAt: now,
      updatedAt: now,
      deletedAt: null,
    };
    const image = await this.images.transaction(async (tx) => {
      if (n.id && (await this.images.get(id, tx))) throw ApiError.conflict(`Image with identifier ${id} already exists!`);
      await this.quota.claimImage(tx, n.owner);
      const row = await this.images.insert(tx, draft);
      await this.images.enqueueEvent(tx, 'image.created', { image: toRecord(row) }, requestId);
      return row;
    });
    this.events.kick();
    return image;
  }

  // ------------------------------------------------------------------ update

  async update(auth: AuthContext, id: string, dialect: PatchDialect, body: unknown): Promise<Image> {
    const changes = parsePatch(body, dialect);
    const image = await this.findVisible(auth, id);
    this.policy.enforce('modify_image', auth, { project_id: image.owner ?? '' });
    if (changes.length === 0) return image;
    return this.images.transaction(async (tx) => {
      const current = await this.images.get(image.id, tx, { forUpdate: true });
      if (!current || current.status === 'deleted') throw notFound(id);
      const next = this.apply(auth, current, changes, dialect);
      const row = await this.images.update(tx, current.id, {
        name: next.name,
        visibility: next.visibility,
        protected: next.protected,
        os_hidden: next.osHidden,
        owner: next.owner,
        disk_format: next.diskFormat,
        container_format: next.containerFormat,
        min_ram: next.minRam,
        min_disk: next.minDisk,
        tags: next.tags,
        properties: next.properties,
      });
      return row!;
    });
  }

  /** Applies parsed changes to a copy of `image` with Glance's semantics (images.py _do_add/_do_replace/_do_remove). */
  apply(auth: AuthContext, image: Image, changes: PatchChange[], dialect: PatchDialect): Image {
    const next: Image = { ...image, properties: { ...image.properties }, tags: [...image.tags] };
    for (const c of changes) {
      if (BASE.has(c.key)) {
        if (c.op === 'remove') throw ApiError.forbidden(`Property ${c.key} may not be removed.`);
        if (c.op === 'add' && dialect === '2.0') throw ApiError.conflict(`Property ${c.key} already present.`);
        const v = validateAttribute(c.key, c.value);
        switch (c.key) {
          case 'disk_format':
          case 'container_format':
            if (image.status !== 'queued' && v !== (c.key === 'disk_format' ? image.diskFormat : image.containerFormat)) {
              throw ApiError.forbidden(`Attribute ${c.key} can be only replaced for a queued image.`);
            }
            break;
          case 'visibility':
            if (v !== image.visibility) this.checkVisibilityChange(auth, v as ImageVisibility, image.owner);
            break;
          case 'owner':
            if (v !== image.owner) this.policy.enforce('set_image_owner', auth, { project_id: (v as string | null) ?? '' });
            break;
        }
        // Image and NewImage share these field names.
        this.assign(next as unknown as NewImage, c.key, v);
        continue;
      }
      validatePropertyKey(c.key);
      const exists = Object.prototype.hasOwnProperty.call(next.properties, c.key);
      switch (c.op) {
        case 'add':
          if (exists && dialect === '2.0') throw ApiError.conflict(`Property ${c.key} already present.`);
          next.properties[c.key] = this.propertyValue(c.key, c.value);
          break;
        case 'replace':
          if (!exists) throw ApiError.conflict(`Property ${c.key} does not exist.`);
          next.properties[c.key] = this.propertyValue(c.key, c.value);
          break;
        case 'remove':
          if (!exists) throw ApiError.conflict(`Property ${c.key} does not exist.`);
          delete next.properties[c.key];
          break;
      }
    }
    if (Object.keys(next.properties).length > MAX_PROPERTIES) throw ApiError.tooLarge(`Maximum number of image properties exceeded: at most ${MAX_PROPERTIES}.`);
    return next;
  }

  private propertyValue(key: string, value: unknown): string {
    if (key === 'kernel_id' || key === 'ramdisk_id') {
      validateAttribute(key, value);
      if (value === null) throw ApiError.badRequest(`Invalid value null for '${key}': remove the property instead.`);
    }
    return validateProperty(key, value);
  }

  // ------------------------------------------------------------------ tags

  async addTag(auth: AuthContext, id: string, tag: string): Promise<void> {
    validateTag(tag);
    const image = await this.findVisible(auth, id);
    this.policy.enforce('modify_image', auth, { project_id: image.owner ?? '' });
    await this.images.transaction(async (tx) => {
      const current = await this.images.get(image.id, tx, { forUpdate: true });
      if (!current || current.status === 'deleted') throw notFound(id);
      if (current.tags.includes(tag)) return;
      if (current.tags.length >= MAX_TAGS) throw ApiError.tooLarge(`Maximum number of tags exceeded: at most ${MAX_TAGS} tags per image.`);
      await this.images.update(tx, current.id, { tags: [...current.tags, tag] });
    });
  }

  async deleteTag(auth: AuthContext, id: string, tag: string): Promise<void> {
    const image = await this.findVisible(auth, id);
    this.policy.enforce('modify_image', auth, { project_id: image.owner ?? '' });
    await this.images.transaction(async (tx) => {
      const current = await this.images.get(image.id, tx, { forUpdate: true });
      if (!current || current.status === 'deleted') throw notFound(id);
      if (!current.tags.includes(tag)) throw ApiError.notFound(`Tag ${tag} not found on image ${id}.`);
      await this.images.update(tx, current.id, { tags: current.tags.filter((t) => t !== tag) });
    });
  }

  // ------------------------------------------------------------------ actions

  async deactivate(auth: AuthContext, id: string): Promise<void> {
    await this.transition(auth, id, 'deactivate', 'active', 'deactivated');
  }

  async reactivate(auth: AuthContext, id: string): Promise<void> {
    await this.transition(auth, id, 'reactivate', 'deactivated', 'active');
  }

  private async transition(auth: AuthContext, id: string, action: 'deactivate' | 'reactivate', from: 'active' | 'deactivated', to: 'active' | 'deactivated') {
    const image = await this.findVisible(auth, id);
    this.policy.enforce(action, auth, { project_id: image.owner ?? '' });
    if (image.status === to) return;
    if (image.status !== from || !(await this.images.update(this.images.db, image.id, { status: to }, { status: [from] }))) {
      const now = (await this.images.get(image.id))?.status ?? image.status;
      if (now === to) return;
      throw ApiError.forbidden(`Not allowed to ${action} image in status '${now}'.`);
    }
  }

  // ------------------------------------------------------------------ delete

  async delete(auth: AuthContext, id: string, requestId?: string): Promise<void> {
    const image = await this.findVisible(auth, id);
    this.policy.enforce('delete_image', auth, { project_id: image.owner ?? '' });
    if (image.protected) throw ApiError.forbidden(`Image ${image.id} is protected and cannot be deleted.`);
    await this.remove(image.id, requestId, id);
  }

  /** Marks the image deleted (members gone, event queued) in one transaction, then removes its data. */
  async remove(imageId: string, requestId?: string, shownId = imageId): Promise<void> {
    const deleted = await this.images.transaction(async (tx) => {
      const current = await this.images.get(imageId, tx, { forUpdate: true });
      if (!current || current.status === 'deleted') throw notFound(shownId);
      if (current.protected) throw ApiError.forbidden(`Image ${imageId} is protected and cannot be deleted.`);
      const row = await this.images.update(tx, imageId, { status: 'deleted', deleted_at: new Date(), staged: null });
      await this.images.deleteMembers(tx, imageId);
      await this.images.enqueueEvent(tx, 'image.deleted', { imageId, owner: current.owner, deletedAt: new Date().toISOString() }, requestId);
      return { before: current, row: row! };
    });
    this.events.kick();
    // Data goes after the commit: a failure here leaves an orphan the start-up sweep removes,
    // never an image whose data vanished.
    const { before } = deleted;
    try {
      if (before.location) await this.store.remove(before.location);
      if (before.staged) await this.staging.remove(before.staged.path);
    } catch (err) {
      this.log.warn(`image ${imageId} is deleted but its data could not be removed yet (${(err as Error).message}); the start-up sweep will retry`);
    }
  }

  /** For the RPC: image metadata as other services see it. */
  record(image: Image) {
    return toRecord(image);
  }
}
