import { isoMicro, isoZ, linksOf } from '../common/nova.js';
import { hostIdOf, type InstanceRow, instanceName } from './instance.model.js';
import { statusOf } from './state-machine.js';

const PROGRESS_STATUSES = ['ACTIVE', 'BUILD', 'REBUILD', 'RESIZE', 'VERIFY_RESIZE'];

export function addressesOf(i: InstanceRow, extended: boolean) {
  const out: Record<string, Record<string, unknown>[]> = {};
  for (const p of i.ports ?? []) {
    const list = (out[p.networkName || p.networkId] ??= []);
    for (const ip of p.fixedIps) list.push({ version: ip.ipVersion, addr: ip.ipAddress, ...(extended ? { 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': p.macAddress } : {}) });
    for (const fip of p.floatingIps ?? []) list.push({ version: fip.includes(':') ? 6 : 4, addr: fip, ...(extended ? { 'OS-EXT-IPS:type': 'floating', 'OS-EXT-IPS-MAC:mac_addr': p.macAddress } : {}) });
  }
  return out;
}

/** The server body at microversion 2.1 (Tempest's strict `get_server` schema: exactly these keys). */
/**
 * 2.47: the server's flavor as it was booted (or resized to), from the instance's own copy — so a
 * deleted or changed flavor does not change it; `extra_specs` only when the caller may see them
 * (policy `servers:show:flavor-extra-specs`, Nova's os_compute_api:servers:show:flavor-extra-specs).
 */
export function embeddedFlavor(i: InstanceRow, withExtraSpecs: boolean) {
  const f = i.flavor;
  return {
    vcpus: f.vcpus,
    ram: f.ram,
    disk: f.disk,
    ephemeral: f.ephemeral ?? 0,
    swap: f.swap ?? 0,
    original_name: f.name,
    ...(withExtraSpecs ? { extra_specs: { ...(f.extra_specs ?? {}) } } : {}),
  };
}

export function serverView(
  i: InstanceRow,
  base: string,
  opts: { detail: boolean; admin: boolean; version?: number; hostStatus?: Map<string, string>; tags?: Map<string, string[]>; flavorExtraSpecs?: boolean },
) {
  const version = opts.version ?? 2001;
  const status = statusOf(i.vm_state, i.task_state);
  const v: Record<string, unknown> = {
    id: i.id,
    name: i.name,
    status,
    tenant_id: i.project_id,
    user_id: i.user_id,
    metadata: i.metadata ?? {},
    hostId: hostIdOf(i.project_id, i.host),
    image: i.image_ref ? { id: i.image_ref, links: [{ rel: 'bookmark', href: `${base}/images/${i.image_ref}` }] } : '',
    flavor: version >= 2047 ? embeddedFlavor(i, opts.flavorExtraSpecs ?? false) : { id: i.flavor.id, links: [{ rel: 'bookmark', href: `${base}/flavors/${i.flavor.id}` }] },
    created: isoZ(i.created_at),
    updated: isoZ(i.updated_at),
    addresses: addressesOf(i, opts.detail),
    accessIPv4: i.access_ipv4,
    accessIPv6: i.access_ipv6,
    links: linksOf(base, 'servers', i.id),
    'OS-DCF:diskConfig': i.disk_config ?? 'MANUAL',
  };
  if (PROGRESS_STATUSES.includes(status)) v.progress = status === 'ACTIVE' ? 100 : 0;
  if (i.fault && (status === 'ERROR' || status === 'DELETED')) v.fault = i.fault;
  // 2.9: everyone sees whether the server is locked (show, detail, update and rebuild bodies).
  if (version >= 2009) v.locked = i.locked;
  // 2.19: show, detail, update and rebuild bodies.
  if (version >= 2019) v.description = i.description ?? null;
  // 2.26: show, detail, update and rebuild bodies (the controller reads them when the version asks).
  if (version >= 2026) v.tags = opts.tags?.get(i.id) ?? [];
  if (!opts.detail) return v;
  // 2.16: only when the caller may see it (the controller leaves the map out otherwise).
  if (opts.hostStatus) v.host_status = i.host ? (opts.hostStatus.get(i.host) ?? 'UNKNOWN') : '';
  Object.assign(v, {
    key_name: i.key_name,
    'OS-SRV-USG:launched_at': isoMicro(i.launched_at),
    'OS-SRV-USG:terminated_at': isoMicro(i.terminated_at),
    'OS-EXT-AZ:availability_zone': i.availability_zone ?? '',
    'OS-EXT-STS:task_state': i.task_state,
    'OS-EXT-STS:vm_state': i.vm_state,
    'OS-EXT-STS:power_state': i.power_state,
    // Nova lists attached volumes here (with delete_on_termination from 2.3); pending attaches are left out.
    'os-extended-volumes:volumes_attached': (i.volumes ?? [])
      .filter((v) => v.status !== 'attaching')
      .map((v) => ((opts.version ?? 2001) >= 2003 ? { id: v.volumeId, delete_on_termination: v.deleteOnTermination } : { id: v.volumeId })),
    config_drive: i.config_drive,
  });
  // Nova shows the key only when the server has a group (Tempest's test_remove_server_all_security_groups).
  if (i.security_groups?.length) v.security_groups = i.security_groups.map((name) => ({ name }));
  if (opts.admin) {
    Object.assign(v, {
      'OS-EXT-SRV-ATTR:host': i.host,
      'OS-EXT-SRV-ATTR:instance_name': instanceName(i.seq),
      'OS-EXT-SRV-ATTR:hypervisor_hostname': i.host,
    });
    // 2.3: the rest of Nova's extended server attributes (admin only, like the ones above).
    if (version >= 2003) {
      Object.assign(v, {
        'OS-EXT-SRV-ATTR:reservation_id': i.reservation_id,
        'OS-EXT-SRV-ATTR:launch_index': i.launch_index,
        'OS-EXT-SRV-ATTR:kernel_id': i.image_meta?.properties?.kernel_id ?? '',
        'OS-EXT-SRV-ATTR:ramdisk_id': i.image_meta?.properties?.ramdisk_id ?? '',
        'OS-EXT-SRV-ATTR:hostname': i.hostname,
        // The agent gives the root disk the first virtio-blk name.
        'OS-EXT-SRV-ATTR:root_device_name': i.image_ref || (i.volumes ?? []).some((v) => v.bootIndex === 0) ? '/dev/vda' : null,
        'OS-EXT-SRV-ATTR:user_data': i.user_data,
      });
    }
  }
  return v;
}
