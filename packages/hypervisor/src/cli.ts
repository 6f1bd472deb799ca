#!/usr/bin/env node
// kumo-hypervisor CLI: `probe` (which accelerator works here, and why), `guest` (build the
// test guest), `bench` (boot/overhead/migration figures), `argv <spec.json>` (print the QEMU command line a spec produces).
import fs from 'node:fs';
import { formatProbe, probeAccelerator } from './probe/accel-probe.js';
import { ensureTestGuest, testGuestDir } from './testing/test-guest.js';
import { parseDomainSpec } from './spec.js';
import { buildQemuArgv, formatCommandLine } from './qemu/argv.js';
import { instancePaths } from './qemu/supervisor.js';

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'probe': {
      const json = rest.includes('--json');
      const kvmTimeout = Number(rest.find((a) => a.startsWith('--kvm-timeout='))?.split('=')[1] ?? 10_000);
      const r = await probeAccelerator({ guest: ensureTestGuest(), kvmTimeoutMs: kvmTimeout });
      console.log(json ? JSON.stringify(r, null, 2) : formatProbe(r));
      return 0;
    }
    case 'guest': {
      const g = ensureTestGuest();
      console.log(`test guest in ${testGuestDir()}:\n  kernel ${g.kernel}\n  initrd ${g.initrd}\n  base   ${g.baseQcow2}`);
      return 0;
    }
    case 'bench': {
      const { runHypervisorBench, formatBench } = await import('./bench.js');
      const reps = Number(rest.find((a) => a.startsWith('--reps='))?.split('=')[1] ?? 5);
      const r = await runHypervisorBench({ reps, migrationReps: Math.max(1, Math.min(reps, 3)), log: (l) => console.error(l) });
      console.log(rest.includes('--json') ? JSON.stringify(r, null, 2) : formatBench(r));
      return 0;
    }
    case 'argv': {
      const file = rest[0];
      if (!file) break;
      const spec = parseDomainSpec(JSON.parse(fs.readFileSync(file, 'utf8')));
      const accel = (rest.find((a) => a.startsWith('--accel='))?.split('=')[1] ?? 'tcg') as 'kvm' | 'tcg';
      console.log(formatCommandLine('qemu-system-x86_64', buildQemuArgv(spec, { paths: instancePaths('/var/lib/kumo/instances', spec.id), accel })));
      return 0;
    }
  }
  console.error('usage: kumo-hypervisor probe [--json] [--kvm-timeout=MS] | guest | bench [--reps=N] [--json] | argv SPEC.json [--accel=kvm|tcg]');
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`error: ${e.message}`);
    process.exit(1);
  },
);
