import type { HostState, RequestSpec } from './host-state.js';
import { fitNuma, numaRequestOf } from './filters/numa-topology.filter.js';
import { rankHosts } from './pipeline.js';

const host = (name: string, over: Partial<HostState> = {}): HostState => ({
  host: name,
  availabilityZone: 'nova',
  hypervisorType: 'fake',
  vcpus: 4,
  vcpusUsed: 0,
  memoryMb: 4096,
  memoryMbUsed: 0,
  localGb: 100,
  localGbUsed: 0,
  runningVms: 0,
  cpuAllocationRatio: 1,
  ramAllocationRatio: 1,
  diskAllocationRatio: 1,
  enabled: true,
  up: true,
  aggregateMetadata: [],
  numaCells: null,
  dedicatedCpus: [],
  numaUsage: [],
  ...over,
});
const spec = (over: Partial<RequestSpec> = {}): RequestSpec => ({ vcpus: 1, memoryMb: 512, diskGb: 1, availabilityZone: null, forcedHost: null, imageProperties: {}, excludedHosts: [], group: null, extraSpecs: {}, numa: null, ...over });

describe('scheduler pipeline', () => {
  it('drops disabled, down, excluded and full hosts', () => {
    const hosts = [host('off', { enabled: false }), host('down', { up: false }), host('tried'), host('ram', { memoryMbUsed: 3800 }), host('cpu', { vcpusUsed: 4 }), host('disk', { localGbUsed: 100 }), host('ok')];
    expect(rankHosts(hosts, spec({ excludedHosts: ['tried'] })).map((h) => h.host)).toEqual(['ok']);
  });

  it('applies allocation ratios', () => {
    expect(rankHosts([host('a', { vcpusUsed: 4, cpuAllocationRatio: 2 })], spec())).toHaveLength(1);
    expect(rankHosts([host('a', { vcpusUsed: 8, cpuAllocationRatio: 2 })], spec())).toHaveLength(0);
    expect(rankHosts([host('a', { memoryMbUsed: 4096, ramAllocationRatio: 1.5 })], spec())).toHaveLength(1);
  });

  it('honours availability zone, forced host and image hypervisor type', () => {
    const hosts = [host('a', { availabilityZone: 'az1' }), host('b', { availabilityZone: 'az2' })];
    expect(rankHosts(hosts, spec({ availabilityZone: 'az2' })).map((h) => h.host)).toEqual(['b']);
    expect(rankHosts(hosts, spec({ forcedHost: 'a' })).map((h) => h.host)).toEqual(['a']);
    expect(rankHosts(hosts, spec({ imageProperties: { hypervisor_type: 'vmware' } }))).toEqual([]);
    expect(rankHosts(hosts, spec({ imageProperties: { hw_architecture: 'aarch64' } }))).toEqual([]);
  });

  it('server groups: affinity, anti-affinity, soft-anti-affinity', () => {
    const hosts = [host('a'), host('b')];
    expect(rankHosts(hosts, spec({ group: { policy: 'affinity', hosts: ['b'] } })).map((h) => h.host)).toEqual(['b']);
    expect(rankHosts(hosts, spec({ group: { policy: 'anti-affinity', hosts: ['b'] } })).map((h) => h.host)).toEqual(['a']);
    expect(rankHosts(hosts, spec({ group: { policy: 'soft-anti-affinity', hosts: ['a', 'a'] } }))[0]!.host).toBe('b');
  });

  it('spreads by free RAM', () => {
    expect(rankHosts([host('busy', { memoryMbUsed: 3000 }), host('idle')], spec())[0]!.host).toBe('idle');
  });

  it('aggregate_instance_extra_specs must match the metadata of one of the host\'s aggregates', () => {
    const hosts = [host('ssd', { aggregateMetadata: [{ disk: 'ssd' }, { gpu: 'a,b' }] }), host('hdd', { aggregateMetadata: [{ disk: 'hdd' }] }), host('none')];
    const ranked = (extraSpecs: Record<string, string>) => rankHosts(hosts, spec({ extraSpecs })).map((h) => h.host).sort();
    expect(ranked({ 'aggregate_instance_extra_specs:disk': 'ssd' })).toEqual(['ssd']);
    expect(ranked({ 'aggregate_instance_extra_specs:disk': 'ssd', 'aggregate_instance_extra_specs:gpu': 'b' })).toEqual(['ssd']);
    expect(ranked({ 'aggregate_instance_extra_specs:gpu': 'c' })).toEqual([]);
    // Unscoped specs are the hypervisor's business, not the aggregates'.
    expect(ranked({ 'hw:cpu_model': 'x', 'quota:cpu_shares': '1' })).toEqual(['hdd', 'none', 'ssd']);
  });

  it('the aggregate zone is what the AZ filter compares', () => {
    expect(rankHosts([host('a', { availabilityZone: 'az-agg' })], spec({ availabilityZone: 'az-agg' }))).toHaveLength(1);
  });

  describe('NUMA / pinning fit', () => {
    const cells = [
      { id: 0, cpus: [0, 1, 2, 3], memoryMb: 2048 },
      { id: 1, cpus: [4, 5, 6, 7], memoryMb: 2048 },
    ];
    const numaHost = (over: Partial<HostState> = {}) => host('n', { vcpus: 8, numaCells: cells, dedicatedCpus: [2, 3, 6, 7], ...over });

    it('reads hw:cpu_policy and hw:numa_nodes', () => {
      expect(numaRequestOf({}, 2, 512)).toBeNull();
      expect(numaRequestOf({ 'hw:cpu_policy': 'dedicated' }, 2, 512)).toEqual({ nodes: 1, dedicated: true, vcpus: 2, memoryMb: 512 });
      expect(numaRequestOf({ 'hw:numa_nodes': '2' }, 2, 512)).toEqual({ nodes: 2, dedicated: false, vcpus: 2, memoryMb: 512 });
    });

    it('pins only free CPUs of the dedicated set, one cell per guest node', () => {
      expect(fitNuma(numaHost(), { nodes: 1, dedicated: true, vcpus: 2, memoryMb: 512 })).toEqual([{ cell: 0, memoryMb: 512, vcpus: 2, cpus: [2, 3] }]);
      const used = numaHost({ numaUsage: [{ cell: 0, memoryMb: 512, vcpus: 2, cpus: [2, 3] }] });
      expect(fitNuma(used, { nodes: 1, dedicated: true, vcpus: 2, memoryMb: 512 })).toEqual([{ cell: 1, memoryMb: 512, vcpus: 2, cpus: [6, 7] }]);
      expect(fitNuma(used, { nodes: 1, dedicated: true, vcpus: 3, memoryMb: 512 })).toBeNull();
      expect(fitNuma(numaHost(), { nodes: 2, dedicated: true, vcpus: 4, memoryMb: 1024 })).toEqual([
        { cell: 0, memoryMb: 512, vcpus: 2, cpus: [2, 3] },
        { cell: 1, memoryMb: 512, vcpus: 2, cpus: [6, 7] },
      ]);
    });

    it('needs N cells, per-cell memory and an even split; no topology or no dedicated set → no fit', () => {
      expect(fitNuma(numaHost(), { nodes: 3, dedicated: false, vcpus: 3, memoryMb: 768 })).toBeNull();
      expect(fitNuma(numaHost(), { nodes: 2, dedicated: false, vcpus: 3, memoryMb: 1024 })).toBeNull();
      expect(fitNuma(numaHost(), { nodes: 1, dedicated: false, vcpus: 1, memoryMb: 4096 })).toBeNull();
      expect(fitNuma(numaHost(), { nodes: 2, dedicated: false, vcpus: 2, memoryMb: 4096 })).toHaveLength(2);
      expect(fitNuma(host('flat'), { nodes: 1, dedicated: false, vcpus: 1, memoryMb: 64 })).toBeNull();
      expect(fitNuma(numaHost({ dedicatedCpus: [] }), { nodes: 1, dedicated: true, vcpus: 1, memoryMb: 64 })).toBeNull();
    });

    it('pinned guests skip the shared vCPU pool, which excludes the dedicated set', () => {
      const full = numaHost({ vcpusUsed: 4, cpuAllocationRatio: 1 }); // 8 CPUs - 4 dedicated = 4 shared, all used
      const pinned = numaRequestOf({ 'hw:cpu_policy': 'dedicated' }, 2, 512);
      expect(rankHosts([full], spec({ vcpus: 1 }))).toHaveLength(0);
      expect(rankHosts([full], spec({ vcpus: 2, numa: pinned }))).toHaveLength(1);
    });
  });
});
