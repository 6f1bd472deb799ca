/**
 * Polls `probe` until it returns a truthy value or `timeoutMs` passes (never a bare sleep).
 * Rejects with a message naming what was awaited and the last error seen.
 */
export async function waitUntil<T>(what: string, probe: () => Promise<T> | T, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 10000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const detail = lastError ? ` (last error: ${(lastError as Error).message ?? String(lastError)})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
