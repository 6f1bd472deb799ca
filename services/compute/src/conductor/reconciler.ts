import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { KUMO_CONFIG } from '@kumo/service-kit';
import type { ComputeConfig } from '../config.js';
import { Db } from '../db/db.js';
import type { InstanceRow } from '../servers/instance.model.js';
import { ConductorService } from './conductor.service.js';

/**
 * Ends tasks nobody finishes. Every KUMO_COMPUTE_RECONCILE_S it looks at tasks without progress
 * for KUMO_COMPUTE_TASK_TIMEOUT_S:
 *   - never scheduled (the API process died after the 202) → the build runs again;
 *   - its host is down → a delete completes locally, anything else ends in ERROR with a fault;
 *   - otherwise the sync is re-sent (casts can be lost with a broker restart; agents are
 *     idempotent), and after 3 timeouts without a report the task ends in ERROR.
 */
@Injectable()
export class Reconciler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('reconciler');
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    private readonly db: Db,
    private readonly conductor: ConductorService,
    @Inject(KUMO_CONFIG) private readonly config: ComputeConfig,
  ) {}

  onApplicationBootstrap() {
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.pass().finally(() => (this.running = undefined));
    }, this.config.KUMO_COMPUTE_RECONCILE_S * 1000);
    this.timer.unref();
  }

  async onApplicationShutdown() {
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One pass; returns how many tasks it touched (tests call it directly). */
  async pass(): Promise<number> {
    const timeout = this.config.KUMO_COMPUTE_TASK_TIMEOUT_S;
    try {
      // Claim the stale tasks by bumping task_updated_at (compare-and-set), so two API replicas
      // never act on the same one.
      const stale = await this.db.rows<InstanceRow & { host_up: boolean | null }>(
        `UPDATE ${this.db.t('instance')} i SET task_updated_at = now()
          WHERE i.id IN (SELECT id FROM ${this.db.t('instance')} WHERE task_state IS NOT NULL AND task_updated_at < now() - make_interval(secs => $1)
                          ORDER BY task_updated_at LIMIT 200 FOR UPDATE SKIP LOCKED)
          RETURNING i.*, (SELECT n.last_heartbeat > now() - make_interval(secs => $2) AND NOT n.forced_down FROM ${this.db.t('compute_node')} n WHERE n.host = COALESCE(i.task_host, i.host)) AS host_up`,
        [timeout, this.config.KUMO_COMPUTE_HOST_DOWN_S],
      );
      for (const i of stale) {
        const age = (Date.now() - new Date(i.task_started_at as unknown as string).getTime()) / 1000;
        if (!i.host) {
          if (i.task_state === 'deleting') await this.conductor.localDelete(i.id);
          else this.conductor.startBuild(i.id);
        } else if (i.host_up === false || i.host_up === null) {
          // (a move's step waits on task_host: the source while it powers off or cleans up)
          if (i.task_state === 'deleting') await this.conductor.localDelete(i.id);
          else if (i.task_state === 'resize_confirming') await this.conductor.confirmLocally(i.id);
          else await this.conductor.fail(i.id, `Compute host ${i.host} stopped responding; the ${i.task_state} task was abandoned.`);
        } else if (age > 3 * timeout) {
          if (i.task_state === 'deleting') await this.conductor.localDelete(i.id);
          else if (i.task_state === 'resize_confirming') await this.conductor.confirmLocally(i.id);
          else await this.conductor.fail(i.id, `No report from compute host ${i.host} within ${Math.round(age)} s; the ${i.task_state} task was abandoned.`);
        } else {
          await this.conductor.sync(i);
        }
      }
      return stale.length;
    } catch (err) {
      this.log.warn(`reconcile pass failed: ${(err as Error).message}`);
      return 0;
    }
  }
}
