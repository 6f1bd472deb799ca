import { Controller, Get, Inject } from '@nestjs/common';
import { Auth, type AuthContext, PolicyService } from '@kumo/service-kit';
import { IMPORT_METHODS } from '../data/image-data.service.js';
import { ImageRepository } from '../db/image.repository.js';
import { QuotaService } from '../quota/quota.service.js';
import { IMAGE_STORE, type ImageStore } from '../store/image-store.js';

const limitOf = (n: number) => (Number.isFinite(n) ? n : -1);

/** `/v2/info/*`: what this Glance can do (import methods, stores) and the caller's quota usage. */
@Controller('v2/info')
export class InfoController {
  constructor(
    private readonly images: ImageRepository,
    private readonly quota: QuotaService,
    private readonly policy: PolicyService,
    @Inject(IMAGE_STORE) private readonly store: ImageStore,
  ) {}

  @Get('import')
  importMethods(@Auth() _auth: AuthContext) {
    return { 'import-methods': { description: 'Import methods available.', type: 'array', value: [...IMPORT_METHODS] } };
  }

  @Get('stores')
  stores(@Auth() _auth: AuthContext) {
    return { stores: [{ id: this.store.id, description: this.store.description, default: true }] };
  }

  @Get('usage')
  async usage(@Auth() auth: AuthContext) {
    const project = auth.projectId ?? '';
    this.policy.enforce('get_usage', auth, { project_id: project });
    const r = await this.quota.remainingBytes(this.images.db, project || null);
    const usage = project ? await this.images.usage(this.images.db, project) : { images: 0, bytes: 0 };
    return {
      usage: {
        image_size_total: { limit: limitOf(r.limits.maxBytes), usage: usage.bytes },
        image_count_total: { limit: limitOf(r.limits.maxImages), usage: usage.images },
        image_stage_total: { limit: limitOf(r.limits.maxBytes), usage: 0 },
        image_count_uploading: { limit: -1, usage: 0 },
      },
    };
  }
}
