import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Req } from '@nestjs/common';
import { RpcError } from '@kumo/contracts';
import { ApiError, Auth, type AuthContext, PolicyService } from '@kumo/service-kit';
import type { Request } from 'express';
import { invalid, isAdmin, type Json } from '../common/nova.js';
import { ConductorService } from '../conductor/conductor.service.js';
import { VOLUME_CLIENT, type VolumeClient } from '../conductor/peers.js';
import { Db } from '../db/db.js';
import { EventRelay } from '../events/event-relay.js';
import type { InstanceRow, VolumeAttachmentEntry } from '../servers/instance.model.js';
import { InstancesRepository, isUuid } from '../servers/instances.repository.js';
import { ServersService } from '../servers/servers.service.js';
import { allowedFrom, TRANSITIONS } from '../servers/state-machine.js';
import { atLeast, microversionOf } from '../versions/microversion.js';
import { checkDeviceTag } from '../servers/block-devices.js';

function requestIdOf(req: Request): string {
  return (req as unknown as { id?: string }).id ?? String(req.headers['x-openstack-request-id'] ?? 'req-unknown');
}

/** Nova's volumeAttachment (below 2.70: no tag, delete_on_termination, attachment_id, bdm_uuid). */
function view(i: InstanceRow, v: VolumeAttachmentEntry) {
  return { id: v.volumeId, serverId: i.id, volumeId: v.volumeId, device: v.device };
}

/** The volume service's refusal in Nova's words: VolumeNotFound 404, a volume in use 400 (Nova's InvalidVolume). */
function apiErrorOf(err: unknown): unknown {
  if (!(err instanceof RpcError)) return err;
  switch (err.code) {
    case 'not_found':
      return ApiError.notFound(err.message);
    case 'conflict':
    case 'bad_request':
      return ApiError.badRequest(`Invalid volume: ${err.message}`);
    default:
      return new ApiError(500, `${err.service ?? 'volume'}: ${err.message}`);
  }
}

/** The first free `/dev/vdX` after the root disk (vda), as Nova's libvirt driver names them. */
export function nextDevice(used: string[]): string {
  for (let c = 'b'.charCodeAt(0); c <= 'z'.charCodeAt(0); c++) {
    const d = `/dev/vd${String.fromCharCode(c)}`;
    if (!used.includes(d)) return d;
  }
  throw ApiError.badRequest('No free device name is left on this server.');
}

/**
 * `os-volume_attachments`: a server's volumes, attached through the volume service (reserve ->
 * attach: the volume's file path) and the host's agent (disk hot-plug, or the definition when the
 * server is stopped). Like os-interface, attach and detach run as short tasks (`volume_attaching`
 * / `volume_detaching`) so no other action races them, and the request waits for both services.
 *
 * Crash safety: the entry is written to `instance.volumes` as `attaching`/`detaching` in the same
 * transaction that starts the task, before any other service is asked. A failure rolls back (the
 * agent unplugs, the volume is detached/unreserved). If this process dies in between, the
 * reconciler finds the task (resolveInterruptedVolumeTask): an interrupted attach is rolled back,
 * an interrupted detach is completed — both calls are idempotent on the agent and the volume service.
 */
