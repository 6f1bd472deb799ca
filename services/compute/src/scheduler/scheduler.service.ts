import { Inject, Injectable } from '@nestjs/common';
import { KUMO_CONFIG, MetricsService } from '@kumo/service-kit';
import { Histogram } from 'prom-client';
import type { ComputeConfig } from '../config.js';
import { Db, type Sql } from '../db/db.js';
import type { InstanceRow } from '../servers/instance.model.js';
import { InstancesRepository } from '../servers/instances.repository.js';
import { hostAggregateMetadataSql, hostNumaClaimsSql, hostZoneSql } from '../aggregates/host-zone.js';
import { fitNuma, numaRequestOf } from './filters/numa-topology.filter.js';
import { hostStateOf, type HostState, type NumaCellClaim, type RequestSpec } from './host-state.js';
import { CAPACITY_FILTERS, rankHosts } from './pipeline.js';

export class NoValidHost extends Error {
  constructor(reason: string) {
    super(`No valid host was found. ${reason}`);
  }
}

/**
 * Picks a host and claims the instance's resources on it. The ranking reads hosts without locks;
 * the claim then locks the chosen host's row (`SELECT … FOR UPDATE`), re-checks capacity on the
 * fresh row and books the resources in the same transaction, so concurrent boots can never
 * overcommit a host. A host that no longer fits is skipped for the next best.
 */
@Injectable()
export class SchedulerService {
  /** Time from "schedule this instance" to a committed claim (or No valid host), on /metrics. */
  private readonly decisions: Histogram<'outcome'>;

  constructor(
    private readonly db: Db,
    private readonly instances: InstancesRepository,
    @Inject(KUMO_CONFIG) private readonly config: ComputeConfig,
    metrics: MetricsService,
  ) {
    this.decisions = new Histogram({
      name: 'kumo_compute_schedule_seconds',
      help: 'Scheduler decision time (ranking + claim transaction), by outcome',
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [metrics.registry],
    });
  }

  async hosts(sql: Sql = this.db): Promise<HostState[]> {
    const rows = await sql.rows(
      `SELECT n.*, ${hostZoneSql(this.db)} AS effective_az, ${hostAggregateMetadataSql(this.db)} AS aggregate_metadata, ${hostNumaClaimsSql(this.db)} AS numa_claims
         FROM ${this.db.t('compute_node')} n`,
    );
    return rows.map((r) => hostStateOf(r, this.config.KUMO_COMPUTE_HOST_DOWN_S));
  }

  /**
   * Locks a host's row (`SELECT … FOR UPDATE`) and reads its state for the claim. The zone,
   * aggregates and NUMA claims are read by a second statement *after* the lock: a subquery of the
   * locking statement would see the snapshot taken before it waited, and so miss the pinned CPUs
   * of a claim committed meanwhile. Every claim on a host is made under this lock, so what the
   * second statement sees is final until the caller commits.
   */
  private async lockHost(tx: Sql, host: string): Promise<HostState | undefined> {
    const [locked] = await tx.rows(`SELECT host FROM ${this.db.t('compute_node')} WHERE host = $1 FOR UPDATE`, [host]);
    if (!locked) return undefined;
    const [row] = await tx.rows(
      `SELECT n.*, ${hostZoneSql(this.db)} AS effective_az, ${hostAggregateMetadataSql(this.db)} AS aggregate_metadata, ${hostNumaClaimsSql(this.db)} AS numa_claims
         FROM ${this.db.t('compute_node')} n WHERE n.host = $1`,
      [host],
    );
    return row ? hostStateOf(row, this.config.KUMO_COMPUTE_HOST_DOWN_S) : undefined;
  }

