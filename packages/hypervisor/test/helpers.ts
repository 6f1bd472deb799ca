// Shared helpers for the real-QEMU tests: the test guest, a guest-slot lease per file, specs
// for the tiny guest under TCG (-M pc; microvm hangs under TCG on these machines), temp state
// dirs, and bounded waits on the serial console.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QemuDriver, type DomainSpecInput, type HypervisorDriver } from '../src/index.js';
import { acquireGuestSlots, ensureTestGuest, guestCmdline, waitUntil, type SlotLease, type TestGuest } from '../src/testing/index.js';

export { waitUntil };

/** Boot budget per guest: ~3-7 s measured under TCG on 2 busy cores, so 10x headroom. */
export const BOOT_TIMEOUT_MS = 60_000;

let guest: TestGuest | null = null;
export function testGuest(): TestGuest {
  guest ??= ensureTestGuest();
  return guest;
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `kumo-hv-${prefix}-`));
}

export function tinySpec(id: string, over: Partial<DomainSpecInput> = {}): DomainSpecInput {
  const g = testGuest();
  return {
    id,
    machine: { type: 'pc', accel: 'tcg' },
    cpu: { vcpus: 1, maxVcpus: 2 },
    memory: { sizeMb: 256, maxMb: 1024, slots: 2 },
    boot: { kernel: g.kernel, initrd: g.initrd, cmdline: guestCmdline({ hold: true, hb: 1, net: false }) },
    ...over,
  };
}

/** A QemuDriver for tests: TCG, every QEMU wrapped in a 5-minute `timeout`. */
export function testDriver(stateDir: string): QemuDriver {
  return new QemuDriver({ stateDir, accel: 'tcg', maxLifetimeSec: 300, qmpTimeoutMs: 20_000 });
}

export async function waitConsole(d: HypervisorDriver, id: string, pattern: RegExp | string, timeoutMs = BOOT_TIMEOUT_MS): Promise<string> {
  return waitUntil(
    timeoutMs,
    async () => {
      const out = await d.getConsoleOutput(id, { maxBytes: 1 << 20 });
      const ok = typeof pattern === 'string' ? out.includes(pattern) : pattern.test(out);
      return ok ? out : '';
    },
    { what: `console of ${id} to show ${String(pattern)}`, intervalMs: 100 },
  );
}

export function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

/** Holds `n` machine-wide guest slots for the whole test file. */
export function useGuestSlots(n = 1): { lease: () => SlotLease } {
  let lease: SlotLease | null = null;
  beforeAll(async () => {
    lease = await acquireGuestSlots(n);
  }, 600_000);
  afterAll(() => lease?.release());
  return { lease: () => lease! };
}

/** Destroys every domain of the driver (afterAll safety net: no QEMU left behind). */
export async function destroyAll(d: HypervisorDriver | undefined): Promise<void> {
  if (!d) return;
  for (const x of await d.listDomains()) await d.destroy(x.id).catch(() => undefined);
  await d.close();
}
