import path from 'node:path';
import { type BaseConfig, byteSize } from '@kumo/service-kit';
import { z } from 'zod';

const limit = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const v = value.trim().toLowerCase();
      if (v === 'unlimited' || v === '-1') return Infinity;
      const parsed = byteSize('0').safeParse(v);
      if (!parsed.success) {
        ctx.addIssue({ code: 'custom', message: 'must be a byte size such as 10gib, or "unlimited"' });
        return z.NEVER;
      }
      return parsed.data;
    });

const count = (fallback: number) =>
  z.coerce
    .number({ message: 'must be an integer (-1 for unlimited)' })
    .int('must be an integer (-1 for unlimited)')
    .min(-1, 'must be -1 (unlimited) or more')
    .default(fallback)
    .transform((n) => (n < 0 ? Infinity : n));

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

/**
 * The image service's own settings (on top of service-kit's base variables). Every one has a
 * default that works for `./kumo up`; docs/image.md explains each.
 */
export const imageConfigShape = {
  /** Set by ./kumo for every service; the default store directory lives under it. */
  KUMO_STATE_DIR: z.string().optional(),
  /** Store driver: `file` (a directory) is implemented; `rbd` is the documented scale path. */
  KUMO_IMAGE_STORE: z.enum(['file', 'rbd'], { message: 'must be file or rbd' }).default('file'),
  /** file store directory. Default: $KUMO_STATE_DIR/images, else /var/lib/kumo/images. */
  KUMO_IMAGE_STORE_DIR: z.string().min(1).optional(),
  /** Public base URL of this API (download links handed to compute nodes). */
  KUMO_IMAGE_URL: z.string().url('must be a URL such as http://10.0.0.5:9292').optional(),
  KUMO_PUBLIC_HOST: z.string().min(1).default('127.0.0.1'),
  /** Largest image data accepted (Glance's image_size_cap). */
  KUMO_IMAGE_MAX_SIZE: byteSize('1024gib'),
  /** Largest virtual size (what qemu-img reports) accepted: bounds "qcow2 bombs". */
  KUMO_IMAGE_MAX_VIRTUAL_SIZE: byteSize('1024gib'),
  /** Default per-project quotas; per-project overrides: `main.js set-quota`. */
  KUMO_IMAGE_QUOTA_IMAGES: count(1000),
  KUMO_IMAGE_QUOTA_BYTES: limit('1024gib'),
  /** Limits of every qemu-img run on untrusted data (address space, CPU seconds, wall clock). */
  KUMO_IMAGE_INSPECT_MEMORY: byteSize('1gib'),
  KUMO_IMAGE_INSPECT_CPU_S: z.coerce.number().int().min(1).default(30),
  KUMO_IMAGE_INSPECT_TIMEOUT_S: z.coerce.number().int().min(1).default(120),
  /** Run `qemu-img check` on qcow2 uploads and refuse corrupt ones. */
  KUMO_IMAGE_QCOW2_CHECK: bool(true),
  /**
   * Compute md5 and sha512 of uploads on two worker threads, in parallel with the I/O. Off by
   * default: it pays only when hashing is the bottleneck *and* a core is free (a fast disk on an
   * idle host); on a busy 2-core host it measured slightly slower than hashing inline.
   */
  KUMO_IMAGE_HASH_THREADS: bool(false),
  /** fdatasync image data before it is declared active. */
  KUMO_IMAGE_FSYNC: bool(true),
  /** An upload that sends nothing for this long is aborted. */
  KUMO_IMAGE_UPLOAD_IDLE_TIMEOUT_S: z.coerce.number().int().min(1).default(120),
  /** Directories the `image.import_file` RPC may read from (comma-separated); empty: none. */
  KUMO_IMAGE_IMPORT_DIRS: z.string().default(''),
};

export type ImageConfig = BaseConfig & {
  KUMO_STATE_DIR?: string;
  KUMO_IMAGE_STORE: 'file' | 'rbd';
  KUMO_IMAGE_STORE_DIR?: string;
  KUMO_IMAGE_URL?: string;
  KUMO_PUBLIC_HOST: string;
  KUMO_IMAGE_PORT: number;
  KUMO_IMAGE_MAX_SIZE: number;
  KUMO_IMAGE_MAX_VIRTUAL_SIZE: number;
  KUMO_IMAGE_QUOTA_IMAGES: number;
  KUMO_IMAGE_QUOTA_BYTES: number;
  KUMO_IMAGE_INSPECT_MEMORY: number;
  KUMO_IMAGE_INSPECT_CPU_S: number;
  KUMO_IMAGE_INSPECT_TIMEOUT_S: number;
  KUMO_IMAGE_QCOW2_CHECK: boolean;
  KUMO_IMAGE_FSYNC: boolean;
  KUMO_IMAGE_HASH_THREADS: boolean;
  KUMO_IMAGE_UPLOAD_IDLE_TIMEOUT_S: number;
  KUMO_IMAGE_IMPORT_DIRS: string;
};

export const DEFAULT_STORE_DIR = '/var/lib/kumo/images';

export function storeDirOf(config: ImageConfig): string {
  if (config.KUMO_IMAGE_STORE_DIR) return path.resolve(config.KUMO_IMAGE_STORE_DIR);
  if (config.KUMO_STATE_DIR) return path.resolve(config.KUMO_STATE_DIR, 'images');
  return DEFAULT_STORE_DIR;
}

export function publicUrlOf(config: ImageConfig): string {
  return (config.KUMO_IMAGE_URL ?? `http://${config.KUMO_PUBLIC_HOST}:${config.KUMO_IMAGE_PORT}`).replace(/\/+$/, '');
}

export function importDirsOf(config: ImageConfig): string[] {
  return config.KUMO_IMAGE_IMPORT_DIRS.split(',')
    .map((d) => d.trim())
    .filter(Boolean)
    .map((d) => path.resolve(d));
}

/** Injection token of the image configuration (the same object as service-kit's KUMO_CONFIG). */
export const IMAGE_CONFIG = Symbol('IMAGE_CONFIG');
