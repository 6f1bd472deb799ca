import type { StandardDiagnostics } from '@kumo/contracts';
import type { DomainSpec, DomainState, DomainStats } from '@kumo/hypervisor';

/**
 * The driver's counters as Nova's pre-2.48 diagnostics dict (free-form; key names as libvirt's
 * get_diagnostics: `memory` in KiB, `<disk>_read`, `<disk>_read_req`, `<nic>_rx`, …). Only what
 * the driver measures is reported: the CPU time is the whole domain's (`cpu_time`), not per
 * vCPU like libvirt's `cpu0_time`, because the driver does not measure it per vCPU.
 */
export function diagnosticsOf(s: DomainStats): Record<string, number | string> {
  const out: Record<string, number | string> = {
    state: s.state,
    driver_accel: s.accel,
    cpu_time: s.cpuTimeNs,
    memory: s.memory.currentMb * 1024,
    uptime: Math.floor(s.uptimeMs / 1000),
  };
  if (s.memory.balloonMb !== undefined) out['memory-actual'] = s.memory.balloonMb * 1024;
  if (s.memory.rssKb !== undefined) out['memory-rss'] = s.memory.rssKb;
  for (const d of s.disks) {
    out[`${d.id}_read`] = d.rdBytes;
    out[`${d.id}_read_req`] = d.rdOps;
    out[`${d.id}_write`] = d.wrBytes;
    out[`${d.id}_write_req`] = d.wrOps;
  }
  for (const n of s.nics) {
    if (n.rxBytes !== undefined) out[`${n.ifname}_rx`] = n.rxBytes;
    if (n.txBytes !== undefined) out[`${n.ifname}_tx`] = n.txBytes;
  }
  return out;
}

const POWER_STATE: Record<DomainState, StandardDiagnostics['state']> = {
  running: 'running',
  paused: 'paused',
  suspended: 'suspended',
  shutoff: 'shutdown',
  crashed: 'crashed',
  // An incoming migration's domain waits with its vCPUs stopped (libvirt reports it paused).
  migrating: 'paused',
};

/**
 * Nova's standardized diagnostics (2.48) from the driver's counters and the domain's definition.
 * `driver` is "libvirt": Tempest's schema admits only Nova's driver names, and the agent's QEMU
 * domains are what Nova's libvirt driver runs (`hypervisor` is its virt_type: kvm or qemu).
 * Counters the driver does not measure (per-vCPU time, NIC packets/errors, disk errors) are null.
 */
export function standardDiagnosticsOf(s: DomainStats, spec: DomainSpec): StandardDiagnostics {
  const macOf = new Map(spec.nics.map((n) => [n.id, n.mac]));
  const live = s.state === 'running' || s.state === 'paused';
  return {
    state: POWER_STATE[s.state],
    driver: 'libvirt',
    hypervisor: s.accel === 'kvm' ? 'kvm' : 'qemu',
    hypervisor_os: 'linux',
    uptime: live ? Math.floor(s.uptimeMs / 1000) : null,
    num_cpus: spec.cpu.vcpus,
    num_nics: spec.nics.length,
    num_disks: spec.disks.length,
    memory_details: { maximum: s.memory.maxMb ?? s.memory.currentMb, used: s.memory.balloonMb ?? s.memory.currentMb },
    cpu_details: s.vcpus.map((v) => ({ id: v.index, time: null, utilisation: null })),
    nic_details: s.nics.map((n) => ({
      mac_address: macOf.get(n.id) ?? null,
      rx_octets: n.rxBytes ?? null, rx_errors: null, rx_drop: null, rx_packets: null, rx_rate: null,
      tx_octets: n.txBytes ?? null, tx_errors: null, tx_drop: null, tx_packets: null, tx_rate: null,
    })),
    disk_details: s.disks.map((d) => ({ read_bytes: d.rdBytes, read_requests: d.rdOps, write_bytes: d.wrBytes, write_requests: d.wrOps, errors_count: null })),
  };
}
