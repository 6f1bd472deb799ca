import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  RpcError,
  rpcPattern,
  type VolumeAttachRequest,
  type VolumeCopyRequest,
  type VolumeCreateRequest,
  type VolumeDetachRequest,
  type VolumeRecord,
  type VolumeRef,
  type VolumeReserveRequest,
} from '@kumo/contracts';
import { toRecord } from '../volumes/volume.model.js';
import { type Actor, VolumesService } from '../volumes/volumes.service.js';

function actorOf(req: VolumeRef | undefined): Actor {
  if (!req || typeof req.volumeId !== 'string' || typeof req.projectId !== 'string' || !req.projectId) {
    throw new RpcError({ code: 'bad_request', message: 'volume RPCs need volumeId and projectId' });
  }
  return { projectId: req.projectId, isAdmin: req.asAdmin === true };
}

function serverOf(req: { serverId?: unknown }): string {
  if (typeof req.serverId !== 'string' || !req.serverId) throw new RpcError({ code: 'bad_request', message: 'serverId is required' });
  return req.serverId;
}

/** The volume service's RPCs (contracts/src/volume.ts): compute's side of attaching volumes. */
@Controller()
export class VolumeRpcController {
  constructor(private readonly volumes: VolumesService) {}

  @MessagePattern(rpcPattern('volume', 'get'))
  async get(@Payload() req: VolumeRef): Promise<VolumeRecord> {
    const actor = actorOf(req);
    try {
      return toRecord(await this.volumes.visible(actor, req.volumeId));
    } catch {
      throw new RpcError({ code: 'not_found', message: `Volume ${req.volumeId} could not be found.` });
    }
  }

  @MessagePattern(rpcPattern('volume', 'create'))
  async create(@Payload() req: VolumeCreateRequest): Promise<VolumeRecord> {
    if (!req || typeof req.projectId !== 'string' || !req.projectId) throw new RpcError({ code: 'bad_request', message: 'volume.create needs a projectId' });
    return toRecord(await this.volumes.rpcCreate(req));
  }

  @MessagePattern(rpcPattern('volume', 'delete'))
  delete(@Payload() req: VolumeRef) {
    return this.volumes.rpcDelete(actorOf(req), req.volumeId);
  }

  @MessagePattern(rpcPattern('volume', 'reserve'))
  async reserve(@Payload() req: VolumeReserveRequest) {
    const { attachment, volume } = await this.volumes.reserve(actorOf(req), req.volumeId, serverOf(req), req.hold === true);
    return { attachment, volume: toRecord(volume) };
  }

  @MessagePattern(rpcPattern('volume', 'attach'))
  attach(@Payload() req: VolumeAttachRequest) {
    // 1.2: an explicit null is a server without a host (shelved_offloaded); a missing host is a caller's bug.
    if (req?.host !== null && (typeof req?.host !== 'string' || !req.host)) throw new RpcError({ code: 'bad_request', message: 'volume.attach needs the host (or null for a server without one)' });
    return this.volumes.attach(actorOf(req), req.volumeId, serverOf(req), req.host, typeof req.device === 'string' ? req.device : null);
  }

  @MessagePattern(rpcPattern('volume', 'detach'))
  detach(@Payload() req: VolumeDetachRequest) {
    return this.volumes.release(actorOf(req), req.volumeId, serverOf(req), false);
  }

  @MessagePattern(rpcPattern('volume', 'copy'))
  async copy(@Payload() req: VolumeCopyRequest) {
    if (typeof req?.sourceVolumeId !== 'string' || !req.sourceVolumeId) throw new RpcError({ code: 'bad_request', message: 'volume.copy needs sourceVolumeId' });
    await this.volumes.copy(actorOf(req), req.sourceVolumeId, req.volumeId, serverOf(req));
    return { ok: true as const };
  }

  @MessagePattern(rpcPattern('volume', 'unreserve'))
  unreserve(@Payload() req: VolumeDetachRequest) {
    return this.volumes.release(actorOf(req), req.volumeId, serverOf(req), true);
  }
}
