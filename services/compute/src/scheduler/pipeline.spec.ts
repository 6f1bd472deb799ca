import type { HostState, RequestSpec } from './host-state.js';
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
  ...over,
});
const spec = (over: Partial<RequestSpec> = {}): RequestSpec => ({ vcpus: 1, memoryMb: 512, diskGb: 1, availabilityZone: null, forcedHost: null, imageProperties: {}, excludedHosts: [], group: null, ...over });

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
});
