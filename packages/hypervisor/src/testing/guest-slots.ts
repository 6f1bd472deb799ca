// Machine-wide limit on concurrently running QEMU guests for tests and benchmarks.
//
// Several jest workers (and other engineers' test runs) share one 2-core machine; more than
// two TCG guests at once makes boots time out. A slot is an exclusively created lock file
// /tmp/kumo-qemu-slots/slot-N.lock holding "<pid> <token>". A lock whose pid is gone is stale
// and is broken; breaking is itself guarded by an O_EXCL "breaker" file so two processes do
// not both delete-and-recreate the same slot. Multi-slot leases (migration needs 2 guests) are
// all-or-nothing with randomized backoff, so two processes each holding one slot cannot
// deadlock waiting for the other.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export const SLOT_DIR = process.env.KUMO_QEMU_SLOT_DIR ?? '/tmp/kumo-qemu-slots';
export const SLOT_COUNT = Number(process.env.KUMO_QEMU_SLOTS ?? 2);

export interface SlotLease {
  slots: number[];
  release(): void;
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function slotPath(i: number): string {
  return path.join(SLOT_DIR, `slot-${i}.lock`);
}

function tryTake(i: number, token: string): boolean {
  const p = slotPath(i);
  try {
    fs.writeFileSync(p, `${process.pid} ${token}\n`, { flag: 'wx', mode: 0o644 });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  // Held: break it only if the holder is dead.
  let content: string;
  try {
    content = fs.readFileSync(p, 'utf8');
  } catch {
    return false; // released meanwhile; next round will take it
  }
  const pid = Number(content.split(' ')[0]);
  if (pidAlive(pid)) return false;
  const breaker = `${p}.breaking`;
  try {
    fs.writeFileSync(breaker, String(process.pid), { flag: 'wx' });
  } catch {
    // Someone else is breaking it; a breaker left by a dead process is removed after 10 s.
    try {
      if (Date.now() - fs.statSync(breaker).mtimeMs > 10_000) fs.rmSync(breaker, { force: true });
    } catch {
      /* gone */
    }
    return false;
  }
  try {
    // Re-check under the breaker: still the same stale content?
    if (fs.readFileSync(p, 'utf8') === content) fs.rmSync(p, { force: true });
  } catch {
    /* already gone */
  } finally {
    fs.rmSync(breaker, { force: true });
  }
  return false;
}

function release(i: number, token: string): void {
  const p = slotPath(i);
  try {
    if (fs.readFileSync(p, 'utf8').includes(token)) fs.rmSync(p, { force: true });
  } catch {
    /* already gone */
  }
}

/**
 * Waits (up to `timeoutMs`, default 10 min) for `count` guest slots and returns a lease.
 * Always release it (finally/afterAll); a crashed holder's slots are reclaimed automatically.
 */
export async function acquireGuestSlots(count = 1, timeoutMs = 600_000): Promise<SlotLease> {
  if (count > SLOT_COUNT) throw new Error(`Cannot hold ${count} guest slots; only ${SLOT_COUNT} exist (KUMO_QEMU_SLOTS).`);
  fs.mkdirSync(SLOT_DIR, { recursive: true, mode: 0o1777 });
  const token = crypto.randomUUID();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got: number[] = [];
    for (let i = 0; i < SLOT_COUNT && got.length < count; i++) if (tryTake(i, token)) got.push(i);
    if (got.length === count) {
      let released = false;
      const onExit = () => got.forEach((i) => release(i, token));
      process.once('exit', onExit);
      return {
        slots: got,
        release: () => {
          if (released) return;
          released = true;
          process.removeListener('exit', onExit);
          got.forEach((i) => release(i, token));
        },
      };
    }
    got.forEach((i) => release(i, token));
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${count} QEMU guest slot(s) in ${SLOT_DIR}; holders: ${describeSlots()}`);
    await delay(200 + Math.floor(Math.random() * 300));
  }
}

export function describeSlots(): string {
  const out: string[] = [];
  for (let i = 0; i < SLOT_COUNT; i++) {
    try {
      out.push(`slot ${i}: ${fs.readFileSync(slotPath(i), 'utf8').trim()}`);
    } catch {
      out.push(`slot ${i}: free`);
    }
  }
  return out.join('; ');
}
