import type { AgentReport, AgentSyncRequest } from '@kumo/contracts';
import { DomainNotFound, type DomainState, type HypervisorDriver } from '@kumo/hypervisor';
import path from 'node:path';
import { ConfigDriveWriter, configDriveFiles } from './config-drive.js';
import { domainSpecOf } from './domain-spec.js';

interface Applied {
  specVersion: number;
  rebootSeq: number;
}

/** Writes an instance's disk into a queued image (the agent decides how; see agent.ts). */
export type Snapshotter = (req: AgentSyncRequest) => Promise<void>;

/** The other hosts' agents, as a live migration's source needs them (RPC over AMQP in agent.ts). */
export interface MigrationPeers {
  prepareIncoming(destHost: string, spec: AgentSyncRequest['spec']): Promise<string>;
  finishIncoming(destHost: string, instanceId: string): Promise<string>;
  abortIncoming(destHost: string, instanceId: string): Promise<void>;
  domainState(destHost: string, instanceId: string): Promise<string | null>;
}

/**
 * Kubernetes-style reconcile loop of one host: a sync message only records the instance's latest
 * desired state and marks its id dirty; workers converge the hypervisor to it, one operation at a
 * time per instance, and report what they observe. Newer messages overwrite older ones (highest
 * generation wins), so redeliveries and reordering are harmless.
 */
export class HostSyncer {
  private readonly desired = new Map<string, AgentSyncRequest>();
  private readonly applied = new Map<string, Applied>();
  private readonly dirty = new Set<string>();
  private readonly busy = new Set<string>();
  /** Images already filled (a redelivered sync must not upload twice). */
  private readonly snapshots = new Set<string>();
  /** Abort/force-complete switches of the outgoing live migrations, by instance (2.22/2.24). */
  private readonly migrationControls = new Map<string, { migrationId: number; abort: AbortController; force: AbortController }>();
  private active = 0;
  private closed = false;
  /** Writes the instances' config drives (replaceable in tests). */
  configDrives = new ConfigDriveWriter();

  constructor(
    readonly host: string,
    readonly driver: HypervisorDriver,
    private readonly report: (r: AgentReport) => Promise<void>,
    private readonly instancesDir: string,
    private readonly snapshotter?: Snapshotter,
    private readonly peers?: MigrationPeers,
    private readonly concurrency = 16,
  ) {}

  enqueue(req: AgentSyncRequest): void {
    const cur = this.desired.get(req.instanceId);
    if (cur && cur.generation > req.generation) return;
    this.desired.set(req.instanceId, req);
    this.dirty.add(req.instanceId);
    this.pump();
  }

  /** Resolves when nothing is queued or running (tests). */
  async idle(): Promise<void> {
    while (this.dirty.size || this.active) await new Promise((r) => setTimeout(r, 10));
  }

  close(): void {
    this.closed = true;
  }

  private pump(): void {
    if (this.closed) return;
    for (const id of this.dirty) {
      if (this.active >= this.concurrency) return;
      if (this.busy.has(id)) continue;
      this.dirty.delete(id);
      this.busy.add(id);
      this.active++;
      void this.run(id).finally(() => {
        this.busy.delete(id);
        this.active--;
        this.pump();
      });
    }
  }

  private async run(id: string): Promise<void> {
    const d = this.desired.get(id);
    if (!d) return;
    let r: AgentReport;
    try {
      const state = d.liveMigration ? await this.migrateOut(d) : await this.converge(d);
      if (d.snapshot && !this.snapshots.has(d.snapshot.imageId)) {
        if (!this.snapshotter) throw new Error('this agent cannot take snapshots (no KUMO_AGENT_SNAPSHOT_DIR)');
        await this.snapshotter(d);
        this.snapshots.add(d.snapshot.imageId);
      }
      r = { host: this.host, instanceId: id, generation: d.generation, state };
    } catch (err) {
      const e = err as Error & { spawnFailed?: boolean };
      r = { host: this.host, instanceId: id, generation: d.generation, state: await this.stateOf(id), error: `${e.name}: ${e.message}`, spawnFailed: e.spawnFailed === true };
    }
    if (d.power === 'absent' || (d.liveMigration && !r.error)) {
      // Gone from this host (destroyed, or now run by the destination's agent).
      this.desired.delete(id);
      this.applied.delete(id);
    }
    try {
      await this.report(r);
    } catch {
      // The report is lost; the reconciler re-sends the sync and we answer again.
    }
  }

