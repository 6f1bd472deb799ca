import { randomBytes, randomUUID } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { Inject, Injectable } from '@nestjs/common';
import { RpcError } from '@kumo/contracts';
import { ApiError, type AuthContext, PolicyService } from '@kumo/service-kit';
import { IMAGE_CLIENT, type ImageClient, VOLUME_CLIENT, type VolumeClient } from '../conductor/peers.js';
import { checkDeviceTag, parseBlockDevices } from './block-devices.js';
import { ConductorService } from '../conductor/conductor.service.js';
import { bodyOf, boolish, intField, invalid, isAdmin, type Json, metadataOf, pageOf, projectOf, stringField } from '../common/nova.js';
import { Db, type Sql } from '../db/db.js';
import { EventRelay } from '../events/event-relay.js';
import { type FlavorRow, FlavorsService } from '../flavors/flavors.service.js';
import { QuotaService } from '../quotas/quota.service.js';
import { SecurityGroupsService } from '../security-groups/security-groups.service.js';
import { eventOf, type FlavorSnapshot, type InstanceRow, type VolumeAttachmentEntry } from './instance.model.js';
import { InstancesRepository, isUuid } from './instances.repository.js';
import { hostZoneSql } from '../aggregates/host-zone.js';
import { checkTag, MAX_TAGS } from './tag-rules.js';
import { type ActionName, CALL_TASKS, RESET_STATES, restingPower, STATUS_TO_VM, TRANSITIONS } from './state-machine.js';

export function flavorSnapshot(f: FlavorRow): FlavorSnapshot {
  return { id: f.id, name: f.name, vcpus: f.vcpus, ram: f.memory_mb, disk: f.root_gb, ephemeral: f.ephemeral_gb, swap: f.swap, extra_specs: f.extra_specs ?? {} };
}

/** Nova stores access IPv6 addresses in their compressed form ('0:0::babe:220.12.22.2' → '::babe:dc0c:1602'). */
function normalizeIpv6(v: string): string {
  if (!v) return '';
  if (!isIPv6(v)) throw invalid('accessIPv6', v, "is not a 'ipv6'");
  return new URL(`http://[${v}]/`).hostname.slice(1, -1);
}

function lastSegment(ref: string): string {
  const m = /([^/]+)\/?$/.exec(ref);
  return m ? m[1]! : ref;
}

export interface ListOptions {
  detail: boolean;
  query: Record<string, unknown>;
  /** Negotiated microversion (2.5: non-admins may filter by ip6). */
  version?: number;
}

@Injectable()
export class ServersService {
  constructor(
    private readonly db: Db,
    private readonly repo: InstancesRepository,
    private readonly policy: PolicyService,
    private readonly flavors: FlavorsService,
    private readonly quotas: QuotaService,
    private readonly conductor: ConductorService,
    private readonly relay: EventRelay,
    @Inject(IMAGE_CLIENT) private readonly images: ImageClient,
    private readonly securityGroups: SecurityGroupsService,
    @Inject(VOLUME_CLIENT) private readonly volumes: VolumeClient,
  ) {}

  /** An instance the caller may see (another project's is a 404, as in Nova). */
  async find(auth: AuthContext, id: string, sql: Sql = this.db): Promise<InstanceRow> {
    const i = await this.repo.get(id, sql);
    if (!i || i.vm_state === 'deleted' || (!isAdmin(auth) && i.project_id !== auth.projectId)) throw ApiError.notFound(`Instance ${id} could not be found.`);
    return i;
  }

  /** 2.21: instance actions stay readable after the server is deleted (still only by its project or admins). */
  /**
   * The actions of a server, newest first. 2.58: `limit` (≤ 1000), `marker` (a request id of this
   * server's actions; unknown → 400) and `changes-since` (on updated_at); ignored below, as Nova.
   * An action's updated_at is when its one event last changed (its finish, or its start while it
   * runs) — what Nova's action_event_start/finish stamp on the action.
   */
  async listActions(auth: AuthContext, id: string, q: Record<string, unknown>, version: number): Promise<{ rows: Record<string, unknown>[]; limit: number }> {
    const i = version >= 2021 ? await this.findWithDeleted(auth, id) : await this.find(auth, id);
    this.policy.enforce('instance_actions', auth, { project_id: i.project_id });
    const params: unknown[] = [i.id];
    const where = ['instance_id = $1'];
    let limit = 0;
    if (version >= 2058) {
      const page = pageOf(q);
      limit = page.limit;
      if (page.marker) {
        const [m] = await this.db.rows<{ id: string }>(`SELECT id FROM ${this.db.t('instance_action')} WHERE instance_id = $1 AND request_id = $2 ORDER BY id DESC LIMIT 1`, [i.id, page.marker]);
        if (!m) throw ApiError.badRequest(`Marker ${page.marker} could not be found.`);
        where.push(`id < ${Number(m.id)}`);
      }
      const since = q['changes-since'];
      if (since !== undefined) {
        const d = parseIsoTime(since);
        if (!d) throw ApiError.badRequest(`Invalid input for query parameters changes-since. Value: ${String(since)}. '${String(since)}' is not a 'date-time'`);
        params.push(d);
        where.push(`COALESCE(finish_time, start_time) >= $${params.length}`);
      }
    }
    const rows = await this.db.rows(
      `SELECT *, COALESCE(finish_time, start_time) AS updated_at FROM ${this.db.t('instance_action')} WHERE ${where.join(' AND ')} ORDER BY id DESC${version >= 2058 ? ` LIMIT ${limit}` : ''}`,
      params,
    );
    return { rows, limit };
  }

  async findWithDeleted(auth: AuthContext, id: string): Promise<InstanceRow> {
    const i = await this.repo.get(id, this.db);
    if (!i || (!isAdmin(auth) && i.project_id !== auth.projectId)) throw ApiError.notFound(`Instance ${id} could not be found.`);
    return i;
  }

  /** 2.26: the tags of these servers (for the views), each list sorted. */
  async tagsOf(ids: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>(ids.map((id) => [id, []]));
    if (!ids.length) return out;
    const rows = await this.db.rows<{ instance_id: string; tag: string }>(`SELECT instance_id, tag FROM ${this.db.t('instance_tag')} WHERE instance_id = ANY($1::uuid[]) ORDER BY tag`, [ids]);
    for (const r of rows) out.get(r.instance_id)?.push(r.tag);
    return out;
  }

  async show(auth: AuthContext, id: string): Promise<InstanceRow> {
    const i = await this.find(auth, id);
    this.policy.enforce('servers:show', auth, { project_id: i.project_id });
    return i;
  }

