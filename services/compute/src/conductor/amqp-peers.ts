import { Injectable } from '@nestjs/common';
import type { AllocateForServerRequest, ImageLocation, ImageRecord, ServerPort, VolumeAttachmentRecord, VolumeConnectionInfo, VolumeRecord } from '@kumo/contracts';
import { AmqpRpcTransport } from '@kumo/service-kit';
import type { ImageClient, NetworkClient, VolumeClient } from './peers.js';

@Injectable()
export class AmqpNetworkClient implements NetworkClient {
  constructor(private readonly transport: AmqpRpcTransport) {}

  async allocate(req: AllocateForServerRequest, requestId?: string): Promise<ServerPort[]> {
    return (await this.transport.client('network').call('allocate_for_server', req, { requestId, timeoutMs: 60000 })).ports;
  }

  async deallocate(serverId: string, requestId?: string): Promise<void> {
    await this.transport.client('network').call('deallocate_for_server', { serverId }, { requestId, timeoutMs: 60000 });
  }

  async listPorts(serverId: string): Promise<ServerPort[]> {
    return (await this.transport.client('network').call('list_server_ports', { serverId }, { timeoutMs: 10000 })).ports;
  }

  async unbind(portId: string, deleteIfCreated: boolean, requestId?: string): Promise<void> {
    await this.transport.client('network').call('unbind_port', { portId, deleteIfCreated }, { requestId, timeoutMs: 60000 });
  }

  async bind(portId: string, serverId: string, host: string, requestId?: string): Promise<ServerPort> {
    return (await this.transport.client('network').call('bind_port', { portId, serverId, host }, { requestId, timeoutMs: 60000 })).port;
  }
}

@Injectable()
export class AmqpImageClient implements ImageClient {
  constructor(private readonly transport: AmqpRpcTransport) {}

  get(imageId: string, asProject: string, asAdmin: boolean): Promise<ImageRecord> {
    return this.transport.client('image').call('get', { imageId, asProject, asAdmin }, { timeoutMs: 15000 });
  }

  location(imageId: string, asProject: string, asAdmin: boolean): Promise<ImageLocation> {
    return this.transport.client('image').call('get_location', { imageId, asProject, asAdmin }, { timeoutMs: 15000 });
  }

  create(req: Parameters<ImageClient['create']>[0]): Promise<ImageRecord> {
    return this.transport.client('image').call('create', req, { timeoutMs: 15000 });
  }

  async delete(imageId: string, asProject: string): Promise<void> {
    await this.transport.client('image').call('delete', { imageId, asProject }, { timeoutMs: 15000 });
  }

  async list(owner: string, properties: Record<string, string>): Promise<ImageRecord[]> {
    return (await this.transport.client('image').call('list', { owner, properties }, { timeoutMs: 15000 })).images;
  }
}

/**
 * Calls are made as the server's project (`asAdmin` when an admin acts on another project's
 * server), so a volume the project cannot see is `not_found`. Detach-side calls act as admin:
 * they only undo what this server holds.
 */
@Injectable()
export class AmqpVolumeClient implements VolumeClient {
  constructor(private readonly transport: AmqpRpcTransport) {}

  private get c() {
    return this.transport.client('volume');
  }

  get(volumeId: string, projectId: string, asAdmin: boolean): Promise<VolumeRecord> {
    return this.c.call('get', { volumeId, projectId, asAdmin }, { timeoutMs: 15000 });
  }

  async reserve(volumeId: string, projectId: string, serverId: string, asAdmin: boolean, requestId?: string, hold?: boolean): Promise<VolumeAttachmentRecord> {
    return (await this.c.call('reserve', { volumeId, projectId, serverId, asAdmin, ...(hold ? { hold } : {}) }, { requestId, timeoutMs: 30000 })).attachment;
  }

  attach(volumeId: string, projectId: string, serverId: string, host: string | null, device: string | null, asAdmin: boolean, requestId?: string): Promise<{ attachment: VolumeAttachmentRecord; connection: VolumeConnectionInfo }> {
    return this.c.call('attach', { volumeId, projectId, serverId, host, device, asAdmin }, { requestId, timeoutMs: 30000 });
  }

  async detach(volumeId: string, projectId: string, serverId: string, requestId?: string): Promise<void> {
    await this.c.call('detach', { volumeId, projectId, serverId, asAdmin: true }, { requestId, timeoutMs: 30000 });
  }

  async unreserve(volumeId: string, projectId: string, serverId: string, requestId?: string): Promise<void> {
    await this.c.call('unreserve', { volumeId, projectId, serverId, asAdmin: true }, { requestId, timeoutMs: 30000 });
  }

  async delete(volumeId: string, projectId: string, requestId?: string): Promise<void> {
    await this.c.call('delete', { volumeId, projectId, asAdmin: true }, { requestId, timeoutMs: 30000 });
  }

  async copy(sourceVolumeId: string, volumeId: string, projectId: string, serverId: string, requestId?: string): Promise<void> {
    // A full copy of the volume's data: minutes for a large one.
    await this.c.call('copy', { volumeId, sourceVolumeId, projectId, serverId, asAdmin: true }, { requestId, timeoutMs: 30 * 60000 });
  }

  /** Copying an image into a volume takes a while: polls every second, for up to 30 minutes. */
  async createFromImage(req: { id: string; projectId: string; size: number; imageId: string; name: string }, requestId?: string): Promise<VolumeRecord> {
    let v = await this.c.call('create', { id: req.id, projectId: req.projectId, size: req.size, imageId: req.imageId, name: req.name }, { requestId, timeoutMs: 60000 });
    const deadline = Date.now() + 30 * 60000;
    while (v.status === 'creating' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      v = await this.get(req.id, req.projectId, false);
    }
    if (v.status !== 'available') throw new Error(`volume ${req.id} made from image ${req.imageId} is ${v.status}, not available`);
    return v;
  }
}
