// DomainSpec: everything needed to run one guest, as plain JSON (it is persisted in the
// instance directory and sent between hosts for live migration). Validated with zod so a bad
// spec is refused with the offending field named, before any process starts.
//
// Units: memory in MiB, bandwidth in bytes/s, times in ms. Ids (domain, disk, nic, dimm) are
// short safe names because they become QEMU ids, file names and QMP arguments.
import { z } from 'zod';
import { InvalidSpec } from './errors.js';

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const DEVICE_ID = /^[A-Za-z][A-Za-z0-9_-]{0,30}$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;
const CPU_FEATURE = /^[+-][a-z0-9_.-]+$/;
const CPU_MODEL = /^[A-Za-z0-9_.-]+$/;

const absPath = z
  .string()
  .min(1)
  .refine((p) => p.startsWith('/'), 'must be an absolute path')
  .refine((p) => !/[\n\0]/.test(p), 'must not contain newlines or NUL');

const deviceId = z.string().regex(DEVICE_ID, 'must match ' + DEVICE_ID.source + ' (it becomes a QEMU device id)');

export const ThrottleSchema = z
  .object({
    iopsTotal: z.number().int().positive().optional(),
    iopsRead: z.number().int().positive().optional(),
    iopsWrite: z.number().int().positive().optional(),
    bpsTotal: z.number().int().positive().optional(),
    bpsRead: z.number().int().positive().optional(),
    bpsWrite: z.number().int().positive().optional(),
    /** Disks naming the same group share one budget (QEMU throttle-group). Default: one group per disk. */
    group: deviceId.optional(),
  })
  .strict();

export const DiskSchema = z
  .object({
    id: deviceId,
    path: absPath,
    format: z.enum(['qcow2', 'raw']).default('qcow2'),
    bus: z.enum(['virtio-blk', 'virtio-scsi', 'ide']).default('virtio-blk'),
    media: z.enum(['disk', 'cdrom']).default('disk'),
    readOnly: z.boolean().default(false),
    cache: z.enum(['none', 'writeback', 'writethrough', 'directsync', 'unsafe']).default('none'),
    aio: z.enum(['threads', 'native', 'io_uring']).default('threads'),
    discard: z.enum(['unmap', 'ignore']).default('unmap'),
    throttle: ThrottleSchema.optional(),
    bootIndex: z.number().int().min(0).max(99).optional(),
    /** Guest-visible serial (virtio-blk/scsi); Nova uses the volume id so the guest finds /dev/disk/by-id/. */
    serial: z.string().regex(/^[A-Za-z0-9_-]{1,20}$/).optional(),
  })
  .strict();

export const NicSchema = z
  .object({
    id: deviceId,
    mac: z.string().regex(MAC, 'must be a lower-case MAC like 52:54:00:12:34:56'),
    model: z.enum(['virtio-net-pci', 'e1000']).default('virtio-net-pci'),
    tap: z
      .object({
        /** TAP device name; created if missing (non-persistent) or attached to if persistent. */
        ifname: z.string().regex(IFNAME, 'must be a Linux interface name (1-15 chars)'),
        /** Network namespace (a path such as /run/netns/NAME) the TAP lives in. Needs the native addon (fd passing). */
        netns: absPath.optional(),
      })
      .strict(),
    vhost: z.boolean().default(false),
    queues: z.number().int().min(1).max(16).default(1),
    bootIndex: z.number().int().min(0).max(99).optional(),
    mtu: z.number().int().min(576).max(65535).optional(),
  })
  .strict();

export const DimmSchema = z.object({ id: deviceId, sizeMb: z.number().int().positive() }).strict();

export const NumaNodeSchema = z
  .object({
    cpus: z.array(z.number().int().min(0)).min(1),
    memoryMb: z.number().int().positive(),
    /** Host NUMA nodes to bind this guest node's memory to (memory-backend host-nodes, policy=bind). */
    hostNodes: z.array(z.number().int().min(0)).optional(),
  })
  .strict();

