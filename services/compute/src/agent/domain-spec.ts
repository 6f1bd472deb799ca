import path from 'node:path';
import type { InstanceSpec, InstanceVolume } from '@kumo/contracts';
import type { DiskSpecInput, DomainSpecInput, NicSpecInput } from '@kumo/hypervisor';
import { CONFIG_DRIVE_FILE } from './config-drive.js';

/**
 * InstanceSpec (what the conductor sends) → the hypervisor's DomainSpec. Pure. Flavor extra specs
 * mapped here: hw:cpu_sockets/cores/threads (topology), hw:cpu_model (custom model),
 * hw:mem_page_size (hugepages), quota:disk_* (local disk throttling), hw:watchdog_action. hw:numa_nodes and hw:cpu_policy=dedicated arrive resolved in
 * `s.numa` (the scheduler's claim chose the host cells and CPUs): guest NUMA nodes bound to
 * those cells, and each pinned vCPU on its own host CPU. Disks live in `<instancesDir>/<id>/` (`disk.rescue` first while
 * rescued); NICs get a TAP named after the port (Neutron's `tap<port-id[:11]>`).
 */
export function domainSpecOf(s: InstanceSpec, instancesDir: string): DomainSpecInput {
  const e = s.extraSpecs ?? {};
  const cpu: Record<string, unknown> = { vcpus: s.vcpus };
  const sockets = Number(e['hw:cpu_sockets'] ?? 0);
  const cores = Number(e['hw:cpu_cores'] ?? 0);
  const threads = Number(e['hw:cpu_threads'] ?? 0);
  if (sockets || cores || threads) {
    const t = threads || 1;
    const c = cores || Math.max(1, Math.floor(s.vcpus / ((sockets || 1) * t)));
    const so = sockets || Math.max(1, Math.floor(s.vcpus / (c * t)));
    if (so * c * t === s.vcpus) cpu.topology = { sockets: so, cores: c, threads: t };
  }
  if (e['hw:cpu_model']) Object.assign(cpu, { mode: 'custom', model: e['hw:cpu_model'] });
  const memory: Record<string, unknown> = { sizeMb: Math.max(16, s.memoryMb) };
  const page = e['hw:mem_page_size'];
  if (page === '2MB' || page === '2048' || page === 'large') memory.hugepages = { pageSize: '2M' };
  if (page === '1GB' || page === '1048576') memory.hugepages = { pageSize: '1G' };
  // Only a placement that covers the whole guest maps (the DomainSpec wants every vCPU and MiB in a node).
  const numa = s.numa ?? [];
  if (numa.length && numa.reduce((a, n) => a + n.memoryMb, 0) === memory.sizeMb && numa.reduce((a, n) => a + n.vcpus.length, 0) === s.vcpus) {
    memory.numa = numa.map((n) => ({ cpus: n.vcpus, memoryMb: n.memoryMb, hostNodes: [n.hostCell] }));
    const pins: Record<string, number[]> = {};
    for (const n of numa) if (n.cpus.length === n.vcpus.length) n.vcpus.forEach((v, k) => (pins[String(v)] = [n.cpus[k]!]));
    if (Object.keys(pins).length) cpu.pinning = { vcpus: pins };
  }
  const dir = path.join(instancesDir, s.instanceId);
  const throttle = diskThrottleOf(e);
  const root = { id: 'root', path: path.join(dir, 'disk.qcow2'), format: 'qcow2', ...(throttle ? { throttle } : {}) };
  // Rescue (as Nova's libvirt driver): boot a disk made from the rescue image, root disk second.
  const disks = s.rescue
    ? [{ id: 'rescue', path: path.join(dir, 'disk.rescue'), format: 'qcow2', bootIndex: 0 }, ...(s.image ? [root] : [])]
    : s.image
      ? [{ ...root, bootIndex: 0 }]
      : [];
  // Nova's hw:watchdog_action (disabled = no device); other values are ignored, as unknown extra specs are.
  const wd = e['hw:watchdog_action'];
  const watchdog = wd && ['reset', 'poweroff', 'pause', 'none'].includes(wd) ? { action: wd } : undefined;
  return {
    id: s.instanceId,
    uuid: s.instanceId,
    cpu,
    memory,
    ...(watchdog ? { watchdog } : {}),
    // Attached volumes follow the root disk, in attach order (a re-created domain keeps them).
    // The config drive last, a read-only IDE cdrom as Nova's libvirt driver attaches it (x86 default bus).
    disks: [...disks, ...(s.volumes ?? []).map(volumeDiskOf), ...(s.configDrive ? [configDriveDiskOf(dir)] : [])],
    // VNC on a unix socket in the instance directory (Nova's [vnc] enabled = True default); a console proxy on the node bridges it.
    console: { vnc: true },
    nics: s.ports.map((p) => nicOf(p)),
  } as unknown as DomainSpecInput;
}

/**
 * Nova's flavor disk QoS (`quota:disk_{read,write,total}_{iops,bytes}_sec`) → the DomainSpec's
 * throttle for the instance's local disks (as Nova's libvirt driver: volumes get their QoS from
 * the volume service, not the flavor). Non-positive or non-numeric values are ignored, as Nova.
 */
export function diskThrottleOf(e: Record<string, string>): Record<string, number> | undefined {
  const map: [string, string][] = [
    ['quota:disk_read_iops_sec', 'iopsRead'],
    ['quota:disk_write_iops_sec', 'iopsWrite'],
    ['quota:disk_total_iops_sec', 'iopsTotal'],
    ['quota:disk_read_bytes_sec', 'bpsRead'],
    ['quota:disk_write_bytes_sec', 'bpsWrite'],
    ['quota:disk_total_bytes_sec', 'bpsTotal'],
  ];
  const out: Record<string, number> = {};
  for (const [key, field] of map) {
    const n = Number(e[key]);
    if (e[key] !== undefined && Number.isInteger(n) && n > 0) out[field] = n;
  }
  return Object.keys(out).length ? out : undefined;
}

export function configDriveDiskOf(dir: string): DiskSpecInput {
  return { id: 'config', path: path.join(dir, CONFIG_DRIVE_FILE), format: 'raw', bus: 'ide', media: 'cdrom', readOnly: true };
}

/** The disk's device id follows its volume, so a volume can be hot-unplugged by id (os-volume_attachments). */
export function volumeDiskIdOf(volumeId: string): string {
  return `vol-${volumeId.slice(0, 23)}`;
}

/** A volume's disk: the volume service's file, virtio, serial = the volume id (as Nova, truncated to virtio-blk's 20 characters) so the guest finds it under /dev/disk/by-id/. */
export function volumeDiskOf(v: InstanceVolume): DiskSpecInput {
  return { id: volumeDiskIdOf(v.volumeId), path: v.path, format: v.format, serial: v.volumeId.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 20), ...(v.boot ? { bootIndex: 0 } : {}) };
}

/** The NIC's device id follows its port, so a port can be hot-unplugged by id (os-interface). */
export function nicIdOf(portId: string): string {
  return `nic-${portId.slice(0, 23)}`;
}

export function nicOf(p: InstanceSpec['ports'][number]): NicSpecInput {
  return { id: nicIdOf(p.id), mac: p.macAddress.toLowerCase(), tap: { ifname: `tap${p.id.slice(0, 11)}` }, mtu: p.mtu >= 576 ? p.mtu : undefined } as NicSpecInput;
}
