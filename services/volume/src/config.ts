import path from 'node:path';
import type { BaseConfig } from '@kumo/service-kit';
import { z } from 'zod';

const count = (fallback: number) =>
  z.coerce
    .number({ message: 'must be an integer (-1 for unlimited)' })
    .int('must be an integer (-1 for unlimited)')
    .min(-1, 'must be -1 (unlimited) or more')
    .default(fallback)
    .transform((n) => (n < 0 ? Infinity : n));

/** The volume service's own settings (docs/volume.md explains each). */
export const volumeConfigShape = {
  /** Set by ./kumo for every service; the default volume directory lives under it. */
  KUMO_STATE_DIR: z.string().optional(),
  /** Directory of the file backend (one qcow2 per volume). Default: $KUMO_STATE_DIR/volumes, else /var/lib/kumo/volumes. */
  KUMO_VOLUME_DIR: z.string().min(1).optional(),
  /** Cinder's default quotas (volumes, gigabytes) per project. */
  KUMO_VOLUME_QUOTA_VOLUMES: count(10),
  KUMO_VOLUME_QUOTA_GIGABYTES: count(1000),
  /** Cinder's default `snapshots` quota per project (snapshot sizes count in `gigabytes` too, as Cinder's default). */
  KUMO_VOLUME_QUOTA_SNAPSHOTS: count(10),
  /** Largest volume, in GiB. */
  KUMO_VOLUME_MAX_SIZE_GB: z.coerce.number().int().min(1).default(1024),
  /** A reservation neither attached nor given back within this time is expired by the reconciler. */
  KUMO_VOLUME_RESERVATION_TIMEOUT_S: z.coerce.number().int().min(1).default(300),
  /** How often the reconciler looks for stuck volumes. */
  KUMO_VOLUME_RECONCILE_INTERVAL_S: z.coerce.number().int().min(1).default(30),
};

export type VolumeConfig = BaseConfig & {
  KUMO_STATE_DIR?: string;
  KUMO_VOLUME_DIR?: string;
  KUMO_VOLUME_QUOTA_VOLUMES: number;
  KUMO_VOLUME_QUOTA_GIGABYTES: number;
  KUMO_VOLUME_QUOTA_SNAPSHOTS: number;
  KUMO_VOLUME_MAX_SIZE_GB: number;
  KUMO_VOLUME_RESERVATION_TIMEOUT_S: number;
  KUMO_VOLUME_RECONCILE_INTERVAL_S: number;
};

export const DEFAULT_VOLUME_DIR = '/var/lib/kumo/volumes';

export function volumeDirOf(config: Pick<VolumeConfig, 'KUMO_VOLUME_DIR' | 'KUMO_STATE_DIR'>): string {
  if (config.KUMO_VOLUME_DIR) return path.resolve(config.KUMO_VOLUME_DIR);
  if (config.KUMO_STATE_DIR) return path.resolve(config.KUMO_STATE_DIR, 'volumes');
  return DEFAULT_VOLUME_DIR;
}
