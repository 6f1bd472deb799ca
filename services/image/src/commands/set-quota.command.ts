import { byteSize, type BaseConfig } from '@kumo/service-kit';
import type { ImageConfig } from '../config.js';
import { parseArgs } from './args.js';
import { withOfflineCore } from './offline-core.js';

function images(v: string | undefined): number | null {
  if (v === undefined || v === 'default') return null;
  if (v === 'unlimited') return -1;
  if (!/^\d+$/.test(v)) throw new Error(`--images must be a number, "unlimited" or "default" (got ${v})`);
  return Number(v);
}

function bytes(v: string | undefined): number | null {
  if (v === undefined || v === 'default') return null;
  if (v === 'unlimited') return -1;
  const parsed = byteSize('0').safeParse(v);
  if (!parsed.success) throw new Error(`--bytes must be a size such as 20gib, "unlimited" or "default" (got ${v})`);
  return parsed.data;
}

/** `main.js set-quota --project P [--images N|unlimited|default] [--bytes 20gib|unlimited|default]` */
export const setQuotaCommand = {
  describe: 'set a project\'s image quotas: --project ID [--images N|unlimited|default] [--bytes SIZE|unlimited|default]',
  run: async (config: BaseConfig & Record<string, unknown>, args: string[]): Promise<number> => {
    const a = parseArgs(args, ['project', 'images', 'bytes']);
    if (!a.project) throw new Error('--project is required');
    const maxImages = images(a.images);
    const maxBytes = bytes(a.bytes);
    await withOfflineCore(config as ImageConfig, async ({ repo }) => {
      await repo.setQuota(a.project!, maxImages, maxBytes);
    });
    process.stdout.write(`image quotas of project ${a.project}: images ${maxImages ?? 'default'}, bytes ${maxBytes ?? 'default'} (-1 = unlimited)\n`);
    return 0;
  },
};
