import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { type ImageCreateRequest, type ImageDeleteRequest, type ImageGetRequest, type ImageImportFileRequest, type ImageListRequest, type ImageLocation, type ImageRecord, RpcError, rpcPattern } from '@kumo/contracts';
import { ApiError, KUMO_CONFIG } from '@kumo/service-kit';
import { type ImageConfig, publicUrlOf } from '../config.js';
import { ImageDataService } from '../data/image-data.service.js';
import type { Viewer } from '../db/image.repository.js';
import { HAS_DATA, validateAttribute, validateProperty, validateTag } from '../images/image.model.js';
import { toRecord } from '../images/image.view.js';
import { ImagesService } from '../images/images.service.js';
import { parseListQuery } from '../images/list-query.js';
import { IMAGE_STORE, type ImageStore } from '../store/image-store.js';

function viewerOfCaller(req: { asProject?: string; asAdmin?: boolean }): Viewer {
  return req.asProject === undefined && !req.asAdmin ? { projectId: null, isAdmin: true } : { projectId: req.asProject ?? null, isAdmin: req.asAdmin === true };
}

function badRequest(err: unknown): never {
  if (err instanceof ApiError && err.status === 400) throw new RpcError({ code: 'bad_request', message: err.message });
  throw err;
}

/**
 * The image service's RPCs (contracts/src/image.ts). ApiErrors thrown here reach the caller as
 * typed RpcErrors (404 -> not_found, 409 -> conflict, 413 -> over_limit).
 */
@Controller()
export class ImageRpcController {
  constructor(
    private readonly images: ImagesService,
    private readonly data: ImageDataService,
    @Inject(IMAGE_STORE) private readonly store: ImageStore,
    @Inject(KUMO_CONFIG) private readonly config: ImageConfig,
  ) {}

  @MessagePattern(rpcPattern('image', 'get'))
  async get(@Payload() req: ImageGetRequest): Promise<ImageRecord> {
    return toRecord(await this.images.findVisible(viewerOfCaller(req), req.imageId));
  }

  @MessagePattern(rpcPattern('image', 'get_location'))
  async getLocation(@Payload() req: ImageGetRequest): Promise<ImageLocation> {
    const image = await this.images.findVisible(viewerOfCaller(req), req.imageId);
    if (!HAS_DATA.includes(image.status) || !image.location) {
      throw new RpcError({ code: 'conflict', message: `Image ${image.id} has no data to boot from (status ${image.status}).` });
    }
    if (image.status === 'deactivated' && !viewerOfCaller(req).isAdmin) {
      throw new RpcError({ code: 'conflict', message: `Image ${image.id} is deactivated: its data may not be used.` });
    }
    return { image: toRecord(image), store: this.store.id, ...this.store.describe(image.location), url: `${publicUrlOf(this.config)}/v2/images/${image.id}/file` };
  }

  @MessagePattern(rpcPattern('image', 'create'))
  async create(@Payload() req: ImageCreateRequest): Promise<ImageRecord> {
    if (!req || typeof req.owner !== 'string' || !req.owner) throw new RpcError({ code: 'bad_request', message: 'image.create needs an owner project id' });
    if (req.id) {
      const existing = await this.images.images.get(req.id);
      if (existing && existing.owner === req.owner && existing.status !== 'deleted') return toRecord(existing);
    }
    try {
      const properties: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.properties ?? {})) properties[k] = validateProperty(k, v);
      const image = await this.images.insert({
        id: req.id,
        owner: req.owner,
        name: validateAttribute('name', req.name) as string,
        visibility: (validateAttribute('visibility', req.visibility ?? 'private') as ImageCreateRequest['visibility'])!,
        protected: false,
        osHidden: false,
        diskFormat: validateAttribute('disk_format', req.diskFormat) as string,
        containerFormat: validateAttribute('container_format', req.containerFormat) as string,
        minRam: validateAttribute('min_ram', req.minRam ?? 0) as number,
        minDisk: validateAttribute('min_disk', req.minDisk ?? 0) as number,
        tags: (req.tags ?? []).map(validateTag),
        properties,
      });
      return toRecord(image);
    } catch (err) {
      badRequest(err);
    }
  }

  @MessagePattern(rpcPattern('image', 'import_file'))
  async importFile(@Payload() req: ImageImportFileRequest): Promise<ImageRecord> {
    try {
      return toRecord(await this.data.importFile(req.imageId, req.path, req.removeSource === true));
    } catch (err) {
      badRequest(err);
    }
  }

  /** Compute deletes the snapshot of a shelved server once it is unshelved or deleted (Nova does the same in Glance). */
  @MessagePattern(rpcPattern('image', 'delete'))
  async delete(@Payload() req: ImageDeleteRequest): Promise<{ deleted: true }> {
    const image = req?.imageId ? await this.images.images.get(req.imageId) : undefined;
    // Another project's image answers like a missing one, as in the REST API.
    if (!image || image.status === 'deleted' || (req.asProject !== undefined && image.owner !== req.asProject)) {
      throw new RpcError({ code: 'not_found', message: `No image found with ID ${req?.imageId}` });
    }
    if (image.protected) throw new RpcError({ code: 'conflict', message: `Image ${image.id} is protected and cannot be deleted.` });
    await this.images.remove(image.id);
    return { deleted: true };
  }

  /** Compute's createBackup rotation: a project's images carrying all the given properties, oldest first. */
  @MessagePattern(rpcPattern('image', 'list'))
  async list(@Payload() req: ImageListRequest): Promise<{ images: ImageRecord[] }> {
    if (!req || typeof req.owner !== 'string' || !req.owner) throw new RpcError({ code: 'bad_request', message: 'image.list needs an owner project id' });
    const query = parseListQuery({ owner: req.owner, sort_key: 'created_at', sort_dir: 'asc', limit: '1000' });
    for (const [k, v] of Object.entries(req.properties ?? {})) {
      if (typeof v !== 'string') throw new RpcError({ code: 'bad_request', message: `image.list: property ${k} must be a string` });
      query.properties[k] = v;
    }
    const images = await this.images.images.list(query, { projectId: req.owner, isAdmin: false });
    return { images: images.map(toRecord) };
  }
}