  async create(auth: AuthContext, raw: unknown, requestId: string, version = 2001): Promise<{ instances: InstanceRow[]; adminPass: string; returnReservationId: boolean }> {
    const project = projectOf(auth);
    this.policy.enforce('servers:create', auth, { project_id: project });
    if (!raw || typeof raw !== 'object') throw ApiError.badRequest('Invalid input for request body: expected {"server": {...}}.');
    const b = (raw as Json).server as Json;
    if (!b || typeof b !== 'object' || Array.isArray(b)) throw ApiError.badRequest("Invalid input for field/attribute server. 'server' is a required property");
    const name = stringField(b, 'name', { required: true, min: 1 })!;
    if (name.trim() === '') throw invalid('name', name, 'name must not be blank');
    // Nova: below 2.19 the description is the name (the old display_description); from 2.19 the body's, null if absent.
    const requestedDescription = descriptionOf(b, version);
    const description = version >= 2019 ? (requestedDescription ?? null) : name;
    const tags = tagsOf(b, version);
    const flavorRef = b.flavorRef;
    if (flavorRef === undefined || flavorRef === null || flavorRef === '') throw ApiError.badRequest("Invalid input for field/attribute flavorRef. 'flavorRef' is a required property");
    if (typeof flavorRef !== 'string' && typeof flavorRef !== 'number') throw invalid('flavorRef', flavorRef, "is not of type 'string', 'integer'");
    // Boot from volume: the root disk is a volume (existing, or made from an image by the conductor); imageRef is then not needed.
    const bdm = parseBlockDevices(b.block_device_mapping_v2, b.block_device_mapping, version);
    const boot = bdm?.boot ?? null;
    let imageRef: string;
    if (boot) {
      imageRef = boot.source === 'image' ? boot.imageId : '';
    } else {
      const imageRefRaw = b.imageRef;
      if (imageRefRaw === undefined || imageRefRaw === null || imageRefRaw === '') throw ApiError.badRequest('Missing imageRef attribute');
      if (typeof imageRefRaw !== 'string') throw invalid('imageRef', imageRefRaw, "is not of type 'string'");
      imageRef = lastSegment(imageRefRaw);
      if (!isUuid(imageRef)) throw ApiError.badRequest(`Invalid imageRef provided.`);
    }
    const minCount = intField(b, 'min_count', { min: 1, fallback: 1 })!;
    const maxCount = intField(b, 'max_count', { min: 1, fallback: minCount })!;
    if (minCount > maxCount) throw ApiError.badRequest('min_count must be <= max_count');
    const returnReservationId = boolish(b.return_reservation_id, 'return_reservation_id') ?? false;
    const adminPass = b.adminPass === undefined ? undefined : stringField(b, 'adminPass');
    const metadata = b.metadata === undefined ? {} : metadataOf(b.metadata);
    const userData = userDataOf(b);
    noPersonality(b, version);
    const accessIPv4 = stringField(b, 'accessIPv4') ?? '';
    if (accessIPv4 && !isIPv4(accessIPv4)) throw invalid('accessIPv4', accessIPv4, "is not a 'ipv4'");
    const accessIPv6 = normalizeIpv6(stringField(b, 'accessIPv6') ?? '');
    const configDrive = boolish(b.config_drive === '' ? undefined : b.config_drive, 'config_drive') ? 'True' : '';
    const az = stringField(b, 'availability_zone', { nullable: true }) ?? null;
    if (az && az.includes(':')) this.policy.enforce('servers:create_on_host', auth);
    else if (az && !(await this.zones()).includes(az)) throw ApiError.badRequest(`The requested availability zone is not available`);
    const diskConfig = diskConfigOf(b) ?? 'MANUAL';
    const networks = this.networksOf(b.networks, version);
    const securityGroups = this.securityGroupsOf(b.security_groups);
    // Key pair of the caller.
    let keyData: string | null = null;
    const keyName = stringField(b, 'key_name', { nullable: true }) ?? null;
    if (keyName) {
      const [k] = await this.db.rows<{ public_key: string }>(`SELECT public_key FROM ${this.db.t('keypair')} WHERE user_id = $1 AND name = $2`, [auth.userId, keyName]);
      if (!k) throw ApiError.badRequest(`Invalid key_name provided.`);
      keyData = k.public_key;
    }
    const hints = (raw as Json)['os:scheduler_hints'] ?? (raw as Json)['OS-SCH-HNT:scheduler_hints'];
    let groupId: string | null = null;
    if (hints !== undefined) {
      if (!hints || typeof hints !== 'object') throw invalid('os:scheduler_hints', hints, "is not of type 'object'");
      const g = (hints as Json).group;
      if (g !== undefined) {
        if (typeof g !== 'string' || !isUuid(g)) throw invalid('group', g, "is not a 'uuid'");
        const [row] = await this.db.rows(`SELECT id FROM ${this.db.t('server_group')} WHERE id = $1 AND (project_id = $2 OR $3)`, [g, project, isAdmin(auth)]);
        if (!row) throw ApiError.badRequest(`Invalid server group ${g}.`);
        groupId = g;
      }
    }
    const flavor = await this.flavors.usable(auth, lastSegment(String(flavorRef)));
    if (flavor.disabled) throw ApiError.badRequest(`Flavor ${flavor.id} is disabled.`);
    const image = imageRef
      ? await this.images.get(imageRef, project, isAdmin(auth)).catch((err: unknown) => {
          if (err instanceof RpcError && err.code === 'not_found') throw ApiError.badRequest(`Image ${imageRef} could not be found.`);
          if (err instanceof RpcError) throw new ApiError(503, `The image service did not answer: ${err.message}`);
          throw err;
        })
      : null;
    if (image) {
      if (image.status !== 'active') throw ApiError.badRequest(`Image ${imageRef} is not active.`);
      if (image.minRam > flavor.memory_mb) throw ApiError.badRequest("Flavor's memory is too small for requested image.");
      // The flavor's disk does not hold a volume-backed root disk: the volume's size does.
      if (!boot) {
        if (image.minDisk > flavor.root_gb && flavor.root_gb > 0) throw ApiError.badRequest("Flavor's disk is too small for requested image.");
        if (image.size !== null && flavor.root_gb > 0 && image.virtualSize !== null && image.virtualSize > flavor.root_gb * 1024 ** 3) throw ApiError.badRequest("Flavor's disk is too small for requested image.");
      } else if (boot.source === 'image' && image.virtualSize !== null && image.virtualSize > boot.size * 1024 ** 3) {
        throw ApiError.badRequest(`Block Device Mapping is Invalid: image ${imageRef} is larger than volume_size ${boot.size} GB.`);
      }
    }
    const existingVolumes = [...(boot?.source === 'volume' ? [boot.volumeId] : []), ...(bdm?.extra ?? []).map((e) => e.volumeId)];
    if (existingVolumes.length && maxCount > 1) throw ApiError.badRequest('Block Device Mapping is Invalid: a volume cannot be attached to several servers (max_count > 1).');
    for (const volumeId of existingVolumes) {
      const v = await this.volumes.get(volumeId, project, isAdmin(auth)).catch((err: unknown) => {
        if (err instanceof RpcError && err.code === 'not_found') throw ApiError.badRequest(`Block Device Mapping is Invalid: failed to get volume ${volumeId}.`);
        if (err instanceof RpcError) throw new ApiError(503, `The volume service did not answer: ${err.message}`);
        throw err;
      });
      if (v.status !== 'available') throw ApiError.badRequest(`Invalid volume: volume ${volumeId} status must be available, but current status is: ${v.status}.`);
      // Nova's InvalidBDMVolumeNotBootable: the root volume must be marked bootable.
      if (boot?.source === 'volume' && boot.volumeId === volumeId && !v.bootable) throw ApiError.badRequest(`Block Device ${volumeId} is not bootable.`);
    }
    // The volumes each server gets, recorded before any other service is asked; the conductor makes and attaches them before the spawn.
    const volumesFor = (): VolumeAttachmentEntry[] => {
      const out: VolumeAttachmentEntry[] = [];
      if (boot) {
        const base = { attachmentId: null, device: '/dev/vda', status: 'attaching' as const, path: null, format: null, deleteOnTermination: boot.deleteOnTermination, bootIndex: 0, ...(boot.tag ? { tag: boot.tag } : {}) };
        out.push(boot.source === 'volume' ? { ...base, volumeId: boot.volumeId } : { ...base, volumeId: randomUUID(), create: { imageId: boot.imageId, size: boot.size } });
      }
      for (const [n, e] of (bdm?.extra ?? []).entries()) {
        out.push({ volumeId: e.volumeId, attachmentId: null, device: `/dev/vd${String.fromCharCode(98 + n)}`, status: 'attaching', path: null, format: null, deleteOnTermination: e.deleteOnTermination, ...(e.tag ? { tag: e.tag } : {}) });
      }
      return out;
    };
    // Nova: "Security group X not found for project Y." (400); asked of the network service with the caller's token.
    await this.securityGroups.checkForCreate(auth, securityGroups);
    const snap = flavorSnapshot(flavor);
    const reservationId = `r-${randomBytes(4).toString('hex')}`;
    const instances = await this.db.transaction(async (tx) => {
      await this.quotas.lockProject(tx, project);
      const limits = await this.quotas.limits(project, tx);
      if (limits.metadata_items! >= 0 && Object.keys(metadata).length > limits.metadata_items!) throw new ApiError(403, 'Quota exceeded for metadata_items.', { type: 'forbidden' });
      const count = await this.quotas.instancesAllowed(tx, project, snap.vcpus, snap.ram, minCount, maxCount);
      if (groupId) {
        const [m] = await tx.rows<{ n: string }>(`SELECT count(*) AS n FROM ${this.db.t('instance')} WHERE server_group_id = $1 AND vm_state <> 'deleted'`, [groupId]);
        if (limits.server_group_members! >= 0 && Number(m!.n) + count > limits.server_group_members!) throw new ApiError(403, 'Quota exceeded, too many servers in group', { type: 'forbidden' });
      }
      const out: InstanceRow[] = [];
      for (let n = 0; n < count; n++) {
        const displayName = count > 1 ? `${name}-${n + 1}` : name;
        const [row] = await tx.rows<InstanceRow>(
          `INSERT INTO ${this.db.t('instance')} (id, project_id, user_id, name, hostname, vm_state, task_state, flavor, vcpus, memory_mb, root_gb, image_ref, image_meta,
             key_name, key_data, user_data, metadata, requested_networks, security_groups, access_ipv4, access_ipv6, config_drive, reservation_id, launch_index,
             server_group_id, requested_az, availability_zone, desired_power, target_vm_state, description, volumes, disk_config)
           VALUES ($1,$2,$3,$4,$5,'building','scheduling',$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,'running','active',$26,$27,$28) RETURNING *`,
          [
            randomUUID(),
            project,
            auth.userId,
            displayName,
            displayName.toLowerCase().replace(/[^a-z0-9-]+/g, '-').slice(0, 63),
            JSON.stringify(snap),
            snap.vcpus,
            snap.ram,
            snap.disk,
            // A volume-backed server has no image of its own (Nova shows `image: ""`); its boot volume was made of the image.
            boot ? null : imageRef,
            boot || !image ? null : JSON.stringify({ id: image.id, checksum: image.checksum, properties: image.properties ?? {}, diskFormat: image.diskFormat, containerFormat: image.containerFormat }),
            keyName,
            keyData,
            userData,
            JSON.stringify(metadata),
            JSON.stringify(networks),
            JSON.stringify(securityGroups),
            accessIPv4,
            accessIPv6,
            // Nova's configdrive.update_instance: an image that mandates a config drive gets one (and the server shows "True").
            configDrive || image?.properties?.img_config_drive === 'mandatory' ? 'True' : '',
            reservationId,
            n,
            groupId,
            az,
            az && !az.includes(':') ? az : az?.split(':')[0] || 'nova',
            description,
            JSON.stringify(volumesFor()),
            diskConfig,
          ],
        );
        if (tags.length) await tx.exec(`INSERT INTO ${this.db.t('instance_tag')} (instance_id, tag) SELECT $1, unnest($2::text[])`, [row!.id, tags]);
        await this.repo.startAction(tx, row!, 'create', auth.userId, requestId);
        await this.repo.queueEvent(tx, 'instance.created', { instance: eventOf(row!) }, requestId);
        out.push(row!);
      }
      return out;
    });
    this.relay.kick();
    for (const i of instances) this.conductor.startBuild(i.id, requestId);
    return { instances, adminPass: adminPass ?? randomBytes(9).toString('base64url').slice(0, 12), returnReservationId };
  }

