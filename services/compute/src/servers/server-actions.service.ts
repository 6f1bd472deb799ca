import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { RpcError } from '@kumo/contracts';
import { ApiError, type AuthContext, PolicyService } from '@kumo/service-kit';
import { ConductorService } from '../conductor/conductor.service.js';
import { IMAGE_CLIENT, type ImageClient } from '../conductor/peers.js';
import { invalid, isAdmin, type Json, stringField } from '../common/nova.js';
import type { ImageMeta, InstanceRow } from './instance.model.js';
import { isUuid } from './instances.repository.js';
import { ServersService } from './servers.service.js';

/** Nova's generated passwords (CONF.password_length = 12). */
export function generatePassword(): string {
  return randomBytes(9).toString('base64url').slice(0, 12);
}

/** An action's argument that Nova's schema allows to be an object or null (`{"rescue": null}`). */
function objectOrNull(v: unknown, field: string, allowed: string[]): Json {
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid(field, v, `${JSON.stringify(v)} is not of type 'object', 'null'`);
  for (const k of Object.keys(v)) if (!allowed.includes(k)) throw invalid(field, v, `Additional properties are not allowed ('${k}' was unexpected)`);
  return v as Json;
}

/**
 * Server actions of issue 6 on top of the state machine (ServersService.act): rescue/unrescue,
 * shelve/shelveOffload/unshelve, changePassword and diagnostics. Each checks lock, task and
 * vm_state (409 in Nova's words), records an instance action and hands the task to the
 * conductor; the agent's report (or, for changePassword, its reply) ends it.
 */
@Injectable()
export class ServerActionsService {
  constructor(
    private readonly servers: ServersService,
    private readonly conductor: ConductorService,
    private readonly policy: PolicyService,
    @Inject(IMAGE_CLIENT) private readonly images: ImageClient,
  ) {}

  /** rescue → the adminPass (Nova returns it with enable_instance_password, its default). */
  async rescue(auth: AuthContext, id: string, arg: unknown, requestId: string): Promise<string> {
    const body = objectOrNull(arg, 'rescue', ['adminPass', 'rescue_image_ref']);
    const adminPass = body.adminPass === undefined ? generatePassword() : stringField(body, 'adminPass')!;
    let rescueImage: string | undefined;
    if (body.rescue_image_ref !== undefined) {
      const ref = stringField(body, 'rescue_image_ref')!;
      rescueImage = ref.replace(/\/+$/, '').split('/').pop()!;
      if (!isUuid(rescueImage)) throw invalid('rescue_image_ref', ref, `'${ref}' is not a 'uuid'`);
    }
    await this.servers.act(
      auth,
      id,
      'rescue',
      requestId,
      async (_tx, i) => {
        if (!i.host) throw ApiError.conflict(`Instance ${i.id} is not ready`);
        // Nova's default rescue image is the server's own image. Like Nova with file injection
        // and config drive off (its defaults), the adminPass is not put into the rescue guest.
        const imageId = rescueImage ?? i.image_ref;
        if (!imageId) throw ApiError.badRequest(`Instance ${i.id} cannot be rescued: it has no image to boot a rescue disk from.`);
        return { rescue_image: await this.imageMeta(imageId, i, auth), spec_version: i.spec_version + 1 };
      },
      'rescue',
    );
    return adminPass;
  }

  async unrescue(auth: AuthContext, id: string, requestId: string): Promise<void> {
    await this.servers.act(auth, id, 'unrescue', requestId, async (_tx, i) => ({ rescue_image: null, spec_version: i.spec_version + 1 }), 'unrescue');
  }

  /**
   * shelve: the snapshot `<name>-shelved` is registered in the image service before the 202 (as
   * Nova's compute API does); the agent powers off and fills it, then the conductor offloads.
   */
  async shelve(auth: AuthContext, id: string, requestId: string): Promise<void> {
    await this.servers.act(
      auth,
      id,
      'shelve',
      requestId,
      async (_tx, i) => {
        const base = i.image_meta;
        const img = await this.images
          .create({
            owner: i.project_id,
            name: `${i.name}-shelved`,
            diskFormat: base?.diskFormat ?? 'qcow2',
            containerFormat: base?.containerFormat ?? 'bare',
            minDisk: i.flavor.disk,
            minRam: 0,
            properties: { image_type: 'snapshot', instance_uuid: i.id, user_id: auth.userId, ...(base ? { base_image_ref: base.id } : {}) },
          })
          .catch((err: unknown) => {
            if (err instanceof RpcError) throw new ApiError(err.code === 'over_limit' ? 403 : 503, `The snapshot of instance ${i.id} could not be registered: ${err.message}`);
            throw err;
          });
        return { snapshot_image_id: img.id, shelved_image_id: img.id };
      },
      'shelve',
    );
  }

  /** shelveOffload: admin-only by default, as Nova's os-shelve:shelve_offload policy. */
  async shelveOffload(auth: AuthContext, id: string, requestId: string): Promise<void> {
    this.policy.enforce('servers:shelve_offload', auth, { project_id: (await this.servers.find(auth, id)).project_id });
    await this.servers.act(auth, id, 'shelve_offload', requestId, undefined, 'shelveOffload');
  }

