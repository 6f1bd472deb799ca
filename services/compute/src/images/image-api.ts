import { Inject, Injectable } from '@nestjs/common';
import { KUMO_CONFIG } from '@kumo/service-kit';
import type { ComputeConfig } from '../config.js';
import { callService, fetchCall, type HttpCall, serviceFailed } from '../common/service-rest.js';

/** A Glance v2 image as the image service's REST API renders it: base attributes and properties side by side. */
export type GlanceImage = Record<string, unknown> & {
  id: string;
  name: string | null;
  status: string;
  size: number | null;
  min_ram: number;
  min_disk: number;
  created_at: string;
  updated_at: string;
};

/**
 * The attributes of Glance v2's image schema; every other key of an image is a free-form property
 * (what Nova's glance client puts into `properties`, and the image proxy shows as `metadata`).
 */
export const GLANCE_BASE_KEYS = new Set([
  'id', 'name', 'status', 'visibility', 'protected', 'os_hidden', 'checksum', 'os_hash_algo', 'os_hash_value', 'owner', 'size',
  'virtual_size', 'min_ram', 'min_disk', 'disk_format', 'container_format', 'created_at', 'updated_at', 'tags', 'self', 'file',
  'schema', 'direct_url', 'locations', 'stores', 'os_glance_failure_reason',
]);

export function propertiesOf(image: GlanceImage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(image)) if (!GLANCE_BASE_KEYS.has(k) && typeof v === 'string') out[k] = v;
  return out;
}

/** A non-2xx answer of the image service below 500: its status and Glance's message. */
export class ImageApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ImageApiError';
  }
}

/**
 * The image service's REST API (Glance v2) as Nova's glance client uses it for the image proxy:
 * every call carries the caller's own token, so the image service's visibility rules and policy
 * apply (another project's private image is a 404 there, as in Glance). Non-2xx answers become
 * ImageApiError; an unreachable or failing service becomes a 503 ApiError.
 */
@Injectable()
export class ImageApi {
  readonly base: string | undefined;
  http: HttpCall = fetchCall;

  constructor(@Inject(KUMO_CONFIG) config: Pick<ComputeConfig, 'KUMO_IMAGE_URL'>) {
    this.base = config.KUMO_IMAGE_URL?.replace(/\/+$/, '');
  }

  async call<T = Record<string, unknown>>(token: string, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const res = await callService(
      this.http,
      { service: 'image', base: this.base, variable: 'KUMO_IMAGE_URL', apis: 'image proxy APIs (/images, image metadata)' },
      { token, method, url: `/v2${path}`, body, contentType },
    );
    const json = res.json;
    if (res.status >= 200 && res.status < 300) return json as T;
    const message = (json as { message?: string } | undefined)?.message ?? (res.text.trim() || `HTTP ${res.status}`);
    if (res.status >= 500) throw serviceFailed('image', method, path, res.status, message);
    throw new ImageApiError(res.status, message);
  }
}