  async zones(): Promise<string[]> {
    // Hosts' zones as the scheduler sees them: an aggregate's zone replaces the reported one.
    const rows = await this.db.rows<{ z: string }>(`SELECT DISTINCT ${hostZoneSql(this.db)} AS z FROM ${this.db.t('compute_node')} n`);
    return ['nova', ...rows.map((r) => r.z)];
  }

  private networksOf(v: unknown, version: number): unknown {
    // 2.37: `networks` is required ("auto", "none" or a list).
    if (version >= 2037 && v === undefined) throw ApiError.badRequest("Invalid input for field/attribute server. 'networks' is a required property");
    // Absent (microversion < 2.37): Nova attaches the project's networks if there are any and
    // boots without a NIC otherwise; `default` tells the conductor to do exactly that.
    if (v === undefined || v === null) return 'default';
    // Kumo takes "auto"/"none" below 2.37 too (Nova: 400 there); docs/compute.md says so.
    if (v === 'auto' || v === 'none') return v;
    if (!Array.isArray(v)) throw invalid('networks', v, "is not of type 'array'");
    // An empty list is "nothing specified" in Nova (what `openstack server create` sends without
    // --nic below 2.37): the project's network if there is one, as when the key is absent.
    if (v.length === 0) return 'default';
    // Device tags on NICs: 2.32 to 2.36, and again from 2.42 (2.37 dropped them by mistake).
    const allowed = ['uuid', 'port', 'fixed_ip', ...((version >= 2032 && version < 2037) || version >= 2042 ? ['tag'] : [])];
    return v.map((n: unknown) => {
      if (!n || typeof n !== 'object') throw invalid('networks', v, "items must be objects");
      const o = n as Json;
      for (const k of Object.keys(o)) if (!allowed.includes(k)) throw invalid('networks', v, `Additional properties are not allowed ('${k}' was unexpected)`);
      if (o.tag !== undefined) checkDeviceTag(o.tag);
      if (o.uuid !== undefined && (typeof o.uuid !== 'string' || !isUuid(o.uuid))) throw ApiError.badRequest(`Bad networks format: network uuid is not in proper format (${String(o.uuid)})`);
      if (o.port !== undefined && o.port !== null && (typeof o.port !== 'string' || !isUuid(o.port))) throw invalid('port', o.port, "is not a 'uuid'");
      if (o.fixed_ip !== undefined && (typeof o.fixed_ip !== 'string' || !/^[0-9a-fA-F:.]+$/.test(o.fixed_ip))) throw ApiError.badRequest(`Invalid fixed IP address (${String(o.fixed_ip)})`);
      if (!o.uuid && !o.port) throw ApiError.badRequest('Bad networks format: a network needs a uuid or a port');
      // The tag is kept with the request (Nova gives it to the guest as device metadata; Kumo has no metadata service or config drive contents yet).
      return { networkId: o.uuid as string | undefined, portId: (o.port as string | undefined) ?? undefined, fixedIp: o.fixed_ip as string | undefined, ...(o.tag !== undefined ? { tag: o.tag as string } : {}) };
    });
  }

