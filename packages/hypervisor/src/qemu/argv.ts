// DomainSpec -> QEMU argv. Pure: no I/O, no clock, no environment; the same spec and context
// always give the same argv (the snapshot tests rely on it). Host facts that are not part of
// the guest definition (fd numbers, firmware paths, instance paths) come in ArgvContext.
import type { DomainSpec } from '../spec.js';
import type { ArgvContext } from './config/common.js';
import { bootArgs, firmwareArgs } from './config/boot.js';
import { cpuArgs } from './config/cpu.js';
import { displayArgs } from './config/display.js';
import { disksArgs } from './config/drive.js';
import { machineArgs } from './config/machine.js';
import { memoryArgs } from './config/memory.js';
import { nicsArgs } from './config/nic.js';
import { rngArgs, smbiosArgs, watchdogArgs } from './config/platform.js';
import { processArgs } from './config/process.js';
import { serialArgs } from './config/serial.js';

export type { ArgvContext, InstancePaths } from './config/common.js';

/** Argument vector without the binary name. Order: process, machine, cpu, memory, firmware, devices, boot. */
export function buildQemuArgv(spec: DomainSpec, ctx: ArgvContext): string[] {
  const mem = memoryArgs(spec);
  return [
    ...processArgs(spec, ctx),
    ...machineArgs(spec, ctx, mem.machineBackendId),
    ...cpuArgs(spec, ctx),
    ...mem.argv,
    ...firmwareArgs(spec, ctx),
    ...smbiosArgs(spec),
    ...serialArgs(spec, ctx),
    ...displayArgs(spec, ctx),
    ...disksArgs(spec),
    ...nicsArgs(spec, ctx),
    ...rngArgs(spec),
    ...watchdogArgs(spec),
    ...bootArgs(spec),
  ];
}

/** For logs and docs: the argv as a shell-quoted command line. */
export function formatCommandLine(binary: string, argv: string[]): string {
  const q = (s: string) => (/^[A-Za-z0-9_./:=,@+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return [binary, ...argv].map(q).join(' ');
}