  private async stateOf(id: string): Promise<string> {
    try {
      return (await this.driver.getInfo(id)).state;
    } catch {
      return 'absent';
    }
  }

  private async info(id: string): Promise<DomainState | undefined> {
    try {
      return (await this.driver.getInfo(id)).state;
    } catch (err) {
      if (err instanceof DomainNotFound) return undefined;
      throw err;
    }
  }

  /**
   * Source side of a live migration: the destination's agent prepares an incoming domain, this
   * driver streams the running one to it, the destination finishes. Returns the destination's
   * state. A failed stream leaves the domain running here (the driver's contract) and the
   * destination's half-started copy is removed. Repeated after a lost report, a source without
   * the domain asks the destination whether it runs it.
   */
  private async migrateOut(d: AgentSyncRequest): Promise<string> {
    const id = d.instanceId;
    const dest = d.liveMigration!.destHost;
    if (!this.peers) throw new Error('this agent cannot live-migrate (no peers)');
    const state = await this.info(id);
    if (state === undefined) {
      const there = await this.peers.domainState(dest, id);
      if (there && there !== 'migrating') return there;
      throw new Error(`domain ${id} is neither on ${this.host} nor running on ${dest}`);
    }
    if (state !== 'running' && state !== 'paused') throw new Error(`domain ${id} is ${state}; only a running or paused domain migrates live`);
    // The destination pins to the CPUs its own claim holds, not to the source's.
    const destSpec = d.liveMigration!.destNuma !== undefined ? { ...d.spec, numa: d.liveMigration!.destNuma } : d.spec;
    const control = this.controlOf(id, d.liveMigration!.migrationId);
    try {
      const uri = await this.peers.prepareIncoming(dest, destSpec);
      try {
        await this.driver.migrateOut(id, uri, { timeoutMs: 600_000, signal: control.abort.signal, forceComplete: control.force.signal });
      } catch (err) {
        await this.peers.abortIncoming(dest, id).catch(() => undefined);
        if (control.abort.signal.aborted) throw Object.assign(new Error(`live migration ${d.liveMigration!.migrationId} aborted on request; the domain keeps running on ${this.host}`), { name: 'MigrationCancelled' });
        throw err;
      }
      // Forced: the destination starts paused; the sync that follows the report resumes it.
      return await this.peers.finishIncoming(dest, id);
    } finally {
      this.migrationControls.delete(id);
    }
  }

  private controlOf(id: string, migrationId: number) {
    let c = this.migrationControls.get(id);
    if (!c || c.migrationId !== migrationId) {
      c = { migrationId, abort: new AbortController(), force: new AbortController() };
      this.migrationControls.set(id, c);
    }
    return c;
  }

  /**
   * Force-complete or abort the outgoing live migration `migrationId` if it is this host's to do
   * (its sync arrived and has not ended); a request that comes before the stream starts takes
   * effect when it does. False when it is not under way here.
   */
  controlMigration(id: string, migrationId: number, op: 'force_complete' | 'abort'): boolean {
    if (this.desired.get(id)?.liveMigration?.migrationId !== migrationId) return false;
    const c = this.controlOf(id, migrationId);
    (op === 'abort' ? c.abort : c.force).abort();
    return true;
  }

