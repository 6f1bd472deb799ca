import { Controller, Get, Query, Req } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, PolicyService } from '@kumo/service-kit';
import type { Request } from 'express';
import { listLinks, v3Base } from '../common/http.js';
import { type Json, queryBool, queryStr } from '../common/validate.js';
import { Db } from '../db/db.service.js';

interface Assignment {
  actor_type: 'user' | 'group';
  actor_id: string;
  target_type: 'project' | 'domain' | 'system';
  target_id: string;
  role_id: string;
  inherited: boolean;
}

interface Entry extends Assignment {
  links: Json;
}

/**
 * GET /v3/role_assignments. Without `effective` it lists what was granted. With `effective` it
 * lists what applies: group grants become one entry per member (links.membership), grants
 * inherited to projects become one entry per project below, implied roles are added
 * (links.prior_role) — the same rules the token issuer uses.
 */
@Controller('v3/role_assignments')
export class AssignmentsController {
  constructor(
    private readonly db: Db,
    private readonly policy: PolicyService,
  ) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Req() req: Request, @Query() q: Record<string, unknown>) {
    const f = {
      userId: queryStr(q['user.id']),
      groupId: queryStr(q['group.id']),
      roleId: queryStr(q['role.id']),
      projectId: queryStr(q['scope.project.id']),
      domainId: queryStr(q['scope.domain.id']),
      system: queryStr(q['scope.system']),
      inheritedTo: queryStr(q['scope.OS-INHERIT:inherited_to']),
      effective: q.effective !== undefined && queryBool(q.effective) !== false,
      names: q.include_names !== undefined && queryBool(q.include_names) !== false,
      subtree: q.include_subtree !== undefined && queryBool(q.include_subtree) !== false,
    };
    this.policy.enforce('identity:list_role_assignments', auth, { user_id: f.userId ?? '', project_id: f.projectId ?? '', domain_id: f.domainId ?? '' });
    if (f.effective && f.groupId) throw ApiError.badRequest('Specifying group.id together with effective is not allowed.');
    if (f.projectId && f.domainId) throw ApiError.badRequest('Specify scope.project.id or scope.domain.id, not both.');
    if (f.subtree && !f.projectId) throw ApiError.badRequest('include_subtree needs scope.project.id.');
    const base = v3Base(req);
    const all = await this.db.q<Assignment>(`SELECT * FROM identity.assignment`);
    const link = (a: Assignment) => {
      const t = a.target_type === 'system' ? 'system' : `${a.target_type}s/${a.target_id}`;
      return `${base}${a.inherited ? '/OS-INHERIT' : ''}/${t}/${a.actor_type}s/${a.actor_id}/roles/${a.role_id}${a.inherited ? '/inherited_to_projects' : ''}`;
    };
    let entries: Entry[] = all.map((a) => ({ ...a, links: { assignment: link(a) } }));

    if (f.effective) {
      const members = await this.db.q<{ group_id: string; user_id: string }>(`SELECT * FROM identity.group_member`);
      const projects = await this.db.q<{ id: string; domain_id: string; parent_id: string | null }>(`SELECT id, domain_id, parent_id FROM identity.project`);
      const implied = await this.db.q<{ prior_role_id: string; implied_role_id: string }>(`SELECT * FROM identity.implied_role`);
      const below = (a: Assignment): string[] => {
        if (a.target_type === 'domain') return projects.filter((p) => p.domain_id === a.target_id).map((p) => p.id);
        const out: string[] = [];
        const walk = (id: string) => projects.filter((p) => p.parent_id === id).forEach((p) => (out.push(p.id), walk(p.id)));
        walk(a.target_id);
        return out;
      };
      let expanded: Entry[] = [];
      for (const e of entries) {
        const targets: Entry[] = e.inherited ? below(e).map((pid) => ({ ...e, target_type: 'project' as const, target_id: pid, inherited: false })) : [e];
        for (const t of targets) {
          if (t.actor_type === 'group') {
            for (const m of members.filter((m) => m.group_id === t.actor_id)) {
              expanded.push({ ...t, actor_type: 'user', actor_id: m.user_id, links: { ...t.links, membership: `${base}/groups/${t.actor_id}/users/${m.user_id}` } });
            }
          } else expanded.push(t);
        }
      }
      const withImplied: Entry[] = [];
      for (const e of expanded) {
        withImplied.push(e);
        const seen = new Set([e.role_id]);
        const queue = [e.role_id];
        while (queue.length) {
          const r = queue.shift()!;
          for (const i of implied.filter((i) => i.prior_role_id === r)) {
            if (seen.has(i.implied_role_id)) continue;
            seen.add(i.implied_role_id);
            queue.push(i.implied_role_id);
            withImplied.push({ ...e, role_id: i.implied_role_id, links: { ...e.links, prior_role: `${base}/roles/${e.role_id}` } });
          }
        }
      }
      const key = (e: Entry) => `${e.actor_type}|${e.actor_id}|${e.target_type}|${e.target_id}|${e.role_id}`;
      const uniq = new Map<string, Entry>();
      for (const e of withImplied) if (!uniq.has(key(e))) uniq.set(key(e), e);
      // Domain-specific roles never reach a token: only the global roles they imply count.
      const domainRoles = new Set((await this.db.q<{ id: string }>(`SELECT id FROM identity.role WHERE domain_id IS NOT NULL`)).map((r) => r.id));
      expanded = [...uniq.values()].filter((e) => !domainRoles.has(e.role_id));
      entries = expanded;
    }

    let projectScope: Set<string> | undefined;
    if (f.projectId) {
      projectScope = new Set([f.projectId]);
      if (f.subtree) {
        const rows = await this.db.q<{ id: string }>(
          `WITH RECURSIVE d AS (SELECT id FROM identity.project WHERE parent_id = $1 UNION ALL SELECT p.id FROM identity.project p JOIN d ON p.parent_id = d.id) SELECT id FROM d`,
          [f.projectId],
        );
        rows.forEach((r) => projectScope!.add(r.id));
      }
    }
    entries = entries.filter(
      (e) =>
        (!f.userId || (e.actor_type === 'user' && e.actor_id === f.userId)) &&
        (!f.groupId || (e.actor_type === 'group' && e.actor_id === f.groupId)) &&
        (!f.roleId || e.role_id === f.roleId) &&
        (!projectScope || (e.target_type === 'project' && projectScope.has(e.target_id))) &&
        (!f.domainId || (e.target_type === 'domain' && e.target_id === f.domainId)) &&
        (f.system === undefined || e.target_type === 'system') &&
        (!f.inheritedTo || e.inherited),
    );

    const names = f.names ? await this.lookups() : undefined;
    const out = entries.map((e) => {
      const scope: Json =
        e.target_type === 'system'
          ? { system: { all: true } }
          : { [e.target_type]: names ? this.named(names, e.target_type, e.target_id) : { id: e.target_id } };
      if (e.inherited) scope['OS-INHERIT:inherited_to'] = 'projects';
      return {
        role: names ? this.named(names, 'role', e.role_id) : { id: e.role_id },
        [e.actor_type]: names ? this.named(names, e.actor_type, e.actor_id) : { id: e.actor_id },
        scope,
        links: e.links,
      };
    });
    return { role_assignments: out, links: listLinks(req) };
  }

  private async lookups() {
    const [domains, projects, users, groups, roles] = await Promise.all([
      this.db.q<Json>(`SELECT id, name FROM identity.domain`),
      this.db.q<Json>(`SELECT id, name, domain_id FROM identity.project`),
      this.db.q<Json>(`SELECT id, name, domain_id FROM identity.users`),
      this.db.q<Json>(`SELECT id, name, domain_id FROM identity.groups`),
      this.db.q<Json>(`SELECT id, name, domain_id FROM identity.role`),
    ]);
    const m = (rows: Json[]) => new Map(rows.map((r) => [r.id as string, r]));
    return { domain: m(domains), project: m(projects), user: m(users), group: m(groups), role: m(roles) };
  }

  private named(n: Awaited<ReturnType<AssignmentsController['lookups']>>, kind: 'domain' | 'project' | 'user' | 'group' | 'role', id: string): Json {
    const row = n[kind].get(id);
    if (!row) return { id };
    const out: Json = { id, name: row.name };
    if (kind !== 'domain' && row.domain_id) {
      const d = n.domain.get(row.domain_id as string);
      out.domain = { id: row.domain_id, name: d?.name };
    }
    return out;
  }
}
