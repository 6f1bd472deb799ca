import { Inject, Injectable } from '@nestjs/common';
import { ApiError, type AuthContext, KUMO_CONFIG, PolicyService } from '@kumo/service-kit';
import { isoZ, type Json, metadataOf, nextLink, pageOf } from '../common/nova.js';
import type { ComputeConfig } from '../config.js';
import { QuotaService } from '../quotas/quota.service.js';
import { type GlanceImage, ImageApi, ImageApiError, propertiesOf } from './image-api.js';

/** Nova's query filters of the image proxy and the Glance v2 filter each one becomes (nova/image/glance.py). */
const FILTERS: Record<string, string> = { name: 'name', status: 'status', 'changes-since': 'updated_at', server: 'instance_uuid', type: 'image_type', minRam: 'min_ram', minDisk: 'min_disk' };

/** Glance status → Nova's image status and progress (nova/api/openstack/compute/views/images.py). */
const STATUS: Record<string, string> = { active: 'ACTIVE', queued: 'SAVING', saving: 'SAVING', deleted: 'DELETED', pending_delete: 'DELETED', killed: 'ERROR' };
const PROGRESS: Record<string, number> = { queued: 25, saving: 50, active: 100 };

const PATCH_TYPE = 'application/openstack-images-v2.1-json-patch';

const first = (v: unknown): string | undefined => (typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined);

/**
 * Nova's image proxy (`/v2.1/images`, 2.1–2.35) and image-metadata proxy (`/images/{id}/metadata`,
 * 2.1–2.38) over the image service's REST API with the caller's token, as Nova's glance client
 * does: the image service decides what the caller sees and may change; compute checks its own
 * policy first, renders Nova's shapes and applies Nova's metadata_items quota to image metadata.
 */
@Injectable()
export class ImagesProxyService {
  constructor(
    private readonly api: ImageApi,
    private readonly policy: PolicyService,
    private readonly quotas: QuotaService,
    @Inject(KUMO_CONFIG) private readonly config: Pick<ComputeConfig, 'KUMO_IMAGE_URL'>,
  ) {}

  private enforce(rule: string, auth: AuthContext): void {
    this.policy.enforce(rule, auth, { project_id: auth.projectId });
  }

  /** Glance's refusals in Nova's words: 404 "Image not found.", 403 stays 403, 400/409/413 keep Glance's reason. */
  private translate(err: unknown, forbidden?: string): unknown {
    if (!(err instanceof ImageApiError)) return err;
    if (err.status === 404) return ApiError.notFound('Image not found.');
    if (err.status === 401 || err.status === 403) return ApiError.forbidden(forbidden ?? err.message);
    if (err.status === 409) return ApiError.conflict(err.message);
    if (err.status === 413) return new ApiError(413, err.message);
    return ApiError.badRequest(err.message);
  }

  private async get(auth: AuthContext, id: string): Promise<GlanceImage> {
    // A blank or slash-bearing id never names an image (Nova's glance client: ImageNotFound).
    if (!id || id.includes('/')) throw ApiError.notFound('Image not found.');
    return this.api.call<GlanceImage>(auth.token, 'GET', `/images/${encodeURIComponent(id)}`).catch((e: unknown) => {
      throw this.translate(e);
    });
  }

  private links(base: string, id: string) {
    const glance = this.config.KUMO_IMAGE_URL?.replace(/\/+$/, '') ?? base.replace(/:\d+$/, ':9292');
    return [
      { rel: 'self', href: `${base}/v2.1/images/${id}` },
      { rel: 'bookmark', href: `${base}/images/${id}` },
      { rel: 'alternate', type: 'application/vnd.openstack.image', href: `${glance}/images/${id}` },
    ];
  }

  /** Nova's detailed image view. */
  view(img: GlanceImage, base: string): Json {
    const metadata = propertiesOf(img);
    const out: Json = {
      id: img.id,
      name: img.name ?? null,
      minRam: Number(img.min_ram ?? 0),
      minDisk: Number(img.min_disk ?? 0),
      metadata,
      created: isoZ(img.created_at),
      updated: isoZ(img.updated_at),
      status: STATUS[img.status] ?? 'UNKNOWN',
      progress: PROGRESS[img.status] ?? 0,
      links: this.links(base, img.id),
      'OS-EXT-IMG-SIZE:size': typeof img.size === 'number' ? img.size : null,
    };
    // A snapshot names its server (the image's instance_uuid property).
    const server = metadata.instance_uuid;
    if (server) {
      out.server = {
        id: server,
        links: [
          { rel: 'self', href: `${base}/v2.1/servers/${server}` },
          { rel: 'bookmark', href: `${base}/servers/${server}` },
        ],
      };
    }
    return out;
  }

