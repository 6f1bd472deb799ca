/**
 * The volume service's AMQP contract: the RPCs compute (API, conductor, agent) calls on
 * `kumo.volume`, and the `volume.*` events it publishes on `kumo.events`.
 *
 * Version history (of this file's payloads; the envelope version is in envelope.ts):
 *   1.0 - Initial version: get, reserve, attach, detach, unreserve; volume.created,
 *         volume.deleted, volume.attached, volume.detached, volume.error.
 *   1.1 - reserve `hold` (a reservation for a server without a host, never expired: Nova's
 *         attachment_create without a connector for a shelved_offloaded server); attach of an
 *         attachment already in use on another host moves it there (unshelve, evacuate). Additive.
 *   1.2 - attach with `host: null`: completes the attachment without a host (Nova's
 *         attachment_update/complete without a connector for a shelved_offloaded server): the
 *         volume is `in-use`, the attachment is listed with no host; a later attach with a host
 *         connects it there (unshelve). Additive (a 1.1 caller always sends a host).
 *   1.3 - copy: the data of a volume attached to a server into a volume reserved for it (swap
 *         volume, Nova's PUT os-volume_attachments/{id}). Additive.
 *
 * The attach protocol (Cinder's attachments API, reduced to what one file backend needs):
 *
 *   reserve   available -> reserved    creates the attachment record (volume, server)
 *   attach    reserved  -> in-use      records host/device, answers the connection info
 *                                      (in-use -> in-use on another host: the server moved;
 *                                      host null: attached to a server that has no host now)
 *   detach    in-use    -> available   removes the attachment
 *   unreserve reserved  -> available   gives a reservation back (the attach did not happen)
 *
 * A reservation that is never attached nor given back (a conductor that died in between) expires
 * after KUMO_VOLUME_RESERVATION_TIMEOUT_S: the volume service's reconciler puts the volume back to
 * `available`, and a late `attach` then fails with `conflict`. So no volume stays reserved forever.
 *
 * Authorisation: callers are Kumo services acting for a server of project `projectId`; a volume of
 * another project answers `not_found` (as the REST API does), unless `asAdmin`.
 *
 * Idempotency: every call may be retried (lost replies, restarts). reserve of a volume already
 * reserved or attached for the same server returns that attachment; attach of an attachment
 * already in use returns the same connection info; detach/unreserve of something already gone
 * succeed (`{ok: true, found: false}`).
 */

export type VolumeStatus = 'creating' | 'available' | 'reserved' | 'in-use' | 'deleting' | 'error' | 'error_deleting' | 'extending';

export interface VolumeRecord {
  id: string;
  projectId: string;
  name: string | null;
  size: number;
  status: VolumeStatus;
  bootable: boolean;
  /** Image the volume was created from, if any. */
  imageId: string | null;
  attachments: VolumeAttachmentRecord[];
}

export interface VolumeAttachmentRecord {
  id: string;
  volumeId: string;
  serverId: string;
  /** 'reserved' until attach completes, then 'attached'. */
  status: 'reserved' | 'attached';
  host: string | null;
  device: string | null;
  attachedAt: string | null;
}

/**
 * How a hypervisor reaches the volume's data: for the `file` backend, a path on the volume
 * node's filesystem (the compute node sees the same path: one node, or shared storage such as
 * NFS/CephFS mounted at the same place) and the disk format QEMU must open it with.
 */
export interface VolumeConnectionInfo {
  driverVolumeType: 'file';
  path: string;
  format: 'qcow2' | 'raw';
  /** Volume size in bytes (virtual). */
  sizeBytes: number;
}

export interface VolumeRef {
  volumeId: string;
  /** Project of the server (or the caller); another project's volume is `not_found` unless asAdmin. */
  projectId: string;
  asAdmin?: boolean;
}

export interface VolumeReserveRequest extends VolumeRef {
  serverId: string;
  /** 1.1: keep the reservation until attach/detach (the server has no host now); never expired. */
  hold?: boolean;
}

export interface VolumeAttachRequest extends VolumeRef {
  serverId: string;
  /** Compute host the server runs on; 1.2: null for a server without a host (shelved_offloaded). */
  host: string | null;
  /** Device name in the guest (`/dev/vdb`), as compute chose it. */
  device: string | null;
}

export interface VolumeDetachRequest extends VolumeRef {
  serverId: string;
}

/** 1.3: copy the data of `sourceVolumeId` (attached to `serverId`) into `volumeId` (reserved or attached for it). */
export interface VolumeCopyRequest extends VolumeRef {
  serverId: string;
  sourceVolumeId: string;
}

export interface VolumeCreateRequest {
  /**
   * Chosen by the caller (boot from volume: the conductor picks the id before calling, so a
   * retried create finds the volume it made instead of making a second one).
   */
  id: string;
  projectId: string;
  size: number;
  name?: string | null;
  /** Fill the volume from this image (as the project sees it) instead of creating it empty. */
  imageId?: string | null;
}

export interface VolumeRpcMethods {
  /** The volume as the project sees it. */
  get: { request: VolumeRef; reply: VolumeRecord };
  /** Creates a volume (idempotent by `id`); the reply may still be `creating`: poll `get`. */
  create: { request: VolumeCreateRequest; reply: VolumeRecord };
  /** Deletes a volume (boot from volume with delete_on_termination); gone already succeeds. */
  delete: { request: VolumeRef; reply: { ok: true; found: boolean } };
  reserve: { request: VolumeReserveRequest; reply: { attachment: VolumeAttachmentRecord; volume: VolumeRecord } };
  attach: { request: VolumeAttachRequest; reply: { attachment: VolumeAttachmentRecord; connection: VolumeConnectionInfo } };
  detach: { request: VolumeDetachRequest; reply: { ok: true; found: boolean } };
  unreserve: { request: VolumeDetachRequest; reply: { ok: true; found: boolean } };
  /** 1.3: the whole content of the source, as it is now (the caller makes sure nothing writes to it); idempotent. */
  copy: { request: VolumeCopyRequest; reply: { ok: true } };
}

export interface VolumeEventPayloads {
  /** The volume's data exists (status available). */
  'volume.created': { volume: VolumeRecord };
  /** Creating failed (status error), with the reason. */
  'volume.error': { volume: VolumeRecord; reason: string };
  'volume.deleted': { volumeId: string; projectId: string };
  'volume.attached': { volume: VolumeRecord; attachment: VolumeAttachmentRecord };
  'volume.detached': { volumeId: string; projectId: string; serverId: string; attachmentId: string };
}
