import { Body, Controller, Delete, Get, HttpCode, Param, Put, Req } from '@nestjs/common';
import { Auth, type AuthContext, requestBaseUrl } from '@kumo/service-kit';
import type { Request } from 'express';
import { callerOf, type Caller, invalidInput, notFound, policyRefused, requireWrite } from '../api/common.js';
import { listResponse } from '../api/list.js';
import type { Row } from '../db/core.js';
import { FloatingIpsService } from '../floatingips/floatingips.service.js';
import { NetworksService } from '../networks/networks.service.js';
import { PortsService } from '../ports/ports.service.js';
import { RoutersService } from '../routers/routers.service.js';
import { SecurityGroupsService } from '../security-groups/security-groups.service.js';
import { SubnetPoolsService } from '../subnetpools/subnetpools.service.js';
import { SubnetsService } from '../subnets/subnets.service.js';
import { EXTENSIONS } from './extensions.js';

const RESOURCES = ['network', 'subnet', 'subnetpool', 'port', 'router', 'floatingip', 'security_group', 'security_group_rule', 'quota', 'extension', 'availability_zone', 'agent'];
const plural = (r: string) => (r === 'quota' ? 'quotas' : `${r}s`);

/** The v2.0 root, extensions, availability zones, agents and the tags sub-resource. */
@Controller('v2.0')
export class InfoController {
  constructor(
    private readonly networks: NetworksService,
    private readonly subnets: SubnetsService,
    private readonly ports: PortsService,
    private readonly routers: RoutersService,
    private readonly fips: FloatingIpsService,
    private readonly groups: SecurityGroupsService,
    private readonly pools: SubnetPoolsService,
  ) {}

  @Get()
  root(@Req() req: Request) {
    const base = requestBaseUrl(req);
    return {
      resources: RESOURCES.map((name) => {
        const collection = plural(name).replace(/_/g, '-').replace('floatingips', 'floatingips');
        return { name, collection: plural(name), links: [{ rel: 'self', href: `${base}/v2.0/${collection}` }] };
      }),
    };
  }

  @Get('extensions')
  extensions(@Req() req: Request) {
    return listResponse('extensions', EXTENSIONS, req);
  }

  /** Clients probe optional features by alias and expect 404 NeutronError when they are absent. */
  @Get('extensions/:alias')
  extension(@Param('alias') alias: string) {
    const e = EXTENSIONS.find((x) => x.alias === alias);
    if (!e) throw notFound('HTTPNotFound', `Extension with alias ${alias} does not exist`);
    return { extension: e };
  }

  @Get('availability_zones')
  zones(@Req() req: Request) {
    return listResponse('availability_zones', [
      { name: 'nova', resource: 'network', state: 'available' },
      { name: 'nova', resource: 'router', state: 'available' },
    ], req);
  }

  /**
   * No agents report to the API yet (the dataplane is a separate issue): an empty, well-formed
   * list. Neutron answers non-admins with an empty list too (agents are filtered by policy).
   */
  @Get('agents')
  agents(@Req() req: Request) {
    return listResponse('agents', [], req);
  }

  @Get('agents/:id')
  agent(@Param('id') id: string) {
    throw notFound('AgentNotFound', `Agent ${id} could not be found.`);
  }

  // ------------------------------------------------------------------ tags

  private async target(c: Caller, resource: string, id: string, write: boolean): Promise<{ table: string; row: Row }> {
    const get: Record<string, [string, () => Promise<Row>]> = {
      networks: ['network', () => this.networks.get(c, id)],
      subnets: ['subnet', () => this.subnets.get(c, id)],
      ports: ['port', () => this.ports.get(c, id)],
      routers: ['router', () => this.routers.get(c, id)],
      floatingips: ['floatingip', () => this.fips.get(c, id)],
      'security-groups': ['security_group', () => this.groups.get(c, id)],
      security_groups: ['security_group', () => this.groups.get(c, id)],
      subnetpools: ['subnetpool', () => this.pools.get(c, id)],
    };
    const entry = get[resource];
    if (!entry) throw notFound('HTTPNotFound', `The resource could not be found: ${resource} has no tags.`);
    const row = await entry[1]();
    if (write) {
      requireWrite(c, `update_${entry[0]}:tags`);
      if (!c.isAdmin && row.project_id !== c.projectId) throw policyRefused(`update_${entry[0]}:tags`);
    }
    return { table: entry[0], row };
  }

  private async setTags(table: string, id: string, tags: string[]) {
    await this.networks.core.db.exec(`UPDATE ${this.networks.core.t(table)} SET tags = $2, revision_number = revision_number + 1, updated_at = now() WHERE id = $1`, [id, tags]);
  }

  @Get(':resource/:id/tags')
  async tags(@Auth() a: AuthContext, @Param('resource') resource: string, @Param('id') id: string) {
    const { row } = await this.target(callerOf(a), resource, id, false);
    return { tags: row.tags };
  }

  @Get(':resource/:id/tags/:tag')
  @HttpCode(204)
  async hasTag(@Auth() a: AuthContext, @Param('resource') resource: string, @Param('id') id: string, @Param('tag') tag: string) {
    const { row } = await this.target(callerOf(a), resource, id, false);
    if (!(row.tags as string[]).includes(tag)) throw notFound('TagNotFound', `Tag ${tag} could not be found for ${resource} ${id}.`);
  }

  @Put(':resource/:id/tags')
  async replaceTags(@Auth() a: AuthContext, @Param('resource') resource: string, @Param('id') id: string, @Body() body: { tags?: unknown }) {
    const { table } = await this.target(callerOf(a), resource, id, true);
    const tags = body?.tags;
    if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string' || !t || t.length > 255)) throw invalidInput('send {"tags": ["tag", ...]} with non-empty strings.');
    const unique = [...new Set(tags as string[])];
    await this.setTags(table, id, unique);
    return { tags: unique };
  }

  @Put(':resource/:id/tags/:tag')
  @HttpCode(201)
  async addTag(@Auth() a: AuthContext, @Param('resource') resource: string, @Param('id') id: string, @Param('tag') tag: string) {
    const { table, row } = await this.target(callerOf(a), resource, id, true);
    if (tag.length > 255) throw invalidInput('a tag is at most 255 characters.');
    const tags = row.tags as string[];
    if (!tags.includes(tag)) await this.setTags(table, id, [...tags, tag]);
  }

  @Delete(':resource/:id/tags')
  @HttpCode(204)
  async clearTags(@Auth() a: AuthContext, @Param('resource') resource: string, @Param('id') id: string) {
    const { table } = await this.target(callerOf(a), resource, id, true);
    await this.setTags(table, id, []);
  }

  @Delete(':resource/:id/tags/:tag')
  @HttpCode(204)
  async deleteTag(@Auth() a: AuthContext, @Param('resource') resource: string, @Param('id') id: string, @Param('tag') tag: string) {
    const { table, row } = await this.target(callerOf(a), resource, id, true);
    const tags = row.tags as string[];
    if (!tags.includes(tag)) throw notFound('TagNotFound', `Tag ${tag} could not be found for ${resource} ${id}.`);
    await this.setTags(table, id, tags.filter((t) => t !== tag));
  }
}