  /** `GET /images` and `/images/detail`: Nova's filters mapped to Glance's, limit/marker passed through, `images_links` when the page is full. */
  async list(auth: AuthContext, q: Record<string, unknown>, base: string, detail: boolean): Promise<Json> {
    this.enforce('os_compute_api:images', auth);
    const { limit, marker } = pageOf(q);
    const params = new URLSearchParams();
    for (const [key, raw] of Object.entries(q)) {
      const v = first(raw);
      if (v === undefined) continue;
      if (key in FILTERS) {
        let value = v;
        // `server` may be the server's URL (Tempest passes its bookmark link): its last segment.
        if (key === 'server') value = v.replace(/\/+$/, '').split('/').pop() ?? v;
        if (key === 'status') value = v.toLowerCase();
        if (key === 'changes-since') value = `gte:${v}`;
        params.set(FILTERS[key]!, value);
      } else if (key.startsWith('property-') && key.length > 'property-'.length) {
        params.set(key.slice('property-'.length), v);
      }
    }
    if (marker) params.set('marker', marker);
    const want = q.limit === undefined ? undefined : limit;
    params.set('limit', String(Math.min(want ?? 1000, 1000)));
    const images: GlanceImage[] = [];
    let path: string | undefined = `/images?${params.toString()}`;
    // Without a limit Nova's glance client reads every page, as here.
    while (path && want !== 0) {
      const page: { images: GlanceImage[]; next?: string } = await this.api.call<{ images: GlanceImage[]; next?: string }>(auth.token, 'GET', path).catch((e: unknown) => {
        throw this.translate(e);
      });
      images.push(...page.images);
      if (want !== undefined && images.length >= want) break;
      path = page.next ? page.next.replace(/^\/v2(?=\/)/, '') : undefined;
    }
    const shown = want === undefined ? images : images.slice(0, want);
    const out: Json = { images: shown.map((i) => (detail ? this.view(i, base) : { id: i.id, name: i.name ?? null, links: this.links(base, i.id) })) };
    // Nova's _get_collection_links: a next link when the page holds min(limit, max_limit) items.
    if (shown.length > 0 && shown.length === Math.min(want ?? 1000, 1000)) out.images_links = nextLink(base, 'images', Object.fromEntries(Object.entries(q).map(([k, v]) => [k, first(v)])), shown[shown.length - 1]!.id);
    return out;
  }

  async show(auth: AuthContext, id: string, base: string): Promise<Json> {
    this.enforce('os_compute_api:images', auth);
    return this.view(await this.get(auth, id), base);
  }

  async delete(auth: AuthContext, id: string): Promise<void> {
    this.enforce('os_compute_api:images:delete', auth);
    if (!id || id.includes('/')) throw ApiError.notFound('Image not found.');
    await this.api.call(auth.token, 'DELETE', `/images/${encodeURIComponent(id)}`).catch((e: unknown) => {
      throw this.translate(e, 'You are not allowed to delete the image.');
    });
  }

  // ---------------------------------------------------------------- image metadata (2.1–2.38)

  async metadata(auth: AuthContext, id: string): Promise<Record<string, string>> {
    this.enforce('os_compute_api:image-metadata', auth);
    return propertiesOf(await this.get(auth, id));
  }

  async metadataItem(auth: AuthContext, id: string, key: string): Promise<Record<string, string>> {
    this.enforce('os_compute_api:image-metadata', auth);
    const props = propertiesOf(await this.get(auth, id));
    if (!(key in props)) throw ApiError.notFound('The resource could not be found.');
    return { [key]: props[key]! };
  }