export const DomainSpecSchema = z
  .object({
    id: z.string().regex(SAFE_ID, 'must match ' + SAFE_ID.source + ' (it names the instance directory)'),
    uuid: z.uuid().optional(),
    machine: z
      .object({
        type: z.enum(['pc', 'q35']).default('pc'),
        /** Concrete accelerator. When omitted the driver fills in what its accelerator probe chose. */
        accel: z.enum(['kvm', 'tcg']).optional(),
        firmware: z.enum(['bios', 'uefi']).default('bios'),
        secureBoot: z.boolean().default(false),
      })
      .strict()
      .default({ type: 'pc', firmware: 'bios', secureBoot: false }),
    cpu: z
      .object({
        vcpus: z.number().int().min(1).max(288).default(1),
        /** Hot-plug ceiling (-smp maxcpus). Defaults to vcpus. */
        maxVcpus: z.number().int().min(1).max(288).optional(),
        topology: z
          .object({ sockets: z.number().int().min(1), cores: z.number().int().min(1), threads: z.number().int().min(1) })
          .strict()
          .optional(),
        /**
         * host-passthrough: `-cpu host` (KVM only; blocks migration to different CPUs).
         * host-model: `-cpu max,migratable=on` (everything the accelerator can offer that migrates).
         * custom: a named model (`model`, e.g. Skylake-Server-v4). default: QEMU's default model.
         */
        mode: z.enum(['host-passthrough', 'host-model', 'custom', 'default']).default('default'),
        model: z.string().regex(CPU_MODEL).optional(),
        /** Feature flags like `+aes`, `-cx16` appended to the model. */
        features: z.array(z.string().regex(CPU_FEATURE, 'must look like +aes or -cx16')).default([]),
        /** vCPU index -> host CPUs, and the emulator (non-vCPU) threads; applied with sched_setaffinity after start. */
        pinning: z
          .object({
            vcpus: z.record(z.string().regex(/^\d+$/), z.array(z.number().int().min(0)).min(1)).default({}),
            emulator: z.array(z.number().int().min(0)).min(1).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({ vcpus: 1, mode: 'default', features: [] }),
    memory: z
      .object({
        sizeMb: z.number().int().min(16),
        /** Hot-plug ceiling (-m maxmem); needs slots. */
        maxMb: z.number().int().min(16).optional(),
        slots: z.number().int().min(0).max(256).default(0),
        hugepages: z
          .object({ pageSize: z.enum(['2M', '1G']).default('2M'), path: absPath.optional() })
          .strict()
          .optional(),
        /** Share guest RAM with other processes (vhost-user, virtiofs): memory-backend-file share=on. */
        shared: z.boolean().default(false),
        prealloc: z.boolean().default(false),
        balloon: z.boolean().default(true),
        numa: z.array(NumaNodeSchema).optional(),
        /** Memory DIMMs present at start (hot-added ones are appended here by the driver). */
        dimms: z.array(DimmSchema).default([]),
      })
      .strict(),
    boot: z
      .object({
        kernel: absPath.optional(),
        initrd: absPath.optional(),
        cmdline: z.string().max(4096).optional(),
        menu: z.boolean().default(false),
      })
      .strict()
      .default({ menu: false }),
    disks: z.array(DiskSchema).default([]),
    nics: z.array(NicSchema).default([]),
    console: z
      .object({
        vnc: z.boolean().default(false),
        video: z.enum(['none', 'std', 'virtio', 'cirrus']).default('none'),
        /** Serial log is rotated to serial.log.1 beyond this size (so at most 2x on disk). */
        logMaxBytes: z.number().int().min(4096).default(1 << 20),
      })
      .strict()
      .default({ vnc: false, video: 'none', logMaxBytes: 1 << 20 }),
    rng: z.boolean().default(true),
    /**
     * A hardware watchdog (i6300esb) and what QEMU does when the guest stops feeding it (Nova's
     * hw:watchdog_action). Absent: no watchdog device.
     */
    watchdog: z
      .object({ action: z.enum(['reset', 'shutdown', 'poweroff', 'pause', 'none', 'inject-nmi']) })
      .strict()
      .optional(),
    smbios: z
      .object({
        manufacturer: z.string().max(64).default('Kumo'),
        product: z.string().max(64).default('Kumo Compute'),
        serial: z.string().max(64).optional(),
        family: z.string().max(64).optional(),
      })
      .strict()
      .optional(),
    security: z
      .object({
        sandbox: z.boolean().default(true),
        /** Drop to this user after start (-runas). Files opened later (hot-plug) must be accessible to it. */
        runAs: z
          .string()
          .regex(/^[a-z_][a-z0-9_-]{0,31}$/)
          .optional(),
      })
      .strict()
      .default({ sandbox: true }),
  })
  .strict()
  .superRefine((s, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    // CPU
    const maxV = s.cpu.maxVcpus ?? s.cpu.vcpus;
    if (maxV < s.cpu.vcpus) issue(['cpu', 'maxVcpus'], `must be >= cpu.vcpus (${s.cpu.vcpus})`);
    if (s.cpu.topology) {
      const t = s.cpu.topology;
      if (t.sockets * t.cores * t.threads !== maxV)
        issue(['cpu', 'topology'], `sockets*cores*threads = ${t.sockets * t.cores * t.threads} must equal maxVcpus (${maxV})`);
    }
    if (s.cpu.mode === 'custom' && !s.cpu.model) issue(['cpu', 'model'], 'is required when cpu.mode is custom');
    if (s.cpu.mode !== 'custom' && s.cpu.model) issue(['cpu', 'model'], 'is only allowed with cpu.mode custom');
    if (s.cpu.mode === 'host-passthrough' && s.machine.accel === 'tcg')
      issue(['cpu', 'mode'], 'host-passthrough (-cpu host) needs accel kvm; use host-model or a named model under tcg');
    for (const k of Object.keys(s.cpu.pinning?.vcpus ?? {}))
      if (Number(k) >= maxV) issue(['cpu', 'pinning', 'vcpus', k], `vCPU ${k} does not exist (maxVcpus ${maxV})`);
    // Memory
    const m = s.memory;
    const dimmTotal = m.dimms.reduce((a, d) => a + d.sizeMb, 0);
    if (m.maxMb !== undefined) {
      if (m.maxMb < m.sizeMb + dimmTotal) issue(['memory', 'maxMb'], `must be >= sizeMb + dimms (${m.sizeMb + dimmTotal})`);
      if (m.slots < 1) issue(['memory', 'slots'], 'must be >= 1 when maxMb is set (memory hot-plug needs DIMM slots)');
    } else if (m.slots > 0) issue(['memory', 'maxMb'], 'is required when slots > 0');
    if (m.dimms.length > m.slots) issue(['memory', 'dimms'], `${m.dimms.length} DIMMs but only ${m.slots} slots`);
    if (m.hugepages && m.sizeMb % (m.hugepages.pageSize === '1G' ? 1024 : 2) !== 0)
      issue(['memory', 'sizeMb'], `must be a multiple of the hugepage size ${m.hugepages.pageSize}`);
    if (m.numa) {
      const sum = m.numa.reduce((a, n) => a + n.memoryMb, 0);
      if (sum !== m.sizeMb) issue(['memory', 'numa'], `node memory adds up to ${sum} MiB, must equal memory.sizeMb (${m.sizeMb})`);
      const seen = new Set<number>();
      m.numa.forEach((n, i) =>
        n.cpus.forEach((c) => {
          if (c >= maxV) issue(['memory', 'numa', i, 'cpus'], `vCPU ${c} does not exist (maxVcpus ${maxV})`);
          if (seen.has(c)) issue(['memory', 'numa', i, 'cpus'], `vCPU ${c} is in two NUMA nodes`);
          seen.add(c);
        }),
      );
      if (seen.size !== maxV) issue(['memory', 'numa'], `every vCPU 0..${maxV - 1} must belong to exactly one node`);
    }
    // Machine / firmware
    if (s.machine.secureBoot && (s.machine.firmware !== 'uefi' || s.machine.type !== 'q35'))
      issue(['machine', 'secureBoot'], 'needs machine.firmware uefi and machine.type q35 (SMM)');
    if ((s.boot.initrd || s.boot.cmdline) && !s.boot.kernel) issue(['boot', 'kernel'], 'is required when boot.initrd or boot.cmdline is set');
    if (!s.boot.kernel && s.disks.length === 0 && !s.nics.some((n) => n.bootIndex !== undefined))
      issue(['boot'], 'nothing to boot: give boot.kernel, a disk or a NIC with bootIndex');
    // Disks
    const ids = new Set<string>();
    const bootIdx = new Set<number>();
    let ide = 0;
    s.disks.forEach((d, i) => {
      if (ids.has(d.id)) issue(['disks', i, 'id'], `duplicate device id ${d.id}`);
      ids.add(d.id);
      if (d.media === 'cdrom' && d.bus === 'virtio-blk') issue(['disks', i, 'bus'], 'a cdrom must be on ide or virtio-scsi');
      if (d.media === 'cdrom' && !d.readOnly) issue(['disks', i, 'readOnly'], 'a cdrom is read-only; set readOnly: true');
      if (d.aio === 'native' && d.cache !== 'none' && d.cache !== 'directsync')
        issue(['disks', i, 'aio'], 'native AIO needs O_DIRECT: use cache none or directsync');
      if (d.bus === 'ide') ide++;
      if (d.bootIndex !== undefined) {
        if (bootIdx.has(d.bootIndex)) issue(['disks', i, 'bootIndex'], `boot index ${d.bootIndex} used twice`);
        bootIdx.add(d.bootIndex);
      }
      if (d.throttle && Object.keys(d.throttle).filter((k) => k !== 'group').length === 0)
        issue(['disks', i, 'throttle'], 'give at least one of iopsTotal/iopsRead/iopsWrite/bpsTotal/bpsRead/bpsWrite');
    });
    const ideMax = s.machine.type === 'pc' ? 4 : 6;
    if (ide > ideMax) issue(['disks'], `${ide} IDE devices, the ${s.machine.type} machine has ${ideMax} IDE/SATA ports`);
    // NICs
    const macs = new Set<string>();
    s.nics.forEach((n, i) => {
      if (ids.has(n.id)) issue(['nics', i, 'id'], `duplicate device id ${n.id}`);
      ids.add(n.id);
      if (macs.has(n.mac)) issue(['nics', i, 'mac'], `duplicate MAC ${n.mac}`);
      macs.add(n.mac);
      if (parseInt(n.mac.slice(0, 2), 16) & 1) issue(['nics', i, 'mac'], 'must be a unicast address (first octet even)');
      if (n.model !== 'virtio-net-pci' && (n.vhost || n.queues > 1 || n.mtu))
        issue(['nics', i, 'model'], 'vhost, multiqueue and mtu need virtio-net-pci');
      if (n.bootIndex !== undefined) {
        if (bootIdx.has(n.bootIndex)) issue(['nics', i, 'bootIndex'], `boot index ${n.bootIndex} used twice`);
        bootIdx.add(n.bootIndex);
      }
    });
    m.dimms.forEach((d, i) => {
      if (ids.has(d.id)) issue(['memory', 'dimms', i, 'id'], `duplicate device id ${d.id}`);
      ids.add(d.id);
    });
  });

/** What callers write (defaults optional). */
export type DomainSpecInput = z.input<typeof DomainSpecSchema>;
/** A validated spec with every default filled in. */
export type DomainSpec = z.output<typeof DomainSpecSchema>;
export type DiskSpec = z.output<typeof DiskSchema>;
export type DiskSpecInput = z.input<typeof DiskSchema>;
export type NicSpec = z.output<typeof NicSchema>;
export type NicSpecInput = z.input<typeof NicSchema>;
export type ThrottleSpec = z.output<typeof ThrottleSchema>;
export type DimmSpec = z.output<typeof DimmSchema>;

function formatPath(path: PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(spec)';
}

function parseWith<T extends z.ZodType>(schema: T, input: unknown, prefix: string): z.output<T> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const first = r.error.issues[0]!;
  const field = formatPath([...(prefix ? [prefix] : []), ...first.path]);
  const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more problem(s))` : '';
  throw new InvalidSpec(field, first.message + more);
}

/** Validates and fills defaults; throws InvalidSpec naming the first bad field. Pure. */
export function parseDomainSpec(input: unknown): DomainSpec {
  return parseWith(DomainSpecSchema, input, '');
}

export function parseDiskSpec(input: unknown): DiskSpec {
  return parseWith(DiskSchema, input, 'disk');
}

export function parseNicSpec(input: unknown): NicSpec {
  return parseWith(NicSchema, input, 'nic');
}

/** Every issue, for tools that want to show them all (the driver only reports the first). */
export function validateDomainSpec(input: unknown): { ok: true; spec: DomainSpec } | { ok: false; problems: { field: string; message: string }[] } {
  const r = DomainSpecSchema.safeParse(input);
  if (r.success) return { ok: true, spec: r.data };
  return { ok: false, problems: r.error.issues.map((i) => ({ field: formatPath(i.path), message: i.message })) };
}

export function maxVcpusOf(spec: DomainSpec): number {
  return spec.cpu.maxVcpus ?? spec.cpu.vcpus;
}