  /** unshelve: shelved → power on where it is; shelved_offloaded → schedule again and spawn from the snapshot. */
  async unshelve(auth: AuthContext, id: string, requestId: string): Promise<void> {
    await this.servers.act(auth, id, 'unshelve', requestId, async (_tx, i) => (i.vm_state === 'shelved_offloaded' ? { tried_hosts: [], attempts: 0, fault: null } : {}), 'unshelve');
  }

  /**
   * changePassword: a synchronous call to the agent (the password is neither stored nor re-sent);
   * errors as Nova's admin_password API: no guest agent → 409, an agent that cannot do it → 501.
   */
  async changePassword(auth: AuthContext, id: string, arg: unknown, requestId: string): Promise<void> {
    if (!arg || typeof arg !== 'object' || Array.isArray(arg)) throw invalid('changePassword', arg, `${JSON.stringify(arg ?? null)} is not of type 'object'`);
    const body = arg as Json;
    for (const k of Object.keys(body)) if (k !== 'adminPass') throw invalid('changePassword', body, `Additional properties are not allowed ('${k}' was unexpected)`);
    const password = stringField(body, 'adminPass', { required: true })!;
    const started = await this.servers.act(auth, id, 'change_password', requestId, undefined, 'changePassword');
    // Nova's libvirt driver: the image's os_admin_user, else Administrator for Windows, else root.
    const props = started.image_meta?.properties ?? {};
    const user = props.os_admin_user || (props.os_type === 'windows' ? 'Administrator' : 'root');
    try {
      await this.conductor.setPassword(started, user, password);
    } catch (err) {
      const e = passwordError(err, started.id);
      await this.conductor.finishCallTask(started.id, started.generation, false, e.message);
      throw e;
    }
    await this.conductor.finishCallTask(started.id, started.generation, true);
  }

  /**
   * GET /servers/{id}/diagnostics (admin): the driver's counters as Nova's 2.1 free-form dict, or
   * from 2.48 (`standard`) as its standardized shape; an agent too old to build that one → 501, as
   * Nova for a driver without get_instance_diagnostics.
   */
  async diagnostics(auth: AuthContext, id: string, standard = false): Promise<Record<string, unknown>> {
    const i = await this.servers.find(auth, id);
    this.policy.enforce('servers:diagnostics', auth, { project_id: i.project_id });
    if (!i.host) throw ApiError.conflict(`Instance ${i.id} is not ready`);
    try {
      const d = await this.conductor.diagnostics(i);
      if (!standard) return d.diagnostics;
      if (!d.standard) throw new ApiError(501, 'Feature not supported.');
      const { state, driver, hypervisor, hypervisor_os, uptime, ...rest } = d.standard;
      return { state, driver, hypervisor, hypervisor_os, uptime, config_drive: i.config_drive === 'True', ...rest };
    } catch (err) {
      if (err instanceof ApiError) throw err;
      if (err instanceof RpcError && err.code === 'not_found') throw ApiError.conflict(`Instance ${i.id} is not ready`);
      if (err instanceof RpcError && err.code === 'unknown_method') throw new ApiError(501, 'Action is not supported by the compute agent of this server.');
      throw new ApiError(409, `Diagnostics of instance ${i.id} are not available: ${(err as Error).message}`);
    }
  }

  private async imageMeta(imageId: string, i: InstanceRow, auth: AuthContext): Promise<ImageMeta> {
    try {
      const loc = await this.images.location(imageId, i.project_id, isAdmin(auth));
      return { id: loc.image.id, path: loc.path, url: loc.url, checksum: loc.image.checksum, properties: loc.image.properties ?? {}, diskFormat: loc.image.diskFormat, containerFormat: loc.image.containerFormat };
    } catch (err) {
      if (err instanceof RpcError && err.code === 'not_found') throw ApiError.badRequest(`Image ${imageId} could not be found.`);
      if (err instanceof RpcError && err.code === 'conflict') throw ApiError.badRequest(`Image ${imageId} cannot be used as a rescue image: ${err.message}`);
      if (err instanceof RpcError) throw new ApiError(503, `The image service did not answer: ${err.message}`);
      throw err;
    }
  }
}

/** Nova's admin_password API: InstanceAgentNotEnabled/InstancePasswordSetFailed → 409, NotImplementedError → 501. */
function passwordError(err: unknown, instanceId: string): ApiError {
  if (err instanceof RpcError) {
    if (err.code === 'unknown_method') return new ApiError(501, 'Unable to set password on instance');
    if (err.details?.hypervisorCode === 'GuestAgentUnavailable') return ApiError.conflict(err.message);
    if (err.code === 'timeout' || err.code === 'unavailable') return ApiError.conflict(`Failed to set admin password on ${instanceId} because the compute host did not answer (${err.message})`);
  }
  return ApiError.conflict(`Failed to set admin password on ${instanceId} because ${(err as Error).message}`);
}
