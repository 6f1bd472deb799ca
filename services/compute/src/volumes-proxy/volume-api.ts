import { Inject, Injectable } from '@nestjs/common';
import { KUMO_CONFIG } from '@kumo/service-kit';
import type { ComputeConfig } from '../config.js';
import { callService, fetchCall, type HttpCall, serviceFailed } from '../common/service-rest.js';

/** Cinder's volume JSON (v3 at 3.0) as the volume service renders it; only what Nova's views read. */
export type CinderVolume = {
  id: string;
  name: string | null;
  description: string | null;
  size: number;
  status: string;
  availability_zone: string;
  created_at: string;
  attachments: { server_id: string; device: string | null }[];
  metadata: Record<string, string>;
  volume_type: string | null;
  snapshot_id: string | null;
};

/** A non-2xx answer of the volume service (Cinder's fault body: `{"itemNotFound": {"code", "message"}}`). */
export class VolumeApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'VolumeApiError';
  }
}

/**
 * The volume service's REST API (Cinder v3) as Nova's cinder driver uses it for the os-volumes and
 * os-snapshots proxies: every call carries the caller's own token and project, so the volume
 * service's policy and quotas apply (another project's volume is its 404). 4xx answers become
 * VolumeApiError for the caller to translate; an unreachable or failing service is a 503.
 */
@Injectable()
export class VolumeApi {
  private readonly base: string | undefined;
  http: HttpCall = fetchCall;

  constructor(@Inject(KUMO_CONFIG) config: Pick<ComputeConfig, 'KUMO_VOLUME_URL'>) {
    this.base = config.KUMO_VOLUME_URL?.replace(/\/+$/, '');
  }

  async call<T = Record<string, unknown>>(token: string, projectId: string, method: string, path: string, body?: unknown): Promise<T> {
    const res = await callService(
      this.http,
      { service: 'volume', base: this.base, variable: 'KUMO_VOLUME_URL', apis: 'volume proxy APIs (os-volumes, os-snapshots)' },
      { token, method, url: `/v3/${encodeURIComponent(projectId)}${path}`, body },
    );
    const json = res.json;
    if (res.status >= 200 && res.status < 300) return json as T;
    // Cinder's fault body has one key (itemNotFound, badRequest, overLimit, …) holding the message.
    const fault = json && typeof json === 'object' ? (Object.values(json as Record<string, unknown>)[0] as { message?: unknown } | undefined) : undefined;
    const message = typeof fault?.message === 'string' ? fault.message : `HTTP ${res.status}`;
    if (res.status >= 500) throw serviceFailed('volume', method, path, res.status, message);
    throw new VolumeApiError(res.status, message);
  }
}