@Controller('v2.1/servers/:id/os-volume_attachments')
export class VolumeAttachmentsController {
  constructor(
    private readonly db: Db,
    private readonly repo: InstancesRepository,
    private readonly servers: ServersService,
    private readonly conductor: ConductorService,
    private readonly relay: EventRelay,
    private readonly policy: PolicyService,
    @Inject(VOLUME_CLIENT) private readonly volumes: VolumeClient,
  ) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Param('id') id: string) {
    const i = await this.servers.find(auth, id);
    this.policy.enforce('servers:volume_attachments', auth, { project_id: i.project_id });
    return { volumeAttachments: (i.volumes ?? []).filter((v) => v.status !== 'attaching').map((v) => view(i, v)) };
  }

  @Get(':volumeId')
  async show(@Auth() auth: AuthContext, @Param('id') id: string, @Param('volumeId') volumeId: string) {
    const i = await this.servers.find(auth, id);
    this.policy.enforce('servers:volume_attachments', auth, { project_id: i.project_id });
    const v = (i.volumes ?? []).find((x) => x.volumeId === volumeId && x.status !== 'attaching');
    if (!v) throw ApiError.notFound(`Volume ${volumeId} is not attached to instance ${i.id}`);
    return { volumeAttachment: view(i, v) };
  }

  /**
   * Starts the task and records the entry under the instance's row lock (409 as any action in the
   * wrong state; shelved states only from 2.20). Only a shelved_offloaded server has no host.
   */
  private async begin(auth: AuthContext, id: string, action: 'attach_volume' | 'detach_volume' | 'swap_volume', requestId: string, version: number, change: (i: InstanceRow) => VolumeAttachmentEntry[]): Promise<InstanceRow> {
    const t = TRANSITIONS[action];
    const out = await this.db.transaction(async (tx) => {
      const seen = await this.servers.find(auth, id, tx);
      this.policy.enforce('servers:volume_attachments:update', auth, { project_id: seen.project_id });
      const i = (await this.repo.lock(tx, seen.id))!;
      if (i.locked && !isAdmin(auth)) throw ApiError.conflict(`Instance ${i.id} is locked`);
      if (i.task_state) throw ApiError.conflict(`Cannot '${action}' instance ${i.id} while it is in task_state ${i.task_state}`);
      if (!allowedFrom(action, i.vm_state, version) || (!i.host && i.vm_state !== 'shelved_offloaded')) throw ApiError.conflict(`Cannot '${action}' instance ${i.id} while it is in vm_state ${i.vm_state}`);
      const volumes = change(i);
      await this.repo.startAction(tx, i, action, auth.userId, requestId);
      return this.repo.update(tx, i, { volumes, task_state: t.task, target_vm_state: i.vm_state, task_updated_at: new Date(), task_started_at: new Date() }, requestId);
    });
    this.relay.kick();
    return out;
  }

  /** Ends the task with the entry of `volumeId` replaced (or removed when `entry` is null). */
  private async end(i: InstanceRow, task: string, volumeId: string, entry: VolumeAttachmentEntry | null, ok: boolean, requestId: string, message?: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const cur = await this.repo.lock(tx, i.id);
      if (!cur || cur.task_state !== task) return;
      const volumes = (cur.volumes ?? []).flatMap((v) => (v.volumeId !== volumeId ? [v] : entry ? [entry] : []));
      await this.repo.update(tx, cur, { task_state: null, volumes }, requestId);
      await this.repo.finishAction(tx, i.id, ok, message);
    });
    this.relay.kick();
  }

  @Post()
  @HttpCode(200)
  async attach(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown, @Req() req: Request) {
    const raw = body && typeof body === 'object' ? (body as Json).volumeAttachment : undefined;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalid('volumeAttachment', raw, "is not of type 'object'");
    const a = raw as Json;
    // 2.49: a device tag (kept in the entry; Nova shows it from 2.70).
    const keys = atLeast(req, 49) ? ['volumeId', 'device', 'tag'] : ['volumeId', 'device'];
    for (const k of Object.keys(a)) if (!keys.includes(k)) throw invalid('volumeAttachment', a, `Additional properties are not allowed ('${k}' was unexpected)`);
    const tag = a.tag === undefined ? undefined : checkDeviceTag(a.tag);
    const volumeId = a.volumeId;
    if (typeof volumeId !== 'string' || !isUuid(volumeId)) throw invalid('volumeId', volumeId, "is not a 'uuid'");
    const device = a.device ?? null;
    if (device !== null && (typeof device !== 'string' || !/^(\/dev\/)?[a-z]+[a-z0-9]*$/.test(device))) throw invalid('device', device, "does not match '(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$'");
    const rid = requestIdOf(req);
    const before = await this.servers.find(auth, id);
    if ((before.volumes ?? []).some((v) => v.volumeId === volumeId)) throw ApiError.badRequest(`Invalid volume: volume ${volumeId} is already attached to instance ${before.id}`);
    const asAdmin = isAdmin(auth) && auth.projectId !== before.project_id;
    // Ask the volume service first: a volume the project cannot see is a 404 before any task starts.
    try {
      await this.volumes.get(volumeId, before.project_id, asAdmin);
    } catch (err) {
      throw apiErrorOf(err);
    }
    let dev = '';
    const i = await this.begin(auth, id, 'attach_volume', rid, microversionOf(req), (cur) => {
      // Nova's VolumeTaggedAttachToShelvedNotSupported: the tag reaches the guest only through a host.
      if (tag !== undefined && cur.vm_state === 'shelved_offloaded') throw ApiError.badRequest('Tagged volume attachment is not supported for shelved-offloaded instances.');
      const used = ['/dev/vda', ...(cur.volumes ?? []).map((v) => v.device)];
      if ((cur.volumes ?? []).some((v) => v.volumeId === volumeId)) throw ApiError.badRequest(`Invalid volume: volume ${volumeId} is already attached to instance ${cur.id}`);
      // Nova (libvirt) treats the requested name as a hint; a taken or odd one gets the next free name.
      const wanted = typeof device === 'string' ? (device.startsWith('/dev/') ? device : `/dev/${device}`) : null;
      dev = wanted && /^\/dev\/vd[b-z]$/.test(wanted) && !used.includes(wanted) ? wanted : nextDevice(used);
      return [...(cur.volumes ?? []), { volumeId, attachmentId: null, device: dev, status: 'attaching', path: null, format: null, deleteOnTermination: false, ...(tag !== undefined && { tag }) }];
    });
    let entry: VolumeAttachmentEntry;
    try {
      const reserved = await this.volumes.reserve(volumeId, i.project_id, i.id, asAdmin, rid);
      // 2.20, shelved_offloaded (no host): the attachment is completed without a host, as Nova does
      // (volume in-use, listed with no host); the unshelve connects it on the host it lands on.
      const { connection } = await this.volumes.attach(volumeId, i.project_id, i.id, i.host, dev, asAdmin, rid).catch(async (err: unknown) => {
        await this.volumes.unreserve(volumeId, i.project_id, i.id, rid).catch(() => undefined);
        throw err;
      });
      entry = { volumeId, attachmentId: reserved.id, device: dev, status: 'attached', path: connection.path, format: connection.format, deleteOnTermination: false, ...(tag !== undefined && { tag }) };
      try {
        if (i.host) await this.conductor.attachVolume(i, { volumeId, device: dev, path: connection.path, format: connection.format }, rid);
      } catch (err) {
        // The disk did not go in: the volume goes back to available.
        await this.volumes.detach(volumeId, i.project_id, i.id, rid).catch(() => undefined);
        throw err;
      }
    } catch (err) {
      await this.end(i, 'volume_attaching', volumeId, null, false, rid, (err as Error).message);
      throw apiErrorOf(err);
    }
    await this.end(i, 'volume_attaching', volumeId, entry, true, rid);
    return { volumeAttachment: view(i, entry) };
  }

  /**
   * Swap volume (Nova's update, admin): the server's disk of `volumeId` is replaced by the volume
   * in the body, at the same device, with the old one's data. Nova has the hypervisor mirror the
   * disk while the guest runs; here the old disk is unplugged first (so nothing writes to it), the
   * volume service copies its data into the new volume (contract 1.3 `copy`), and the new one is
   * plugged in its place; the old volume ends `available` with its data untouched. Any failure
   * puts the old disk back. A request that dies half-way is repaired by the reconciler like an
   * interrupted attach/detach: both pending entries are taken out (both volumes available, the
   * old one still holding the data) — never a volume stuck reserved or in-use.
   */
  @Put(':volumeId')
  @HttpCode(202)
  async swap(@Auth() auth: AuthContext, @Param('id') id: string, @Param('volumeId') oldId: string, @Body() body: unknown, @Req() req: Request) {
    const raw = body && typeof body === 'object' ? (body as Json).volumeAttachment : undefined;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalid('volumeAttachment', raw, "is not of type 'object'");
    const a = raw as Json;
    for (const k of Object.keys(a)) if (k !== 'volumeId') throw invalid('volumeAttachment', a, `Additional properties are not allowed ('${k}' was unexpected)`);
    const newId = a.volumeId;
    if (typeof newId !== 'string' || !isUuid(newId)) throw invalid('volumeId', newId, "is not a 'uuid'");
    const rid = requestIdOf(req);
    const before = await this.servers.find(auth, id);
    this.policy.enforce('servers:volume_attachments:swap', auth, { project_id: before.project_id });
    const asAdmin = isAdmin(auth) && auth.projectId !== before.project_id;
    // As Nova: the volume in the URL unknown → 404, the one in the body → 400.
    const oldVol = await this.volumes.get(oldId, before.project_id, asAdmin).catch((err: unknown) => {
      throw apiErrorOf(err);
    });
    const newVol = await this.volumes.get(newId, before.project_id, asAdmin).catch((err: unknown) => {
      const e = apiErrorOf(err);
      throw e instanceof ApiError && e.status === 404 ? ApiError.badRequest(e.message) : e;
    });
    const notAttached = () => ApiError.notFound('The volume was either invalid or not attached to the instance.');
    if (!(before.volumes ?? []).some((v) => v.volumeId === oldId && v.status === 'attached')) throw notAttached();
    if (newVol.status !== 'available') throw ApiError.badRequest(`Invalid volume: volume ${newId} status must be available, but current status is: ${newVol.status}.`);
    if (newVol.size < oldVol.size) throw ApiError.badRequest('Invalid volume: New volume must be the same size or larger.');
    if ((before.volumes ?? []).some((v) => v.volumeId === oldId && v.bootIndex === 0)) throw ApiError.badRequest('Invalid volume: the root volume of a volume-backed server cannot be swapped here (its disk cannot be unplugged while the server exists).');

    let old!: VolumeAttachmentEntry;
    const i = await this.begin(auth, id, 'swap_volume', rid, microversionOf(req), (cur) => {
      const v = (cur.volumes ?? []).find((x) => x.volumeId === oldId && x.status === 'attached');
      if (!v) throw notAttached();
      if ((cur.volumes ?? []).some((x) => x.volumeId === newId)) throw ApiError.badRequest(`Invalid volume: volume ${newId} is already attached to instance ${cur.id}`);
      old = v;
      const incoming: VolumeAttachmentEntry = { ...v, volumeId: newId, attachmentId: null, status: 'attaching', path: null, format: null };
      return (cur.volumes ?? []).flatMap((x) => (x === v ? [{ ...x, status: 'detaching' as const }, incoming] : [x]));
    });
    const restore = async (message: string, unplugged: boolean) => {
      // The old disk goes back in (its data was only read); the new volume is given back.
      if (unplugged) await this.conductor.attachVolume(i, { volumeId: oldId, device: old.device, path: old.path!, format: old.format! }, rid).catch(() => undefined);
      await this.volumes.detach(newId, i.project_id, i.id, rid).catch(() => undefined);
      await this.db.transaction(async (tx) => {
        const cur = await this.repo.lock(tx, i.id);
        if (!cur || cur.task_state !== 'volume_swapping') return;
        const volumes = (cur.volumes ?? []).flatMap((x) => (x.volumeId === newId ? [] : x.volumeId === oldId ? [old] : [x]));
        await this.repo.update(tx, cur, { task_state: null, volumes }, rid);
        await this.repo.finishAction(tx, i.id, false, message);
      });
      this.relay.kick();
    };
    let unplugged = false;
    let entry: VolumeAttachmentEntry;
    try {
      const reserved = await this.volumes.reserve(newId, i.project_id, i.id, asAdmin, rid);
      await this.conductor.detachVolume(i, oldId, rid);
      unplugged = true;
      await this.volumes.copy(oldId, newId, i.project_id, i.id, rid);
      const { connection } = await this.volumes.attach(newId, i.project_id, i.id, i.host, old.device, asAdmin, rid);
      entry = { ...old, volumeId: newId, attachmentId: reserved.id, status: 'attached', path: connection.path, format: connection.format };
      await this.conductor.attachVolume(i, { volumeId: newId, device: old.device, path: connection.path, format: connection.format }, rid);
    } catch (err) {
      await restore((err as Error).message, unplugged);
      throw apiErrorOf(err);
    }
    // The new disk is in: it is recorded settled first, so whatever happens next it stays.
    await this.db.transaction(async (tx) => {
      const cur = await this.repo.lock(tx, i.id);
      if (!cur || cur.task_state !== 'volume_swapping') return;
      await this.repo.update(tx, cur, { volumes: (cur.volumes ?? []).map((x) => (x.volumeId === newId ? entry : x)), task_updated_at: new Date() }, rid);
    });
    try {
      await this.volumes.detach(oldId, i.project_id, i.id, rid);
    } catch {
      // The old volume's record stays `detaching` under the task: the reconciler releases it later
      // (resolveInterruptedVolumeTask), so it does not stay in-use for a server that no longer has it.
      this.relay.kick();
      return;
    }
    await this.end(i, 'volume_swapping', oldId, null, true, rid);
  }

  @Delete(':volumeId')
  @HttpCode(202)
  async detach(@Auth() auth: AuthContext, @Param('id') id: string, @Param('volumeId') volumeId: string, @Req() req: Request) {
    const rid = requestIdOf(req);
    const before = await this.servers.find(auth, id);
    this.policy.enforce('servers:volume_attachments:update', auth, { project_id: before.project_id });
    const settled = (v: VolumeAttachmentEntry) => v.volumeId === volumeId && (v.status === 'attached' || v.status === 'reserved');
    if (!(before.volumes ?? []).some(settled)) throw ApiError.notFound(`Volume ${volumeId} is not attached to instance ${before.id}`);
    // Nova: the root disk of a volume-backed server stays (delete the server instead).
    if ((before.volumes ?? []).some((v) => v.volumeId === volumeId && v.bootIndex === 0)) throw ApiError.badRequest("Can't detach root device volume");
    const i = await this.begin(auth, id, 'detach_volume', rid, microversionOf(req), (cur) => {
      const v = (cur.volumes ?? []).find(settled);
      if (!v) throw ApiError.notFound(`Volume ${volumeId} is not attached to instance ${cur.id}`);
      return (cur.volumes ?? []).map((x) => (x === v ? { ...x, status: 'detaching' as const } : x));
    });
    const entry = i.volumes.find((x) => x.volumeId === volumeId)!;
    try {
      // Shelved_offloaded: no domain anywhere, the volume service's record is all there is (Nova's local detach).
      if (i.vm_state !== 'shelved_offloaded') await this.conductor.detachVolume(i, volumeId, rid);
      await this.volumes.detach(volumeId, i.project_id, i.id, rid);
    } catch (err) {
      // Still plugged (the guest did not let go): the volume stays attached.
      await this.end(i, 'volume_detaching', volumeId, { ...entry, status: entry.path ? 'attached' : 'reserved' }, false, rid, (err as Error).message);
      throw apiErrorOf(err);
    }
    await this.end(i, 'volume_detaching', volumeId, null, true, rid);
  }
}

