import type { DomainStats } from '@kumo/hypervisor';

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
