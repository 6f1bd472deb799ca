import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { RpcError, type VolumeAttachmentRecord, type VolumeConnectionInfo } from '@kumo/contracts';
import { ApiError, type AuthContext, KUMO_CONFIG, PolicyService, type Sql } from '@kumo/service-kit';
import { IMAGE_SOURCE, type ImageSource, type SourceImage } from '../backend/image-source.js';
import { GIB, VOLUME_BACKEND, type VolumeBackend } from '../backend/volume-backend.js';
import type { VolumeConfig } from '../config.js';
import { VolumeRepository } from '../db/volume.repository.js';
import { EVENT_KICKER, type EventKicker } from '../events/event-kicker.js';
import { SnapshotRepository } from '../snapshots/snapshot.repository.js';
import { DELETABLE, isUuid, parseDescription, parseMetadata, parseName, parseSize, toAttachmentRecord, toRecord, type Volume } from './volume.model.js';
import { BackgroundJobs } from '../lifecycle/background-jobs.js';

/** Who acts: a project (REST caller or the server's project for RPC) and whether it is a cloud admin. */
export interface Actor {
  projectId: string;
  isAdmin: boolean;
}

/** This process, as recorded on the volumes it is creating (host:pid:token), so recovery can tell a dead creator from a live one. */
export const PROCESS_OWNER = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

function invalid(message: string): ApiError {
  // Cinder's InvalidVolume is a 400 (Tempest asserts BadRequest for a volume in the wrong state).
  return ApiError.badRequest(`Invalid volume: ${message}`);
}

@Injectable()
export class VolumesService implements OnApplicationShutdown {
  private readonly log = new Logger('volumes');
  /** Creations, copies and deletions of this process; awaited on shutdown and by tests. */
  private readonly jobs = new BackgroundJobs(this.log);

  constructor(
    readonly volumes: VolumeRepository,
    @Inject(VOLUME_BACKEND) readonly backend: VolumeBackend,
    @Inject(IMAGE_SOURCE) private readonly images: ImageSource,
    @Inject(EVENT_KICKER) private readonly events: EventKicker,
    @Inject(KUMO_CONFIG) private readonly config: VolumeConfig,
    private readonly policy: PolicyService,
    private readonly snapshots: SnapshotRepository,
  ) {}

  async onApplicationShutdown() {
    await this.settle();
  }

  /** Resolves once every background job started so far has finished. */
  settle(): Promise<void> {
    return this.jobs.settle();
  }

  actorOf(auth: AuthContext): Actor {
    if (!auth.projectId) throw ApiError.forbidden('The volume API needs a project-scoped token.');
    return { projectId: auth.projectId, isAdmin: auth.roles.includes('admin') };
  }

  /** The volume if `actor` may see it; otherwise 404, the same answer as for a missing one (existence is not disclosed). */
  async visible(actor: Actor, id: string, sql?: Sql, forUpdate = false): Promise<Volume> {
    const v = isUuid(id) ? await this.volumes.get(id, sql, forUpdate) : undefined;
    if (!v || (!actor.isAdmin && v.projectId !== actor.projectId)) throw ApiError.notFound(`Volume ${id} could not be found.`);
    return v;
  }

  // ------------------------------------------------------------------ REST

  async show(auth: AuthContext, id: string): Promise<Volume> {
    const v = await this.visible(this.actorOf(auth), id);
    this.policy.enforce('volume:get', auth, { project_id: v.projectId });
    return v;
  }

