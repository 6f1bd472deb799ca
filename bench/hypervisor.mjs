// ./kumo bench hypervisor — boot-to-marker time per accelerator (KVM if usable, TCG), the raw
// qemu-system-x86_64 command against the same guest through QemuDriver (driver overhead), and
// live-migration total time and downtime against a hand-driven QMP migration; all in this run.
// BENCH_REPS (default 5) boots and BENCH_MIGRATION_REPS (default 3) migrations per row.
import { runHypervisorBench } from '@kumo/hypervisor/bench';
import { printTable } from './lib/report.mjs';

const result = await runHypervisorBench({
  reps: Number(process.env.BENCH_REPS ?? 5),
  migrationReps: Number(process.env.BENCH_MIGRATION_REPS ?? 3),
  log: (line) => process.stderr.write(`${line}\n`),
});
printTable(result);
