// Bounded polling (cloud-hypervisor's wait_until): every wait in this package has a deadline
// and says what it was waiting for when it gives up. No bare sleeps.
import { setTimeout as delay } from 'node:timers/promises';
import { OperationTimeout } from './errors.js';

/**
 * Polls `cond` every `intervalMs` until it returns a truthy value (which is returned) or
 * `timeoutMs` passes (OperationTimeout naming `what`). Exceptions from `cond` propagate.
 */
export async function waitUntil<T>(
  timeoutMs: number,
  cond: () => T | Promise<T>,
  opts: { what?: string; intervalMs?: number } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  const interval = opts.intervalMs ?? 50;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() >= deadline) throw new OperationTimeout(`Waiting for ${opts.what ?? 'condition'}`, timeoutMs);
    await delay(Math.min(interval, Math.max(1, deadline - Date.now())));
  }
}
