import { Body, Controller, HttpCode, Injectable, Post, Req, Res } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, PolicyService } from '@kumo/service-kit';
import type { Request, Response } from 'express';
import { invalid, type Json } from '../common/nova.js';
import { PortsRefresher } from '../conductor/ports-refresher.js';
import { Db } from '../db/db.js';
import { microversionOf } from '../versions/microversion.js';
import { isUuid } from './instances.repository.js';

/** Event names of Nova's request schema per microversion (2.51 added volume-extended, above Kumo's 2.47). */
function eventNames(version: number): string[] {
  const names = ['network-changed', 'network-vif-plugged', 'network-vif-unplugged', 'network-vif-deleted'];
  return version >= 2051 ? [...names, 'volume-extended'] : names;
}

const STATUSES = ['failed', 'completed', 'in-progress'];

export interface ExternalEvent {
  server_uuid: string;
  name: string;
  status?: string;
  tag?: string;
  code?: number;
}

/** Nova's body schema (server_external_events.create): 400 on anything else, before the policy check as in Nova. */
export function parseEvents(raw: unknown, version: number): ExternalEvent[] {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw ApiError.badRequest("Invalid input for request body. 'events' is a required property");
  for (const k of Object.keys(raw)) if (k !== 'events') throw invalid('request body', raw, `Additional properties are not allowed ('${k}' was unexpected)`);
  const events = (raw as Json).events;
  if (events === undefined) throw ApiError.badRequest("Invalid input for request body. 'events' is a required property");
  if (!Array.isArray(events)) throw invalid('events', events, "is not of type 'array'");
  if (events.length === 0) throw invalid('events', events, '[] is too short');
  const names = eventNames(version);
  return events.map((e: unknown) => {
    if (!e || typeof e !== 'object' || Array.isArray(e)) throw invalid('events', e, "is not of type 'object'");
    const o = e as Json;
    for (const k of Object.keys(o)) if (!['server_uuid', 'name', 'status', 'tag'].includes(k)) throw invalid('events', o, `Additional properties are not allowed ('${k}' was unexpected)`);
    if (o.server_uuid === undefined) throw invalid('events', o, "'server_uuid' is a required property");
    if (o.name === undefined) throw invalid('events', o, "'name' is a required property");
    if (typeof o.server_uuid !== 'string' || !isUuid(o.server_uuid)) throw invalid('server_uuid', o.server_uuid, "is not a 'uuid'");
    if (typeof o.name !== 'string' || !names.includes(o.name)) throw invalid('name', o.name, `is not one of ${JSON.stringify(names)}`);
    if (o.status !== undefined && (typeof o.status !== 'string' || !STATUSES.includes(o.status))) throw invalid('status', o.status, `is not one of ${JSON.stringify(STATUSES)}`);
    if (o.tag !== undefined && (typeof o.tag !== 'string' || o.tag.length > 255)) throw invalid('tag', o.tag, "is not a string of at most 255 characters");
    return { ...(o as unknown as ExternalEvent) };
  });
}

/**
 * os-server-external-events: the network (or volume) service tells compute that something about a
 * server changed. Each event is answered on its own: 200 accepted, 404 unknown (or deleted)
 * server, 422 server without a host yet; the whole answer is 200 when all were accepted, 207 when
 * some were not, and 404 when none was (Nova's server_external_events.create).
 *
 * What an accepted event does here: network-changed and network-vif-deleted re-read the
 * server's ports (the same level-triggered refresh as the network service's own events);
 * vif-plugged/unplugged are acknowledged only — no boot waits for them in Kumo (the network
 * service's port is bound before the spawn).
 */
@Injectable()
export class ExternalEventsService {
  constructor(
    private readonly db: Db,
    private readonly policy: PolicyService,
    private readonly refresher: PortsRefresher,
  ) {}

  async create(auth: AuthContext, raw: unknown, version: number): Promise<{ code: number; events: ExternalEvent[] }> {
    const events = parseEvents(raw, version);
    this.policy.enforce('os_compute_api:os-server-external-events:create', auth, {});
    const ids = [...new Set(events.map((e) => e.server_uuid.toLowerCase()))];
    const rows = await this.db.rows<{ id: string; host: string | null }>(`SELECT id, host FROM ${this.db.t('instance')} WHERE id = ANY($1::uuid[]) AND vm_state <> 'deleted'`, [ids]);
    const hosts = new Map(rows.map((r) => [r.id, r.host]));
    let code = 200;
    const refresh = new Set<string>();
    for (const e of events) {
      const id = e.server_uuid.toLowerCase();
      if (!hosts.has(id)) {
        Object.assign(e, { status: 'failed', code: 404 });
        code = 207;
      } else if (!hosts.get(id)) {
        // Nova cannot dispatch an event to an instance without a host (not scheduled, or shelved offloaded).
        Object.assign(e, { status: 'failed', code: 422 });
        code = 207;
      } else {
        e.code = 200;
        if (e.name === 'network-changed' || e.name === 'network-vif-deleted') refresh.add(id);
      }
    }
    if (!events.some((e) => e.code === 200)) throw ApiError.notFound('No instances found for any event');
    if (refresh.size) await this.refresher.touch({ deviceIds: [...refresh] });
    return { code, events };
  }
}

@Controller('v2.1/os-server-external-events')
export class ExternalEventsController {
  constructor(private readonly events: ExternalEventsService) {}

  /** 200 or 207 (Nova's multi-status), written here rather than by Nest's fixed @HttpCode. */
  @Post()
  @HttpCode(200)
  async create(@Auth() auth: AuthContext, @Body() body: unknown, @Req() req: Request, @Res() res: Response) {
    const out = await this.events.create(auth, body, microversionOf(req));
    res.status(out.code).json({ events: out.events });
  }
}
