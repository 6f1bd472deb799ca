// Platform devices: virtio-rng and SMBIOS identity.
import type { DomainSpec } from '../../spec.js';
import { type Fragment, json, opts } from './common.js';

/**
 * virtio-rng fed from /dev/urandom (never /dev/random: a guest must not be able to drain the
 * host's blocking pool), rate-limited to 1 KiB/s per guest.
 */
export function rngArgs(spec: DomainSpec): Fragment {
  if (!spec.rng) return [];
  return [
    '-object',
    json({ 'qom-type': 'rng-random', id: 'rng0', filename: '/dev/urandom' }),
    '-device',
    opts('virtio-rng-pci', { id: 'rng0-dev', rng: 'rng0', 'max-bytes': 1024, period: 1000 }),
  ];
}

/** The i6300esb watchdog and QEMU's action when it expires (`-action watchdog=…`, QEMU ≥ 6.0). */
export function watchdogArgs(spec: DomainSpec): Fragment {
  if (!spec.watchdog) return [];
  return ['-device', opts('i6300esb', { id: 'watchdog0' }), '-action', `watchdog=${spec.watchdog.action}`];
}

/**
 * SMBIOS type 1 (system). cloud-init's NoCloud/OpenStack detection reads product/serial, and
 * the UUID is the instance UUID so the guest can tell which instance it is.
 */
export function smbiosArgs(spec: DomainSpec): Fragment {
  const s = spec.smbios;
  if (!s) return [];
  return [
    '-smbios',
    opts('type=1', { manufacturer: s.manufacturer, product: s.product, serial: s.serial, uuid: spec.uuid, family: s.family }),
  ];
}
