// Disks: a `-blockdev` graph per disk (protocol node -> format node -> optional throttle node)
// plus a guest device. The same objects are used for cold-plug (argv) and hot-plug (QMP
// blockdev-add / device_add), so a hot-plugged disk is configured exactly like a boot disk.
//
//   file-<id>  {driver: file, filename, cache.direct, aio, discard}
//   fmt-<id>   {driver: qcow2|raw, file: file-<id>}
//   thr-<id>   {driver: throttle, throttle-group: tg-<group>, file: fmt-<id>}   (if throttled)
//   device     virtio-blk-pci | scsi-hd | scsi-cd | ide-hd | ide-cd, drive=<top node>
import type { DiskSpec, DomainSpec, ThrottleSpec } from '../../spec.js';
import { type Fragment, json, opts } from './common.js';

export const SCSI_CONTROLLER_ID = 'scsi0';

/** QEMU cache=<mode> expands to these three knobs (see qemu docs "-drive cache="). */
export function cacheFlags(cache: DiskSpec['cache']): { direct: boolean; noFlush: boolean; writeCache: boolean } {
  switch (cache) {
    case 'none':
      return { direct: true, noFlush: false, writeCache: true };
    case 'writeback':
      return { direct: false, noFlush: false, writeCache: true };
    case 'writethrough':
      return { direct: false, noFlush: false, writeCache: false };
    case 'directsync':
      return { direct: true, noFlush: false, writeCache: false };
    case 'unsafe':
      return { direct: false, noFlush: true, writeCache: true };
  }
}

export function throttleGroupId(d: DiskSpec): string {
  return `tg-${d.throttle?.group ?? d.id}`;
}

/** throttle-group object (QMP object-add / -object JSON). Limits are per second. */
export function throttleGroupObject(id: string, t: ThrottleSpec): Record<string, unknown> {
  const limits: Record<string, number> = {};
  if (t.iopsTotal) limits['iops-total'] = t.iopsTotal;
  if (t.iopsRead) limits['iops-read'] = t.iopsRead;
  if (t.iopsWrite) limits['iops-write'] = t.iopsWrite;
  if (t.bpsTotal) limits['bps-total'] = t.bpsTotal;
  if (t.bpsRead) limits['bps-read'] = t.bpsRead;
  if (t.bpsWrite) limits['bps-write'] = t.bpsWrite;
  return { 'qom-type': 'throttle-group', id, limits };
}

/** Node names of a disk's blockdev chain, bottom first. The last one is what the device uses. */
export function diskNodeNames(d: DiskSpec): string[] {
  const names = [`file-${d.id}`, `fmt-${d.id}`];
  if (d.throttle) names.push(`thr-${d.id}`);
  return names;
}

export function diskTopNode(d: DiskSpec): string {
  return diskNodeNames(d).at(-1)!;
}

/** blockdev-add argument objects, bottom first (add in order, delete in reverse). */
export function diskBlockdevs(d: DiskSpec): Record<string, unknown>[] {
  const c = cacheFlags(d.cache);
  const ro = d.readOnly || d.media === 'cdrom';
  const file: Record<string, unknown> = {
    driver: 'file',
    'node-name': `file-${d.id}`,
    filename: d.path,
    cache: { direct: c.direct, 'no-flush': c.noFlush },
    aio: d.aio,
    discard: d.discard,
    'read-only': ro,
    // auto-read-only lets QEMU reopen read-write only when needed (e.g. block-commit).
    'auto-read-only': true,
  };
  const fmt: Record<string, unknown> = {
    driver: d.format,
    'node-name': `fmt-${d.id}`,
    file: `file-${d.id}`,
    cache: { direct: c.direct, 'no-flush': c.noFlush },
    'read-only': ro,
    discard: d.discard,
  };
  const out = [file, fmt];
  if (d.throttle) {
    out.push({
      driver: 'throttle',
      'node-name': `thr-${d.id}`,
      'throttle-group': throttleGroupId(d),
      file: `fmt-${d.id}`,
      'read-only': ro,
    });
  }
  return out;
}

/** device_add properties for the guest-visible device. */
export function diskDevice(spec: Pick<DomainSpec, 'machine'>, d: DiskSpec, ideIndex = 0): Record<string, unknown> {
  const c = cacheFlags(d.cache);
  const common: Record<string, unknown> = { id: d.id, drive: diskTopNode(d), bootindex: d.bootIndex };
  switch (d.bus) {
    case 'virtio-blk':
      return { driver: 'virtio-blk-pci', ...common, serial: d.serial, 'write-cache': c.writeCache ? 'on' : 'off' };
    case 'virtio-scsi':
      return {
        driver: d.media === 'cdrom' ? 'scsi-cd' : 'scsi-hd',
        bus: `${SCSI_CONTROLLER_ID}.0`,
        ...common,
        serial: d.serial,
        'write-cache': d.media === 'cdrom' ? undefined : c.writeCache ? 'on' : 'off',
      };
    case 'ide': {
      // pc (PIIX): 2 buses x 2 units; q35 (AHCI): 6 ports, unit 0 each.
      const bus = spec.machine.type === 'pc' ? `ide.${Math.floor(ideIndex / 2)}` : `ide.${ideIndex}`;
      const unit = spec.machine.type === 'pc' ? ideIndex % 2 : 0;
      return {
        driver: d.media === 'cdrom' ? 'ide-cd' : 'ide-hd',
        bus,
        unit,
        ...common,
        serial: d.serial,
        'write-cache': d.media === 'cdrom' ? undefined : c.writeCache ? 'on' : 'off',
      };
    }
  }
}

/** Renders a device_add property object as a `-device` option string. */
export function deviceOpt(props: Record<string, unknown>): string {
  const { driver, ...rest } = props;
  return opts(String(driver), rest as Record<string, string | number | boolean | undefined>);
}

export function disksArgs(spec: DomainSpec): Fragment {
  const out: Fragment = [];
  if (spec.disks.some((d) => d.bus === 'virtio-scsi')) out.push('-device', opts('virtio-scsi-pci', { id: SCSI_CONTROLLER_ID }));
  const groups = new Set<string>();
  let ide = 0;
  for (const d of spec.disks) {
    if (d.throttle) {
      const gid = throttleGroupId(d);
      if (!groups.has(gid)) {
        groups.add(gid);
        out.push('-object', json(throttleGroupObject(gid, d.throttle)));
      }
    }
    for (const b of diskBlockdevs(d)) out.push('-blockdev', json(b));
    out.push('-device', deviceOpt(diskDevice(spec, d, d.bus === 'ide' ? ide++ : 0)));
  }
  return out;
}
