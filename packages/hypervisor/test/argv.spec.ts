// DomainSpec -> argv: snapshot per flavor (the snapshots are the reviewed, committed form of
// "what QEMU command does this spec make"), spec validation naming fields, and a check that
// QEMU 7.2 itself accepts the generated argv for the flavors this host can run.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildQemuArgv, instancePaths, InvalidSpec, parseDomainSpec, QmpClient, validateDomainSpec, type ArgvContext, type DomainSpecInput } from '../src/index.js';
import { acquireGuestSlots } from '../src/testing/index.js';
import { testGuest, tmpDir, waitUntil } from './helpers.js';

const K = '/var/lib/kumo/images/vmlinuz';
const I = '/var/lib/kumo/images/initrd.img';
const ctx = (id: string, over: Partial<ArgvContext> = {}): ArgvContext => ({ paths: instancePaths('/var/lib/kumo/instances', id), accel: 'kvm', ...over });
const argv = (spec: DomainSpecInput, over: Partial<ArgvContext> = {}) => buildQemuArgv(parseDomainSpec(spec), ctx(spec.id, over));

export const FLAVORS: Record<string, { spec: DomainSpecInput; ctx?: Partial<ArgvContext> }> = {
  minimal: { spec: { id: 'minimal', memory: { sizeMb: 256 }, boot: { kernel: K, initrd: I, cmdline: 'console=ttyS0' } } },
  'cpu-pinning-dedicated': {
    spec: {
      id: 'pinned',
      uuid: '6f1b8c3e-4c1a-4f7e-9a59-0d3c6a1e2b7f',
      machine: { type: 'q35', accel: 'kvm' },
      cpu: { vcpus: 4, topology: { sockets: 1, cores: 2, threads: 2 }, mode: 'host-passthrough', pinning: { vcpus: { '0': [2], '1': [3], '2': [4], '3': [5] }, emulator: [0, 1] } },
      memory: { sizeMb: 4096 },
      disks: [{ id: 'root', path: '/var/lib/kumo/instances/pinned/disk.qcow2', bootIndex: 0 }],
    },
    ctx: { hostCpuMask: ['-arch-capabilities'] },
  },
  'hugepages-numa': {
    spec: {
      id: 'huge',
      cpu: { vcpus: 4, maxVcpus: 4, mode: 'host-model' },
      memory: { sizeMb: 4096, hugepages: { pageSize: '2M' }, prealloc: true, numa: [{ cpus: [0, 1], memoryMb: 2048, hostNodes: [0] }, { cpus: [2, 3], memoryMb: 2048, hostNodes: [1] }] },
      disks: [{ id: 'root', path: '/srv/disk.qcow2', bootIndex: 0 }],
    },
  },
  'hugepages-1g-no-numa': {
    spec: { id: 'huge1g', memory: { sizeMb: 2048, hugepages: { pageSize: '1G' }, shared: true }, disks: [{ id: 'root', path: '/srv/disk.raw', format: 'raw', bootIndex: 0 }] },
  },
  'throttled-disks': {
    spec: {
      id: 'throttled',
      memory: { sizeMb: 1024 },
      disks: [
        { id: 'root', path: '/srv/root.qcow2', bootIndex: 0, cache: 'none', aio: 'native', throttle: { iopsTotal: 500, bpsTotal: 50_000_000 } },
        { id: 'data1', path: '/srv/data1.qcow2', cache: 'writeback', throttle: { iopsRead: 100, iopsWrite: 50, group: 'tenantA' }, serial: 'vol-1' },
        { id: 'data2', path: '/srv/data2.raw', format: 'raw', cache: 'directsync', discard: 'ignore', throttle: { iopsRead: 100, iopsWrite: 50, group: 'tenantA' }, readOnly: true },
      ],
    },
  },
  'uefi-secure-boot': {
    spec: { id: 'uefisb', machine: { type: 'q35', firmware: 'uefi', secureBoot: true }, memory: { sizeMb: 2048 }, disks: [{ id: 'root', path: '/srv/win.qcow2', bootIndex: 0 }] },
  },
  'uefi-pc-net-boot': {
    spec: {
      id: 'uefipxe',
      machine: { type: 'pc', firmware: 'uefi' },
      memory: { sizeMb: 1024 },
      boot: { menu: true },
      nics: [{ id: 'nic0', mac: '52:54:00:00:00:01', tap: { ifname: 'tap-pxe' }, bootIndex: 0 }],
      disks: [{ id: 'root', path: '/srv/empty.qcow2', bootIndex: 1 }],
    },
  },
  'scsi-cdrom-ide-q35': {
    spec: {
      id: 'storage',
      machine: { type: 'q35' },
      memory: { sizeMb: 1024 },
      disks: [
        { id: 'root', path: '/srv/root.qcow2', bus: 'virtio-scsi', bootIndex: 1 },
        { id: 'cidata', path: '/srv/config-drive.iso', format: 'raw', bus: 'virtio-scsi', media: 'cdrom', readOnly: true },
        { id: 'legacy', path: '/srv/legacy.raw', format: 'raw', bus: 'ide' },
        { id: 'rescue', path: '/srv/rescue.iso', format: 'raw', bus: 'ide', media: 'cdrom', readOnly: true, bootIndex: 0 },
      ],
    },
  },
  'nics-fd-multiqueue-vhost': {
    spec: {
      id: 'net',
      cpu: { vcpus: 4 },
      memory: { sizeMb: 1024 },
      boot: { kernel: K },
      nics: [
        { id: 'port1', mac: 'fa:16:3e:11:22:33', tap: { ifname: 'tap1a2b3c4d-5e' }, vhost: true, queues: 4, mtu: 1450 },
        { id: 'port2', mac: 'fa:16:3e:44:55:66', tap: { ifname: 'tap7e8f9a0b-1c' }, vhost: false },
        { id: 'legacy', mac: '52:54:00:aa:bb:cc', model: 'e1000', tap: { ifname: 'tap-e1000' } },
      ],
    },
    ctx: { nicFds: { port1: { tap: [3, 4, 5, 6] }, port2: { tap: [7] } } },
  },
  'custom-cpu-hotplug-memory': {
    spec: {
      id: 'hotplug',
      machine: { accel: 'kvm' },
      cpu: { vcpus: 2, maxVcpus: 8, mode: 'custom', model: 'Skylake-Server-v4', features: ['+aes', '+avx2', '-cx16'] },
      memory: { sizeMb: 2048, maxMb: 8192, slots: 4, dimms: [{ id: 'dimm0', sizeMb: 1024 }] },
      disks: [{ id: 'root', path: '/srv/root.qcow2', bootIndex: 0 }],
    },
  },
  'vnc-smbios-runas': {
    spec: {
      id: 'desktop',
      uuid: '0b2a8a4e-9df2-4a53-8a4f-3cfa3b8d9e10',
      memory: { sizeMb: 2048 },
      console: { vnc: true, video: 'virtio' },
      smbios: { serial: 'ds=nocloud;s=http://169.254.169.254/', family: 'Virtual Machine' },
      security: { sandbox: false, runAs: 'kumo-qemu' },
      disks: [{ id: 'root', path: '/srv/desktop.qcow2', bootIndex: 0 }],
    },
  },
  'incoming-migration': {
    spec: { id: 'migrant', memory: { sizeMb: 512 }, boot: { kernel: K, initrd: I, cmdline: 'console=ttyS0 quiet' }, rng: false },
    ctx: { incoming: 'defer', accel: 'tcg' },
  },
  'tcg-host-model-memfd-no-balloon': {
    spec: { id: 'tcgmodel', machine: { accel: 'tcg' }, cpu: { vcpus: 2, mode: 'host-model', features: ['+aes'] }, memory: { sizeMb: 512, shared: true, balloon: false }, rng: false, boot: { kernel: K } },
    ctx: { startPaused: true },
  },
  'comma-in-paths': {
    spec: { id: 'commas', memory: { sizeMb: 256 }, boot: { kernel: '/srv/k,ernel', initrd: '/srv/init,rd', cmdline: 'a=1,2' }, nics: [{ id: 'n0', mac: '52:54:00:00:00:09', tap: { ifname: 'tapx' } }] },
    ctx: { paths: { ...instancePaths('/var/lib/kumo/in,stances', 'commas') } },
  },
};

