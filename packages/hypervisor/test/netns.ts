// Network namespaces for tests: every TAP/bridge/dnsmasq a test makes lives in a namespace it
// created (`kumo-hv-test-*`), so no test traffic reaches the host's own interfaces.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';

export interface TestNetns {
  name: string;
  path: string;
  ip(...args: string[]): string;
  destroy(): void;
}

export function createNetns(): TestNetns {
  const name = `kumo-hv-test-${process.pid}-${crypto.randomBytes(2).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name]);
  const ns: TestNetns = {
    name,
    path: `/run/netns/${name}`,
    ip: (...args) => execFileSync('ip', ['-n', name, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
    destroy: () => {
      try {
        execFileSync('ip', ['netns', 'del', name]);
      } catch {
        /* already gone */
      }
    },
  };
  ns.ip('link', 'set', 'lo', 'up');
  return ns;
}

/** A bridge with an address and a dnsmasq DHCP server on it, inside `ns`. */
export function startDhcp(ns: TestNetns, opts: { bridge?: string; cidr?: string; range?: string } = {}): { bridge: string; stop(): void; proc: ChildProcess; leases: string } {
  const bridge = opts.bridge ?? 'br0';
  ns.ip('link', 'add', bridge, 'type', 'bridge');
  ns.ip('addr', 'add', opts.cidr ?? '10.77.0.1/24', 'dev', bridge);
  ns.ip('link', 'set', bridge, 'up');
  const leases = `/tmp/${ns.name}.leases`;
  const proc = spawn(
    'ip',
    ['netns', 'exec', ns.name, 'timeout', '-s', 'KILL', '600', 'dnsmasq', '--no-daemon', '--conf-file=/dev/null', `--interface=${bridge}`, '--bind-interfaces', '--port=0', `--dhcp-range=${opts.range ?? '10.77.0.50,10.77.0.99,255.255.255.0,1h'}`, '--dhcp-option=3,10.77.0.1', `--dhcp-leasefile=${leases}`, '--pid-file='],
    // Own process group: `ip netns exec` execs timeout, which forks dnsmasq; kill them together.
    { stdio: 'ignore', detached: true },
  );
  return {
    bridge,
    proc,
    leases,
    stop: () => {
      try {
        process.kill(-proc.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      fs.rmSync(leases, { force: true });
    },
  };
}
