import { parseDomainSpec } from '@kumo/hypervisor';
import { domainSpecOf } from './domain-spec.js';

const base = { instanceId: '0b6f4a0e-6a64-4a2e-9d43-3b0d3c1f6b5a', name: 'vm 1', vcpus: 4, memoryMb: 2048, diskGb: 10, extraSpecs: {}, image: { id: 'i', properties: {} }, ports: [] };

describe('InstanceSpec → DomainSpec', () => {
  it('produces a spec the hypervisor accepts', () => {
    const spec = parseDomainSpec(domainSpecOf(base, '/var/lib/kumo/instances'));
    expect(spec.cpu.vcpus).toBe(4);
    expect(spec.memory.sizeMb).toBe(2048);
    expect(spec.disks[0]!.path).toBe(`/var/lib/kumo/instances/${base.instanceId}/disk.qcow2`);
  });

  it('maps flavor extra specs: topology, CPU model, hugepages; NICs from ports', () => {
    const spec = parseDomainSpec(
      domainSpecOf(
        { ...base, extraSpecs: { 'hw:cpu_sockets': '2', 'hw:cpu_cores': '2', 'hw:cpu_model': 'Skylake-Server', 'hw:mem_page_size': '2MB' }, ports: [{ id: 'abcdef12-3456', macAddress: 'FA:16:3E:00:00:01', networkId: 'n', mtu: 1450 }] },
        '/x',
      ),
    );
    expect(spec.cpu.topology).toEqual({ sockets: 2, cores: 2, threads: 1 });
    expect(spec.cpu.model).toBe('Skylake-Server');
    expect(spec.memory.hugepages?.pageSize).toBe('2M');
    expect(spec.nics[0]).toMatchObject({ mac: 'fa:16:3e:00:00:01', tap: { ifname: 'tapabcdef12-34' }, mtu: 1450 });
  });

  it('maps quota:disk_* to a throttle on the local disks only (volumes get their QoS from the volume service)', () => {
    const volumes = [{ volumeId: '5e6f0d7a-1b2c-4d3e-8f90-123456789abc', device: '/dev/vdb', path: '/v/5e6f', format: 'qcow2' as const }];
    const spec = parseDomainSpec(
      domainSpecOf({ ...base, volumes, extraSpecs: { 'quota:disk_read_iops_sec': '500', 'quota:disk_write_bytes_sec': '10485760', 'quota:disk_total_iops_sec': '0', 'quota:disk_read_bytes_sec': 'lots' } }, '/x'),
    );
    expect(spec.disks[0]!.throttle).toEqual({ iopsRead: 500, bpsWrite: 10485760 });
    expect(spec.disks[1]!.throttle).toBeUndefined();
    expect(parseDomainSpec(domainSpecOf(base, '/x')).disks[0]!.throttle).toBeUndefined();
  });

  it('maps hw:watchdog_action to a watchdog device with that action; disabled or unknown: none', () => {
    expect(parseDomainSpec(domainSpecOf({ ...base, extraSpecs: { 'hw:watchdog_action': 'reset' } }, '/x')).watchdog).toEqual({ action: 'reset' });
    expect(parseDomainSpec(domainSpecOf({ ...base, extraSpecs: { 'hw:watchdog_action': 'disabled' } }, '/x')).watchdog).toBeUndefined();
    expect(parseDomainSpec(domainSpecOf({ ...base, extraSpecs: { 'hw:watchdog_action': 'explode' } }, '/x')).watchdog).toBeUndefined();
  });

  it('a rescued instance boots the rescue disk, with its root disk attached second; VNC is on', () => {
    const spec = parseDomainSpec(domainSpecOf({ ...base, rescue: { image: { id: 'r', properties: {} } } }, '/x'));
    expect(spec.disks.map((d) => [d.id, d.path, d.bootIndex])).toEqual([
      ['rescue', `/x/${base.instanceId}/disk.rescue`, 0],
      ['root', `/x/${base.instanceId}/disk.qcow2`, undefined],
    ]);
    expect(spec.console.vnc).toBe(true);
    expect(parseDomainSpec(domainSpecOf(base, '/x')).disks.map((d) => d.id)).toEqual(['root']);
  });

  it('maps the claim\'s NUMA placement: guest nodes bound to host cells, pinned vCPUs one host CPU each', () => {
    const numa = [
      { hostCell: 0, memoryMb: 1024, vcpus: [0, 1], cpus: [2, 3] },
      { hostCell: 1, memoryMb: 1024, vcpus: [2, 3], cpus: [6, 7] },
    ];
    const spec = parseDomainSpec(domainSpecOf({ ...base, extraSpecs: { 'hw:cpu_policy': 'dedicated', 'hw:numa_nodes': '2' }, numa }, '/x'));
    expect(spec.memory.numa).toEqual([
      { cpus: [0, 1], memoryMb: 1024, hostNodes: [0] },
      { cpus: [2, 3], memoryMb: 1024, hostNodes: [1] },
    ]);
    expect(spec.cpu.pinning?.vcpus).toEqual({ '0': [2], '1': [3], '2': [6], '3': [7] });
    // Floating NUMA guest: nodes, no pinning.
    const floating = parseDomainSpec(domainSpecOf({ ...base, numa: numa.map((n) => ({ ...n, cpus: [] })) }, '/x'));
    expect(floating.memory.numa).toHaveLength(2);
    expect(floating.cpu.pinning).toBeUndefined();
  });

  it('attached volumes follow the root disk, in order, by path and format, with the volume id as serial (a re-created domain keeps them)', () => {
    const volumes = [
      { volumeId: '5e6f0d7a-1b2c-4d3e-8f90-123456789abc', device: '/dev/vdb', path: '/var/lib/kumo/volumes/5e6f0d7a-1b2c-4d3e-8f90-123456789abc', format: 'qcow2' as const },
      { volumeId: '6e6f0d7a-1b2c-4d3e-8f90-123456789abc', device: '/dev/vdc', path: '/v/6e6f', format: 'raw' as const },
    ];
    const spec = parseDomainSpec(domainSpecOf({ ...base, volumes }, '/x'));
    expect(spec.disks.map((d) => [d.id, d.path, d.format, d.serial])).toEqual([
      ['root', `/x/${base.instanceId}/disk.qcow2`, 'qcow2', undefined],
      ['vol-5e6f0d7a-1b2c-4d3e-8f90', volumes[0]!.path, 'qcow2', '5e6f0d7a-1b2c-4d3e-8'],
      ['vol-6e6f0d7a-1b2c-4d3e-8f90', '/v/6e6f', 'raw', '6e6f0d7a-1b2c-4d3e-8'],
    ]);
  });

  it('attaches the config drive as a read-only IDE cdrom after the disks', () => {
    const configDrive = { projectId: 'p', hostname: 'h', availabilityZone: null, launchIndex: 0, metadata: {}, key: null, ports: [] };
    const spec = parseDomainSpec(domainSpecOf({ ...base, configDrive }, '/x'));
    expect(spec.disks.map((d) => d.id)).toEqual(['root', 'config']);
    expect(spec.disks[1]).toMatchObject({ path: `/x/${base.instanceId}/disk.config`, format: 'raw', bus: 'ide', media: 'cdrom', readOnly: true });
    expect(parseDomainSpec(domainSpecOf(base, '/x')).disks.map((d) => d.id)).toEqual(['root']);
  });
});
