import type { ImageLocation, ImageRecord, ServerPort } from '@kumo/contracts';
import type { AllocateForServerRequest, VolumeAttachmentRecord, VolumeConnectionInfo, VolumeRecord } from '@kumo/contracts';

/**
 * The other services the conductor talks to, as interfaces: production uses AMQP RPC
 * (amqp-peers.ts); tests that run without a network service boot with `networks: "none"`, which
 * never calls it.
 */
export interface NetworkClient {
  allocate(req: AllocateForServerRequest, requestId?: string): Promise<ServerPort[]>;
  deallocate(serverId: string, requestId?: string): Promise<void>;
  listPorts(serverId: string): Promise<ServerPort[]>;
  /** Detach: a port compute created is deleted, a user's port unbound (contract 1.1). */
  unbind(portId: string, deleteIfCreated: boolean, requestId?: string): Promise<void>;
  /** The port's `binding:host_id` becomes `host` (evacuate: the server runs elsewhere now). */
  bind(portId: string, serverId: string, host: string, requestId?: string): Promise<ServerPort>;
}

export interface ImageClient {
  get(imageId: string, asProject: string, asAdmin: boolean): Promise<ImageRecord>;
  location(imageId: string, asProject: string, asAdmin: boolean): Promise<ImageLocation>;
  create(req: { owner: string; name: string; diskFormat: string; containerFormat: string; properties: Record<string, string>; minDisk?: number; minRam?: number }): Promise<ImageRecord>;
  /** Deletes an image of `asProject` (the snapshot of a shelved server). */
  delete(imageId: string, asProject: string): Promise<void>;
  /** A project's images having all `properties`, oldest first (contract 1.2; createBackup's rotation). */
  list(owner: string, properties: Record<string, string>): Promise<ImageRecord[]>;
}

/** The volume service's attach protocol (contracts/src/volume.ts); every call is idempotent. */
export interface VolumeClient {
  get(volumeId: string, projectId: string, asAdmin: boolean): Promise<VolumeRecord>;
  /** `hold`: for a server without a host (shelved_offloaded): kept reserved until attach/detach, never expired. */
  reserve(volumeId: string, projectId: string, serverId: string, asAdmin: boolean, requestId?: string, hold?: boolean): Promise<VolumeAttachmentRecord>;
  /** `host` null (contract 1.2): completed without a host, for a shelved_offloaded server; an attach with a host connects it later. */
  attach(volumeId: string, projectId: string, serverId: string, host: string | null, device: string | null, asAdmin: boolean, requestId?: string): Promise<{ attachment: VolumeAttachmentRecord; connection: VolumeConnectionInfo }>;
  detach(volumeId: string, projectId: string, serverId: string, requestId?: string): Promise<void>;
  unreserve(volumeId: string, projectId: string, serverId: string, requestId?: string): Promise<void>;
  delete(volumeId: string, projectId: string, requestId?: string): Promise<void>;
  /** Contract 1.3 (swap volume): the data of `sourceVolumeId`, attached to the server and unplugged, into `volumeId`, reserved for it. */
  copy(sourceVolumeId: string, volumeId: string, projectId: string, serverId: string, requestId?: string): Promise<void>;
  /** Creates a volume of `projectId` by a chosen id (idempotent), from an image; answers once it is available (or throws with the volume's error). */
  createFromImage(req: { id: string; projectId: string; size: number; imageId: string; name: string }, requestId?: string): Promise<VolumeRecord>;
}

export const VOLUME_CLIENT = Symbol('VOLUME_CLIENT');
export const NETWORK_CLIENT = Symbol('NETWORK_CLIENT');
export const IMAGE_CLIENT = Symbol('IMAGE_CLIENT');
