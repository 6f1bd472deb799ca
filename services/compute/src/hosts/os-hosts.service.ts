import { Injectable } from '@nestjs/common';
import { ApiError, type AuthContext, PolicyService } from '@kumo/service-kit';
import type { Json } from '../common/nova.js';
import { hostZoneSql } from '../aggregates/host-zone.js';
import { Db } from '../db/db.js';
import type { FlavorSnapshot } from '../servers/instance.model.js';

type Resource = { host: string; project: string; cpu: number; memory_mb: number; disk_gb: number };

/** Nova's os-hosts body schema accepts these spellings only (nova/api/openstack/compute/schemas/hosts.py). */
const ON_OFF = ['enable', 'disable', 'Enable', 'Disable', 'ENABLE', 'DISABLE'];

/** Python's repr of a JSON value, as Nova's jsonschema messages print it. */
function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return JSON.stringify(v);
}

/**
 * Nova's os-hosts (2.1–2.42; the negotiation middleware answers 404 from 2.43): a host-centric
 * view of the compute services. Kumo's only services with hosts are its compute nodes (scheduler
 * and conductor run inside the API process), so every row is `service: compute`.
 */
@Injectable()
export class OsHostsService {
  constructor(
    private readonly db: Db,
    private readonly policy: PolicyService,
  ) {}

  private enforce(action: string, auth: AuthContext): void {
    this.policy.enforce(`os_compute_api:os-hosts:${action}`, auth, {});
  }

  /** Nova lists only enabled services (`filters={'disabled': False}`); a zone filter is an exact match, blank means all. */
  async list(auth: AuthContext, zone: unknown) {
    this.enforce('list', auth);
    const z = Array.isArray(zone) ? zone[zone.length - 1] : zone;
    const rows = await this.db.rows<{ host: string; zone: string }>(
      `SELECT n.host, ${hostZoneSql(this.db)} AS zone FROM ${this.db.t('compute_node')} n WHERE n.enabled ORDER BY n.id`,
    );
    const hosts = rows.filter((r) => !z || r.zone === z).map((r) => ({ host_name: r.host, service: 'compute', zone: r.zone }));
    return { hosts };
  }

  private async node(host: string) {
    const [n] = await this.db.rows<{ host: string; vcpus: number; memory_mb: number; local_gb: number; vcpus_used: number; memory_mb_used: number; local_gb_used: number }>(
      `SELECT host, vcpus, memory_mb, local_gb, vcpus_used, memory_mb_used, local_gb_used FROM ${this.db.t('compute_node')} WHERE host = $1`,
      [host],
    );
    if (!n) throw ApiError.notFound(`Compute host ${host} could not be found.`);
    return n;
  }

  /**
   * `(total)` and `(used_now)` are the node's capacity and booked usage; `(used_max)` and one row per
   * project add up the flavors of the instances on the host (root + ephemeral disk), as Nova does.
   */
  async show(auth: AuthContext, host: string) {
    this.enforce('show', auth);
    const n = await this.node(host);
    const instances = await this.db.rows<{ project_id: string; vcpus: number; memory_mb: number; root_gb: number; flavor: FlavorSnapshot }>(
      `SELECT project_id, vcpus, memory_mb, root_gb, flavor FROM ${this.db.t('instance')} WHERE host = $1 AND vm_state <> 'deleted' ORDER BY seq`,
      [host],
    );
    const row = (project: string, cpu: number, memory_mb: number, disk_gb: number): Resource => ({ host, project, cpu, memory_mb, disk_gb });
    const usedMax = row('(used_max)', 0, 0, 0);
    const byProject = new Map<string, Resource>();
    for (const i of instances) {
      const disk = i.root_gb + (i.flavor?.ephemeral ?? 0);
      const p = byProject.get(i.project_id) ?? row(i.project_id, 0, 0, 0);
      for (const r of [usedMax, p]) {
        r.cpu += i.vcpus;
        r.memory_mb += i.memory_mb;
        r.disk_gb += disk;
      }
      byProject.set(i.project_id, p);
    }
    const resources = [row('(total)', n.vcpus, n.memory_mb, n.local_gb), row('(used_now)', n.vcpus_used, n.memory_mb_used, n.local_gb_used), usedMax, ...byProject.values()];
    return { host: resources.map((resource) => ({ resource })) };
  }

  /**
   * `status` is Nova's set_host_enabled: the host stops (or starts again) taking new instances. Nova
   * does that by a placement trait the scheduler filters on; Kumo's scheduler filters on the
   * node's `enabled` flag, so that is what changes (os-services shows it too; a disabled reason is
   * cleared). `maintenance_mode` needs the driver to evacuate the host: libvirt does not implement
   * it in Nova (501), and neither does any Kumo driver. As in Nova, `status` is applied before
   * `maintenance_mode` is refused.
   */
  async update(auth: AuthContext, host: string, body: unknown) {
    // Nova validates the body before its policy check (the schema decorator runs first).
    const b = this.updateBody(body);
    this.enforce('update', auth);
    await this.node(host);
    const out: Json = { host };
    if (b.status !== undefined) {
      const enabled = b.status.toLowerCase() === 'enable';
      await this.db.exec(`UPDATE ${this.db.t('compute_node')} SET enabled = $2, disabled_reason = NULL WHERE host = $1`, [host, enabled]);
      out.status = enabled ? 'enabled' : 'disabled';
    }
    if (b.maintenance_mode !== undefined) throw new ApiError(501, 'The requested functionality is not supported.');
    return out;
  }

  /** Nova's `hosts.update` schema and its jsonschema messages. */
  private updateBody(body: unknown): { status?: string; maintenance_mode?: string } {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw ApiError.badRequest(`${pyRepr(body)} is not of type 'object'`);
    const b = body as Json;
    const extra = Object.keys(b).filter((k) => k !== 'status' && k !== 'maintenance_mode');
    if (extra.length) throw ApiError.badRequest(`Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length > 1 ? 'were' : 'was'} unexpected)`);
    for (const k of ['status', 'maintenance_mode'] as const) {
      if (!(k in b)) continue;
      const v = b[k];
      if (typeof v !== 'string') throw ApiError.badRequest(`Invalid input for field/attribute ${k}. Value: ${pyRepr(v)}. ${pyRepr(v)} is not of type 'string'`);
      if (!ON_OFF.includes(v)) throw ApiError.badRequest(`Invalid input for field/attribute ${k}. Value: ${v}. '${v}' is not one of [${ON_OFF.map((x) => `'${x}'`).join(', ')}]`);
    }
    if (!('status' in b) && !('maintenance_mode' in b)) throw ApiError.badRequest(`${pyRepr(b)} is not valid under any of the given schemas`);
    return { status: b.status as string | undefined, maintenance_mode: b.maintenance_mode as string | undefined };
  }

  /**
   * GET /os-hosts/{host}/startup|shutdown|reboot: Nova passes these to the virt driver; libvirt
   * (like every Kumo driver: an agent does not power its own node) raises NotImplementedError, which
   * Nova answers with 501 once the host is known to exist.
   */
  async powerAction(auth: AuthContext, host: string, action: 'startup' | 'shutdown' | 'reboot') {
    this.enforce(action === 'startup' ? 'start' : action, auth);
    await this.node(host);
    throw new ApiError(501, 'The requested functionality is not supported.');
  }
}
