import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { KUMO_CONFIG } from '@kumo/service-kit';
import type { ComputeConfig } from '../config.js';
import { Db } from '../db/db.js';
import { type PortRecord, portRecordOf } from '../servers/instance.model.js';
import { isUuid } from '../servers/instances.repository.js';
import { NETWORK_CLIENT, type NetworkClient } from './peers.js';

/** What a network event points at; the refresher works out which instances that touches. */
export interface NetworkTouch {
  /** `device_id`s of compute-owned ports (the servers they belong to now). */
  deviceIds?: string[];
  /** Ports: instances that list one of them (it may have been detached or deleted since). */
  portIds?: string[];
  /** Floating IP addresses: instances that list one (disassociated, moved or deleted since). */
  floatingIps?: string[];
}

/** A refresh that was requested but not done for this long is picked up again by the sweep. */
const SWEEP_AFTER_S = 5;
const CONCURRENCY = 4;

/** Port records in a fixed key order, so two lists compare as strings (jsonb reorders keys). */
function canonical(ports: PortRecord[]): string {
  return JSON.stringify(
    (ports ?? []).map((p) => [p.id, p.networkId, p.networkName, p.macAddress, p.mtu, (p.fixedIps ?? []).map((f) => [f.ipAddress, f.ipVersion]), [...(p.floatingIps ?? [])].sort()]),
  );
}

/**
 * Keeps each instance's `ports` (and so the server's `addresses`) equal to what the network
 * service says, in the reconcile style of the agent's syncer: events only mark instances as
 * needing a refresh (durably, in `network_refresh_at`) and queue their ids; a worker re-reads the
 * ports with `list_server_ports` and writes them if they differ. A refresh is level-triggered,
 * so duplicate, reordered or coalesced events are harmless, and a mark left behind by a crash or
 * a failed RPC is redone by the periodic sweep. (Nova does the same with Neutron's
 * network-changed events and its instance info cache.)
 */