describe('DomainSpec -> QEMU argv (pure)', () => {
  for (const [name, f] of Object.entries(FLAVORS)) {
    it(`flavor ${name}`, () => {
      expect(argv(f.spec, f.ctx)).toMatchSnapshot();
    });
  }

  it('a config drive (the compute agent\'s disk.config) is a read-only ide-cd on the pc machine', () => {
    const a = argv({ id: 'cfg', memory: { sizeMb: 256 }, disks: [{ id: 'root', path: '/i/disk.qcow2', bootIndex: 0 }, { id: 'config', path: '/i/disk.config', format: 'raw', bus: 'ide', media: 'cdrom', readOnly: true }] });
    const blockdevs = a.filter((x) => x.includes('"/i/disk.config"') || x.includes('"file-config"'));
    expect(blockdevs).toHaveLength(2);
    for (const b of blockdevs) expect(JSON.parse(b)['read-only']).toBe(true);
    expect(a.filter((x) => x.startsWith('ide-cd,'))).toEqual([expect.stringMatching(/^ide-cd,bus=ide\.\d,unit=\d,id=config,drive=fmt-config$/)]);
  });

  it('is deterministic and does no I/O: same input, same output', () => {
    const f = FLAVORS['throttled-disks']!;
    expect(argv(f.spec)).toEqual(argv(f.spec));
  });

  it('always hardens the process: -nodefaults, -no-user-config, sandbox, pidfile, QMP in the instance dir', () => {
    const a = argv(FLAVORS.minimal!.spec);
    expect(a.slice(0, 2)).toEqual(['-nodefaults', '-no-user-config']);
    expect(a).toContain('on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny');
    expect(a[a.indexOf('-pidfile') + 1]).toBe('/var/lib/kumo/instances/minimal/qemu.pid');
    expect(a.join(' ')).toContain('path=/var/lib/kumo/instances/minimal/qmp.sock,server=on,wait=off');
  });

  it('doubles commas inside option values (QEMU key=value escaping)', () => {
    const a = argv(FLAVORS['comma-in-paths']!.spec, FLAVORS['comma-in-paths']!.ctx);
    expect(a.join(' ')).toContain('/var/lib/kumo/in,,stances/commas/console.sock');
    // -kernel/-append are plain arguments, not option lists: no escaping there.
    expect(a[a.indexOf('-kernel') + 1]).toBe('/srv/k,ernel');
  });

  it('masks host CPU features found by the probe only for host CPU modes under KVM', () => {
    const pinned = FLAVORS['cpu-pinning-dedicated']!;
    const a = argv(pinned.spec, pinned.ctx);
    expect(a[a.indexOf('-cpu') + 1]).toBe('host,-arch-capabilities');
    const custom = argv(FLAVORS['custom-cpu-hotplug-memory']!.spec, { hostCpuMask: ['-arch-capabilities'] });
    expect(custom[custom.indexOf('-cpu') + 1]).toBe('Skylake-Server-v4,+aes,+avx2,-cx16');
  });
});