  async list(auth: AuthContext, query: Record<string, unknown>): Promise<Volume[]> {
    const actor = this.actorOf(auth);
    this.policy.enforce('volume:get_all', auth, { project_id: actor.projectId });
    // As Cinder: `all_tenants` from someone who may not use it is ignored, not refused —
    // cinderclient adds it to every lookup by name (`openstack volume show NAME`), and a 403
    // there breaks the CLI for every non-admin user.
    const all = ['1', 'true', 'True'].includes(String(query.all_tenants ?? '')) && this.policy.allows('volume:get_all_tenants', auth, {});
    const str = (k: string) => (typeof query[k] === 'string' ? (query[k] as string) : undefined);
    const limitRaw = str('limit');
    const limit = limitRaw === undefined ? 1000 : Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 0) throw ApiError.badRequest('limit must be a non-negative integer.');
    let marker: Volume | undefined;
    const m = str('marker');
    if (m !== undefined) {
      marker = isUuid(m) ? await this.volumes.get(m) : undefined;
      if (!marker || (!actor.isAdmin && marker.projectId !== actor.projectId)) throw ApiError.badRequest(`Marker ${m} could not be found.`);
    }
    return this.volumes.list({ projectId: all ? null : actor.projectId, name: str('name'), status: str('status'), limit: Math.min(limit, 1000), marker });
  }

  async create(auth: AuthContext, body: Record<string, unknown>, requestId?: string): Promise<Volume> {
    const actor = this.actorOf(auth);
    this.policy.enforce('volume:create', auth, { project_id: actor.projectId });
    // From a snapshot (Cinder): its data, at its size unless a larger one is asked.
    let snapshot: { id: string; size: number } | undefined;
    if (body.snapshot_id !== undefined && body.snapshot_id !== null) {
      const sid = body.snapshot_id;
      const s = isUuid(sid) ? await this.snapshots.get(sid) : undefined;
      if (!s || (!actor.isAdmin && s.projectId !== actor.projectId)) throw ApiError.notFound(`Snapshot ${String(sid)} could not be found.`);
      if (s.status !== 'available') throw ApiError.badRequest(`Invalid snapshot: Originating snapshot status must be one of 'available' values, but it is ${s.status}.`);
      snapshot = { id: s.id, size: s.size };
    }
    const size = snapshot && (body.size === undefined || body.size === null) ? snapshot.size : parseSize(body.size, this.config.KUMO_VOLUME_MAX_SIZE_GB);
    if (snapshot && size < snapshot.size) throw ApiError.badRequest(`Invalid input received: Volume size '${size}'GB cannot be smaller than the snapshot size ${snapshot.size}GB. They must be >= original snapshot size.`);
    const name = parseName(body) ?? null;
    const description = parseDescription(body) ?? null;
    const metadata = parseMetadata(body.metadata);
    const type = body.volume_type;
    if (type !== undefined && type !== null && type !== '__DEFAULT__' && type !== '8c7a0b8e-0b0c-4b8e-9a57-6b1d1c6a0d01') {
      throw new ApiError(404, `Volume type with name ${String(type)} could not be found.`);
    }
    for (const k of ['source_volid', 'backup_id', 'consistencygroup_id', 'group_id']) {
      if (body[k] !== undefined && body[k] !== null) throw ApiError.badRequest(`Invalid input received: ${k} is not supported by this cloud (volumes are created empty or from an image).`);
    }
    if (body.multiattach === true) throw ApiError.badRequest('Invalid input received: multiattach volumes are not supported.');
    const imageRef = body.imageRef ?? body.image_id;
    let image: SourceImage | undefined;
    if (imageRef !== undefined && imageRef !== null) {
      if (!isUuid(imageRef)) throw ApiError.badRequest('Invalid image identifier or unable to access requested image.');
      image = await this.images.locate(imageRef, actor.projectId).catch((err: unknown) => {
        if (err instanceof RpcError && (err.code === 'not_found' || err.code === 'conflict' || err.code === 'bad_request')) {
          throw ApiError.badRequest(`Invalid image identifier or unable to access requested image (${err.message}).`);
        }
        throw err;
      });
      const needGb = Math.ceil(image.virtualSize / GIB);
      if (needGb > size) throw ApiError.badRequest(`Invalid input received: Size of specified image ${needGb}GB is larger than volume size ${size}GB.`);
    }
    if (image && snapshot) throw ApiError.badRequest('Invalid input received: a volume is made from an image or from a snapshot, not both.');
    return this.insertAndBuild({ id: randomUUID(), projectId: actor.projectId, userId: auth.userId, name, description, size, metadata, image, snapshotId: snapshot?.id, requestId });
  }

  /** Claims quota and inserts a `creating` volume in one transaction, then makes its data in the background. */
  async insertAndBuild(p: { id: string; projectId: string; userId: string | null; name: string | null; description: string | null; size: number; metadata: Record<string, string>; image?: SourceImage; snapshotId?: string; requestId?: string }): Promise<Volume> {
    await this.volumes.transaction(async (tx) => {
      await this.volumes.lockProject(tx, p.projectId);
      const used = await this.volumes.usage(tx, p.projectId);
      if (used.volumes + 1 > this.config.KUMO_VOLUME_QUOTA_VOLUMES) {
        throw new ApiError(413, `VolumeLimitExceeded: Maximum number of volumes allowed (${this.config.KUMO_VOLUME_QUOTA_VOLUMES}) exceeded for quota 'volumes'.`);
      }
      if (used.gigabytes + p.size > this.config.KUMO_VOLUME_QUOTA_GIGABYTES) {
        throw new ApiError(
          413,
          `VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested ${p.size}G, quota is ${this.config.KUMO_VOLUME_QUOTA_GIGABYTES}G and ${used.gigabytes}G has been consumed.`,
        );
      }
      await this.volumes.insert(tx, { id: p.id, projectId: p.projectId, userId: p.userId, name: p.name, description: p.description, size: p.size, imageId: p.image?.id ?? null, snapshotId: p.snapshotId ?? null, metadata: p.metadata, createOwner: PROCESS_OWNER });
    });
    this.jobs.run(() => this.build(p.id, p.size, p.image, p.requestId, p.snapshotId));
    return (await this.volumes.get(p.id))!;
  }

  private async build(id: string, size: number, image: SourceImage | undefined, requestId?: string, snapshotId?: string): Promise<void> {
    try {
      if (snapshotId) {
        await this.backend.createFromSnapshot(id, size, snapshotId);
      } else if (image) {
        // Data never travels over AMQP: the file store's path is read directly (single node or shared storage).
        if (!image.path) throw new Error(`the data of image ${image.id} is not readable on this node (the image store is not shared with the volume node)`);
        await this.backend.createFromImage(id, size, image.path, image.format);
      } else {
        await this.backend.create(id, size);
      }
      await this.volumes.transaction(async (tx) => {
        const ok = await this.volumes.setStatus(tx, id, ['creating'], 'available', image ? { bootable: true, imageMetadata: image.metadata } : {});
        if (ok) await this.volumes.enqueueEvent(tx, 'volume.created', { volume: toRecord((await this.volumes.get(id, tx))!) }, requestId);
      });
    } catch (err) {
      const reason = (err as Error).message;
      this.log.warn(`volume ${id}: create failed: ${reason}`);
      await this.backend.remove(id).catch(() => undefined);
      await this.fail(id, reason, requestId);
    }
    this.events.kick();
  }

  /** creating -> error, with the reason and a `volume.error` event. */
  async fail(id: string, reason: string, requestId?: string): Promise<void> {
    await this.volumes.transaction(async (tx) => {
      if (await this.volumes.setStatus(tx, id, ['creating'], 'error', { failureReason: reason })) {
        await this.volumes.enqueueEvent(tx, 'volume.error', { volume: toRecord((await this.volumes.get(id, tx))!), reason }, requestId);
      }
    });
  }

  async update(auth: AuthContext, id: string, body: Record<string, unknown>): Promise<Volume> {
    const actor = this.actorOf(auth);
    return this.volumes.transaction(async (tx) => {
      const v = await this.visible(actor, id, tx, true);
      this.policy.enforce('volume:update', auth, { project_id: v.projectId });
      const name = parseName(body);
      const description = parseDescription(body);
      const metadata = body.metadata === undefined ? undefined : parseMetadata(body.metadata);
      await this.volumes.update(tx, v.id, { name, description, metadata });
      return (await this.volumes.get(v.id, tx))!;
    });
  }

  /** Metadata: `replace` for PUT, merge for POST. */
  async setMetadata(auth: AuthContext, id: string, value: unknown, replace: boolean): Promise<Record<string, string>> {
    const actor = this.actorOf(auth);
    return this.volumes.transaction(async (tx) => {
      const v = await this.visible(actor, id, tx, true);
      this.policy.enforce('volume:update_volume_metadata', auth, { project_id: v.projectId });
      const metadata = replace ? parseMetadata(value) : { ...v.metadata, ...parseMetadata(value) };
      await this.volumes.update(tx, v.id, { metadata });
      return metadata;
    });
  }

  async delete(auth: AuthContext, id: string, requestId?: string): Promise<void> {
    const actor = this.actorOf(auth);
    await this.volumes.transaction(async (tx) => {
      const v = await this.visible(actor, id, tx, true);
      this.policy.enforce('volume:delete', auth, { project_id: v.projectId });
      this.assertDeletable(v, await this.volumes.snapshotCount(tx, v.id));
      await this.volumes.setStatus(tx, v.id, [v.status], 'deleting');
    });
    this.jobs.run(() => this.finishDelete(id, requestId));
  }

  private assertDeletable(v: Volume, snapshots: number): void {
    // Cinder's InvalidVolume (no cascade here: the snapshots are deleted first).
    if (snapshots > 0) throw invalid(`Volume ${v.id} still has ${snapshots} dependent snapshots.`);
    if (v.attachments.length) throw invalid(`Volume ${v.id} is attached to server ${v.attachments[0]!.serverId} (status ${v.status}): detach it first.`);
    if (!DELETABLE.includes(v.status)) throw invalid(`Volume status must be available or error or error_deleting, but current status is: ${v.status}.`);
  }

  /** deleting -> data removed -> deleted (+ event). Also what the reconciler retries for a `deleting` volume a crash left behind. */
  async finishDelete(id: string, requestId?: string): Promise<void> {
    try {
      await this.backend.remove(id);
    } catch (err) {
      this.log.warn(`volume ${id}: removing data failed: ${(err as Error).message}`);
      await this.volumes.transaction((tx) => this.volumes.setStatus(tx, id, ['deleting'], 'error_deleting', { failureReason: (err as Error).message }));
      return;
    }
    await this.volumes.transaction(async (tx) => {
      const v = await this.volumes.get(id, tx, true);
      if (v && (await this.volumes.setStatus(tx, id, ['deleting'], 'deleted'))) await this.volumes.enqueueEvent(tx, 'volume.deleted', { volumeId: id, projectId: v.projectId }, requestId);
    });
    this.events.kick();
  }

  /**
   * os-extend. The row stays locked while qemu-img grows the file (a second resize waits); if
   * the commit fails after the resize, the file is merely larger than recorded — harmless, and the
   * next extend sets the size again — so no intermediate `extending` state can be left behind.
   */
  async extend(auth: AuthContext, id: string, newSize: unknown): Promise<void> {
    const actor = this.actorOf(auth);
    await this.volumes.transaction(async (tx) => {
      const v = await this.visible(actor, id, tx, true);
      this.policy.enforce('volume:extend', auth, { project_id: v.projectId });
      const size = parseSize(newSize, this.config.KUMO_VOLUME_MAX_SIZE_GB, 'new_size');
      if (v.status !== 'available') throw invalid(`Volume status must be available to extend, but current status is: ${v.status}.`);
      if (size <= v.size) throw ApiError.badRequest(`Invalid input received: New size for extend must be greater than current size. (current: ${v.size}, extended: ${size}).`);
      await this.volumes.lockProject(tx, v.projectId);
      const used = await this.volumes.usage(tx, v.projectId);
      if (used.gigabytes - v.size + size > this.config.KUMO_VOLUME_QUOTA_GIGABYTES) {
        throw new ApiError(413, `VolumeSizeExceedsAvailableQuota: Requested ${size - v.size}G more, quota is ${this.config.KUMO_VOLUME_QUOTA_GIGABYTES}G and ${used.gigabytes}G has been consumed.`);
      }
      await this.backend.extend(v.id, size);
      await this.volumes.setStatus(tx, v.id, ['available'], 'available', { size });
    });
  }

  async setBootable(auth: AuthContext, id: string, value: unknown): Promise<void> {
    const actor = this.actorOf(auth);
    const bootable = value === true || value === 'true' || value === 'True' ? true : value === false || value === 'false' || value === 'False' ? false : undefined;
    if (bootable === undefined) throw ApiError.badRequest('Invalid input received: bootable must be true or false.');
    await this.volumes.transaction(async (tx) => {
      const v = await this.visible(actor, id, tx, true);
      this.policy.enforce('volume_extension:volume_actions:set_bootable', auth, { project_id: v.projectId });
      await this.volumes.update(tx, v.id, { bootable });
    });
  }

  // ------------------------------------------------------------------ attach protocol (RPC, contracts/src/volume.ts)

  private async rpcVisible(tx: Sql, actor: Actor, id: string): Promise<Volume> {
    try {
      return await this.visible(actor, id, tx, true);
    } catch {
      throw new RpcError({ code: 'not_found', message: `Volume ${id} could not be found.` });
    }
  }

  /**
   * `hold`: the reservation is for a server without a host (shelved_offloaded, Nova's
   * attachment_create without a connector): it stays `reserved` until that server attaches it
   * (unshelve) or releases it, and is never expired.
   */
  async reserve(actor: Actor, volumeId: string, serverId: string, hold = false): Promise<{ attachment: VolumeAttachmentRecord; volume: Volume }> {
    return this.volumes.transaction(async (tx) => {
      const v = await this.rpcVisible(tx, actor, volumeId);
      const existing = v.attachments[0];
      if (existing) {
        if (existing.serverId === serverId) {
          // A retried reserve (a held one stays held, whoever asks again).
          if (hold && existing.status === 'reserved') await this.volumes.holdAttachment(tx, existing.id, true);
          return { attachment: toAttachmentRecord(existing), volume: v };
        }
        throw new RpcError({ code: 'conflict', message: `Volume ${v.id} is already ${existing.status} for server ${existing.serverId}; multiattach is not supported.` });
      }
      if (v.status !== 'available') throw new RpcError({ code: 'conflict', message: `Volume ${v.id} status must be available to attach, but current status is: ${v.status}.` });
      const id = randomUUID();
      await this.volumes.insertAttachment(tx, { id, volumeId: v.id, serverId, held: hold });
      await this.volumes.setStatus(tx, v.id, ['available'], 'reserved');
      const after = (await this.volumes.get(v.id, tx))!;
      return { attachment: toAttachmentRecord(after.attachments[0]!), volume: after };
    });
  }

  /**
   * Completes the server's attachment on `host`; `host` null (1.2) completes it without a host, as
   * Cinder does for Nova's attachment without a connector (a shelved_offloaded server): in-use,
   * listed, connected later by an attach with the host the server lands on.
   */
  async attach(actor: Actor, volumeId: string, serverId: string, host: string | null, device: string | null, requestId?: string): Promise<{ attachment: VolumeAttachmentRecord; connection: VolumeConnectionInfo }> {
    const out = await this.volumes.transaction(async (tx) => {
      const v = await this.rpcVisible(tx, actor, volumeId);
      const a = v.attachments.find((x) => x.serverId === serverId);
      if (!a) throw new RpcError({ code: 'conflict', message: `Volume ${v.id} is not reserved for server ${serverId} (never reserved, or the reservation expired).` });
      if (a.status === 'attached') {
        // A retried attach; or the server moved (unshelve, evacuate): the attachment follows it to its new host.
        if (a.host !== host || (device !== null && a.device !== device)) {
          await this.volumes.completeAttachment(tx, a.id, host, device ?? a.device);
          const moved = (await this.volumes.get(v.id, tx))!.attachments[0]!;
          return { attachment: toAttachmentRecord(moved), connection: this.backend.connection(v.id, v.size) };
        }
        return { attachment: toAttachmentRecord(a), connection: this.backend.connection(v.id, v.size) };
      }
      await this.volumes.completeAttachment(tx, a.id, host, device);
      await this.volumes.setStatus(tx, v.id, ['reserved'], 'in-use');
      const after = (await this.volumes.get(v.id, tx))!;
      const attachment = toAttachmentRecord(after.attachments[0]!);
      await this.volumes.enqueueEvent(tx, 'volume.attached', { volume: toRecord(after), attachment }, requestId);
      return { attachment, connection: this.backend.connection(v.id, v.size) };
    });
    this.events.kick();
    return out;
  }

  /** Removes the server's attachment (attached, or only reserved when `reservedOnly`) and makes the volume available. */
  async release(actor: Actor, volumeId: string, serverId: string, reservedOnly: boolean, requestId?: string): Promise<{ ok: true; found: boolean }> {
    const found = await this.volumes.transaction(async (tx) => {
      const v = isUuid(volumeId) ? await this.volumes.get(volumeId, tx, true) : undefined;
      if (!v) return false; // already gone: a retried detach succeeds
      if (!actor.isAdmin && v.projectId !== actor.projectId) throw new RpcError({ code: 'not_found', message: `Volume ${volumeId} could not be found.` });
      const a = v.attachments.find((x) => x.serverId === serverId);
      if (!a) return false;
      if (reservedOnly && a.status !== 'reserved') throw new RpcError({ code: 'conflict', message: `Volume ${v.id} is attached to server ${serverId}: detach it instead.` });
      await this.volumes.deleteAttachment(tx, a.id);
      await this.volumes.setStatus(tx, v.id, ['reserved', 'in-use'], 'available');
      if (a.status === 'attached') await this.volumes.enqueueEvent(tx, 'volume.detached', { volumeId: v.id, projectId: v.projectId, serverId, attachmentId: a.id }, requestId);
      return true;
    });
    this.events.kick();
    return { ok: true, found };
  }

  /**
   * 1.3 (swap volume): the source's data into the target, both of `serverId` — the source attached
   * to it (the caller has unplugged it, so nothing writes), the target reserved for it. Both rows
   * stay locked (in id order: two swaps cannot deadlock) while qemu-img copies, so neither volume
   * can be detached, extended or deleted meanwhile. Idempotent: a retry copies again.
   */
  async copy(actor: Actor, sourceId: string, targetId: string, serverId: string): Promise<void> {
    if (sourceId === targetId) throw new RpcError({ code: 'bad_request', message: 'volume.copy needs two different volumes' });
    await this.volumes.transaction(async (tx) => {
      const locked = new Map<string, Volume>();
      for (const id of [sourceId, targetId].sort()) locked.set(id, await this.rpcVisible(tx, actor, id));
      const src = locked.get(sourceId)!;
      const dst = locked.get(targetId)!;
      if (!src.attachments.some((a) => a.serverId === serverId && a.status === 'attached')) throw new RpcError({ code: 'conflict', message: `Volume ${src.id} is not attached to server ${serverId}.` });
      if (!dst.attachments.some((a) => a.serverId === serverId)) throw new RpcError({ code: 'conflict', message: `Volume ${dst.id} is not reserved for server ${serverId}.` });
      if (dst.size < src.size) throw new RpcError({ code: 'bad_request', message: `Volume ${dst.id} (${dst.size} GB) is smaller than volume ${src.id} (${src.size} GB).` });
      await this.backend.copy(src.id, dst.id, dst.size);
    });
  }

  /** RPC create (boot from volume): idempotent by the caller-chosen id. */
  async rpcCreate(req: { id: string; projectId: string; size: number; name?: string | null; imageId?: string | null }): Promise<Volume> {
    if (!isUuid(req.id)) throw new RpcError({ code: 'bad_request', message: 'volume.create needs a uuid id' });
    const existing = await this.volumes.get(req.id);
    if (existing) {
      if (existing.projectId !== req.projectId) throw new RpcError({ code: 'conflict', message: `Volume id ${req.id} is taken.` });
      return existing;
    }
    let size: number;
    try {
      size = parseSize(req.size, this.config.KUMO_VOLUME_MAX_SIZE_GB);
    } catch (err) {
      throw new RpcError({ code: 'bad_request', message: (err as Error).message });
    }
    const image = req.imageId ? await this.images.locate(req.imageId, req.projectId) : undefined;
    if (image && Math.ceil(image.virtualSize / GIB) > size) throw new RpcError({ code: 'bad_request', message: `Image ${image.id} needs ${Math.ceil(image.virtualSize / GIB)} GB, more than the volume size ${size} GB.` });
    return this.insertAndBuild({ id: req.id, projectId: req.projectId, userId: null, name: req.name ?? null, description: null, size, metadata: {}, image });
  }

  async rpcDelete(actor: Actor, volumeId: string): Promise<{ ok: true; found: boolean }> {
    const found = await this.volumes.transaction(async (tx) => {
      const v = isUuid(volumeId) ? await this.volumes.get(volumeId, tx, true) : undefined;
      if (!v) return false;
      if (!actor.isAdmin && v.projectId !== actor.projectId) throw new RpcError({ code: 'not_found', message: `Volume ${volumeId} could not be found.` });
      if (v.status === 'deleting') return true;
      try {
        this.assertDeletable(v, await this.volumes.snapshotCount(tx, v.id));
      } catch (err) {
        throw new RpcError({ code: 'conflict', message: (err as Error).message });
      }
      await this.volumes.setStatus(tx, v.id, [v.status], 'deleting');
      return true;
    });
    if (found) this.jobs.run(() => this.finishDelete(volumeId));
    return { ok: true, found };
  }
}