/**
 * The reconciler's repair of an attach/detach whose request died: pending entries are taken out
 * (agent unplug, then volume detach; both idempotent) and the task ends. An unplug the agent of a
 * live host refuses is retried on the next pass (the volume must not become available while a
 * guest may still write to it); with the host down the domain is not running, so the volume is
 * released. Returns false when `i` is not such a task.
 */
export async function resolveInterruptedVolumeTask(
  i: InstanceRow,
  hostUp: boolean,
  deps: { db: Db; repo: InstancesRepository; conductor: ConductorService; volumes: VolumeClient },
): Promise<boolean> {
  if (i.task_state !== 'volume_attaching' && i.task_state !== 'volume_detaching' && i.task_state !== 'volume_swapping') return false;
  const settled = (x: VolumeAttachmentEntry) => x.status === 'attached' || x.status === 'reserved';
  for (const v of (i.volumes ?? []).filter((x) => !settled(x))) {
    if (i.host && hostUp) await deps.conductor.detachVolume(i, v.volumeId);
    await deps.volumes.detach(v.volumeId, i.project_id, i.id);
  }
  await deps.db.transaction(async (tx) => {
    const cur = await deps.repo.lock(tx, i.id);
    if (!cur || cur.task_state !== i.task_state) return;
    await deps.repo.update(tx, cur, { task_state: null, volumes: (cur.volumes ?? []).filter(settled) });
    await deps.repo.finishAction(tx, i.id, false, `The ${i.task_state} request was interrupted; the reconciler took the volume out.`);
  });
  return true;
}