  private securityGroupsOf(v: unknown): string[] {
    if (v === undefined || v === null) return ['default'];
    if (!Array.isArray(v)) throw invalid('security_groups', v, "is not of type 'array'");
    return v.map((g: unknown) => {
      const name = g && typeof g === 'object' ? (g as Json).name : undefined;
      if (typeof name !== 'string' || !name) throw invalid('security_groups', v, "each item needs a 'name'");
      return name;
    });
  }

  async list(auth: AuthContext, opts: ListOptions): Promise<InstanceRow[]> {
    const q = opts.query;
    this.policy.enforce('servers:index', auth, { project_id: auth.projectId });
    const params: unknown[] = [];
    const where: string[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    const allTenants = q.all_tenants !== undefined && (q.all_tenants === '' || boolish(q.all_tenants, 'all_tenants') !== false);
    if (allTenants) {
      this.policy.enforce('servers:all_tenants', auth);
      if (typeof q.project_id === 'string' || typeof q.tenant_id === 'string') where.push(`project_id = ${p(q.project_id ?? q.tenant_id)}`);
    } else {
      where.push(`project_id = ${p(auth.projectId ?? '')}`);
    }
    const admin = isAdmin(auth);
    const deleted = admin && q.deleted !== undefined && boolish(q.deleted, 'deleted');
    if (q.status !== undefined) {
      const status = String(q.status).toUpperCase();
      const vms = STATUS_TO_VM[status];
      if (!vms) {
        // 2.38: an unknown status is a 400 for everyone (Nova: "Invalid status value"); below,
        // Nova answers an empty list (and a 500 to admins, which Kumo does not copy).
        if ((opts.version ?? 2001) >= 2038) throw ApiError.badRequest('Invalid status value');
        return [];
      }
      where.push(`vm_state = ANY(${p(vms)})`);
      if (status === 'REBOOT') where.push(`task_state = 'rebooting'`);
      if (status === 'HARD_REBOOT') where.push(`task_state = 'rebooting_hard'`);
      if (status === 'PASSWORD') where.push(`task_state = 'updating_password'`);
    }
    const changesSince = q['changes-since'] ?? q.changes_since;
    if (changesSince !== undefined) {
      const d = parseIsoTime(changesSince);
      if (!d) throw ApiError.badRequest(`Invalid filter field: changes-since. Value: ${String(changesSince)}. It must be an ISO 8601 time such as 2011-01-01T12:34:00Z.`);
      where.push(`updated_at >= ${p(d)}`);
    } else if (!deleted && q.status !== 'DELETED') {
      where.push(`vm_state <> 'deleted'`);
    }
    if (typeof q.name === 'string' && q.name) {
      try {
        new RegExp(q.name);
      } catch {
        throw ApiError.badRequest(`Invalid name filter regex: ${q.name}`);
      }
      where.push(`name ~ ${p(q.name)}`);
    }
    if (typeof q.image === 'string') where.push(`image_ref = ${p(lastSegment(q.image))}`);
    if (typeof q.flavor === 'string') where.push(`flavor->>'id' = ${p(lastSegment(q.flavor))}`);
    if (typeof q.reservation_id === 'string') where.push(`reservation_id = ${p(q.reservation_id)}`);
    if (typeof q.host === 'string') {
      if (admin) where.push(`host = ${p(q.host)}`);
    }
    if (typeof q.availability_zone === 'string') where.push(`availability_zone = ${p(q.availability_zone)}`);
    if (typeof q.ip === 'string' && q.ip) {
      where.push(`EXISTS (SELECT 1 FROM jsonb_array_elements(ports) port, jsonb_array_elements(port->'fixedIps') ip WHERE ip->>'ipAddress' ~ ${p(q.ip)})`);
    }
    // ip6: admins at any version, everyone from 2.5 (Nova ignores it for others below).
    if (typeof q.ip6 === 'string' && q.ip6 && (admin || (opts.version ?? 2001) >= 2005)) {
      where.push(`EXISTS (SELECT 1 FROM jsonb_array_elements(ports) port, jsonb_array_elements(port->'fixedIps') ip WHERE (ip->>'ipVersion')::int = 6 AND ip->>'ipAddress' ~ ${p(q.ip6)})`);
    }
    // 2.26 tag filters (comma lists): tags = has all, tags-any = has one, not-tags = lacks one, not-tags-any = has none.
    if ((opts.version ?? 2001) >= 2026) {
      const tagged = (name: string) => {
        const v = q[name];
        if (typeof v !== 'string' || !v) return undefined;
        const list = [...new Set(v.split(',').filter(Boolean))];
        return `(SELECT count(*) FROM ${this.db.t('instance_tag')} t WHERE t.instance_id = ${this.db.t('instance')}.id AND t.tag = ANY(${p(list)}::text[]))${name.endsWith('-any') ? ' > 0' : ` = ${list.length}`}`;
      };
      const all = tagged('tags');
      const any = tagged('tags-any');
      const notAll = tagged('not-tags');
      const notAny = tagged('not-tags-any');
      if (all) where.push(all);
      if (any) where.push(any);
      if (notAll) where.push(`NOT ${notAll}`);
      if (notAny) where.push(`NOT ${notAny}`);
    }
    const limitRaw = q.limit;
    let limit = 1000;
    if (limitRaw !== undefined) {
      const n = Number(limitRaw);
      if (!Number.isInteger(n) || n < 0) throw ApiError.badRequest(`Invalid input for query parameters limit. Value: ${String(limitRaw)}.`);
      limit = Math.min(n, 1000);
    }
    if (typeof q.marker === 'string' && q.marker) {
      const [m] = await this.db.rows<{ seq: string }>(`SELECT seq FROM ${this.db.t('instance')} WHERE id::text = $1`, [q.marker]);
      if (!m) throw ApiError.badRequest(`marker [${q.marker}] not found`);
      where.push(`seq < ${p(m.seq)}`);
    }
    return this.db.rows<InstanceRow>(`SELECT * FROM ${this.db.t('instance')} WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT ${p(limit)}`, params);
  }

  async update(auth: AuthContext, id: string, raw: unknown, requestId: string, version = 2001): Promise<InstanceRow> {
    const b = (raw as Json)?.server as Json;
    if (!b || typeof b !== 'object' || Array.isArray(b)) throw ApiError.badRequest("Invalid input for field/attribute server. 'server' is a required property");
    for (const k of Object.keys(b)) if (!['name', 'accessIPv4', 'accessIPv6', 'OS-DCF:diskConfig', ...(version >= 2019 ? ['description'] : [])].includes(k)) throw invalid('server', b, `Additional properties are not allowed ('${k}' was unexpected)`);
    const patch: Record<string, unknown> = {};
    if (b.description !== undefined) patch.description = descriptionOf(b, version);
    if (b.name !== undefined) {
      const name = stringField(b, 'name', { min: 1 })!;
      if (!name.trim()) throw invalid('name', name, 'name must not be blank');
      patch.name = name;
    }
    if (b.accessIPv4 !== undefined) {
      const v4 = stringField(b, 'accessIPv4') ?? '';
      if (v4 && !isIPv4(v4)) throw invalid('accessIPv4', v4, "is not a 'ipv4'");
      patch.access_ipv4 = v4;
    }
    if (b.accessIPv6 !== undefined) patch.access_ipv6 = normalizeIpv6(stringField(b, 'accessIPv6') ?? '');
    const diskConfig = diskConfigOf(b);
    if (diskConfig) patch.disk_config = diskConfig;
    const out = await this.db.transaction(async (tx) => {
      const i = await this.find(auth, id, tx);
      this.policy.enforce('servers:update', auth, { project_id: i.project_id });
      const locked = await this.repo.lock(tx, i.id);
      return Object.keys(patch).length ? this.repo.update(tx, locked!, patch, requestId) : locked!;
    });
    return out;
  }

  /**
   * Starts a state-machine action: checks lock, task and vm_state (409 otherwise), records the
   * task with a new generation, then hands it to the conductor.
   */
  async act(auth: AuthContext, id: string, action: ActionName, requestId: string, extra: (tx: Sql, i: InstanceRow) => Promise<Record<string, unknown>> = async () => ({}), actionName: string = action): Promise<InstanceRow> {
    const t = TRANSITIONS[action];
    const updated = await this.db.transaction(async (tx) => {
      const seen = await this.find(auth, id, tx);
      this.policy.enforce(action === 'delete' ? 'servers:delete' : 'servers:action', auth, { project_id: seen.project_id });
      const i = (await this.repo.lock(tx, seen.id))!;
      // Deleted between the read and the lock (two deletes racing: Tempest's cleanups): gone, as a 404.
      if (i.vm_state === 'deleted') throw ApiError.notFound(`Instance ${id} could not be found.`);
      if (i.locked && !isAdmin(auth)) throw ApiError.conflict(`Instance ${i.id} is locked`);
      if (action === 'delete' && i.task_state === 'deleting') return i;
      if (i.task_state && action !== 'delete') throw ApiError.conflict(`Cannot '${actionName}' instance ${i.id} while it is in task_state ${i.task_state}`);
      if (!(t.from as readonly string[]).includes(i.vm_state)) throw ApiError.conflict(`Cannot '${actionName}' instance ${i.id} while it is in vm_state ${i.vm_state}`);
      const more = await extra(tx, i);
      const power = t.power === 'keep' ? (more.desired_power as string | undefined) ?? restingPower(i.vm_state) : t.power;
      const to = t.to === 'keep' ? i.vm_state : t.to;
      await this.repo.startAction(tx, i, actionName, auth.userId, requestId);
      return this.repo.update(
        tx,
        i,
        { task_state: t.task, desired_power: power, target_vm_state: to, generation: i.generation + 1, task_updated_at: new Date(), task_started_at: new Date(), ...more },
        requestId,
      );
    });
    this.relay.kick();
    if (action === 'delete' && !updated.host) await this.conductor.localDelete(updated.id, requestId);
    else if (action === 'unshelve' && !updated.host) this.conductor.startUnshelve(updated.id, requestId);
    else if (action === 'evacuate') this.conductor.startEvacuate(updated.id, requestId);
    else if (!CALL_TASKS.has(t.task)) await this.conductor.sync(updated, requestId);
    return updated;
  }

  async createImage(auth: AuthContext, id: string, body: Json, requestId: string, version = 2001): Promise<string> {
    const name = stringField(body, 'name', { required: true, min: 1 })!;
    const metadata = body.metadata === undefined ? {} : metadataOf(body.metadata);
    const i = await this.find(auth, id);
    await this.checkImageMetadataQuota(i, metadata, version);
    return this.snapshot(auth, i, 'create_image', 'createImage', name, { image_type: 'snapshot', ...metadata }, requestId);
  }

  /**
   * createBackup (Nova's os-create-backup): a snapshot with `image_type: backup` and `backup_type`,
   * after which the conductor deletes the server's backups of that type beyond `rotation`
   * (ConductorService.rotateBackups). Answers the new image's id.
   */
  async createBackup(auth: AuthContext, id: string, body: Json, requestId: string, version = 2001): Promise<string> {
    const extra = Object.keys(body).filter((k) => !['name', 'backup_type', 'rotation', 'metadata'].includes(k));
    if (extra.length) throw ApiError.badRequest(`Invalid input for field/attribute createBackup. Value: ${JSON.stringify(body)}. Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length > 1 ? 'were' : 'was'} unexpected)`);
    const name = stringField(body, 'name', { required: true, min: 1 })!;
    if (name.trim() !== name) throw ApiError.badRequest(`Invalid input for field/attribute name. Value: ${name}. '${name}' does not match the name pattern: no leading or trailing whitespace`);
    const type = stringField(body, 'backup_type', { required: true })!;
    const rotation = intField(body, 'rotation', { required: true, min: 0 })!;
    const metadata = body.metadata === undefined ? {} : metadataOf(body.metadata);
    const i = await this.find(auth, id);
    this.policy.enforce('os_compute_api:os-create-backup', auth, { project_id: i.project_id });
    await this.checkImageMetadataQuota(i, metadata, version);
    if (!i.image_ref || (i.volumes ?? []).some((v) => v.bootIndex === 0)) throw ApiError.badRequest('Backup is not supported for volume-backed instances.');
    return this.snapshot(auth, i, 'create_backup', 'createBackup', name, { image_type: 'backup', ...metadata, backup_type: type }, requestId, { backup: { type, rotation } });
  }

  /**
   * Below 2.39 Nova counts a snapshot's metadata against the project's metadata_items quota
   * (check_img_metadata_properties_quota); 2.39 dropped the check with the image-metadata proxy.
   */
  private async checkImageMetadataQuota(i: InstanceRow, metadata: Record<string, string>, version: number): Promise<void> {
    if (version >= 2039 || Object.keys(metadata).length === 0) return;
    const limit = (await this.quotas.limits(i.project_id)).metadata_items!;
    if (limit >= 0 && Object.keys(metadata).length > limit) throw new ApiError(403, 'Image metadata limit exceeded', { type: 'forbidden' });
  }

  /** Registers the snapshot image and starts the task the agent fills it in (createImage, createBackup). */
  private async snapshot(auth: AuthContext, i: InstanceRow, action: 'create_image' | 'create_backup', actionName: string, name: string, properties: Record<string, string>, requestId: string, more: Record<string, unknown> = {}): Promise<string> {
    let imageId = '';
    await this.act(
      auth,
      i.id,
      action,
      requestId,
      async () => {
        // Registered before the 202 so that `GET /v2/images` lists it right away (the SDK does).
        const base = i.image_meta;
        // Nova's snapshot keeps the base image's min_ram (Tempest compares them); a base image
        // that is gone or hidden now leaves 0.
        const baseMinRam = base ? await this.images.get(base.id, i.project_id, true).then((b) => b.minRam ?? 0, () => 0) : 0;
        const img = await this.images.create({
          owner: i.project_id,
          name,
          // The agent snapshots the instance disk in the base image's format.
          diskFormat: base?.diskFormat ?? 'qcow2',
          containerFormat: base?.containerFormat ?? 'bare',
          minDisk: i.flavor.disk,
          minRam: baseMinRam,
          // Nova's compute_utils.create_image: the request's metadata goes on top, so it may even
          // override image_type (Tempest's test_create_delete_image sends image_type: test).
          properties: { ...(base ? { base_image_ref: base.id } : {}), instance_uuid: i.id, user_id: auth.userId, ...properties },
        });
        imageId = img.id;
        return { snapshot_image_id: img.id, ...more };
      },
      actionName,
    );
    return imageId;
  }

  async setLock(auth: AuthContext, id: string, locked: boolean, requestId: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const seen = await this.find(auth, id, tx);
      this.policy.enforce('servers:action', auth, { project_id: seen.project_id });
      const i = (await this.repo.lock(tx, seen.id))!;
      if (!locked && i.locked && i.locked_by === 'admin' && !isAdmin(auth)) this.policy.enforce('servers:unlock_override', auth);
      await this.repo.startAction(tx, i, locked ? 'lock' : 'unlock', auth.userId, requestId);
      await this.repo.update(tx, i, { locked, locked_by: locked ? (isAdmin(auth) && i.project_id !== auth.projectId ? 'admin' : 'owner') : null }, requestId);
      await this.repo.finishAction(tx, i.id, true);
    });
  }

  /**
   * 2.17 trigger_crash_dump: an NMI into the guest. As in Nova it sets no task and changes no state
   * (what the guest does with an NMI is its own configuration): lock, host, vm_state and task are
   * checked in one transaction and the action recorded; the agent call runs after the 202 (Nova
   * casts it) and its outcome ends the action — Error with the driver's message when, say, the
   * domain of an ERROR server is not running.
   */
  async triggerCrashDump(auth: AuthContext, id: string, requestId: string): Promise<void> {
    const i = await this.db.transaction(async (tx) => {
      const seen = await this.find(auth, id, tx);
      this.policy.enforce('servers:trigger_crash_dump', auth, { project_id: seen.project_id });
      const i = (await this.repo.lock(tx, seen.id))!;
      if (i.locked && !isAdmin(auth)) throw ApiError.conflict(`Instance ${i.id} is locked`);
      if (!i.host) throw ApiError.conflict(`Instance ${i.id} is not ready`);
      if (i.task_state) throw ApiError.conflict(`Cannot 'trigger_crash_dump' instance ${i.id} while it is in task_state ${i.task_state}`);
      if (!['active', 'paused', 'rescued', 'resized', 'error'].includes(i.vm_state)) throw ApiError.conflict(`Cannot 'trigger_crash_dump' instance ${i.id} while it is in vm_state ${i.vm_state}`);
      await this.repo.startAction(tx, i, 'trigger_crash_dump', auth.userId, requestId);
      return i;
    });
    const finish = (ok: boolean, message?: string) =>
      this.db.exec(
        `UPDATE ${this.db.t('instance_action')} SET finish_time = now(), result = $3, message = COALESCE($4, message)
          WHERE instance_id = $1 AND request_id = $2 AND action = 'trigger_crash_dump' AND finish_time IS NULL`,
        [i.id, requestId, ok ? 'Success' : 'Error', message ?? null],
      );
    void this.conductor.triggerCrashDump(i).then(
      () => finish(true),
      (err: unknown) => finish(false, (err as Error).message).catch(() => undefined),
    );
  }

  /** The names the server view shows after addSecurityGroup/removeSecurityGroup (the ports already changed). */
  async setSecurityGroupNames(id: string, group: string, add: boolean): Promise<void> {
    await this.db.transaction(async (tx) => {
      const i = await this.repo.lock(tx, id);
      if (!i) return;
      const names = (i.security_groups ?? []).filter((n) => n !== group);
      await tx.rows(`UPDATE ${this.db.t('instance')} SET security_groups = $2::jsonb, updated_at = now() WHERE id = $1`, [id, JSON.stringify(add ? [...names, group] : names)]);
    });
  }

  /**
   * os-resetState: vm_state set, task cleared, in any state (RESET_STATES). The generation moves
   * on, so a report of the abandoned task is stale and ends nothing; the domain is left as it is
   * (a later action or delete acts on it). Recorded as the `resetState` instance action.
   */
  async resetState(auth: AuthContext, id: string, raw: unknown, requestId: string): Promise<InstanceRow> {
    const o = bodyOf(raw, 'os-resetState');
    for (const k of Object.keys(o)) if (k !== 'state') throw invalid('os-resetState', o, `Additional properties are not allowed ('${k}' was unexpected)`);
    if (o.state === undefined) throw invalid('os-resetState', o, "'state' is a required property");
    const state = o.state;
    if (typeof state !== 'string' || !(RESET_STATES as readonly string[]).includes(state)) throw invalid('state', state, `${JSON.stringify(state)} is not one of ['active', 'error']`);
    const out = await this.db.transaction(async (tx) => {
      const seen = await this.find(auth, id, tx);
      this.policy.enforce('servers:reset_state', auth, { project_id: seen.project_id });
      const i = (await this.repo.lock(tx, seen.id))!;
      await this.repo.startAction(tx, i, 'resetState', auth.userId, requestId);
      const after = await this.repo.update(tx, i, { vm_state: state, task_state: null, task_host: null, target_vm_state: null, generation: i.generation + 1, task_updated_at: new Date() }, requestId);
      await this.repo.finishAction(tx, i.id, true);
      return after;
    });
    this.relay.kick();
    return out;
  }

  /** os-server-password: the encrypted password the guest left ('' when none). */
  async password(auth: AuthContext, id: string): Promise<string> {
    const i = await this.find(auth, id);
    this.policy.enforce('os_compute_api:os-server-password:show', auth, { project_id: i.project_id });
    return i.password ?? '';
  }

  /** Clears it (Nova: no lock or state check; the guest may post a new one). */
  async clearPassword(auth: AuthContext, id: string): Promise<void> {
    const i = await this.find(auth, id);
    this.policy.enforce('os_compute_api:os-server-password:clear', auth, { project_id: i.project_id });
    await this.db.exec(`UPDATE ${this.db.t('instance')} SET password = '', updated_at = now() WHERE id = $1`, [i.id]);
  }

  async forceDelete(auth: AuthContext, id: string, requestId: string): Promise<void> {
    this.policy.enforce('servers:force_delete', auth, { project_id: (await this.find(auth, id)).project_id });
    await this.act(auth, id, 'delete', requestId, async () => ({}), 'forceDelete');
  }

  async setMetadata(auth: AuthContext, id: string, metadata: Record<string, string>, replace: boolean, requestId: string): Promise<Record<string, string>> {
    return this.db.transaction(async (tx) => {
      const seen = await this.find(auth, id, tx);
      this.policy.enforce('servers:update', auth, { project_id: seen.project_id });
      const i = (await this.repo.lock(tx, seen.id))!;
      if (i.locked && !isAdmin(auth)) throw ApiError.conflict(`Instance ${i.id} is locked`);
      const next = replace ? metadata : { ...i.metadata, ...metadata };
      const limit = (await this.quotas.limits(i.project_id, tx)).metadata_items!;
      if (limit >= 0 && Object.keys(next).length > limit) throw new ApiError(403, 'Quota exceeded for metadata_items.', { type: 'forbidden' });
      const out = await this.repo.update(tx, i, { metadata: next }, requestId);
      return out.metadata;
    });
  }

  async deleteMetadata(auth: AuthContext, id: string, key: string, requestId: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const seen = await this.find(auth, id, tx);
      this.policy.enforce('servers:update', auth, { project_id: seen.project_id });
      const i = (await this.repo.lock(tx, seen.id))!;
      if (i.locked && !isAdmin(auth)) throw ApiError.conflict(`Instance ${i.id} is locked`);
      if (!(key in i.metadata)) throw ApiError.notFound(`Metadata item was not found`);
      const next = { ...i.metadata };
      delete next[key];
      await this.repo.update(tx, i, { metadata: next }, requestId);
    });
  }

  /**
   * 2.54 `key_name` of rebuild: the caller's keypair replaces the server's (Nova looks it up under
   * the requesting user, not the server's owner: keys belong to users, servers to projects); null
   * removes it. `key_data` goes into the rebuilt guest's spec as at boot. 400 below 2.54.
   */
  private async rebuildKeyOf(auth: AuthContext, body: Json, version: number): Promise<{ key_name?: string | null; key_data?: string | null }> {
    if (body.key_name === undefined) return {};
    if (version < 2054) throw invalid('rebuild', body, "Additional properties are not allowed ('key_name' was unexpected)");
    const name = stringField(body, 'key_name', { nullable: true, min: 1, max: 255 });
    if (name === undefined) return { key_name: null, key_data: null };
    const [k] = await this.db.rows<{ public_key: string }>(`SELECT public_key FROM ${this.db.t('keypair')} WHERE user_id = $1 AND name = $2`, [auth.userId, name]);
    if (!k) throw ApiError.badRequest(`Keypair ${name} not found for user ${auth.userId}`);
    return { key_name: name, key_data: k.public_key };
  }

  async rebuild(auth: AuthContext, id: string, body: Json, requestId: string, version = 2001): Promise<InstanceRow> {
    const description = descriptionOf(body, version);
    const diskConfig = diskConfigOf(body);
    const ref = stringField(body, 'imageRef', { required: true, min: 1 })!;
    const imageId = lastSegment(ref);
    if (!isUuid(imageId)) throw ApiError.badRequest('Invalid imageRef provided.');
    const i = await this.find(auth, id);
    const image = await this.images.get(imageId, i.project_id, isAdmin(auth)).catch((err: unknown) => {
      if (err instanceof RpcError && err.code === 'not_found') throw ApiError.badRequest(`Image ${imageId} could not be found.`);
      throw err;
    });
    if (image.status !== 'active') throw ApiError.badRequest(`Image ${imageId} is not active.`);
    const loc = await this.images.location(imageId, i.project_id, isAdmin(auth));
    const patch: Record<string, unknown> = {
      image_ref: imageId,
      image_meta: { id: image.id, path: loc.path, url: loc.url, checksum: image.checksum, properties: image.properties ?? {}, diskFormat: image.diskFormat, containerFormat: image.containerFormat },
    };
    if (body.name !== undefined) patch.name = stringField(body, 'name', { min: 1 });
    if (description !== undefined) patch.description = description;
    if (diskConfig) patch.disk_config = diskConfig;
    if (body.metadata !== undefined) patch.metadata = metadataOf(body.metadata);
    if (body.accessIPv4 !== undefined) patch.access_ipv4 = stringField(body, 'accessIPv4') ?? '';
    if (body.accessIPv6 !== undefined) patch.access_ipv6 = normalizeIpv6(stringField(body, 'accessIPv6') ?? '');
    Object.assign(patch, await this.rebuildKeyOf(auth, body, version));
    noPersonality(body, version);
    // 2.57: new user data for the rebuilt guest (null removes it); 400 below.
    if (body.user_data !== undefined) {
      if (version < 2057) throw invalid('rebuild', body, "Additional properties are not allowed ('user_data' was unexpected)");
      patch.user_data = userDataOf(body);
    }
    return this.act(auth, id, 'rebuild', requestId, async (_tx, cur) => ({ ...patch, spec_version: cur.spec_version + 1, target_vm_state: cur.vm_state === 'error' ? 'active' : cur.vm_state }), 'rebuild');
  }
}

