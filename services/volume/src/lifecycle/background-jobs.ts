import type { Logger } from '@nestjs/common';

/**
 * The background work (file creations, copies, deletions) a service started after answering.
 * Contract: a job's failure is logged, never thrown (the row it works on records the outcome, and
 * the reconciler finishes what a crash interrupted); `settle()` resolves once every job started so
 * far — and every job those started — has finished: shutdown and tests await it.
 */
export class BackgroundJobs {
  private readonly jobs = new Set<Promise<void>>();

  constructor(private readonly log: Logger) {}

  run(fn: () => Promise<void>): void {
    const job = fn()
      .catch((err) => this.log.error(`background job failed: ${(err as Error).stack ?? err}`))
      .finally(() => this.jobs.delete(job));
    this.jobs.add(job);
  }

  async settle(): Promise<void> {
    while (this.jobs.size) await Promise.allSettled([...this.jobs]);
  }
}