  /** Destination side: a domain waiting for the stream (a leftover of an earlier try is replaced). */
  async prepareIncoming(spec: AgentSyncRequest['spec']): Promise<string> {
    const state = await this.info(spec.instanceId);
    if (state === 'migrating') await this.driver.destroy(spec.instanceId);
    else if (state !== undefined) throw new Error(`domain ${spec.instanceId} already exists on ${this.host} (${state})`);
    await this.writeConfigDrive(spec);
    return (await this.driver.prepareIncomingMigration(domainSpecOf(spec, this.instancesDir))).uri;
  }

  async finishIncoming(id: string): Promise<string> {
    return (await this.driver.finishIncomingMigration(id, { timeoutMs: 600_000 })).state;
  }

  async abortIncoming(id: string): Promise<void> {
    if ((await this.info(id)) === 'migrating') await this.driver.destroy(id);
  }

  async domainState(id: string): Promise<string | null> {
    return (await this.info(id)) ?? null;
  }

  /**
   * Every spawn writes the drive afresh (Nova builds it at spawn): a rebuild, evacuation or
   * unshelve gets the server's current metadata, keys and ports; a spec without one removes it.
   */
  private async writeConfigDrive(spec: AgentSyncRequest['spec']): Promise<void> {
    const dir = path.join(this.instancesDir, spec.instanceId);
    if (spec.configDrive) await this.configDrives.write(dir, configDriveFiles(spec));
    else await this.configDrives.remove(dir);
  }

  private async converge(d: AgentSyncRequest): Promise<string> {
    const id = d.instanceId;
    let state = await this.info(id);
    if (d.power === 'absent') {
      if (state !== undefined) await this.driver.destroy(id);
      await this.configDrives.remove(path.join(this.instancesDir, id));
      return 'absent';
    }
    let applied = this.applied.get(id);
    if (state !== undefined && !applied) {
      // Restarted agent meeting a domain it already runs: adopt it as it is.
      applied = { specVersion: d.specVersion, rebootSeq: d.rebootSeq };
      this.applied.set(id, applied);
    }
    if (state !== undefined && applied && d.specVersion > applied.specVersion) {
      // Resize / revert / rebuild: re-create the domain from the new definition.
      await this.driver.destroy(id);
      state = undefined;
    }
    if (state === undefined) {
      try {
        await this.writeConfigDrive(d.spec);
        await this.driver.spawn(domainSpecOf(d.spec, this.instancesDir));
      } catch (err) {
        (err as { spawnFailed?: boolean }).spawnFailed = true;
        throw err;
      }
      applied = { specVersion: d.specVersion, rebootSeq: d.rebootSeq };
      this.applied.set(id, applied);
      state = 'running';
    }
    if (applied && d.rebootSeq > applied.rebootSeq) {
      if (state === 'paused') await this.driver.resume(id);
      if (state === 'suspended') await this.driver.restore(id);
      if (state === 'shutoff' || state === 'crashed') await this.driver.start(id);
      else await this.driver.reboot(id, { hard: d.rebootHard === true });
      applied.rebootSeq = d.rebootSeq;
    }
    for (let step = 0; step < 4; step++) {
      state = (await this.info(id))!;
      if (state === d.power) return state;
      switch (state) {
        case 'running':
          if (d.power === 'paused') await this.driver.pause(id);
          else if (d.power === 'suspended') await this.driver.suspend(id);
          else if (d.power === 'shutoff') await this.driver.shutdown(id, { timeoutMs: 60000 });
          break;
        case 'paused':
          if (d.power === 'running') await this.driver.resume(id);
          else if (d.power === 'suspended') await this.driver.suspend(id);
          else await this.driver.shutdown(id, { timeoutMs: 60000 });
          break;
        case 'suspended':
          await this.driver.restore(id);
          break;
        case 'shutoff':
        case 'crashed':
          await this.driver.start(id);
          break;
        default:
          throw new Error(`domain ${id} is ${state}; cannot converge to ${d.power}`);
      }
    }
    state = (await this.info(id))!;
    if (state !== d.power) throw new Error(`domain ${id} is ${state} after converging to ${d.power}`);
    return state;
  }
}
