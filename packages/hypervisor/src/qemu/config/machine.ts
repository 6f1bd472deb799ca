// Machine type and accelerator.
import type { DomainSpec } from '../../spec.js';
import { type ArgvContext, type Fragment, opts } from './common.js';

/**
 * `-machine pc|q35` (i440fx or Q35 chipset). The machine type is versionless here because the
 * package targets one QEMU per host; migration peers run the same QEMU build.
 * Hugepage/file-backed RAM without NUMA is attached through `memory-backend=` (see memory.ts).
 * Secure boot needs SMM, and the pflash must only be writable from SMM.
 */
export function machineArgs(spec: DomainSpec, ctx: ArgvContext, memoryBackendId?: string): Fragment {
  const accel = spec.machine.accel ?? ctx.accel;
  const machine = opts(spec.machine.type, {
    'dump-guest-core': false,
    'mem-merge': true,
    smm: spec.machine.secureBoot ? true : undefined,
    'memory-backend': memoryBackendId,
  });
  const out: Fragment = ['-machine', machine, '-accel', accel];
  if (spec.machine.secureBoot) out.push('-global', 'driver=cfi.pflash01,property=secure,value=on');
  // RTC in UTC; guests keep time with kvm-clock/NTP.
  out.push('-rtc', 'base=utc');
  return out;
}
