// Guest RAM: size and hot-plug headroom, backing (anonymous, memfd, hugetlbfs), NUMA, DIMMs,
// balloon.
import type { DimmSpec, DomainSpec } from '../../spec.js';
import { cpuRanges, type Fragment, json, opts } from './common.js';

export const BALLOON_ID = 'balloon0';

function hugepagePath(spec: DomainSpec): string | undefined {
  const h = spec.memory.hugepages;
  if (!h) return undefined;
  return h.path ?? (h.pageSize === '1G' ? '/dev/hugepages1G' : '/dev/hugepages');
}

/**
 * One memory backend object. Hugepages need memory-backend-file on a hugetlbfs mount;
 * `shared` without hugepages uses memfd (anonymous, shareable: vhost-user/virtiofs).
 * prealloc=on commits all pages at start (slow start, no surprise OOM later).
 */
export function memoryBackend(
  spec: DomainSpec,
  id: string,
  sizeMb: number,
  hostNodes?: number[],
): Record<string, unknown> {
  const path = hugepagePath(spec);
  const base: Record<string, unknown> = { 'qom-type': 'memory-backend-ram', id, size: sizeMb * 1024 * 1024 };
  if (path) {
    base['qom-type'] = 'memory-backend-file';
    base['mem-path'] = path;
    if (spec.memory.shared) base.share = true;
  } else if (spec.memory.shared) {
    base['qom-type'] = 'memory-backend-memfd';
    base.share = true;
  }
  if (spec.memory.prealloc) base.prealloc = true;
  if (hostNodes?.length) {
    base['host-nodes'] = hostNodes;
    base.policy = 'bind';
  }
  return base;
}

export interface MemoryArgs {
  argv: Fragment;
  /** id for `-machine memory-backend=` when RAM has a non-default backend but no NUMA nodes. */
  machineBackendId?: string;
}

export function memoryArgs(spec: DomainSpec): MemoryArgs {
  const m = spec.memory;
  const argv: Fragment = ['-m', opts(undefined, { size: `${m.sizeMb}M`, slots: m.slots || undefined, maxmem: m.maxMb ? `${m.maxMb}M` : undefined })];
  let machineBackendId: string | undefined;
  if (m.numa) {
    m.numa.forEach((node, i) => {
      argv.push('-object', json(memoryBackend(spec, `ram-node${i}`, node.memoryMb, node.hostNodes)));
      const cpus = cpuRanges(node.cpus).map((r) => `cpus=${r}`).join(',');
      argv.push('-numa', `node,nodeid=${i},${cpus},memdev=ram-node${i}`);
    });
  } else if (m.hugepages || m.shared || m.prealloc) {
    // "pc.ram" is the id QEMU uses for the implicit RAM block, which keeps the migration
    // stream compatible with a plain `-m` peer.
    machineBackendId = 'pc.ram';
    argv.push('-object', json(memoryBackend(spec, machineBackendId, m.sizeMb)));
  }
  for (const d of m.dimms) argv.push(...dimmArgs(spec, d));
  if (m.balloon) argv.push('-device', balloonDevice());
  return { argv, machineBackendId };
}

export function dimmBackendId(d: DimmSpec): string {
  return `mem-${d.id}`;
}

/** QMP object-add + device_add arguments for one DIMM (also used for cold-plugged DIMMs). */
export function dimmQmp(spec: DomainSpec, d: DimmSpec): { object: Record<string, unknown>; device: Record<string, unknown> } {
  return {
    object: memoryBackend(spec, dimmBackendId(d), d.sizeMb),
    device: { driver: 'pc-dimm', id: d.id, memdev: dimmBackendId(d) },
  };
}

export function dimmArgs(spec: DomainSpec, d: DimmSpec): Fragment {
  const q = dimmQmp(spec, d);
  return ['-object', json(q.object), '-device', opts('pc-dimm', { id: d.id, memdev: dimmBackendId(d) })];
}

/** deflate-on-oom: the guest may take memory back from the balloon rather than OOM-kill. */
export function balloonDevice(): string {
  return opts('virtio-balloon-pci', { id: BALLOON_ID, 'deflate-on-oom': true });
}
