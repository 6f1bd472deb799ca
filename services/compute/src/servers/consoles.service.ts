import { createHash, randomUUID } from 'node:crypto';
import { Controller, Get, Inject, Injectable, Query, Res } from '@nestjs/common';
import { RpcError } from '@kumo/contracts';
import { ApiError, type AuthContext, KUMO_CONFIG, PolicyService, Public } from '@kumo/service-kit';
import type { Response } from 'express';
import { invalid, type Json } from '../common/nova.js';
import type { ComputeConfig } from '../config.js';
import { ConductorService } from '../conductor/conductor.service.js';
import { Db } from '../db/db.js';
import { ServersService } from './servers.service.js';

/** The 2.1 remote console actions, Nova's operation names (for 409 messages) and the types its schemas allow. */
export const CONSOLE_ACTIONS: Record<string, { op: string; types: string[] }> = {
  'os-getVNCConsole': { op: 'get_vnc_console', types: ['novnc', 'xvpvnc'] },
  'os-getSPICEConsole': { op: 'get_spice_console', types: ['spice-html5'] },
  'os-getSerialConsole': { op: 'get_serial_console', types: ['serial'] },
};

function hashOf(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Remote consoles at 2.1 (os-getVNCConsole / os-getSPICEConsole / os-getSerialConsole). A VNC
 * console is a token (Nova's console_auth_tokens: only its hash is stored, with the host and the
 * domain's VNC socket a proxy would connect to) and a URL `…/vnc_auto.html?token=`. This build has
 * no noVNC websocket proxy: the URL's page checks the token and says so. SPICE and serial are
 * "unavailable console types", as in Nova with its defaults ([spice] and [serial_console] off).
 */
@Injectable()
export class ConsolesService {
  constructor(
    private readonly db: Db,
    private readonly servers: ServersService,
    private readonly conductor: ConductorService,
    private readonly policy: PolicyService,
    @Inject(KUMO_CONFIG) private readonly config: ComputeConfig,
  ) {}

  async create(auth: AuthContext, id: string, action: string, arg: unknown, apiBase: string): Promise<{ type: string; url: string }> {
    const { op, types } = CONSOLE_ACTIONS[action]!;
    if (!arg || typeof arg !== 'object' || Array.isArray(arg)) throw invalid(action, arg, `${JSON.stringify(arg ?? null)} is not of type 'object'`);
    const type = (arg as Json).type;
    if (type === undefined) throw invalid(action, arg, "'type' is a required property");
    if (typeof type !== 'string' || !types.includes(type)) throw invalid('type', type, `${JSON.stringify(type)} is not one of ${JSON.stringify(types).replace(/"/g, "'").replace(/,/g, ', ')}`);
    const i = await this.servers.find(auth, id);
    this.policy.enforce('servers:remote_consoles', auth, { project_id: i.project_id });
    if (!i.host) throw ApiError.conflict(`Instance ${i.id} is not ready`);
    if (i.vm_state !== 'active' || i.task_state === 'deleting') throw ApiError.conflict(`Cannot '${op}' instance ${i.id} while it is in vm_state ${i.vm_state}`);
    if (type !== 'novnc') throw ApiError.badRequest(`Unavailable console type ${type}.`);
    let vncSocket: string | undefined;
    try {
      vncSocket = (await this.conductor.consoleEndpoints(i)).vncSocket;
    } catch (err) {
      if (err instanceof RpcError && err.code === 'not_found') throw ApiError.conflict(`Instance ${i.id} is not ready`);
      throw ApiError.conflict(`The console of instance ${i.id} is not available: ${(err as Error).message}`);
    }
    // A domain defined without VNC (Nova: ConsoleTypeUnavailable).
    if (!vncSocket) throw ApiError.badRequest(`Unavailable console type ${type}.`);
    const token = randomUUID();
    await this.db.exec(`DELETE FROM ${this.db.t('console_auth_token')} WHERE expires < now()`);
    await this.db.exec(
      `INSERT INTO ${this.db.t('console_auth_token')} (token_hash, instance_id, console_type, host, internal_access_path, expires) VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))`,
      [hashOf(token), i.id, type, i.host, vncSocket, this.config.KUMO_COMPUTE_CONSOLE_TOKEN_TTL_S],
    );
    const base = this.config.KUMO_COMPUTE_NOVNC_URL ?? `${apiBase}/vnc_auto.html`;
    return { type, url: `${base}${base.includes('?') ? '&' : '?'}token=${token}` };
  }

  /**
   * `POST /servers/{id}/remote-consoles` (2.6; `mks`/`webmks` from 2.8): the same consoles as the
   * 2.1 actions, chosen by protocol. Nova's request schema pins the enums per version (a value
   * outside them is 400 before the server is looked up); a type that does not belong to its
   * protocol is Nova's ConsoleTypeInvalid (400). RDP and MKS have no driver here: "unavailable",
   * as in Nova with [rdp] and [mks] off — but only after the server is found (another project's
   * server stays a 404).
   */
  async createRemote(auth: AuthContext, id: string, raw: unknown, apiBase: string, version: number): Promise<{ protocol: string; type: string; url: string }> {
    const protocols = ['vnc', 'spice', 'rdp', 'serial', ...(version >= 2008 ? ['mks'] : [])];
    const types = ['novnc', 'xvpvnc', 'rdp-html5', 'spice-html5', 'serial', ...(version >= 2008 ? ['webmks'] : [])];
    const rc = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Json).remote_console : undefined;
    if (!rc || typeof rc !== 'object' || Array.isArray(rc)) throw ApiError.badRequest("Invalid input for field/attribute remote_console. 'remote_console' is a required property");
    const o = rc as Json;
    for (const k of Object.keys(o)) if (k !== 'protocol' && k !== 'type') throw invalid('remote_console', o, `Additional properties are not allowed ('${k}' was unexpected)`);
    const enumMsg = (list: string[]) => `is not one of ${JSON.stringify(list).replace(/"/g, "'").replace(/,/g, ', ')}`;
    if (o.protocol === undefined) throw invalid('remote_console', o, "'protocol' is a required property");
    if (o.type === undefined) throw invalid('remote_console', o, "'type' is a required property");
    if (typeof o.protocol !== 'string' || !protocols.includes(o.protocol)) throw invalid('protocol', o.protocol, `${JSON.stringify(o.protocol)} ${enumMsg(protocols)}`);
    if (typeof o.type !== 'string' || !types.includes(o.type)) throw invalid('type', o.type, `${JSON.stringify(o.type)} ${enumMsg(types)}`);
    const protocol = o.protocol;
    const type = o.type;
    const action = { vnc: 'os-getVNCConsole', spice: 'os-getSPICEConsole', serial: 'os-getSerialConsole' }[protocol as 'vnc'];
    const allowed = action ? CONSOLE_ACTIONS[action]!.types : protocol === 'rdp' ? ['rdp-html5'] : ['webmks'];
    if (!allowed.includes(type)) throw ApiError.badRequest(`Invalid console type ${type}`);
    if (!action) {
      const i = await this.servers.find(auth, id);
      this.policy.enforce('servers:remote_consoles', auth, { project_id: i.project_id });
      throw ApiError.badRequest(`Unavailable console type ${type}.`);
    }
    const c = await this.create(auth, id, action, { type }, apiBase);
    return { protocol, type: c.type, url: c.url };
  }

  /** The console a valid, unexpired token opens, while its server lives on the same host; undefined otherwise. */
  async resolve(token: string): Promise<{ instance_id: string; host: string; console_type: string } | undefined> {
    if (!token) return undefined;
    const [row] = await this.db.rows<{ instance_id: string; host: string; console_type: string }>(
      `SELECT t.instance_id, t.host, t.console_type FROM ${this.db.t('console_auth_token')} t JOIN ${this.db.t('instance')} i ON i.id = t.instance_id
        WHERE t.token_hash = $1 AND t.expires > now() AND i.vm_state <> 'deleted' AND i.host = t.host`,
      [hashOf(token)],
    );
    return row;
  }
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, text: string): string {
  return `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${escape(title)}</title></head><body><h1>${escape(title)}</h1><p>${escape(text)}</p></body></html>\n`;
}

/**
 * Where os-getVNCConsole URLs point (unless KUMO_COMPUTE_NOVNC_URL names a real noVNC proxy). The
 * token is the credential (as with nova-novncproxy), so the route is public. It validates the
 * token and then says plainly that there is no proxy: 501 for a valid token, 401 otherwise.
 */
@Public()
@Controller()
export class ConsoleProxyController {
  constructor(private readonly consoles: ConsolesService) {}

  @Get('vnc_auto.html')
  async vnc(@Query('token') token: unknown, @Res() res: Response): Promise<void> {
    const c = typeof token === 'string' ? await this.consoles.resolve(token) : undefined;
    res.type('html');
    if (!c) {
      res.status(401).send(page('Console unavailable', 'The console token is invalid or has expired. Ask for a new console URL (os-getVNCConsole).'));
      return;
    }
    res
      .status(501)
      .send(
        page(
          'VNC console not available in this build',
          `The token is valid: it opens the VNC console of server ${c.instance_id} on compute host ${c.host}. ` +
            'But the noVNC websocket proxy is not part of this build of Kumo, so the console cannot be shown here.',
        ),
      );
  }
}
