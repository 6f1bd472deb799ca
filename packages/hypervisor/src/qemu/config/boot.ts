// Firmware (SeaBIOS default, or OVMF) and direct kernel boot.
import type { DomainSpec } from '../../spec.js';
import { type ArgvContext, type Fragment, opts } from './common.js';

/** Debian's ovmf package; the 4M variants are what QEMU >= 6 machine types expect. */
export const DEFAULT_OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const DEFAULT_OVMF_SECBOOT_CODE = '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd';
export const DEFAULT_OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

/**
 * UEFI: code is a shared read-only pflash; the variable store is a per-instance copy (the
 * driver copies the template into the instance dir) so guests cannot see each other's NVRAM.
 */
export function firmwareArgs(spec: DomainSpec, ctx: ArgvContext): Fragment {
  if (spec.machine.firmware !== 'uefi') return [];
  const code = ctx.ovmfCode ?? (spec.machine.secureBoot ? DEFAULT_OVMF_SECBOOT_CODE : DEFAULT_OVMF_CODE);
  return [
    '-drive',
    opts('if=pflash', { format: 'raw', unit: 0, readonly: true, file: code }),
    '-drive',
    opts('if=pflash', { format: 'raw', unit: 1, file: ctx.paths.ovmfVars }),
  ];
}

/** strict=on: boot only from devices with a bootindex (no surprise PXE fallback). */
export function bootArgs(spec: DomainSpec): Fragment {
  const out: Fragment = ['-boot', opts(undefined, { menu: spec.boot.menu, strict: true })];
  if (spec.boot.kernel) {
    out.push('-kernel', spec.boot.kernel);
    if (spec.boot.initrd) out.push('-initrd', spec.boot.initrd);
    if (spec.boot.cmdline !== undefined) out.push('-append', spec.boot.cmdline);
  }
  return out;
}