@Injectable()
export class PortsRefresher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('ports-refresher');
  private readonly dirty = new Set<string>();
  private readonly busy = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<number>;
  private closed = false;

  constructor(
    private readonly db: Db,
    @Inject(NETWORK_CLIENT) private readonly network: NetworkClient,
    @Inject(KUMO_CONFIG) private readonly config: ComputeConfig,
  ) {}

  onApplicationBootstrap() {
    this.timer = setInterval(() => {
      if (!this.sweeping) this.sweeping = this.sweep().finally(() => (this.sweeping = undefined));
    }, this.config.KUMO_COMPUTE_RECONCILE_S * 1000);
    this.timer.unref();
  }

  async onApplicationShutdown() {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([this.sweeping, ...this.running]);
  }

  /**
   * Marks the instances a network change touches (not deleted ones) and queues their refresh.
   * Returns their ids. The mark is committed before the event is acked, so it is never lost.
   */
  async touch(t: NetworkTouch): Promise<string[]> {
    const params: unknown[] = [];
    const terms: string[] = [];
    const devices = [...new Set((t.deviceIds ?? []).filter(isUuid))];
    if (devices.length) terms.push(`id = ANY($${params.push(devices)}::uuid[])`);
    // One containment test per port / address: each can use the GIN index on `ports`.
    for (const id of new Set(t.portIds ?? [])) terms.push(`ports @> $${params.push(JSON.stringify([{ id }]))}::jsonb`);
    for (const ip of new Set(t.floatingIps ?? [])) terms.push(`ports @> $${params.push(JSON.stringify([{ floatingIps: [ip] }]))}::jsonb`);
    if (!terms.length) return [];
    const rows = await this.db.rows<{ id: string }>(
      `UPDATE ${this.db.t('instance')} SET network_refresh_at = COALESCE(network_refresh_at, now()), network_refresh_seq = network_refresh_seq + 1
        WHERE vm_state <> 'deleted' AND (${terms.join(' OR ')}) RETURNING id`,
      params,
    );
    const ids = rows.map((r) => r.id);
    this.enqueue(ids);
    return ids;
  }

  enqueue(ids: string[]): void {
    for (const id of ids) this.dirty.add(id);
    this.pump();
  }

  /** Queues marked instances whose refresh did not happen (process restart, network service down). */
  async sweep(): Promise<number> {
    try {
      const rows = await this.db.rows<{ id: string }>(
        `SELECT id FROM ${this.db.t('instance')} WHERE network_refresh_at < now() - make_interval(secs => $1) ORDER BY network_refresh_at LIMIT 200`,
        [SWEEP_AFTER_S],
      );
      this.enqueue(rows.map((r) => r.id));
      return rows.length;
    } catch (err) {
      this.log.warn(`sweep of pending port refreshes failed: ${(err as Error).message}`);
      return 0;
    }
  }

  /** Resolves when nothing is queued or running (tests). */
  async idle(): Promise<void> {
    while (this.dirty.size || this.running.size) await Promise.allSettled([...this.running, new Promise((r) => setTimeout(r, 10))]);
  }

  private pump(): void {
    if (this.closed) return;
    for (const id of this.dirty) {
      if (this.running.size >= CONCURRENCY) return;
      if (this.busy.has(id)) continue; // a request that arrives during a refresh runs once it ends
      this.dirty.delete(id);
      this.busy.add(id);
      const p: Promise<void> = this.refresh(id)
        .then(() => undefined)
        .catch((err: unknown) => this.log.warn(`refresh of the ports of ${id} failed (the sweep retries): ${(err as Error).message}`))
        .finally(() => {
          this.busy.delete(id);
          this.running.delete(p);
          this.pump();
        });
      this.running.add(p);
    }
  }

  /**
   * One refresh: read the mark and the ports, ask the network service, write. Returns what it did.
   * Optimistic: if `ports` changed while the RPC ran (the conductor wrote a boot's allocation),
   * the answer may be older than that write, so the refresh is simply run again.
   */
  async refresh(id: string): Promise<'gone' | 'unchanged' | 'updated' | 'raced'> {
    const t = this.db.t('instance');
    const [before] = await this.db.rows<{ vm_state: string; ports: PortRecord[]; network_refresh_seq: string }>(`SELECT vm_state, ports, network_refresh_seq FROM ${t} WHERE id = $1`, [id]);
    if (!before) return 'gone';
    if (before.vm_state === 'deleted') {
      await this.db.exec(`UPDATE ${t} SET network_refresh_at = NULL WHERE id = $1`, [id]);
      return 'gone';
    }
    // A failure here leaves the mark set: the sweep asks again later.
    const fresh = (await this.network.listPorts(id)).map(portRecordOf);
    const outcome = await this.db.transaction(async (tx) => {
      const [cur] = await tx.rows<{ vm_state: string; ports: PortRecord[] }>(`SELECT vm_state, ports FROM ${t} WHERE id = $1 FOR UPDATE`, [id]);
      if (!cur) return 'gone' as const;
      if (cur.vm_state === 'deleted') {
        await tx.exec(`UPDATE ${t} SET network_refresh_at = NULL WHERE id = $1`, [id]);
        return 'gone' as const;
      }
      if (canonical(cur.ports) !== canonical(before.ports)) return 'raced' as const;
      for (const p of fresh) {
        const tag = cur.ports.find((x) => x.id === p.id)?.tag;
        if (tag !== undefined) p.tag = tag;
      }
      const changed = canonical(cur.ports) !== canonical(fresh);
      // Clears the mark only if no newer request came in meanwhile (that one runs next).
      await tx.exec(
        `UPDATE ${t} SET ${changed ? 'ports = $3, updated_at = now(), ' : ''}network_refresh_at = CASE WHEN network_refresh_seq = $2 THEN NULL ELSE network_refresh_at END WHERE id = $1`,
        changed ? [id, before.network_refresh_seq, JSON.stringify(fresh)] : [id, before.network_refresh_seq],
      );
      return changed ? ('updated' as const) : ('unchanged' as const);
    });
    if (outcome === 'raced') this.dirty.add(id);
    return outcome;
  }
}
