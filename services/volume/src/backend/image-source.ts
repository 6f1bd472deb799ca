import fs from 'node:fs';
import { Injectable } from '@nestjs/common';
import { RpcError } from '@kumo/contracts';
import { AmqpRpcTransport } from '@kumo/service-kit';

export interface SourceImage {
  id: string;
  name: string | null;
  /** qemu-img format name to read the data with (Glance's `vhd` is qemu's `vpc`). */
  format: string;
  virtualSize: number;
  /** Glance disk_format / container_format etc. for `volume_image_metadata`. */
  metadata: Record<string, string>;
  /** Where the data is readable on this node (file store, same node or shared storage). */
  path: string | undefined;
}

/** Images a volume can be created from; behind an interface so unit tests need no image service. */
export interface ImageSource {
  /** The image as `projectId` sees it; `not_found` when it cannot, `bad_request` when it is no disk. */
  locate(imageId: string, projectId: string): Promise<SourceImage>;
}

export const IMAGE_SOURCE = Symbol('IMAGE_SOURCE');

/** Glance disk formats a volume can be made of, and how qemu-img reads them (aki/ari are kernels, not disks). */
const QEMU_FORMAT: Record<string, string> = { raw: 'raw', ami: 'raw', iso: 'raw', qcow2: 'qcow2', vmdk: 'vmdk', vdi: 'vdi', vhd: 'vpc', vhdx: 'vhdx' };

/** Asks the image service (`image.get_location`, with the caller's project, so visibility rules apply). */
@Injectable()
export class RpcImageSource implements ImageSource {
  constructor(private readonly transport: AmqpRpcTransport) {}

  async locate(imageId: string, projectId: string): Promise<SourceImage> {
    const loc = await this.transport.client('image').call('get_location', { imageId, asProject: projectId }, { timeoutMs: 30000 });
    const format = QEMU_FORMAT[loc.image.diskFormat ?? ''];
    if (!format) throw new RpcError({ code: 'bad_request', message: `Image ${imageId} has disk_format ${loc.image.diskFormat}: a volume cannot be made of it.` });
    const metadata: Record<string, string> = { image_id: imageId };
    if (loc.image.name) metadata.image_name = loc.image.name;
    if (loc.image.diskFormat) metadata.disk_format = loc.image.diskFormat;
    if (loc.image.containerFormat) metadata.container_format = loc.image.containerFormat;
    if (loc.image.checksum) metadata.checksum = loc.image.checksum;
    if (loc.image.size !== null) metadata.size = String(loc.image.size);
    for (const [k, v] of Object.entries(loc.image.properties ?? {})) metadata[k] = String(v);
    // Single node or shared store directory: read the store file directly (no second copy over HTTP).
    const path = loc.path && fs.existsSync(loc.path) ? loc.path : undefined;
    return { id: imageId, name: loc.image.name, format, virtualSize: loc.image.virtualSize ?? loc.image.size ?? 0, metadata, path };
  }
}
