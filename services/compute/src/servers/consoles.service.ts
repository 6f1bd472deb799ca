import { createHash, randomUUID } from 'node:crypto';
import { Controller, Get, Inject, Injectable, Query, Req, Res } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { type ConsoleAuthReply, type ConsoleAuthRequest, RpcError, rpcPattern } from '@kumo/contracts';
import { ApiError, type AuthContext, KUMO_CONFIG, PolicyService, Public } from '@kumo/service-kit';
import type { Request, Response } from 'express';
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
 * domain's VNC socket the proxy connects to) and a URL `<proxy page>?token=`.
 *
 * Design (as nova-novncproxy, one proxy per node): the noVNC websocket proxy runs inside each
 * node's compute agent (agent/console-proxy.ts, `KUMO_AGENT_CONSOLE_LISTEN`, e.g. :6080), next to
 * the VNC unix sockets it must reach — a proxy in this API process could only reach sockets of
 * its own machine. The agent reports its page's URL with its heartbeat (`compute_node.console_url`)
 * and the URL handed out here points at the proxy of the server's host. Agents hold no database
 * credentials, so the proxy checks each token with the RPC `compute.console_auth` (authorize()).
 * SPICE and serial are "unavailable console types", as in Nova with its defaults ([spice] and
 * [serial_console] off).
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
    const base = (await this.proxyUrlOf(i.host)) ?? this.config.KUMO_COMPUTE_NOVNC_URL ?? `${apiBase}/vnc_auto.html`;
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

  /** The page of the noVNC proxy on `host`, as its agent last reported it (none: that agent runs no proxy). */
  async proxyUrlOf(host: string): Promise<string | undefined> {
    const [row] = await this.db.rows<{ console_url: string | null }>(`SELECT console_url FROM ${this.db.t('compute_node')} WHERE host = $1`, [host]);
    return row?.console_url ?? undefined;
  }

  /** The console a valid, unexpired token opens, while its server lives on the same host; undefined otherwise. */
  async resolve(token: string): Promise<{ instance_id: string; host: string; console_type: string; internal_access_path: string; expires: Date } | undefined> {
    if (!token) return undefined;
    const [row] = await this.db.rows<{ instance_id: string; host: string; console_type: string; internal_access_path: string; expires: Date }>(
      `SELECT t.instance_id, t.host, t.console_type, t.internal_access_path, t.expires FROM ${this.db.t('console_auth_token')} t JOIN ${this.db.t('instance')} i ON i.id = t.instance_id
        WHERE t.token_hash = $1 AND t.expires > now() AND i.vm_state <> 'deleted' AND i.deleted_at IS NULL AND i.task_state IS DISTINCT FROM 'deleting' AND i.host = t.host`,
      [hashOf(token)],
    );
    return row;
  }

  /**
   * `compute.console_auth`: a node's proxy checks a token for one of its hosts. Every refusal is
   * the same `not_found` (Nova's "Invalid Token"), so the reply does not tell a guesser which
   * tokens exist; the reason is only logged by the proxy as "invalid, expired, or not for this node".
   */
  async authorize(req: ConsoleAuthRequest): Promise<ConsoleAuthReply> {
    const refused = () => new RpcError({ code: 'not_found', message: 'The console token is invalid or has expired, its server was deleted or moved, or it is for another host.' });
    if (!req || typeof req.token !== 'string' || !req.token || !Array.isArray(req.hosts)) throw refused();
    const c = await this.resolve(req.token);
    if (!c || !req.hosts.includes(c.host)) throw refused();
    return { instanceId: c.instance_id, host: c.host, consoleType: c.console_type, internalAccessPath: c.internal_access_path, expires: new Date(c.expires).toISOString() };
  }
}

/** The node proxies' RPC (agents have no database credentials). */
@Controller()
export class ConsoleAuthController {
  constructor(private readonly consoles: ConsolesService) {}

  @MessagePattern(rpcPattern('compute', 'console_auth'))
  async auth(@Payload() req: ConsoleAuthRequest): Promise<ConsoleAuthReply> {
    return this.consoles.authorize(req);
  }
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, text: string): string {
  return `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${escape(title)}</title></head><body><h1>${escape(title)}</h1><p>${escape(text)}</p></body></html>\n`;
}

/**
 * Where console URLs point when the server's host reports no proxy and KUMO_COMPUTE_NOVNC_URL is
 * unset (an agent started without KUMO_AGENT_CONSOLE_LISTEN, or one older than the proxy), and
 * where older URLs of this API keep working. The token is the credential (as with
 * nova-novncproxy), so the route is public: 401 for an unknown or expired token; for a valid one a
 * redirect to the proxy of its host if that host now has one, else 503 saying what to start.
 */
@Public()
@Controller()
export class ConsoleProxyController {
  constructor(private readonly consoles: ConsolesService) {}

  @Get('vnc_auto.html')
  async vnc(@Query('token') token: unknown, @Req() req: Request, @Res() res: Response): Promise<void> {
    // noVNC's own form of the URL: `?path=%3Ftoken%3D<token>` (Nova's access_url).
    const path = req.query.path;
    const t = typeof token === 'string' ? token : typeof path === 'string' ? new URLSearchParams(path.replace(/^[^?]*\?/, '')).get('token') : undefined;
    const c = t ? await this.consoles.resolve(t) : undefined;
    res.type('html');
    if (!c) {
      res.status(401).send(page('Console unavailable', 'The console token is invalid or has expired, or its server was deleted or moved. Ask for a new console URL (openstack console url show <server>).'));
      return;
    }
    const proxy = await this.consoles.proxyUrlOf(c.host);
    if (proxy) {
      res.redirect(302, `${proxy}${proxy.includes('?') ? '&' : '?'}token=${encodeURIComponent(t!)}`);
      return;
    }
    res
      .status(503)
      .send(
        page(
          'No console proxy on this compute host',
          `The token is valid: it opens the VNC console of server ${c.instance_id} on compute host ${c.host}. ` +
            `But the compute agent of ${c.host} runs no noVNC proxy, so the console cannot be shown. ` +
            'Start that agent with KUMO_AGENT_CONSOLE_LISTEN (e.g. 0.0.0.0:6080), wait for its next heartbeat and ask for a new console URL.',
        ),
      );
  }
}
