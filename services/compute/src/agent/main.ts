import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeDriver, type HypervisorDriver, QemuDriver } from '@kumo/hypervisor';
import { ComputeAgent } from './agent.js';

/**
 * `node dist/agent/main.js` — the compute agent.
 *   KUMO_AMQP_URL            broker (or from KUMO_CONFIG_FILE)
 *   KUMO_AGENT_HOSTS         comma-separated host names served by this process (default: KUMO_AGENT_HOST or the hostname)
 *   KUMO_AGENT_DRIVER        fake (default) | qemu
 *   KUMO_AGENT_VCPUS, KUMO_AGENT_MEMORY_MB, KUMO_AGENT_DISK_GB   capacity reported per host
 *   KUMO_AGENT_CPU_RATIO, KUMO_AGENT_RAM_RATIO, KUMO_AGENT_DISK_RATIO  allocation ratios
 *   KUMO_AGENT_NUMA_NODES    NUMA cells per host (default 1; CPUs and memory split evenly)
 *   KUMO_AGENT_CPU_DEDICATED_SET  host CPUs for pinned guests, e.g. `4-15` or `2,3,6-7` (default none)
 *   KUMO_AGENT_REPORT_S      heartbeat interval (default 10)
 *   KUMO_AGENT_STATE_DIR     instance directories (default /var/lib/kumo/instances)
 *   KUMO_AGENT_MKISOFS       the ISO 9660 tool config drives are made with (default genisoimage)
 *   KUMO_AGENT_SNAPSHOT_DIR  where createImage writes snapshots for the image service to import
 *                            (one of its KUMO_IMAGE_IMPORT_DIRS); unset: no snapshots
 *   KUMO_AGENT_CONSOLE_LISTEN  host:port of this node's noVNC websocket proxy (nova-novncproxy;
 *                            default 127.0.0.1:6080; `off` for none). One proxy serves every host of the process.
 *   KUMO_AGENT_CONSOLE_URL   base URL browsers reach that proxy at (Nova's novncproxy_base_url
 *                            without the page), e.g. https://node1.example:6080; default from the listen address
 *   KUMO_AGENT_CONSOLE_ALLOWED_ORIGINS  comma-separated browser origin host names allowed besides the
 *                            proxy's own (Nova's console_allowed_origins)
 */
const env = process.env;
// Like the services: KUMO_CONFIG_FILE (KEY=VALUE lines, written by ./kumo) fills what the environment does not set.
if (env.KUMO_CONFIG_FILE) {
  for (const line of readFileSync(env.KUMO_CONFIG_FILE, 'utf8').split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m && env[m[1]!] === undefined) env[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
}
const log = (level: string, msg: string) => process.stdout.write(JSON.stringify({ level, time: new Date().toISOString(), service: 'compute-agent', msg }) + '\n');
const num = (name: string, fallback: number) => {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    log('error', `${name}=${v} is not a positive number`);
    process.exit(78);
  }
  return n;
};
/** `4-7,10` → [4,5,6,7,10] (Nova's cpu set syntax without exclusions). */
function cpuSetOf(v: string): number[] {
  const out = new Set<number>();
  for (const part of v.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) {
      log('error', `KUMO_AGENT_CPU_DEDICATED_SET: ${part} is not a CPU or a range`);
      process.exit(78);
    }
    for (let c = Number(m[1]); c <= Number(m[2] ?? m[1]); c++) out.add(c);
  }
  return [...out].sort((a, b) => a - b);
}
const hosts = (env.KUMO_AGENT_HOSTS ?? env.KUMO_AGENT_HOST ?? os.hostname().toLowerCase()).split(',').map((h) => h.trim()).filter(Boolean);
const driverKind = env.KUMO_AGENT_DRIVER ?? 'fake';
if (!['fake', 'qemu'].includes(driverKind)) {
  log('error', `KUMO_AGENT_DRIVER=${driverKind}: use fake or qemu`);
  process.exit(78);
}
const stateDir = env.KUMO_AGENT_STATE_DIR ?? '/var/lib/kumo/instances';
const driverFor = (host: string): HypervisorDriver =>
  driverKind === 'fake' ? new FakeDriver({ host, checkFiles: false }) : new QemuDriver({ stateDir: path.join(stateDir, host) } as ConstructorParameters<typeof QemuDriver>[0]);
const consoleListen = env.KUMO_AGENT_CONSOLE_LISTEN ?? '127.0.0.1:6080';
if (consoleListen !== 'off' && consoleListen !== '' && !/^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/.test(consoleListen)) {
  log('error', `KUMO_AGENT_CONSOLE_LISTEN=${consoleListen}: use host:port (e.g. 0.0.0.0:6080) or off`);
  process.exit(78);
}
if (env.KUMO_AGENT_CONSOLE_URL && !/^https?:\/\/\S+$/.test(env.KUMO_AGENT_CONSOLE_URL)) {
  log('error', `KUMO_AGENT_CONSOLE_URL=${env.KUMO_AGENT_CONSOLE_URL}: use an http(s) URL such as http://node1.example:6080`);
  process.exit(78);
}
const agent = new ComputeAgent({
  amqpUrl: env.KUMO_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672/',
  reportIntervalMs: num('KUMO_AGENT_REPORT_S', 10) * 1000,
  instancesDir: stateDir,
  snapshotDir: env.KUMO_AGENT_SNAPSHOT_DIR || undefined,
  console:
    consoleListen === 'off' || consoleListen === ''
      ? undefined
      : {
          listen: consoleListen,
          publicUrl: env.KUMO_AGENT_CONSOLE_URL || undefined,
          allowedOrigins: (env.KUMO_AGENT_CONSOLE_ALLOWED_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean),
        },
  log,
  hosts: hosts.map((host) => ({
    host,
    driver: driverFor(host),
    vcpus: num('KUMO_AGENT_VCPUS', 16),
    memoryMb: num('KUMO_AGENT_MEMORY_MB', 32768),
    localGb: num('KUMO_AGENT_DISK_GB', 500),
    cpuAllocationRatio: env.KUMO_AGENT_CPU_RATIO ? num('KUMO_AGENT_CPU_RATIO', 4) : undefined,
    ramAllocationRatio: env.KUMO_AGENT_RAM_RATIO ? num('KUMO_AGENT_RAM_RATIO', 1) : undefined,
    diskAllocationRatio: env.KUMO_AGENT_DISK_RATIO ? num('KUMO_AGENT_DISK_RATIO', 1) : undefined,
    numaNodes: num('KUMO_AGENT_NUMA_NODES', 1),
    cpuDedicatedSet: cpuSetOf(env.KUMO_AGENT_CPU_DEDICATED_SET ?? ''),
  })),
});
await agent.start();
const stop = async (sig: string) => {
  log('info', `${sig}: stopping`);
  await agent.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
