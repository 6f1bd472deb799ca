import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { KUMO_CONFIG } from '@kumo/service-kit';
import type { ComputeConfig } from '../config.js';
import { Db } from '../db/db.js';
import type { InstanceRow } from '../servers/instance.model.js';
import { InstancesRepository } from '../servers/instances.repository.js';
import { resolveInterruptedVolumeTask } from '../volume-attachments/volume-attachments.controller.js';
import { ConductorService } from './conductor.service.js';
import { VOLUME_CLIENT, type VolumeClient } from './peers.js';

/**
 * Ends tasks nobody finishes. Every KUMO_COMPUTE_RECONCILE_S it looks at tasks without progress
 * for KUMO_COMPUTE_TASK_TIMEOUT_S:
 *   - never scheduled (the API process died after the 202) → the build runs again;
 *   - its host is down → a delete completes locally, anything else ends in ERROR with a fault;
 *   - otherwise the sync is re-sent (casts can be lost with a broker restart; agents are
 *     idempotent), and after 3 timeouts without a report the task ends in ERROR.
 * Server-action tasks end their own way (endActionTask): an unshelve goes back to shelved, an
 * offload completes without the agent, an abandoned password change fails, an interrupted volume
 * attach is rolled back and an interrupted detach completed; an evacuation is driven again while
 * its destination reports and ends in ERROR (migration `error`) when it does not. With
 * KUMO_COMPUTE_SHELVED_OFFLOAD_TIME > 0 each pass also offloads servers shelved for that long.
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
    private readonly repo: InstancesRepository,
    @Inject(VOLUME_CLIENT) private readonly volumes: VolumeClient,
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
        if (await this.endActionTask(i)) continue;
        const age = (Date.now() - new Date(i.task_started_at as unknown as string).getTime()) / 1000;
        if (!i.host) {
          if (i.task_state === 'deleting') await this.conductor.localDelete(i.id);
          else this.conductor.startBuild(i.id);
        } else if (i.host_up === false || i.host_up === null) {
          // (a move's step waits on task_host: the source while it powers off or cleans up)
          if (i.task_state === 'deleting') await this.conductor.localDelete(i.id);
          else if (i.task_state === 'resize_confirming') await this.conductor.confirmLocally(i.id);
          else await this.conductor.fail(i.id, `Compute host ${i.task_host ?? i.host} stopped responding; the ${i.task_state} task was abandoned.`);
        } else if (age > 3 * timeout) {
          if (i.task_state === 'deleting') await this.conductor.localDelete(i.id);
          else if (i.task_state === 'resize_confirming') await this.conductor.confirmLocally(i.id);
          else await this.conductor.fail(i.id, `No report from compute host ${i.task_host ?? i.host} within ${Math.round(age)} s; the ${i.task_state} task was abandoned.`);
        } else {
          await this.conductor.sync(i);
        }
      }
      const offloadAfter = this.config.KUMO_COMPUTE_SHELVED_OFFLOAD_TIME;
      const offloaded = offloadAfter > 0 ? await this.conductor.offloadShelved(offloadAfter) : 0;
      return stale.length + offloaded;
    } catch (err) {
      this.log.warn(`reconcile pass failed: ${(err as Error).message}`);
      return 0;
    }
  }

  /** Stale server-action tasks (issue 6) that do not end like the others; false = the generic handling above. */
  private async endActionTask(i: InstanceRow & { host_up: boolean | null }): Promise<boolean> {
    const timeout = this.config.KUMO_COMPUTE_TASK_TIMEOUT_S;
    const age = (Date.now() - new Date(i.task_started_at as unknown as string).getTime()) / 1000;
    const silent = i.host_up !== true || age > 3 * timeout;
    switch (i.task_state) {
      case 'volume_attaching':
      case 'volume_detaching':
      case 'volume_swapping':
        await resolveInterruptedVolumeTask(i, i.host_up === true, { db: this.db, repo: this.repo, conductor: this.conductor, volumes: this.volumes }).catch((err) =>
          this.log.warn(`${i.task_state} of ${i.id} not resolved yet: ${(err as Error).message}`),
        );
        return true;
      case 'updating_password':
        // The API request that owned the call is gone, and a password is never re-sent: the change failed.
        await this.conductor.finishCallTask(i.id, i.generation, false, `The password change was not confirmed by compute host ${i.host}; it may not have been applied.`);
        return true;
      case 'unshelving':
        if (!i.host) {
          if (i.vm_state === 'shelved_offloaded') this.conductor.startUnshelve(i.id);
          else await this.conductor.failUnshelve(i.id, 'The unshelve task lost its host.');
          return true;
        }
        if (!silent) return false;
        await this.conductor.failUnshelve(i.id, `Compute host ${i.host} did not report the unshelve within ${Math.round(age)} s; the server stays shelved.`);
        return true;
      case 'rebuilding':
        // An evacuation (task_host: its destination) whose destination is alive: its step is redone
        // (ports, volumes, sync; idempotent). A silent destination: the generic path ends it in ERROR.
        if (!i.migration_id || !i.task_host || silent) return false;
        await this.conductor.evacuateStep(i.id);
        return true;
      case 'shelving_offloading':
        // Like a local delete: the snapshot holds the disk, so the server is offloaded without the agent.
        if (!silent) return false;
        await this.conductor.offloadLocally(i.id);
        return true;
      default:
        return false;
    }
  }
}
