import { Injectable } from '@nestjs/common';
import type { AllocateForServerRequest, ImageLocation, ImageRecord, ServerPort } from '@kumo/contracts';
import { AmqpRpcTransport } from '@kumo/service-kit';
import type { ImageClient, NetworkClient } from './peers.js';

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
}