describe('DomainSpec validation names the field', () => {
  const base = FLAVORS.minimal!.spec;
  const cases: [string, DomainSpecInput, string, RegExp][] = [
    ['bad id', { ...base, id: '../etc' }, 'id', /must match/],
    ['maxVcpus < vcpus', { ...base, cpu: { vcpus: 4, maxVcpus: 2 } }, 'cpu.maxVcpus', />= cpu.vcpus/],
    ['topology mismatch', { ...base, cpu: { vcpus: 4, topology: { sockets: 1, cores: 2, threads: 1 } } }, 'cpu.topology', /must equal maxVcpus/],
    ['host-passthrough under tcg', { ...base, machine: { accel: 'tcg' }, cpu: { mode: 'host-passthrough' } }, 'cpu.mode', /needs accel kvm/],
    ['custom without model', { ...base, cpu: { mode: 'custom' } }, 'cpu.model', /required/],
    ['bad cpu feature', { ...base, cpu: { features: ['aes'] } }, 'cpu.features[0]', /\+aes/],
    ['maxMb without slots', { ...base, memory: { sizeMb: 256, maxMb: 1024 } }, 'memory.slots', />= 1/],
    ['numa memory sum', { ...base, cpu: { vcpus: 2 }, memory: { sizeMb: 256, numa: [{ cpus: [0], memoryMb: 100 }, { cpus: [1], memoryMb: 100 }] } }, 'memory.numa', /must equal memory.sizeMb/],
    ['hugepage multiple', { ...base, memory: { sizeMb: 1000, hugepages: { pageSize: '1G' } } }, 'memory.sizeMb', /multiple/],
    ['cache+aio', { ...base, disks: [{ id: 'd', path: '/x', cache: 'writeback', aio: 'native' }] }, 'disks[0].aio', /O_DIRECT/],
    ['cdrom on virtio-blk', { ...base, disks: [{ id: 'd', path: '/x', media: 'cdrom', readOnly: true }] }, 'disks[0].bus', /cdrom/],
    ['relative path', { ...base, disks: [{ id: 'd', path: 'x.qcow2' }] }, 'disks[0].path', /absolute/],
    ['unknown cache', { ...base, disks: [{ id: 'd', path: '/x', cache: 'fast' as never }] }, 'disks[0].cache', /./],
    ['duplicate device id', { ...base, disks: [{ id: 'd', path: '/x' }], nics: [{ id: 'd', mac: '52:54:00:00:00:01', tap: { ifname: 't' } }] }, 'nics[0].id', /duplicate/],
    ['multicast mac', { ...base, nics: [{ id: 'n', mac: '01:00:5e:00:00:01', tap: { ifname: 't' } }] }, 'nics[0].mac', /unicast/],
    ['vhost on e1000', { ...base, nics: [{ id: 'n', mac: '52:54:00:00:00:01', model: 'e1000', vhost: true, tap: { ifname: 't' } }] }, 'nics[0].model', /virtio/],
    ['secure boot on pc', { ...base, machine: { firmware: 'uefi', secureBoot: true } }, 'machine.secureBoot', /q35/],
    ['initrd without kernel', { id: 'x', memory: { sizeMb: 64 }, boot: { initrd: '/x' } }, 'boot.kernel', /required/],
    ['unknown key', { ...base, memory: { sizeMb: 256, size: 3 } as never }, 'memory', /Unrecognized key/],
    ['boot index twice', { ...base, disks: [{ id: 'a', path: '/a', bootIndex: 0 }, { id: 'b', path: '/b', bootIndex: 0 }] }, 'disks[1].bootIndex', /twice/],
  ];
  it.each(cases)('%s', (_name, spec, field, message) => {
    let err: unknown;
    try {
      parseDomainSpec(spec);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidSpec);
    expect((err as InvalidSpec).field).toBe(field);
    expect((err as InvalidSpec).message).toMatch(message);
  });

  it('validateDomainSpec lists every problem', () => {
    const r = validateDomainSpec({ id: '!', memory: { sizeMb: 1 } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.map((p) => p.field)).toEqual(expect.arrayContaining(['id', 'memory.sizeMb']));
  });
});

/**
 * Runs QEMU with the generated argv (stopped with -S, so no guest code runs) and checks that
 * it comes up and answers QMP: the snapshots above are not just strings, QEMU 7.2 takes them.
 * Host-specific parts are swapped for local ones (files, TCG).
 */
describe('QEMU accepts the generated argv', () => {
  let stateDir: string;
  let lease: { release(): void } | null = null;
  beforeAll(async () => {
    stateDir = tmpDir('argv');
    lease = await acquireGuestSlots(1);
  }, 600_000);
  afterAll(() => {
    lease?.release();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  const runnable = ['minimal', 'throttled-disks', 'scsi-cdrom-ide-q35', 'uefi-secure-boot', 'custom-cpu-hotplug-memory', 'vnc-smbios-runas', 'tcg-host-model-memfd-no-balloon'];
  it.each(runnable)('%s', async (name) => {
    const g = testGuest();
    const f = FLAVORS[name]!;
    const spec = parseDomainSpec(f.spec);
    const dir = path.join(stateDir, spec.id);
    fs.mkdirSync(dir, { recursive: true });
    const local = {
      ...spec,
      machine: { ...spec.machine, accel: 'tcg' as const },
      // Skylake-Server under TCG lacks features; the model name and flags still parse.
      cpu: spec.cpu.mode === 'host-passthrough' ? { ...spec.cpu, mode: 'host-model' as const } : spec.cpu,
      boot: spec.boot.kernel ? { ...spec.boot, kernel: g.kernel, initrd: spec.boot.initrd ? g.initrd : undefined } : spec.boot,
      disks: spec.disks.map((d, i) => {
        const p = path.join(dir, `disk${i}.${d.format}`);
        fs.copyFileSync(d.format === 'qcow2' ? g.baseQcow2 : g.rootfsRaw, p);
        return { ...d, path: p, aio: d.aio === 'native' ? ('threads' as const) : d.aio };
      }),
      security: { ...spec.security, runAs: spec.security.runAs ? 'nobody' : undefined },
    };
    const paths = instancePaths(stateDir, spec.id);
    if (spec.machine.firmware === 'uefi') fs.copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd', paths.ovmfVars);
    if (local.security.runAs) fs.chmodSync(dir, 0o777);
    const args = buildQemuArgv(local, { paths, accel: 'tcg', startPaused: true });
    // detached: its own process group, so the finally block kills `timeout` and QEMU together.
    const p = spawn('timeout', ['-s', 'KILL', '60', 'qemu-system-x86_64', ...args], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    let exited = false;
    p.on('exit', () => (exited = true));
    try {
      await waitUntil(20_000, () => {
        if (exited) throw new Error(`QEMU rejected the ${name} argv: ${stderr}`);
        return fs.existsSync(paths.qmpSocket);
      }, { what: `${name} QMP socket` });
      const c = new QmpClient({ socketPath: paths.qmpSocket });
      await c.connect();
      expect((await c.execute('query-status')).status).toBe('prelaunch');
      const names = (await c.execute<{ name: string }[]>('qom-list', { path: '/machine/peripheral' })).map((x) => x.name);
      for (const d of local.disks) expect(names).toContain(d.id);
      await c.execute('quit').catch(() => undefined);
      c.close();
    } finally {
      if (!exited) {
        process.kill(-p.pid!, 'SIGKILL');
        await new Promise((r) => p.once('exit', r));
      }
    }
  });
});
