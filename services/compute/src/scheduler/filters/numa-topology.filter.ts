import type { HostFilter, HostState, NumaCellClaim, NumaRequest } from '../host-state.js';

/**
 * What a flavor asks of the host's NUMA topology: `hw:numa_nodes=N` (N guest nodes on N distinct
 * host cells) and `hw:cpu_policy=dedicated` (every vCPU pinned to its own host CPU of the
 * dedicated set; without hw:numa_nodes a pinned guest is one node, as in Nova). Null: the guest
 * floats and needs no fit.
 */
export function numaRequestOf(extraSpecs: Record<string, string>, vcpus: number, memoryMb: number): NumaRequest | null {
  const dedicated = extraSpecs['hw:cpu_policy'] === 'dedicated';
  const raw = extraSpecs['hw:numa_nodes'];
  const nodes = raw !== undefined ? Number(raw) : dedicated ? 1 : 0;
  if (!nodes && !dedicated) return null;
  return { nodes, dedicated, vcpus, memoryMb };
}

/**
 * Places the guest's nodes on the host's cells, or null when it does not fit. The guest is split
 * evenly (Nova refuses asymmetric splits without explicit hw:numa_cpus/mem: no fit here). Each
 * guest node needs a cell of its own with the memory free and either that many free dedicated
 * CPUs (pinned) or that many free shared vCPUs (overcommit ratio applied). Usage is the claims'
 * (`numaUsage`), so the result is only as fresh as the state: the claim re-runs it on the locked
 * host row.
 */
export function fitNuma(h: HostState, r: NumaRequest): NumaCellClaim[] | null {
  if (!Number.isInteger(r.nodes) || r.nodes < 1 || r.vcpus % r.nodes !== 0 || r.memoryMb % r.nodes !== 0) return null;
  const cells = h.numaCells ?? [];
  if (cells.length < r.nodes) return null;
  const vcpus = r.vcpus / r.nodes;
  const memoryMb = r.memoryMb / r.nodes;
  const dedicated = new Set(h.dedicatedCpus);
  const pinned = new Set(h.numaUsage.flatMap((u) => u.cpus));
  const out: NumaCellClaim[] = [];
  for (const c of cells) {
    if (out.length === r.nodes) break;
    const used = h.numaUsage.filter((u) => u.cell === c.id);
    const memFree = c.memoryMb - used.reduce((a, u) => a + u.memoryMb, 0);
    if (memFree < memoryMb) continue;
    if (r.dedicated) {
      const free = c.cpus.filter((x) => dedicated.has(x) && !pinned.has(x));
      if (free.length < vcpus) continue;
      out.push({ cell: c.id, memoryMb, vcpus, cpus: free.slice(0, vcpus) });
    } else {
      const shared = c.cpus.filter((x) => !dedicated.has(x)).length;
      const usedVcpus = used.filter((u) => u.cpus.length === 0).reduce((a, u) => a + u.vcpus, 0);
      if (Math.floor(shared * h.cpuAllocationRatio) - usedVcpus < vcpus) continue;
      out.push({ cell: c.id, memoryMb, vcpus, cpus: [] });
    }
  }
  return out.length === r.nodes ? out : null;
}

/** Nova's NUMATopologyFilter (with the PCPU check for pinned guests): the guest's nodes fit the host's cells. */
export const numaTopologyFilter: HostFilter = {
  name: 'NUMATopologyFilter',
  passes: (h, s) => !s.numa || fitNuma(h, s.numa) !== null,
};
