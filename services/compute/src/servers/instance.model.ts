import { createHash } from 'node:crypto';
import type { InstanceEvent, ServerPort } from '@kumo/contracts';
import { statusOf } from './state-machine.js';

export interface FlavorSnapshot {
  id: string;
  name: string;
  vcpus: number;
  ram: number;
  disk: number;
  ephemeral: number;
  swap: number;
  extra_specs: Record<string, string>;
}

/**
 * One volume of a server (os-volume_attachments). `attaching`/`detaching` while a request works on
 * it (never in the agent's spec); `attached` once the volume service and the agent both have it;
 * a volume attached to a shelved_offloaded server (2.20) is `attached` too, completed without a
 * host in the volume service (contract 1.2), and the unshelve connects it on the host it lands on.
 * `reserved` (no path) only in entries written before 1.2: a held reservation, connected the same way.
 */
export interface VolumeAttachmentEntry {
  /** The volume (Nova shows it as both the attachment's `id` and `volumeId`). */
  volumeId: string;
  /** The volume service's attachment record, once reserved. */
  attachmentId: string | null;
  device: string;
  status: 'attaching' | 'attached' | 'detaching' | 'reserved';
  path: string | null;
  format: 'qcow2' | 'raw' | null;
  deleteOnTermination: boolean;
  /** 0 for the boot volume of a volume-backed server (it cannot be detached). */
  bootIndex?: number;
  /** The device tag asked at create (`block_device_mapping_v2[].tag`, 2.32 and from 2.42); Nova shows it from 2.70 only. */
  tag?: string;
  /** Boot from volume with `source_type: image`: the conductor creates the volume (this id) from the image first. */
  create?: { imageId: string; size: number };
}

export interface PortRecord {
  id: string;
  networkId: string;
  networkName: string;
  macAddress: string;
  mtu: number;
  fixedIps: { ipAddress: string; ipVersion: number }[];
  floatingIps: string[];
  /** The device tag of an interface attach (2.49); compute's own, so a refresh from the network keeps it. */
  tag?: string;
}

/** What compute keeps of a network port (the server's `addresses` and the agent's NICs come from it). */
export function portRecordOf(p: ServerPort): PortRecord {
  return {
    id: p.id,
    networkId: p.networkId,
    networkName: p.networkName,
    macAddress: p.macAddress,
    mtu: p.mtu,
    fixedIps: p.fixedIps.map((f) => ({ ipAddress: f.ipAddress, ipVersion: f.ipVersion })),
    floatingIps: [...(p.floatingIps ?? [])],
  };
}

export interface ImageMeta {
  id: string;
  path?: string;
  url?: string;
  checksum?: string | null;
  properties: Record<string, string>;
  diskFormat?: string | null;
  containerFormat?: string | null;
}

export interface InstanceRow {
  id: string;
  seq: string;
  project_id: string;
  user_id: string;
  name: string;
  hostname: string;
  vm_state: string;
  task_state: string | null;
  power_state: number;
  host: string | null;
  availability_zone: string | null;
  requested_az: string | null;
  flavor: FlavorSnapshot;
  old_flavor: FlavorSnapshot | null;
  new_flavor: FlavorSnapshot | null;
  vcpus: number;
  memory_mb: number;
  root_gb: number;
  image_ref: string | null;
  image_meta: ImageMeta | null;
  snapshot_image_id: string | null;
  /** The running createBackup: its backup type and how many backups of that type to keep. */
  backup: { type: string; rotation: number } | null;
  /** Host whose report ends the current task step when it is not `host` (see migrations-moves.ts). */
  task_host: string | null;
  /** The move in progress or awaiting confirm/revert. */
  migration_id: number | null;
  description: string | null;
  /** The image a rescued server boots from (null when not rescued). */
  rescue_image: ImageMeta | null;
  /** Snapshot of a shelved server (deleted after unshelve or delete), when it was taken, and its data location while unshelving. */
  shelved_image_id: string | null;
  shelved_image: ImageMeta | null;
  shelved_at: Date | null;
  key_name: string | null;
  key_data: string | null;
  user_data: string | null;
  metadata: Record<string, string>;
  requested_networks: unknown;
  security_groups: string[];
  ports: PortRecord[];
  volumes: VolumeAttachmentEntry[];
  access_ipv4: string;
  access_ipv6: string;
  /** os-server-password: the guest's encrypted password ('' or null: none). */
  password: string | null;
  /** OS-DCF:diskConfig: AUTO or MANUAL. */
  disk_config: string;
  config_drive: string;
  reservation_id: string;
  launch_index: number;
  server_group_id: string | null;
  locked: boolean;
  locked_by: string | null;
  fault: { code: number; message: string; details?: string; created: string } | null;
  generation: number;
  spec_version: number;
  reboot_seq: number;
  reboot_hard: boolean;
  desired_power: string;
  target_vm_state: string | null;
  attempts: number;
  tried_hosts: string[];
  task_updated_at: Date;
  task_started_at: Date;
  launched_at: Date | null;
  terminated_at: Date | null;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
  /** Set while a refresh of `ports` from the network service is pending (see conductor/ports-refresher.ts). */
  network_refresh_at: Date | null;
  network_refresh_seq: string;
}

/** Nova's hostId: an opaque per-project hash of the host (same host, same project → same id). */
export function hostIdOf(projectId: string, host: string | null): string {
  return host ? createHash('sha224').update(projectId + host).digest('hex') : '';
}

export function instanceName(seq: string | number): string {
  return `instance-${Number(seq).toString(16).padStart(8, '0')}`;
}

export function eventOf(i: InstanceRow): InstanceEvent {
  return {
    id: i.id,
    projectId: i.project_id,
    userId: i.user_id,
    name: i.name,
    status: statusOf(i.vm_state, i.task_state),
    vmState: i.vm_state,
    taskState: i.task_state,
    powerState: i.power_state,
    host: i.host,
    flavorId: i.flavor.id,
    imageRef: i.image_ref,
    updatedAt: new Date(i.updated_at).toISOString(),
  };
}
