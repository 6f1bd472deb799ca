import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { type AgentReport, type AgentSyncRequest, agentQueue, type ComputeAgentMethods, type ConfigDriveData, type HostReport, type InstanceSpec, type InstanceVolume, RpcError } from '@kumo/contracts';
import { AmqpRpcTransport, KUMO_CONFIG } from '@kumo/service-kit';
import type { ComputeConfig } from '../config.js';
import { Db, type Sql } from '../db/db.js';
import { EventRelay } from '../events/event-relay.js';
import type { NumaCellClaim } from '../scheduler/host-state.js';
import { NoValidHost, SchedulerService } from '../scheduler/scheduler.service.js';
import { type ImageMeta, type InstanceRow, type PortRecord, portRecordOf, type VolumeAttachmentEntry } from '../servers/instance.model.js';
import { InstancesRepository } from '../servers/instances.repository.js';
import { POWER, powerStateOf, restingPower } from '../servers/state-machine.js';
import { IMAGE_CLIENT, type ImageClient, NETWORK_CLIENT, type NetworkClient, VOLUME_CLIENT, type VolumeClient } from './peers.js';

function nowZ(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Orchestrates every task across scheduler, network, image and the node agents (Nova's
 * conductor): the API only records intent (vm_state/task_state + generation) and calls in here.
 * Agents receive the desired state of an instance (`compute_agent.sync`) and report what they
 * observe; a report ends the task it answers (same generation) and nothing else.
 */
@Injectable()
export class ConductorService implements OnApplicationShutdown {
  private readonly log = new Logger('conductor');
  /** Builds running in this process (a graceful stop waits for them; the reconciler redoes lost ones). */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly db: Db,
    private readonly instances: InstancesRepository,
    private readonly scheduler: SchedulerService,
    private readonly transport: AmqpRpcTransport,
    private readonly relay: EventRelay,
    @Inject(NETWORK_CLIENT) private readonly network: NetworkClient,
    @Inject(IMAGE_CLIENT) private readonly image: ImageClient,
    @Inject(KUMO_CONFIG) private readonly config: ComputeConfig,
    @Inject(VOLUME_CLIENT) private readonly volume: VolumeClient,
  ) {}

  /** Runs `fn` in a transaction, then publishes the events it queued. */
  private async tx<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    const r = await this.db.transaction(fn);
    this.relay.kick();
    return r;
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  /** Starts the boot pipeline in the background; never rejects. */
  startBuild(instanceId: string, requestId?: string): void {
    const p = this.build(instanceId, requestId).catch((err: unknown) => this.log.error(`build of ${instanceId} stopped: ${(err as Error).message} (the reconciler retries)`));
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Boot pipeline of one instance: every failure ends in ERROR with a fault. */
  async build(instanceId: string, requestId?: string): Promise<void> {
    try {
      await this.scheduler.schedule(instanceId);
    } catch (err) {
      await this.fail(instanceId, err instanceof NoValidHost ? err.message : `Build failed while scheduling: ${(err as Error).message}`, requestId);
      if (!(err instanceof NoValidHost)) this.log.error(`scheduling ${instanceId}: ${(err as Error).stack}`);
      return;
    }
    let i = await this.instances.get(instanceId);
    if (!i || i.vm_state !== 'building') return;
    try {
      let ports: PortRecord[] = i.ports ?? [];
      if (i.requested_networks !== 'none' && ports.length === 0) {
        const optional = i.requested_networks === 'default';
        const allocated = await this.network
          .allocate(
            { projectId: i.project_id, serverId: i.id, networks: optional ? 'auto' : (i.requested_networks as 'auto'), securityGroups: i.security_groups, host: i.host ?? undefined },
            requestId,
          )
          .catch((err: unknown) => {
            // No usable network (or a network service without port allocation): boot without a NIC, as Nova does below 2.37.
            if (optional && err instanceof RpcError && ['not_found', 'conflict', 'bad_request', 'unknown_method'].includes(err.code)) return [];
            throw err;
          });
        ports = allocated.map(portRecordOf);
      }
      // Boot from volume and volumes at boot: made (from an image) and attached on the chosen host before the spawn.
      const volumes = (i.volumes ?? []).some((v) => v.status === 'attaching') ? await this.prepareVolumes(i, requestId) : (i.volumes ?? []);
      let imageMeta = i.image_meta;
      if (i.image_ref) {
        const loc = await this.image.location(i.image_ref, i.project_id, false);
        imageMeta = { id: loc.image.id, path: loc.path, url: loc.url, checksum: loc.image.checksum, properties: loc.image.properties ?? {}, diskFormat: loc.image.diskFormat, containerFormat: loc.image.containerFormat };
      }
      let deletedMeanwhile: InstanceRow | undefined;
      i = await this.tx(async (tx) => {
        const cur = await this.instances.lock(tx, instanceId);
        if (cur && (cur.vm_state === 'deleted' || cur.task_state === 'deleting')) deletedMeanwhile = cur;
        if (!cur || cur.vm_state !== 'building' || cur.task_state === 'deleting') return undefined;
        return this.instances.update(tx, cur, { ports, volumes, image_meta: imageMeta, task_updated_at: new Date() }, requestId);
      });
      // Deleted while its ports and volumes were being made: the delete may have released
      // before our allocation committed, so give back what this build made (idempotent).
      if (deletedMeanwhile) await this.deallocate({ ...deletedMeanwhile, ports, volumes });
      if (i) await this.sync(i, requestId);
    } catch (err) {
      const msg = err instanceof RpcError ? `${err.service ?? 'peer'}: ${err.message}` : (err as Error).message;
      await this.fail(instanceId, `Build of instance ${instanceId} aborted: ${msg}`, requestId);
    }
  }

  /**
   * The server's pending volumes, attached for its host: a volume to be made from an image is
   * created (idempotent by its recorded id, so a re-run build finds it), every one reserved and
   * attached (idempotent too). A failure fails the build; whatever was reserved or attached is
   * given back when the server is deleted (deallocate).
   */
  private async prepareVolumes(i: InstanceRow, requestId?: string): Promise<VolumeAttachmentEntry[]> {
    const out: VolumeAttachmentEntry[] = [];
    for (const v of i.volumes ?? []) {
      if (v.status !== 'attaching') {
        out.push(v);
        continue;
      }
      if (v.create) await this.volume.createFromImage({ id: v.volumeId, projectId: i.project_id, size: v.create.size, imageId: v.create.imageId, name: `${i.name}-boot` }, requestId);
      await this.volume.reserve(v.volumeId, i.project_id, i.id, false, requestId);
      const { attachment, connection } = await this.volume.attach(v.volumeId, i.project_id, i.id, i.host!, v.device, false, requestId);
      const { create: _made, ...rest } = v;
      out.push({ ...rest, status: 'attached', attachmentId: attachment.id, path: connection.path, format: connection.format });
    }
    return out;
  }

  /** ERROR with a fault; claims released (the instance keeps its ports until it is deleted). */
  async fail(instanceId: string, message: string, requestId?: string, code = 500): Promise<void> {
    await this.tx(async (tx) => {
      const i = await this.instances.lock(tx, instanceId);
      if (!i || i.vm_state === 'deleted') return;
      await this.instances.releaseAllClaims(tx, i.id);
      // A build that failed on other hosts first says why (Nova: "Exceeded maximum number of retries").
      const full = i.vm_state === 'building' && i.fault ? `${message} Last build error: ${i.fault.message}` : message;
      await this.instances.setMigration(tx, i.migration_id, 'error', full);
      // A rescue that never finished leaves no rescue disk behind (a later hard reboot boots the root disk).
      const unrescued = i.task_state === 'rescuing' ? { rescue_image: null, spec_version: i.spec_version + 1 } : {};
      await this.instances.update(tx, i, { vm_state: 'error', task_state: null, task_host: null, migration_id: null, fault: { code, message: full, created: nowZ() }, ...unrescued }, requestId);
      await this.instances.finishAction(tx, i.id, false, full);
    });
  }

  /** `numa`: the placement of the instance's claim on the host the spec is for (scheduler.numaOf). */
  specOf(i: InstanceRow, numa?: NumaCellClaim[] | null): InstanceSpec {
    let vcpu = 0;
    return {
      instanceId: i.id,
      name: i.name,
      vcpus: i.flavor.vcpus,
      memoryMb: i.flavor.ram,
      diskGb: i.flavor.disk,
      extraSpecs: i.flavor.extra_specs ?? {},
      // Unshelving spawns from the shelve snapshot; the server keeps its base image otherwise.
      image: imageOf(i.task_state === 'unshelving' && i.shelved_image ? i.shelved_image : i.image_meta),
      userData: i.user_data,
      keyData: i.key_data,
      ports: (i.ports ?? []).map((p) => ({ id: p.id, macAddress: p.macAddress, networkId: p.networkId, mtu: p.mtu })),
      // Only volumes both services agreed on: one being attached or detached is the request's business (and the reconciler's).
      volumes: (i.volumes ?? [])
        .filter((v) => v.status === 'attached' && v.path && v.format)
        .map((v) => ({ volumeId: v.volumeId, device: v.device, path: v.path!, format: v.format!, ...(v.bootIndex === 0 ? { boot: true } : {}) })),
      ...(i.rescue_image ? { rescue: { image: imageOf(i.rescue_image)! } } : {}),
      ...(i.config_drive === 'True' ? { configDrive: configDriveOf(i) } : {}),
      // Guest node k holds the next `vcpus` vCPU indices, in order (as Nova's even split).
      ...(numa?.length ? { numa: numa.map((c) => ({ hostCell: c.cell, memoryMb: c.memoryMb, vcpus: Array.from({ length: c.vcpus }, () => vcpu++), cpus: c.cpus })) } : {}),
    };
  }

  /**
   * A move that cannot start (2.34 live migration whose checks failed after the 202): the task
   * ends, the instance stays as it was, the migration and the instance action say why.
   */
  async endMoveFailed(instanceId: string, message: string, requestId?: string): Promise<void> {
    await this.tx(async (tx) => {
      const i = await this.instances.lock(tx, instanceId);
      if (!i || !i.task_state || i.task_state === 'deleting') return;
      await this.instances.releaseClaim(tx, i.id, 'migration');
      await this.instances.setMigration(tx, i.migration_id, 'error', message);
      await this.instances.update(tx, i, { task_state: null, task_host: null, migration_id: null, desired_power: restingPower(i.vm_state) }, requestId);
      await this.instances.finishAction(tx, i.id, false, message);
    });
  }

  /** Sends the instance's desired state to the agent that must act now (idempotent; re-sent by the reconciler). */
  async sync(i: InstanceRow, requestId?: string): Promise<void> {
    // A move's step may be for the other host (the source powering off or cleaning up).
    const host = i.task_host ?? i.host;
    if (!host) return;
    let liveMigration: AgentSyncRequest['liveMigration'];
    if (i.task_state === 'migrating') {
      const m = await this.instances.migration(this.db, i.migration_id);
      // No destination: the 2.34 checks failed and endMoveFailed ends the task; nothing to send.
      if (!m?.dest_compute || m.status === 'error') return;
      const destNuma = await this.scheduler.numaOf(this.db, i.id, m.dest_compute);
      liveMigration = { destHost: m.dest_compute, migrationId: m.id, ...(destNuma ? { destNuma: this.specOf(i, destNuma).numa } : {}) };
    }
    const req: AgentSyncRequest = {
      host,
      instanceId: i.id,
      generation: i.generation,
      power: i.desired_power as AgentSyncRequest['power'],
      specVersion: i.spec_version,
      rebootSeq: i.reboot_seq,
      rebootHard: i.reboot_hard,
      spec: this.specOf(i, await this.scheduler.numaOf(this.db, i.id, host)),
      ...((i.task_state === 'image_snapshot' || i.task_state === 'image_backup' || i.task_state === 'shelving') && i.snapshot_image_id ? { snapshot: { imageId: i.snapshot_image_id } } : {}),
      ...(liveMigration ? { liveMigration } : {}),
    };
    try {
      await this.transport.cast(agentQueue('compute', host), 'compute_agent.sync', req, { requestId });
    } catch (err) {
      this.log.warn(`sync of ${i.id} to ${host} not sent (the reconciler retries): ${(err as Error).message}`);
    }
  }

  /** Best effort: the agent of `host` destroys its copy of a domain the instance left behind. */
  private async castAbsent(i: InstanceRow, host: string): Promise<void> {
    const req: AgentSyncRequest = { host, instanceId: i.id, generation: i.generation + 1000000, power: 'absent', specVersion: i.spec_version, rebootSeq: i.reboot_seq, spec: this.specOf(i) };
    await this.transport.cast(agentQueue('compute', host), 'compute_agent.sync', req).catch((err: unknown) => this.log.warn(`cleanup of ${i.id} on ${host} not sent: ${(err as Error).message}`));
  }

  /**
   * One step of a move answered by an agent (no error). Returns the patch that ends or advances
   * the task, or undefined when the step is not a move's (the caller's generic handling applies).
   * `resync` is set when the next step is for an agent.
   */
  private async moveStep(tx: Sql, i: InstanceRow, r: AgentReport, out: { resync?: boolean; cleanup?: string }): Promise<Record<string, unknown> | undefined> {
    const m = await this.instances.migration(tx, i.migration_id);
    if (!m) return undefined;
    const cross = m.source_compute !== m.dest_compute;
    const base = { task_updated_at: new Date(), power_state: powerStateOf(r.state), fault: null };
    switch (i.task_state) {
      case 'resize_migrating':
        if (!cross) {
          await this.instances.setMigration(tx, m.id, 'finished');
          return undefined;
        }
        // The source powered the domain off: the destination creates it with the new flavor.
        await this.instances.setMigration(tx, m.id, 'post-migrating');
        out.resync = true;
        return {
          ...base,
          host: m.dest_compute,
          availability_zone: await this.scheduler.zoneOf(tx, m.dest_compute!),
          task_host: null,
          task_state: 'resize_finish',
          generation: i.generation + 1,
          spec_version: i.spec_version + 1,
          desired_power: restingPower(i.vm_state),
        };
      case 'resize_finish':
        await this.instances.setMigration(tx, m.id, 'finished');
        return { ...base, task_state: null, vm_state: 'resized' };
      case 'resize_confirming':
        // The source's copy is gone: its claim goes back to the host.
        await this.instances.releaseClaim(tx, i.id, 'source');
        await this.instances.setMigration(tx, m.id, 'confirmed');
        return { ...base, task_state: null, task_host: null, migration_id: null, vm_state: i.target_vm_state ?? 'active', desired_power: restingPower(i.target_vm_state ?? 'active') };
      case 'resize_reverting': {
        if (!cross) {
          await this.instances.setMigration(tx, m.id, 'reverted');
          return { ...base, task_state: null, migration_id: null, vm_state: i.target_vm_state ?? 'active' };
        }
        if (i.host === m.dest_compute) {
          // The destination's copy is gone: the source starts the domain it kept, as it was.
          await this.instances.releaseClaim(tx, i.id, 'resize');
          const old = i.old_flavor ?? i.flavor;
          out.resync = true;
          return {
            ...base,
            host: m.source_compute,
            availability_zone: await this.scheduler.zoneOf(tx, m.source_compute!),
            flavor: old,
            old_flavor: null,
            vcpus: old.vcpus,
            memory_mb: old.ram,
            root_gb: old.disk,
            spec_version: m.source_spec_version ?? i.spec_version + 1,
            generation: i.generation + 1,
            desired_power: restingPower(i.target_vm_state ?? 'active'),
          };
        }
        await this.instances.setMigration(tx, m.id, 'reverted');
        return { ...base, task_state: null, migration_id: null, vm_state: i.target_vm_state ?? 'active' };
      }
      case 'migrating': {
        // The domain runs on the destination now: so do the instance and its claim.
        await this.instances.releaseClaim(tx, i.id, 'instance');
        await this.instances.relabelClaim(tx, i.id, 'migration', 'instance');
        await this.instances.setMigration(tx, m.id, 'completed');
        out.resync = true;
        return { ...base, host: m.dest_compute, availability_zone: await this.scheduler.zoneOf(tx, m.dest_compute!), task_state: null, migration_id: null };
      }
      case 'rebuilding': {
        if (m.migration_type !== 'evacuation') return undefined;
        // Evacuated: the destination runs it; the dead source's claim goes, the destination's becomes the instance's.
        await this.instances.releaseClaim(tx, i.id, 'instance');
        await this.instances.relabelClaim(tx, i.id, 'migration', 'instance');
        await this.instances.setMigration(tx, m.id, 'done');
        const vm = i.target_vm_state ?? 'active';
        return {
          ...base,
          host: m.dest_compute,
          availability_zone: await this.scheduler.zoneOf(tx, m.dest_compute!),
          task_state: null,
          task_host: null,
          migration_id: null,
          vm_state: vm,
          desired_power: restingPower(vm),
          launched_at: new Date(),
        };
      }
      case 'deleting':
        // A resized instance deleted before confirm: its source's copy goes too.
        if (cross && i.host !== m.source_compute && ['finished', 'post-migrating', 'confirming', 'reverting'].includes(m.status)) out.cleanup = m.source_compute!;
        await this.instances.setMigration(tx, m.id, m.status === 'finished' ? 'confirmed' : 'error', 'the instance was deleted');
        return undefined;
      default:
        return undefined;
    }
  }

  /** A move step that failed: undefined when the generic handling (ERROR) applies. */
  private async moveFailed(tx: Sql, i: InstanceRow, r: AgentReport): Promise<boolean> {
    const m = await this.instances.migration(tx, i.migration_id);
    if (!m) return false;
    if (i.task_state === 'rebuilding' && m.migration_type === 'evacuation') {
      await this.endEvacuationFailed(tx, i, r.error ?? 'the destination did not build the domain', powerStateOf(r.state));
      return true;
    }
    if (i.task_state === 'migrating' || (i.task_state === 'resize_migrating' && m.source_compute !== m.dest_compute)) {
      // Nothing moved yet: the instance stays on the source as it was; the claim on the
      // destination goes back; the migration and the instance action carry the error.
      const old = i.old_flavor ?? i.flavor;
      await this.instances.releaseClaim(tx, i.id, i.task_state === 'migrating' ? 'migration' : 'resize');
      // An abort on request (2.24) ends the migration `cancelled`, as Nova's rollback does.
      await this.instances.setMigration(tx, m.id, r.error?.startsWith('MigrationCancelled:') ? 'cancelled' : 'error', r.error);
      const back = i.task_state === 'migrating' ? {} : { flavor: old, old_flavor: null, vcpus: old.vcpus, memory_mb: old.ram, root_gb: old.disk };
      await this.instances.update(tx, i, { ...back, task_state: null, task_host: null, migration_id: null, power_state: powerStateOf(r.state), desired_power: restingPower(i.vm_state) });
      await this.instances.finishAction(tx, i.id, false, r.error);
      return true;
    }
    await this.instances.setMigration(tx, m.id, 'error', r.error);
    return false;
  }

  /** An agent's report: ends the task it answers, or records a power-state change. */
  async onReport(r: AgentReport): Promise<void> {
    let rebuild = false;
    let deallocate: InstanceRow | undefined;
    let next: InstanceRow | undefined;
    let cleanup: { i: InstanceRow; host: string } | undefined;
    let afterCommit: (() => Promise<void>) | undefined;
    // As Nova (which deallocates before destroying the instance): ports and volumes go back
    // BEFORE the server disappears from the API, so a client that waits for the server's 404 and
    // then deletes its subnet (Tempest's teardown does exactly that) never meets a leftover port.
    // Releasing is idempotent; the transaction below still decides, under the row lock, whether
    // this report ends the delete.
    const pre = r.error ? undefined : await this.instances.get(r.instanceId);
    const released = !!pre && pre.task_state === 'deleting' && pre.vm_state !== 'deleted' && (pre.task_host ?? pre.host) === r.host && pre.generation === r.generation;
    if (released) await this.deallocate(pre);
    await this.tx(async (tx) => {
      const i = await this.instances.lock(tx, r.instanceId);
      if (!i || (i.task_host ?? i.host) !== r.host || i.generation !== r.generation) return; // stale or foreign report
      if (i.vm_state === 'deleted') return;
      if (!i.task_state) {
        const ps = powerStateOf(r.state);
        if (ps !== i.power_state) await this.instances.update(tx, i, { power_state: ps });
        return;
      }
      const own = await this.onActionReport(tx, i, r);
      if (own) {
        afterCommit = own.after;
        return;
      }
      if (r.error) {
        if (i.task_state === 'spawning' && r.spawnFailed && i.attempts + 1 < this.config.KUMO_COMPUTE_MAX_ATTEMPTS) {
          // Retry on another host (Nova's reschedule): release this claim, exclude the host.
          await this.instances.releaseAllClaims(tx, i.id);
          await this.instances.update(tx, i, { host: null, task_state: 'scheduling', attempts: i.attempts + 1, tried_hosts: [...(i.tried_hosts ?? []), r.host], generation: i.generation + 1, task_updated_at: new Date(), fault: { code: 500, message: `${r.host}: ${r.error}`, created: nowZ() } });
          rebuild = true;
          return;
        }
        if (i.migration_id && (await this.moveFailed(tx, i, r))) return;
        if (i.task_state === 'image_snapshot' || i.task_state === 'image_backup') {
          // A failed backup rotates nothing: the older backups stay (as Nova, whose rotation follows the upload).
          await this.instances.update(tx, i, { task_state: null, snapshot_image_id: null, backup: null, power_state: powerStateOf(r.state) });
          await this.instances.finishAction(tx, i.id, false, r.error);
          return;
        }
        if (i.task_state === 'spawning' || i.task_state === 'rebuilding') await this.instances.releaseAllClaims(tx, i.id);
        await this.instances.update(tx, i, {
          vm_state: 'error',
          task_state: null,
          power_state: powerStateOf(r.state),
          fault: { code: 500, message: r.error, created: nowZ() },
        });
        await this.instances.finishAction(tx, i.id, false, r.error);
        return;
      }
      if (i.migration_id) {
        const out: { resync?: boolean; cleanup?: string } = {};
        const step = await this.moveStep(tx, i, r, out);
        if (out.cleanup) cleanup = { i, host: out.cleanup };
        if (step) {
          const after = await this.instances.update(tx, i, step);
          if (out.resync) next = after;
          if (!after.task_state) await this.instances.finishAction(tx, i.id, true);
          return;
        }
      }
      const patch: Record<string, unknown> = { task_state: null, power_state: powerStateOf(r.state), fault: null, snapshot_image_id: null };
      if (i.task_state === 'image_backup') {
        patch.backup = null;
        const b = i.backup;
        if (b) afterCommit = () => this.rotateBackups(i.project_id, i.id, b.type, b.rotation);
      }
      switch (i.task_state) {
        case 'spawning':
        case 'rebuilding':
          patch.vm_state = i.target_vm_state ?? 'active';
          patch.launched_at = new Date();
          break;
        case 'deleting':
          await this.instances.releaseAllClaims(tx, i.id);
          Object.assign(patch, { vm_state: 'deleted', terminated_at: new Date(), deleted_at: new Date(), power_state: 0, task_host: null, migration_id: null });
          deallocate = i;
          break;
        default:
          patch.vm_state = i.target_vm_state ?? i.vm_state;
      }
      await this.instances.update(tx, i, patch);
      await this.instances.finishAction(tx, i.id, true);
    });
    if (rebuild) this.startBuild(r.instanceId);
    if (deallocate) {
      if (!released) await this.deallocate(deallocate);
      await this.dropShelvedImage(deallocate);
    }
    if (next) await this.sync(next);
    if (cleanup) await this.castAbsent(cleanup.i, cleanup.host);
    if (afterCommit) await afterCommit();
  }

  /**
   * createBackup's rotation, once the new backup is filled (Nova's _rotate_backups): the server's
   * backups of that type beyond the newest `rotation` are deleted, oldest first — rotation 0
   * deletes them all, the new one too. Best effort: a failure is logged and the next backup of
   * the type deletes what is left over.
   */
  async rotateBackups(projectId: string, instanceId: string, type: string, rotation: number): Promise<void> {
    try {
      const backups = await this.image.list(projectId, { image_type: 'backup', backup_type: type, instance_uuid: instanceId });
      for (const old of backups.slice(0, Math.max(0, backups.length - rotation))) {
        await this.image.delete(old.id, projectId).catch((err: unknown) => {
          if ((err as { code?: string }).code !== 'not_found') throw err;
        });
      }
    } catch (err) {
      this.log.error(`rotating the ${type} backups of ${instanceId} (keep ${rotation}): ${(err as Error).message}; the next backup of that type rotates again`);
    }
  }

  /**
   * Gives the server's ports and volumes back once it is deleted. Volumes: detached (or their
   * reservation given back) and deleted when `delete_on_termination`; best effort, logged — a
   * volume left `in-use` by a failure here needs `openstack volume set --state` style repair (a
   * known gap, docs/volume.md).
   */
  async deallocate(i: InstanceRow): Promise<void> {
    for (const v of i.volumes ?? []) {
      try {
        await this.volume.detach(v.volumeId, i.project_id, i.id);
        if (v.deleteOnTermination) await this.volume.delete(v.volumeId, i.project_id);
      } catch (err) {
        this.log.warn(`volume ${v.volumeId} of deleted server ${i.id} not released: ${(err as Error).message}`);
      }
    }
    if (!(i.ports ?? []).length && (i.requested_networks === 'none' || i.requested_networks === 'default')) return;
    try {
      await this.network.deallocate(i.id);
    } catch (err) {
      this.log.warn(`ports of deleted server ${i.id} not released: ${(err as Error).message}`);
    }
  }

  /** Delete without an agent (never scheduled, or its host is down): Nova's "local delete". */
  async localDelete(instanceId: string, requestId?: string): Promise<void> {
    let gone: InstanceRow | undefined;
    // Ports and volumes first, as in onReport: the server must not 404 while they remain.
    const pre = await this.instances.get(instanceId);
    if (pre && pre.vm_state !== 'deleted') await this.deallocate(pre);
    await this.tx(async (tx) => {
      const i = await this.instances.lock(tx, instanceId);
      if (!i || i.vm_state === 'deleted') return;
      await this.instances.releaseAllClaims(tx, i.id);
      await this.instances.setMigration(tx, i.migration_id, 'error', 'the instance was deleted');
      gone = await this.instances.update(tx, i, { vm_state: 'deleted', task_state: null, task_host: null, migration_id: null, power_state: 0, terminated_at: new Date(), deleted_at: new Date() }, requestId);
      await this.instances.finishAction(tx, i.id, true);
    });
    if (gone) await this.dropShelvedImage(gone);
  }

  /**
   * confirmResize whose source host is down: its copy cannot be destroyed now, but the user's
   * confirmation stands (Nova completes it too); the source's claim goes back.
   */
  async confirmLocally(instanceId: string): Promise<void> {
    await this.tx(async (tx) => {
      const i = await this.instances.lock(tx, instanceId);
      if (!i || i.task_state !== 'resize_confirming') return;
      await this.instances.releaseClaim(tx, i.id, 'source');
      await this.instances.setMigration(tx, i.migration_id, 'confirmed');
      const vm = i.target_vm_state ?? 'active';
      await this.instances.update(tx, i, { task_state: null, task_host: null, migration_id: null, vm_state: vm, desired_power: restingPower(vm) });
      await this.instances.finishAction(tx, i.id, true, `source host ${i.task_host} was down; its copy of the domain was not destroyed`);
    });
  }

  /** Heartbeat + capacity of one host (creates the compute node on first contact); then its evacuated leftovers go. */
  async onHostReport(r: HostReport): Promise<void> {
    await this.recordHost(r);
    await this.destroyEvacuated(r).catch((err: unknown) => this.log.warn(`evacuated instances of ${r.host} not cleaned up yet: ${(err as Error).message}`));
  }

  private async recordHost(r: HostReport): Promise<void> {
    await this.db.exec(
      `INSERT INTO ${this.db.t('compute_node')} AS n (host, hypervisor_type, hypervisor_version, vcpus, memory_mb, local_gb, cpu_info, availability_zone, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio, last_heartbeat, numa_topology, cpu_dedicated_set, console_url, host_uptime)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,COALESCE($9, 4.0),COALESCE($10, 1.0),COALESCE($11, 1.0),now(),$12,$13,$14,$15)
       ON CONFLICT (host) DO UPDATE SET hypervisor_type = EXCLUDED.hypervisor_type, hypervisor_version = EXCLUDED.hypervisor_version, vcpus = EXCLUDED.vcpus,
         memory_mb = EXCLUDED.memory_mb, local_gb = EXCLUDED.local_gb, cpu_info = EXCLUDED.cpu_info, last_heartbeat = now(),
         numa_topology = EXCLUDED.numa_topology, cpu_dedicated_set = EXCLUDED.cpu_dedicated_set, console_url = EXCLUDED.console_url, host_uptime = EXCLUDED.host_uptime,
         availability_zone = COALESCE($8, n.availability_zone),
         cpu_allocation_ratio = COALESCE($9, n.cpu_allocation_ratio), ram_allocation_ratio = COALESCE($10, n.ram_allocation_ratio), disk_allocation_ratio = COALESCE($11, n.disk_allocation_ratio)`,
      [
        r.host,
        r.hypervisorType,
        r.hypervisorVersion,
        r.vcpus,
        r.memoryMb,
        r.localGb,
        JSON.stringify(r.cpuInfo ?? {}),
        r.availabilityZone ?? 'nova',
        r.cpuAllocationRatio ?? null,
        r.ramAllocationRatio ?? null,
        r.diskAllocationRatio ?? null,
        // An older agent reports no topology: the host then takes no NUMA or pinned guests.
        r.numaTopology ? JSON.stringify(r.numaTopology) : null,
        JSON.stringify(r.cpuDedicatedSet ?? []),
        // Only an http(s) URL is kept (the agent is not trusted to put anything else into console URLs).
        typeof r.consoleUrl === 'string' && /^https?:\/\/[^\s]+$/.test(r.consoleUrl) && r.consoleUrl.length <= 1024 ? r.consoleUrl : null,
        uptimeOf(r.hostUptime),
      ],
    );
  }

  /** Hot-plugs (or, when the domain is off, defines) the NIC of `port` on the instance's host; the agent answers when done. */
  async attachInterface(i: InstanceRow, port: PortRecord, requestId?: string): Promise<void> {
    await this.transport.request(agentQueue('compute', i.host!), 'compute_agent.attach_interface', { host: i.host, instanceId: i.id, port: { id: port.id, macAddress: port.macAddress, networkId: port.networkId, mtu: port.mtu } }, { requestId, timeoutMs: 60000 });
  }

  async attachVolume(i: InstanceRow, volume: InstanceVolume, requestId?: string): Promise<void> {
    await this.transport.request(agentQueue('compute', i.host!), 'compute_agent.attach_volume', { host: i.host, instanceId: i.id, volume }, { requestId, timeoutMs: 60000 });
  }

  async detachVolume(i: InstanceRow, volumeId: string, requestId?: string): Promise<void> {
    await this.transport.request(agentQueue('compute', i.host!), 'compute_agent.detach_volume', { host: i.host, instanceId: i.id, volumeId }, { requestId, timeoutMs: 60000 });
  }

  async detachInterface(i: InstanceRow, portId: string, requestId?: string): Promise<void> {
    await this.transport.request(agentQueue('compute', i.host!), 'compute_agent.detach_interface', { host: i.host, instanceId: i.id, portId }, { requestId, timeoutMs: 60000 });
  }

  async consoleOutput(i: InstanceRow, maxLines?: number): Promise<string> {
    const reply = (await this.transport.request(agentQueue('compute', i.host!), 'compute_agent.console_output', { host: i.host, instanceId: i.id, maxLines }, { timeoutMs: 15000 })) as { output: string };
    return reply.output;
  }

  // ------------------------------------------------- server actions (issue 6) ----

  /**
   * Agent reports of rescue/shelve/offload/unshelve tasks where they differ from the generic
   * handling in onReport; undefined = not handled here. `after` runs after the commit.
   */
  private async onActionReport(tx: Sql, i: InstanceRow, r: AgentReport): Promise<{ after?: () => Promise<void> } | undefined> {
    const ps = powerStateOf(r.state);
    const fault = (message: string) => ({ code: 500, message, created: nowZ() });
    switch (i.task_state) {
      case 'rescuing': {
        if (!r.error) return undefined;
        // Nova: a failed rescue ends in ERROR. The rescue disk goes away, so a later hard reboot boots the root disk.
        await this.instances.update(tx, i, { vm_state: 'error', task_state: null, power_state: ps, rescue_image: null, spec_version: i.spec_version + 1, fault: fault(r.error) });
        await this.instances.finishAction(tx, i.id, false, r.error);
        return {};
      }
      case 'shelving': {
        if (r.error) {
          // Back where it was (Nova reverts the task state): the agent converges to the old power state, the snapshot goes.
          const back = await this.instances.update(tx, i, {
            task_state: null,
            power_state: ps,
            snapshot_image_id: null,
            shelved_image_id: null,
            desired_power: restingPower(i.vm_state),
            generation: i.generation + 1,
          });
          await this.instances.finishAction(tx, i.id, false, r.error);
          return { after: async () => {
            await this.sync(back);
            await this.dropImage(i.shelved_image_id, i.project_id);
          } };
        }
        const patch = { vm_state: 'shelved', power_state: ps, snapshot_image_id: null, shelved_at: new Date(), fault: null };
        if (this.config.KUMO_COMPUTE_SHELVED_OFFLOAD_TIME !== 0) {
          await this.instances.update(tx, i, { ...patch, task_state: null, target_vm_state: null });
          await this.instances.finishAction(tx, i.id, true);
          return {};
        }
        // shelved_offload_time = 0: offload now, within the same shelve action (as Nova's shelve_instance does).
        const next = await this.instances.update(tx, i, { ...patch, ...this.offloadPatch(i) });
        return { after: () => this.sync(next) };
      }
      case 'shelving_offloading': {
        if (r.error) {
          await this.instances.update(tx, i, { task_state: null, power_state: ps, desired_power: 'shutoff', target_vm_state: null });
          await this.instances.finishAction(tx, i.id, false, r.error);
          return {};
        }
        await this.completeOffload(tx, i);
        return {};
      }
      case 'unshelving': {
        if (r.error) {
          await this.revertUnshelve(tx, i, r.error, ps);
          return {};
        }
        await this.instances.update(tx, i, {
          vm_state: 'active',
          task_state: null,
          power_state: ps,
          fault: null,
          shelved_image_id: null,
          shelved_image: null,
          shelved_at: null,
          target_vm_state: null,
          // A spawn on a (new) host is a new launch, as in Nova's _unshelve_instance; a power-on is not.
          ...(i.vm_state === 'shelved_offloaded' ? { launched_at: new Date() } : {}),
        });
        await this.instances.finishAction(tx, i.id, true);
        // Nova deletes the snapshot once the server runs again.
        return { after: () => this.dropImage(i.shelved_image_id, i.project_id) };
      }
      default:
        return undefined;
    }
  }

  /** The columns that start the offload of a shelved server (a new task generation). */
  offloadPatch(i: InstanceRow): Record<string, unknown> {
    return { task_state: 'shelving_offloading', desired_power: 'absent', target_vm_state: 'shelved_offloaded', generation: i.generation + 1, task_updated_at: new Date(), task_started_at: new Date() };
  }

  /** The domain is gone (or its host is): claims released, no host; the snapshot keeps the disk. */
  private async completeOffload(tx: Sql, i: InstanceRow): Promise<void> {
    await this.instances.releaseAllClaims(tx, i.id);
    // Nova keeps the power state it saw after powering off, before the destroy: SHUTDOWN.
    await this.instances.update(tx, i, { vm_state: 'shelved_offloaded', task_state: null, host: null, power_state: POWER.shutdown, desired_power: 'absent', target_vm_state: null, fault: null });
    await this.instances.finishAction(tx, i.id, true);
  }

  /** Ends an offload whose host is down or silent without the agent (the reconciler; like a local delete). */
  async offloadLocally(instanceId: string): Promise<void> {
    await this.tx(async (tx) => {
      const i = await this.instances.lock(tx, instanceId);
      if (i?.task_state === 'shelving_offloading') await this.completeOffload(tx, i);
    });
  }

  /**
   * Offloads servers SHELVED for longer than `afterS` (KUMO_COMPUTE_SHELVED_OFFLOAD_TIME > 0;
   * Nova's _poll_shelved_instances). Returns how many it started.
   */
  async offloadShelved(afterS: number): Promise<number> {
    const due = await this.db.rows<{ id: string }>(
      `SELECT id FROM ${this.db.t('instance')} WHERE vm_state = 'shelved' AND task_state IS NULL AND shelved_at < now() - make_interval(secs => $1) LIMIT 100`,
      [afterS],
    );
    let n = 0;
    for (const { id } of due) {
      const next = await this.tx(async (tx) => {
        const i = await this.instances.lock(tx, id);
        if (!i || i.vm_state !== 'shelved' || i.task_state) return undefined;
        await this.instances.startAction(tx, i, 'shelveOffload', i.user_id, `req-offload-${i.id}`);
        return this.instances.update(tx, i, this.offloadPatch(i));
      });
      if (next) {
        n++;
        await this.sync(next);
      }
    }
    return n;
  }

  /** A failed unshelve leaves the server shelved (Nova: the task is reverted, the claim released). */
  private async revertUnshelve(tx: Sql, i: InstanceRow, message: string, powerState = i.power_state): Promise<void> {
    if (i.vm_state === 'shelved_offloaded') {
      await this.instances.releaseAllClaims(tx, i.id);
      await this.instances.update(tx, i, { task_state: null, host: null, shelved_image: null, power_state: POWER.shutdown, desired_power: 'absent', target_vm_state: null, fault: { code: 500, message, created: nowZ() } });
    } else {
      await this.instances.update(tx, i, { task_state: null, power_state: powerState, desired_power: 'shutoff', target_vm_state: null, fault: { code: 500, message, created: nowZ() } });
    }
    await this.instances.finishAction(tx, i.id, false, message);
  }

  async failUnshelve(instanceId: string, message: string): Promise<void> {
    await this.tx(async (tx) => {
      const i = await this.instances.lock(tx, instanceId);
      if (i?.task_state === 'unshelving') await this.revertUnshelve(tx, i, message);
    });
  }

  /** Unshelve of an offloaded server in the background: schedule (claim), then spawn from the snapshot. Never rejects. */
  startUnshelve(instanceId: string, requestId?: string): void {
    const p = this.unshelve(instanceId, requestId).catch((err: unknown) => this.log.error(`unshelve of ${instanceId} stopped: ${(err as Error).message} (the reconciler retries)`));
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  async unshelve(instanceId: string, requestId?: string): Promise<void> {
    const before = await this.instances.get(instanceId);
    if (!before || before.vm_state !== 'shelved_offloaded' || before.task_state !== 'unshelving') return;
    if (!before.host) {
      try {
        await this.scheduler.schedule(instanceId);
      } catch (err) {
        await this.failUnshelve(instanceId, err instanceof NoValidHost ? err.message : `Unshelve failed while scheduling: ${(err as Error).message}`);
        return;
      }
    }
    try {
      let snapshot: ImageMeta | null = null;
      if (before.shelved_image_id) {
        const loc = await this.image.location(before.shelved_image_id, before.project_id, false);
        snapshot = { id: loc.image.id, path: loc.path, url: loc.url, checksum: loc.image.checksum, properties: loc.image.properties ?? {}, diskFormat: loc.image.diskFormat, containerFormat: loc.image.containerFormat };
      }
      const host = (await this.instances.get(instanceId))?.host;
      // Volumes attached while offloaded (2.20, completed without a host) and those it kept: connected on the new host.
      const volumes = host ? await this.connectVolumes(before, host, requestId) : undefined;
      const placed = await this.tx(async (tx) => {
        const cur = await this.instances.lock(tx, instanceId);
        if (!cur || cur.vm_state !== 'shelved_offloaded' || cur.task_state !== 'unshelving' || !cur.host) return undefined;
        const merged = volumes ? mergeVolumes(cur.volumes ?? [], volumes) : cur.volumes;
        return this.instances.update(tx, cur, { shelved_image: snapshot, volumes: merged, task_updated_at: new Date() }, requestId);
      });
      if (placed) await this.sync(placed, requestId);
    } catch (err) {
      const msg = err instanceof RpcError ? `${err.service ?? 'peer'}: ${err.message}` : (err as Error).message;
      await this.failUnshelve(instanceId, `Unshelve of instance ${instanceId} aborted: ${msg}`);
    }
  }

  // ------------------------------------------------------------------------ evacuate ----

  /** Evacuation in the background (after the API's transaction); never rejects. */
  startEvacuate(instanceId: string, requestId?: string): void {
    const p = this.evacuateStep(instanceId, requestId).catch((err: unknown) => this.log.error(`evacuation of ${instanceId} stopped: ${(err as Error).message} (the reconciler retries)`));
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /**
   * The conductor's part of an evacuation whose destination is claimed (`task_host`): the ports'
   * binding host and the volumes' attachments move to the destination (network `bind_port`,
   * volume `attach`; both idempotent), then the destination's agent gets the sync and spawns the
   * domain (its report ends the task: moveStep). Re-run by the reconciler while the destination is
   * up; a failure here ends the evacuation (ERROR, migration `failed`).
   */
  async evacuateStep(instanceId: string, requestId?: string): Promise<void> {
    const i = await this.instances.get(instanceId);
    if (!i || i.task_state !== 'rebuilding' || !i.migration_id || !i.task_host) return;
    const m = await this.instances.migration(this.db, i.migration_id);
    if (!m || m.migration_type !== 'evacuation' || m.status !== 'accepted') return;
    const dest = i.task_host;
    try {
      for (const p of i.ports ?? []) await this.network.bind(p.id, i.id, dest, requestId);
      const volumes = await this.connectVolumes(i, dest, requestId);
      const next = await this.tx(async (tx) => {
        const cur = await this.instances.lock(tx, instanceId);
        if (!cur || cur.task_state !== 'rebuilding' || cur.migration_id !== i.migration_id) return undefined;
        return this.instances.update(tx, cur, { volumes: mergeVolumes(cur.volumes ?? [], volumes), task_updated_at: new Date() }, requestId);
      });
      if (next) await this.sync(next, requestId);
    } catch (err) {
      const msg = err instanceof RpcError ? `${err.service ?? 'peer'}: ${err.message}` : (err as Error).message;
      await this.tx(async (tx) => {
        const cur = await this.instances.lock(tx, instanceId);
        if (cur?.task_state === 'rebuilding' && cur.migration_id === i.migration_id) await this.endEvacuationFailed(tx, cur, `Evacuation of instance ${instanceId} to ${dest} failed: ${msg}`);
      });
    }
  }

  /** A failed evacuation: ERROR on its old host with the fault, the destination's claim released, migration `failed` (Nova). */
  private async endEvacuationFailed(tx: Sql, i: InstanceRow, message: string, powerState = i.power_state): Promise<void> {
    await this.instances.releaseClaim(tx, i.id, 'migration');
    await this.instances.setMigration(tx, i.migration_id, 'failed', message);
    await this.instances.update(tx, i, { vm_state: 'error', task_state: null, task_host: null, migration_id: null, power_state: powerState, fault: { code: 500, message, created: nowZ() } });
    await this.instances.finishAction(tx, i.id, false, message);
  }

  /**
   * Nova's _destroy_evacuated_instances: a host that reports again — its agent restarted
   * (`startup`), or its service is up (not forced down) — gets an `absent` sync for every domain
   * it still runs of an instance evacuated away from it (migration `evacuation` from this host,
   * `accepted` or `done`); a `done` evacuation becomes `completed`. Never the domain of an
   * instance that still lives on this host.
   */
  async destroyEvacuated(r: HostReport): Promise<void> {
    if (!r.startup) {
      if (!r.instances?.length) return;
      const [n] = await this.db.rows<{ forced_down: boolean }>(`SELECT forced_down FROM ${this.db.t('compute_node')} WHERE host = $1`, [r.host]);
      if (!n || n.forced_down) return;
    }
    const ms = await this.db.rows<{ id: number; instance_id: string; status: string }>(
      `SELECT id, instance_id, status FROM ${this.db.t('migration')} WHERE migration_type = 'evacuation' AND source_compute = $1 AND status IN ('accepted', 'done') ORDER BY id`,
      [r.host],
    );
    const running = new Set(r.instances ?? []);
    for (const m of ms) {
      const i = await this.instances.get(m.instance_id);
      if (i && running.has(i.id) && (i.host !== r.host || i.task_host)) {
        this.log.log(`destroying ${i.id} on ${r.host}: it was evacuated to ${i.task_host ?? i.host}`);
        await this.castAbsent(i, r.host);
      }
      if (m.status === 'done') await this.instances.setMigration(this.db, m.id, 'completed');
    }
  }

  /**
   * The server's settled volumes (attached, or reserved while it had no host) attached for
   * `host` in the volume service (idempotent; an attached one moves to `host`), with the
   * connection the agent needs. Pending entries (a request works on them) are left alone.
   */
  async connectVolumes(i: InstanceRow, host: string, requestId?: string): Promise<VolumeAttachmentEntry[]> {
    const out: VolumeAttachmentEntry[] = [];
    for (const v of i.volumes ?? []) {
      if (v.status !== 'attached' && v.status !== 'reserved') continue;
      const { attachment, connection } = await this.volume.attach(v.volumeId, i.project_id, i.id, host, v.device, true, requestId);
      out.push({ ...v, status: 'attached', attachmentId: attachment.id, path: connection.path, format: connection.format });
    }
    return out;
  }

  /** The snapshot of a shelved server that is deleted (Nova deletes it with the server). */
  async dropShelvedImage(i: InstanceRow): Promise<void> {
    await this.dropImage(i.shelved_image_id, i.project_id);
  }

  private async dropImage(imageId: string | null, projectId: string): Promise<void> {
    if (!imageId) return;
    try {
      await this.image.delete(imageId, projectId);
    } catch (err) {
      // Gone already is fine; anything else is left for the owner to delete (logged, as Nova does).
      if (!(err instanceof RpcError && err.code === 'not_found')) this.log.warn(`shelve snapshot ${imageId} not deleted: ${(err as Error).message}`);
    }
  }

  /** Ends a task done by a synchronous agent call (CALL_TASKS), if it is still the one started. */
  async finishCallTask(instanceId: string, generation: number, ok: boolean, message?: string): Promise<void> {
    await this.tx(async (tx) => {
      const i = await this.instances.lock(tx, instanceId);
      if (!i || i.generation !== generation || !i.task_state) return;
      await this.instances.update(tx, i, { task_state: null, target_vm_state: null });
      await this.instances.finishAction(tx, i.id, ok, message);
    });
  }

  private agentCall<T>(i: InstanceRow, method: string, data: Record<string, unknown>, timeoutMs = 15000): Promise<T> {
    return this.transport.request(agentQueue('compute', i.host!), `compute_agent.${method}`, { host: i.host, instanceId: i.id, ...data }, { timeoutMs }) as Promise<T>;
  }

  /** changePassword through the agent's driver (guest agent); the password travels only in this call. */
  async setPassword(i: InstanceRow, user: string, password: string): Promise<void> {
    await this.agentCall(i, 'set_password', { user, password }, 30000);
  }

  async diagnostics(i: InstanceRow): Promise<ComputeAgentMethods['diagnostics']['reply']> {
    return this.agentCall<ComputeAgentMethods['diagnostics']['reply']>(i, 'diagnostics', {});
  }

  /** 2.22/2.24: force-complete or abort a live migration on its source host; false if it was not under way there. */
  async controlMigration(i: InstanceRow, migrationId: number, op: 'force_complete' | 'abort'): Promise<boolean> {
    return (await this.agentCall<{ found: boolean }>(i, 'control_migration', { migrationId, op })).found;
  }

  /** 2.17: an NMI into the guest through the host's agent. */
  async triggerCrashDump(i: InstanceRow): Promise<void> {
    await this.agentCall(i, 'trigger_crash_dump', {});
  }

  async consoleEndpoints(i: InstanceRow): Promise<{ vncSocket?: string; serialSocket?: string }> {
    return this.agentCall(i, 'get_console', {});
  }
}

/** `current` with the entries of `connected` (by volume) replaced; entries added or removed meanwhile stay so. */
export function mergeVolumes(current: VolumeAttachmentEntry[], connected: VolumeAttachmentEntry[]): VolumeAttachmentEntry[] {
  const by = new Map(connected.map((v) => [v.volumeId, v]));
  return current.map((v) => ((v.status === 'attached' || v.status === 'reserved') && by.has(v.volumeId) ? by.get(v.volumeId)! : v));
}

function imageOf(m: ImageMeta | null): InstanceSpec['image'] {
  return m ? { id: m.id, path: m.path, url: m.url, checksum: m.checksum ?? null, properties: m.properties ?? {} } : null;
}

/** A report's hostUptime as stored (numbers only; anything else from an agent is dropped). */
function uptimeOf(u: unknown): string | null {
  const v = u as { seconds?: unknown; load?: unknown } | undefined;
  if (!v || typeof v.seconds !== 'number' || !Number.isFinite(v.seconds) || v.seconds < 0) return null;
  const load = Array.isArray(v.load) && v.load.length === 3 && v.load.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (v.load as number[]) : [0, 0, 0];
  return JSON.stringify({ seconds: Math.floor(v.seconds), load });
}

/** What the agent writes into the server's config drive (it cannot read the instance row itself). */
export function configDriveOf(i: InstanceRow): ConfigDriveData {
  return {
    projectId: i.project_id,
    hostname: i.hostname,
    availabilityZone: i.availability_zone,
    launchIndex: i.launch_index,
    metadata: i.metadata ?? {},
    // Nova's keypair type: the instance keeps only the public key, and an x509 one is a PEM certificate.
    key: i.key_name && i.key_data ? { name: i.key_name, type: i.key_data.includes('BEGIN CERTIFICATE') ? 'x509' : 'ssh', data: i.key_data } : null,
    ports: (i.ports ?? []).map((p) => ({ id: p.id, networkId: p.networkId, macAddress: p.macAddress, mtu: p.mtu, fixedIps: p.fixedIps.map((f) => ({ ipAddress: f.ipAddress, ipVersion: f.ipVersion })) })),
  };
}