  private async groupOf(sql: Sql, i: InstanceRow, lock: boolean): Promise<RequestSpec['group']> {
    if (!i.server_group_id) return null;
    const [g] = await sql.rows<{ policy: string }>(`SELECT policy FROM ${this.db.t('server_group')} WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [i.server_group_id]);
    if (!g) return null;
    const members = await sql.rows<{ host: string }>(
      `SELECT host FROM ${this.db.t('instance')} WHERE server_group_id = $1 AND id <> $2 AND vm_state <> 'deleted' AND host IS NOT NULL`,
      [i.server_group_id, i.id],
    );
    return { policy: g.policy, hosts: members.map((m) => m.host) };
  }

  specOf(i: InstanceRow, flavor = i.flavor): Omit<RequestSpec, 'group'> {
    let az = i.requested_az;
    let forcedHost: string | null = null;
    if (az && az.includes(':')) {
      const [zone, host] = az.split(':', 2);
      az = zone || null;
      forcedHost = host || null;
    }
    const extraSpecs = flavor.extra_specs ?? {};
    return {
      vcpus: flavor.vcpus,
      memoryMb: flavor.ram,
      diskGb: flavor.disk,
      availabilityZone: az,
      forcedHost,
      imageProperties: i.image_meta?.properties ?? {},
      excludedHosts: i.tried_hosts ?? [],
      extraSpecs,
      numa: numaRequestOf(extraSpecs, flavor.vcpus, flavor.ram),
    };
  }

  /** Claims resources for a new instance; sets host/AZ on the row. Returns the host. */
  async schedule(instanceId: string): Promise<string> {
    const stop = this.decisions.startTimer();
    try {
      const host = await this.place(instanceId);
      stop({ outcome: 'placed' });
      return host;
    } catch (err) {
      stop({ outcome: err instanceof NoValidHost ? 'no_valid_host' : 'error' });
      throw err;
    }
  }

  private async place(instanceId: string): Promise<string> {
    const i = await this.instances.get(instanceId);
    if (!i) throw new NoValidHost('The instance is gone.');
    const spec: RequestSpec = { ...this.specOf(i), group: await this.groupOf(this.db, i, false) };
    const ranked = rankHosts(await this.hosts(), spec);
    // host_subset_size: a random one of the best few first, the rest in rank order.
    const k = Math.min(this.config.KUMO_COMPUTE_HOST_SUBSET_SIZE, ranked.length);
    if (k > 1) {
      const j = Math.floor(Math.random() * k);
      if (j > 0) [ranked[0], ranked[j]] = [ranked[j]!, ranked[0]!];
    }
    for (const candidate of ranked) {
      const ok = await this.db.transaction(async (tx) => {
        const group = await this.groupOf(tx, i, true);
        const fresh = await this.lockHost(tx, candidate.host);
        if (!fresh) return false;
        const s = { ...spec, group };
        if (!CAPACITY_FILTERS.every((f) => f.passes(fresh, s)) || rankHosts([fresh], s).length === 0) return false;
        const current = await this.instances.lock(tx, instanceId);
        // An offloaded server being unshelved is placed like a new one (its task stays `unshelving`).
        const unshelving = current?.vm_state === 'shelved_offloaded' && current.task_state === 'unshelving';
        if (!current || (current.vm_state !== 'building' && !unshelving) || current.host) return true; // deleted meanwhile, or already placed
        await this.book(tx, instanceId, 'instance', fresh, s);
        await this.instances.update(tx, current, { host: fresh.host, availability_zone: fresh.availabilityZone, task_state: unshelving ? 'unshelving' : 'spawning', task_updated_at: new Date() });
        return true;
      });
      if (ok) return candidate.host;
    }
    throw new NoValidHost(ranked.length ? 'There are not enough hosts available (capacity taken by concurrent requests).' : 'There are not enough hosts available.');
  }

  /** Books a resize claim of `flavor` on the instance's own host (resize in place). */
  async claimResize(tx: Sql, i: InstanceRow, flavor: InstanceRow['flavor']): Promise<boolean> {
    const fresh = await this.lockHost(tx, i.host!);
    if (!fresh) return false;
    const spec: RequestSpec = { ...this.specOf(i, flavor), excludedHosts: [], group: null };
    if (!CAPACITY_FILTERS.every((f) => f.passes(fresh, spec))) return false;
    await this.book(tx, i.id, 'resize', fresh, spec);
    return true;
  }

  /**
   * Claims `flavor` for a move of `i` to another host (cold migration, resize that does not fit
   * in place, live migration): hosts are ranked without locks (the instance's own host excluded,
   * its server group honoured), then the best one is locked `FOR UPDATE`, re-checked and booked
   * as claim `kind`, in the caller's transaction. `host` restricts the choice to one host;
   * `force` skips the filters for it (Nova's force=True) but never the capacity re-check, so no
   * host ends over capacity. Returns the host, or a NoValidHost saying why.
   */
  async claimMove(tx: Sql, i: InstanceRow, flavor: InstanceRow['flavor'], kind: 'resize' | 'migration', opts: { host?: string; force?: boolean } = {}): Promise<string> {
    const spec: RequestSpec = { ...this.specOf(i, flavor), forcedHost: null, excludedHosts: [i.host ?? ''], group: await this.groupOf(tx, i, false) };
    // An instance booted into a zone stays in it; a named target host may be in any zone (Nova).
    if (opts.host) spec.availabilityZone = null;
    let hosts = await this.hosts(tx);
    if (opts.host) {
      hosts = hosts.filter((h) => h.host === opts.host);
      if (!hosts.length) throw new NoValidHost(`Compute host ${opts.host} could not be found.`);
    }
    const ranked = opts.force ? hosts.filter((h) => h.host !== i.host && h.up && h.enabled) : rankHosts(hosts, spec);
    for (const candidate of ranked) {
      const fresh = await this.lockHost(tx, candidate.host);
      if (!fresh) continue;
      if (!CAPACITY_FILTERS.every((f) => f.passes(fresh, spec))) continue;
      await this.book(tx, i.id, kind, fresh, spec);
      return fresh.host;
    }
    throw new NoValidHost(opts.host ? `Host ${opts.host} cannot take instance ${i.id} (down, disabled, the same host, or not enough capacity).` : 'There are not enough hosts available.');
  }

  /** The availability zone of a host (a moved instance takes its new host's zone). */
  async zoneOf(sql: Sql, host: string): Promise<string> {
    const [r] = await sql.rows<{ availability_zone: string }>(`SELECT ${hostZoneSql(this.db)} AS availability_zone FROM ${this.db.t('compute_node')} n WHERE n.host = $1`, [host]);
    return r?.availability_zone ?? 'nova';
  }

  /**
   * Books `spec` on the locked host `fresh` as claim `kind`. A NUMA guest's placement (and a pinned
   * guest's host CPUs) is computed here, on the state read under the lock, and stored in the
   * claim row: releasing the claim frees them. Pinned vCPUs come from the dedicated set, so they
   * are not booked in the shared `vcpus_used`.
   */
  private async book(tx: Sql, instanceId: string, kind: string, fresh: HostState, spec: RequestSpec): Promise<void> {
    let numa: NumaCellClaim[] | null = null;
    if (spec.numa) {
      numa = fitNuma(fresh, spec.numa);
      if (!numa) throw new Error(`NUMA fit of ${instanceId} on ${fresh.host} vanished under the lock`); // the caller re-checked it: a bug
    }
    const vcpus = spec.numa?.dedicated ? 0 : spec.vcpus;
    const n = await tx.exec(
      `INSERT INTO ${this.db.t('claim')} (instance_id, kind, host, vcpus, memory_mb, disk_gb, numa) VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING`,
      [instanceId, kind, fresh.host, vcpus, spec.memoryMb, spec.diskGb, numa ? JSON.stringify(numa) : null],
    );
    if (!n) return;
    await tx.exec(
      `UPDATE ${this.db.t('compute_node')} SET vcpus_used = vcpus_used + $2, memory_mb_used = memory_mb_used + $3, local_gb_used = local_gb_used + $4, running_vms = running_vms + $5 WHERE host = $1`,
      [fresh.host, vcpus, spec.memoryMb, spec.diskGb, kind === 'instance' ? 1 : 0],
    );
  }

  /** The NUMA placement of the instance's claim on `host` (the newest booking: a resize's over the old flavor's). */
  async numaOf(sql: Sql, instanceId: string, host: string): Promise<NumaCellClaim[] | null> {
    const rows = await sql.rows<{ numa: NumaCellClaim[] | null; kind: string }>(`SELECT kind, numa FROM ${this.db.t('claim')} WHERE instance_id = $1 AND host = $2`, [instanceId, host]);
    const order = ['resize', 'migration', 'instance', 'source'];
    rows.sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
    return rows[0]?.numa ?? null;
  }
}