  /** Nova's image metadata schema: `{"<field>": {key: string ≤ 255}}` with no other top-level key. */
  private parse(body: unknown, field: 'metadata' | 'meta'): Record<string, string> {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw ApiError.badRequest(`Invalid input for request body: expected an object with "${field}".`);
    const extra = Object.keys(body).filter((k) => k !== field);
    if (extra.length) throw ApiError.badRequest(`Invalid input for request body. Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length > 1 ? 'were' : 'was'} unexpected)`);
    const raw = (body as Json)[field];
    if (raw === undefined) throw ApiError.badRequest(`Invalid input for field/attribute ${field}. '${field}' is a required property`);
    const meta = metadataOf(raw, field);
    for (const k of Object.keys(meta)) {
      if (!/^[a-zA-Z0-9-_:. ]{1,255}$/.test(k)) throw ApiError.badRequest(`Invalid input for field/attribute ${field}. Value: ${JSON.stringify(raw)}. Additional properties are not allowed ('${k}' was unexpected)`);
    }
    if (field === 'meta' && Object.keys(meta).length !== 1) {
      throw ApiError.badRequest(`Invalid input for field/attribute meta. Value: ${JSON.stringify(raw)}. ${JSON.stringify(raw)} ${Object.keys(meta).length ? 'has too many properties' : 'does not have enough properties'}`);
    }
    return meta;
  }

  /** Nova's check_img_metadata_properties_quota: more properties than the project's metadata_items → 403. */
  private async checkQuota(auth: AuthContext, props: Record<string, string>): Promise<void> {
    const n = Object.keys(props).length;
    if (!n || !auth.projectId) return;
    const limit = (await this.quotas.limits(auth.projectId)).metadata_items!;
    if (limit >= 0 && n > limit) throw new ApiError(403, 'Image metadata limit exceeded', { type: 'forbidden' });
  }

  /** Writes `next` as the image's whole property set (Nova's update with purge_props) as one JSON patch. */
  private async replaceProperties(auth: AuthContext, img: GlanceImage, next: Record<string, string>): Promise<Record<string, string>> {
    const current = propertiesOf(img);
    const ops: Json[] = [];
    const pointer = (k: string) => `/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    for (const k of Object.keys(current)) if (!(k in next)) ops.push({ op: 'remove', path: pointer(k) });
    for (const [k, v] of Object.entries(next)) if (current[k] !== v) ops.push({ op: 'add', path: pointer(k), value: v });
    if (!ops.length) return current;
    const updated = await this.api.call<GlanceImage>(auth.token, 'PATCH', `/images/${encodeURIComponent(img.id)}`, ops, PATCH_TYPE).catch((e: unknown) => {
      throw this.translate(e);
    });
    return propertiesOf(updated);
  }

  /** `POST /images/{id}/metadata`: merges the keys, answers every property. */
  async mergeMetadata(auth: AuthContext, id: string, body: unknown): Promise<Record<string, string>> {
    this.enforce('os_compute_api:image-metadata:update', auth);
    const meta = this.parse(body, 'metadata');
    const img = await this.get(auth, id);
    const next = { ...propertiesOf(img), ...meta };
    await this.checkQuota(auth, next);
    return this.replaceProperties(auth, img, next);
  }

  /** `PUT /images/{id}/metadata`: the body becomes the whole property set. */
  async replaceMetadata(auth: AuthContext, id: string, body: unknown): Promise<Record<string, string>> {
    this.enforce('os_compute_api:image-metadata:update', auth);
    const meta = this.parse(body, 'metadata');
    const img = await this.get(auth, id);
    await this.checkQuota(auth, meta);
    await this.replaceProperties(auth, img, meta);
    return meta;
  }

  /** `PUT /images/{id}/metadata/{key}` with `{"meta": {key: value}}`. */
  async setMetadataItem(auth: AuthContext, id: string, key: string, body: unknown): Promise<Record<string, string>> {
    this.enforce('os_compute_api:image-metadata:update', auth);
    const meta = this.parse(body, 'meta');
    if (!(key in meta)) throw ApiError.badRequest('Request body and URI mismatch');
    const img = await this.get(auth, id);
    const next = { ...propertiesOf(img), [key]: meta[key]! };
    await this.checkQuota(auth, next);
    await this.replaceProperties(auth, img, next);
    return meta;
  }

  async deleteMetadataItem(auth: AuthContext, id: string, key: string): Promise<void> {
    this.enforce('os_compute_api:image-metadata:update', auth);
    const img = await this.get(auth, id);
    const props = propertiesOf(img);
    if (!(key in props)) throw ApiError.notFound('Invalid metadata key');
    delete props[key];
    await this.replaceProperties(auth, img, props);
  }
}