/** `user_data` of create (and of rebuild from 2.57): base64, at most 65535 characters; null when absent or null. */
function userDataOf(b: Json): string | null {
  const userData = b.user_data === undefined || b.user_data === null ? null : stringField(b, 'user_data', { max: 65535 })!;
  if (userData !== null && !/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(userData)) throw invalid('user_data', userData, 'is not base64');
  return userData;
}

/**
 * 2.57 took file injection (`personality`) out of create and rebuild: 400 from 2.57. Below it is
 * accepted and ignored — Kumo has no file injection (nor config drive contents) to put files with.
 */
function noPersonality(b: Json, version: number): void {
  if (b.personality !== undefined && version >= 2057) throw invalid('server', b, "Additional properties are not allowed ('personality' was unexpected)");
}

/**
 * 2.19 `description` of create, update and rebuild: null or up to 255 printable characters
 * (Nova's schema: no control or separator characters but spaces). Below 2.19 Nova's schemas do
 * not have the field: 400. Undefined when absent.
 */
function descriptionOf(b: Json, version: number): string | null | undefined {
  if (b.description === undefined) return undefined;
  if (version < 2019) throw invalid('server', b, "Additional properties are not allowed ('description' was unexpected)");
  const d = stringField(b, 'description', { nullable: true, max: 255 });
  if (d === undefined) return null;
  if (!/^[^\p{C}\p{Zl}\p{Zp}]*$/u.test(d)) throw invalid('description', d, 'is not printable');
  return d;
}

