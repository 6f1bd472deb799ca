// CPU model, feature flags and topology.
import { maxVcpusOf, type DomainSpec } from '../../spec.js';
import type { ArgvContext, Fragment } from './common.js';

/** The `-cpu` model string without features, per mode. */
export function cpuModel(spec: DomainSpec, ctx: ArgvContext): string {
  const accel = spec.machine.accel ?? ctx.accel;
  switch (spec.cpu.mode) {
    case 'host-passthrough':
      return 'host';
    case 'host-model':
      // libvirt computes a named model from its CPU map; without that map the closest
      // migration-safe equivalent is `max` restricted to migratable features.
      return 'max,migratable=on';
    case 'custom':
      return spec.cpu.model!;
    case 'default':
      // QEMU's own default (qemu64) lacks features modern kernels like under KVM; kvm64 is
      // the conventional KVM baseline, qemu64 the TCG one.
      return accel === 'kvm' ? 'kvm64' : 'qemu64';
  }
}

/** The CPU type name QMP reports for hot-pluggable vCPUs is `<model>-x86_64-cpu`. */
export function cpuArgs(spec: DomainSpec, ctx: ArgvContext): Fragment {
  const accel = spec.machine.accel ?? ctx.accel;
  // The probe may have found that this host's KVM cannot run some host features (e.g. PVM
  // hosts abort on arch-capabilities); they are masked before the user's own flags.
  const mask = accel === 'kvm' && (spec.cpu.mode === 'host-passthrough' || spec.cpu.mode === 'host-model') ? (ctx.hostCpuMask ?? []) : [];
  const all = [...mask, ...spec.cpu.features];
  const features = all.length ? ',' + all.join(',') : '';
  const maxV = maxVcpusOf(spec);
  const t = spec.cpu.topology;
  const smp = [`${spec.cpu.vcpus}`];
  if (t) smp.push(`sockets=${t.sockets}`, `cores=${t.cores}`, `threads=${t.threads}`);
  // Without an explicit topology, put hot-plug slots in separate sockets: one vCPU per
  // socket is what Nova does by default and keeps socket-id = vCPU index.
  else smp.push(`sockets=${maxV}`, 'cores=1', 'threads=1');
  smp.push(`maxcpus=${maxV}`);
  return ['-cpu', cpuModel(spec, ctx) + features, '-smp', smp.join(',')];
}