/** 2.52: `tags` on create, as the 2.26 tags API takes them (at most 50; duplicates kept once); 400 below. */
function tagsOf(b: Json, version: number): string[] {
  if (b.tags === undefined) return [];
  if (version < 2052) throw invalid('server', b, "Additional properties are not allowed ('tags' was unexpected)");
  if (!Array.isArray(b.tags)) throw invalid('tags', b.tags, "is not of type 'array'");
  if (b.tags.length > MAX_TAGS) throw invalid('tags', b.tags, `is too long (at most ${MAX_TAGS} tags)`);
  return [...new Set(b.tags.map((t) => checkTag(t, 'tags')))];
}

/**
 * `OS-DCF:diskConfig` of create, update, rebuild and resize bodies: AUTO (the guest's root
 * partition is grown to the disk) or MANUAL; anything else is a 400 (Nova's disk_config schema).
 * Undefined when absent.
 */
export function diskConfigOf(b: Json): 'AUTO' | 'MANUAL' | undefined {
  const v = b['OS-DCF:diskConfig'];
  if (v === undefined) return undefined;
  if (v !== 'AUTO' && v !== 'MANUAL') throw invalid('OS-DCF:diskConfig', v, `${JSON.stringify(v)} is not one of ['AUTO', 'MANUAL']`);
  return v;
}

const ISO_TIME = /^(\d{4})-?(\d{2})-?(\d{2})(?:[T ](\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,](\d+))?)?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * An ISO 8601 time as Nova's timeutils.parse_isotime takes it (a date, optionally a time and a
 * zone; no zone = UTC), or undefined — '2011/01/01', which JavaScript's Date would take, is not one.
 */
export function parseIsoTime(v: unknown): Date | undefined {
  const m = typeof v === 'string' ? ISO_TIME.exec(v.trim()) : null;
  if (!m) return undefined;
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '0', zone = 'Z'] = m;
  const z = zone.toUpperCase() === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(3).replace(':', '') || '00'}`;
  const date = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}.${frac.padEnd(3, '0').slice(0, 3)}${z}`);
  // Out-of-range fields (month 13, hour 25) make an invalid Date.
  if (Number.isNaN(date.getTime()) || Number(mo) < 1 || Number(mo) > 12 || Number(d) < 1 || Number(d) > 31) return undefined;
  return date;
}
