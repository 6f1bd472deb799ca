import type { ServiceDefinition } from '@kumo/service-kit';
import { createTestDatabase, createTestVhost, startTestService, type TestDatabase, type TestService, type TestVhost } from '@kumo/service-kit/testing';
import { client, type ComputeEnv, type Project, request, startComputeEnv } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';

// The real network service (services/network), in-process on its own database and vhost, sharing the
// identity stand-in with compute; compute reaches it over HTTP with KUMO_NETWORK_URL.
const NETWORK_SERVICE = '../../network/src/service.js';

let env: ComputeEnv;
let c: ReturnType<typeof client>;
let net: { svc: TestService; db: TestDatabase; vhost: TestVhost; closed: boolean };

beforeAll(async () => {
  const { networkService } = (await import(NETWORK_SERVICE)) as { networkService: ServiceDefinition };
  env = await startComputeEnv({
    hosts: ['sg-1'],
    peers: async (identityUrl) => {
      const [db, vhost] = await Promise.all([createTestDatabase('kumo_network_test'), createTestVhost('kumo-network-test')]);
      const svc = await startTestService(networkService, { databaseUrl: db.url, amqpUrl: vhost.url, env: { KUMO_IDENTITY_URL: identityUrl } });
      net = { svc, db, vhost, closed: false };
      return { KUMO_NETWORK_URL: svc.url };
    },
  });
  c = client(env);
}, 120000);
afterAll(async () => {
  await env?.close();
  if (net && !net.closed) await net.svc.close();
  if (net) await Promise.all([net.db.drop(), net.vhost.delete()]);
});

const expectSchema = (name: string, res: { status: number; json: unknown }) => expect(tempestErrors(name, res.status, res.json)).toEqual([]);
const neutron = (who: Project, method: string, url: string, json?: unknown) => request(net.svc.url, method, url, { token: who.token, json });
const group = async (who: Project, name: string, description = `${name} group`) => {
  const res = await c.r('POST', '/os-security-groups', who, { json: { security_group: { name, description } } });
  expectSchema('security_groups.create_security_group', res);
  return res.json.security_group as { id: string; name: string; tenant_id: string; rules: unknown[] };
};
const rule = (who: Project, body: Record<string, unknown>) => c.r('POST', '/os-security-group-rules', who, { json: { security_group_rule: body } });

describe('os-security-groups through the network service', () => {
  it('creates, lists, shows, updates and deletes groups and rules in Nova shapes', async () => {
    const web = await group(env.a, 'web', 'web servers');
    expect(web).toEqual({ id: web.id, name: 'web', description: 'web servers', tenant_id: env.a.id, rules: [] });

    const list = await c.r('GET', '/os-security-groups', env.a);
    expectSchema('security_groups.list_security_groups', list);
    const names = list.json.security_groups.map((g: { name: string }) => g.name);
    expect(names).toEqual(expect.arrayContaining(['default', 'web']));

    const ssh = await rule(env.a, { parent_group_id: web.id, ip_protocol: 'tcp', from_port: 22, to_port: 22, cidr: '10.0.0.0/8' });
    expectSchema('security_groups.create_security_group_rule', ssh);
    expect(ssh.json.security_group_rule).toEqual({ id: expect.any(String), parent_group_id: web.id, ip_protocol: 'tcp', from_port: 22, to_port: 22, ip_range: { cidr: '10.0.0.0/8' }, group: {} });
    const icmp = await rule(env.a, { parent_group_id: web.id, ip_protocol: 'icmp', from_port: -1, to_port: -1 });
    expectSchema('security_groups.create_security_group_rule', icmp);
    expect(icmp.json.security_group_rule).toMatchObject({ ip_protocol: 'icmp', from_port: -1, to_port: -1, ip_range: { cidr: '0.0.0.0/0' } });
    // The CIDR comes back as written (Tempest's test_security_group_rules_create_with_optional_cidr).
    const host = await rule(env.a, { parent_group_id: web.id, ip_protocol: 'tcp', from_port: 443, to_port: 443, cidr: '10.2.3.124/24' });
    expect(host.json.security_group_rule.ip_range).toEqual({ cidr: '10.2.3.124/24' });
    expect((await c.r('DELETE', `/os-security-group-rules/${host.json.security_group_rule.id}`, env.a)).status).toBe(202);
    const fromGroup = await rule(env.a, { parent_group_id: web.id, ip_protocol: 'udp', from_port: 53, to_port: 53, group_id: web.id });
    expectSchema('security_groups.create_security_group_rule', fromGroup);
    expect(fromGroup.json.security_group_rule).toMatchObject({ ip_range: {}, group: { name: 'web', tenant_id: env.a.id } });

    const shown = await c.r('GET', `/os-security-groups/${web.id}`, env.a);
    expectSchema('security_groups.get_security_group', shown);
    // Only ingress rules, as Nova shows them (Neutron's default egress rules stay out).
    expect(shown.json.security_group.rules.map((r: { id: string }) => r.id).sort()).toEqual([ssh.json.security_group_rule.id, icmp.json.security_group_rule.id, fromGroup.json.security_group_rule.id].sort());

    const updated = await c.r('PUT', `/os-security-groups/${web.id}`, env.a, { json: { security_group: { name: 'web2', description: 'renamed' } } });
    expectSchema('security_groups.update_security_group', updated);
    expect(updated.json.security_group).toMatchObject({ name: 'web2', description: 'renamed' });

    const delRule = await c.r('DELETE', `/os-security-group-rules/${ssh.json.security_group_rule.id}`, env.a);
    expect(delRule.status).toBe(202);
    const again = await c.r('DELETE', `/os-security-group-rules/${ssh.json.security_group_rule.id}`, env.a);
    expect(again.status).toBe(404);
    expect(again.json.itemNotFound.message).toMatch(/Rule \(.*\) not found/);

    expect((await c.r('DELETE', `/os-security-groups/${web.id}`, env.a)).status).toBe(202);
    const gone = await c.r('GET', `/os-security-groups/${web.id}`, env.a);
    expect(gone.status).toBe(404);
    expect(gone.json).toEqual({ itemNotFound: { code: 404, message: `Security group ${web.id} not found.` } });
  });

  it('keeps projects apart: another project can neither see nor change a group', async () => {
    const mine = await group(env.a, 'private');
    const seen = await c.r('GET', `/os-security-groups/${mine.id}`, env.b);
    expect(seen.status).toBe(404);
    expect(seen.json.itemNotFound).toBeDefined();
    const listB = await c.r('GET', '/os-security-groups', env.b);
    expect(listB.status).toBe(200);
    expect(listB.json.security_groups.map((g: { id: string }) => g.id)).not.toContain(mine.id);
    expect(listB.json.security_groups.every((g: { tenant_id: string }) => g.tenant_id === env.b.id)).toBe(true);
    expect((await c.r('DELETE', `/os-security-groups/${mine.id}`, env.b)).status).toBe(404);
    expect((await c.r('PUT', `/os-security-groups/${mine.id}`, env.b, { json: { security_group: { name: 'x', description: 'y' } } })).status).toBe(404);
    expect((await rule(env.b, { parent_group_id: mine.id, ip_protocol: 'tcp', from_port: 80, to_port: 80 })).status).toBe(404);
    const r = await rule(env.a, { parent_group_id: mine.id, ip_protocol: 'tcp', from_port: 80, to_port: 80 });
    expect((await c.r('DELETE', `/os-security-group-rules/${r.json.security_group_rule.id}`, env.b)).status).toBe(404);
    // Still there for its owner.
    expect((await c.r('GET', `/os-security-groups/${mine.id}`, env.a)).json.security_group.rules).toHaveLength(1);
    // A reader of the project may look but not create (the network service's policy).
    expect((await c.r('GET', `/os-security-groups/${mine.id}`, env.readerA)).status).toBe(200);
    expect((await c.r('POST', '/os-security-groups', env.readerA, { json: { security_group: { name: 'r', description: '' } } })).status).toBe(403);
  });

  it('answers 400 badRequest for bad input, 404 for unknown groups, 400 for the default group', async () => {
    const g = await group(env.a, 'strict');
    const bad = async (body: Record<string, unknown>, message: RegExp) => {
      const res = await rule(env.a, { parent_group_id: g.id, ...body });
      expect(res.status).toBe(400);
      expect(res.json.badRequest.message).toMatch(message);
    };
    await bad({ ip_protocol: 'tcp', from_port: 22, to_port: 22, cidr: '10.0.0.300/8' }, /10\.0\.0\.300\/8 is not a valid IP network/);
    await bad({ ip_protocol: 'tcp', from_port: 22, to_port: 22, cidr: 'not-a-cidr' }, /not a valid IP network/);
    await bad({ ip_protocol: 'tcp', from_port: 90, to_port: 80 }, /Invalid port range 90:80/);
    await bad({ ip_protocol: 'tcp', from_port: 65536, to_port: 22 }, /Invalid port range/);
    await bad({ ip_protocol: 'tcp', from_port: 22, to_port: 70000 }, /Invalid port range/);
    await bad({ ip_protocol: 'gopher', from_port: 22, to_port: 22 }, /Invalid IP protocol gopher/);
    await bad({ ip_protocol: 'icmp', from_port: 300, to_port: 0 }, /ICMP/);
    await bad({ ip_protocol: 'tcp', from_port: 'x', to_port: 22 }, /must be integers/);
    await bad({ cidr: '10.0.0.0/8' }, /Not enough parameters/);
    const first = await rule(env.a, { parent_group_id: g.id, ip_protocol: 'tcp', from_port: 22, to_port: 22 });
    expect(first.status).toBe(200);
    await bad({ ip_protocol: 'tcp', from_port: 22, to_port: 22 }, /This rule already exists/);

    const notUuid = await rule(env.a, { parent_group_id: 'non_int_id', ip_protocol: 'tcp', from_port: 22, to_port: 22 });
    expect(notUuid.status).toBe(400);
    const unknown = await rule(env.a, { parent_group_id: '0b0e8c3a-5a1e-4b39-9f8e-3d6f1c2a9e11', ip_protocol: 'tcp', from_port: 22, to_port: 22 });
    expect(unknown.status).toBe(404);
    expect((await c.r('GET', '/os-security-groups/0b0e8c3a-5a1e-4b39-9f8e-3d6f1c2a9e11', env.a)).status).toBe(404);
    expect((await c.r('DELETE', '/os-security-groups/0b0e8c3a-5a1e-4b39-9f8e-3d6f1c2a9e11', env.a)).status).toBe(404);
    expect((await c.r('DELETE', '/os-security-group-rules/0b0e8c3a-5a1e-4b39-9f8e-3d6f1c2a9e11', env.a)).status).toBe(404);

    const noName = await c.r('POST', '/os-security-groups', env.a, { json: { security_group: { description: 'x' } } });
    expect(noName.status).toBe(400);
    expect(noName.json.badRequest.message).toMatch(/name is not a string/);
    expect((await c.r('POST', '/os-security-groups', env.a, { json: { security_group: { name: 'n'.repeat(256), description: 'x' } } })).status).toBe(400);
    expect((await c.r('POST', '/os-security-groups', env.a, { json: {} })).status).toBe(400);

    const def = (await c.r('GET', '/os-security-groups', env.a)).json.security_groups.find((x: { name: string }) => x.name === 'default');
    const delDefault = await c.r('DELETE', `/os-security-groups/${def.id}`, env.a);
    expect(delDefault.status).toBe(400);
    expect(delDefault.json.badRequest.message).toMatch(/default security group/i);
  });

  it('refuses a server with a security group its project does not have (Nova: 400)', async () => {
    const res = await c.boot(env.a, { security_groups: [{ name: 'default' }, { name: 'nope' }] });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ badRequest: { code: 400, message: `Security group nope not found for project ${env.a.id}.` } });
    // Another project's group is not the caller's either.
    const theirs = await group(env.b, 'theirs');
    expect((await c.boot(env.a, { security_groups: [{ name: 'theirs' }] })).status).toBe(400);
    expect((await c.boot(env.a, { security_groups: [{ name: theirs.id }] })).status).toBe(400);
    await group(env.a, 'ok');
    const okRes = await c.boot(env.a, { security_groups: [{ name: 'ok' }] });
    expect(okRes.status).toBe(202);
    expect(okRes.json.server.security_groups).toEqual([{ name: 'ok' }]);
  });

  it('adds and removes a group on a server’s ports (addSecurityGroup/removeSecurityGroup)', async () => {
    const server = await c.bootActive(env.a, { name: 'sg-vm' });
    const app = await group(env.a, 'app');
    // A port of the server, as allocate_for_server makes it (device_id = server id).
    const network = await neutron(env.a, 'POST', '/v2.0/networks', { network: { name: 'sg-net' } });
    expect(network.status).toBe(201);
    const port = await neutron(env.a, 'POST', '/v2.0/ports', { port: { network_id: network.json.network.id, device_id: server.id, device_owner: 'compute:nova' } });
    expect(port.status).toBe(201);

    const before = await c.r('GET', `/servers/${server.id}/os-security-groups`, env.a);
    expectSchema('security_groups.list_security_groups', before);
    expect(before.json.security_groups.map((g: { name: string }) => g.name)).toEqual(['default']);

    const add = await c.action(env.a, server.id, { addSecurityGroup: { name: 'app' } });
    expect(add.status).toBe(202);
    const portAfter = await neutron(env.a, 'GET', `/v2.0/ports/${port.json.port.id}`);
    expect(portAfter.json.port.security_groups).toContain(app.id);
    const after = await c.r('GET', `/servers/${server.id}/os-security-groups`, env.a);
    expectSchema('security_groups.list_security_groups', after);
    expect(after.json.security_groups.map((g: { name: string }) => g.name).sort()).toEqual(['app', 'default']);
    expect((await c.show(env.a, server.id)).json.server.security_groups).toEqual([{ name: 'default' }, { name: 'app' }]);

    const missing = await c.action(env.a, server.id, { addSecurityGroup: { name: 'nope' } });
    expect(missing.status).toBe(404);
    expect(missing.json.itemNotFound.message).toMatch(/Security group nope is not found/);
    expect((await c.action(env.a, server.id, { addSecurityGroup: { name: ' ' } })).status).toBe(400);
    expect((await c.action(env.a, server.id, { addSecurityGroup: {} })).status).toBe(400);
    // Another project cannot touch the server.
    expect((await c.action(env.b, server.id, { addSecurityGroup: { name: 'app' } })).status).toBe(404);
    expect((await c.r('GET', `/servers/${server.id}/os-security-groups`, env.b)).status).toBe(404);

    const remove = await c.action(env.a, server.id, { removeSecurityGroup: { name: 'app' } });
    expect(remove.status).toBe(202);
    expect((await neutron(env.a, 'GET', `/v2.0/ports/${port.json.port.id}`)).json.port.security_groups).not.toContain(app.id);
    expect((await c.show(env.a, server.id)).json.server.security_groups).toEqual([{ name: 'default' }]);
    const twice = await c.action(env.a, server.id, { removeSecurityGroup: { name: 'app' } });
    expect(twice.status).toBe(400);
    expect(twice.json.badRequest.message).toMatch(/not associated with the instance/);

    // A group in use by a port cannot be deleted (Nova turns Neutron's 409 into a 400).
    await c.action(env.a, server.id, { addSecurityGroup: { name: 'app' } });
    const inUse = await c.r('DELETE', `/os-security-groups/${app.id}`, env.a);
    expect(inUse.status).toBe(400);
    expect(inUse.json.badRequest.message).toMatch(/in use/);

    // A server without ports: Nova's 404.
    const bare = await c.bootActive(env.a, { name: 'bare' });
    const noPorts = await c.action(env.a, bare.id, { addSecurityGroup: { name: 'app' } });
    expect(noPorts.status).toBe(404);
    expect(noPorts.json.itemNotFound.message).toMatch(/could not be found as device id on any ports/);
    expect((await c.r('GET', `/servers/${bare.id}/os-security-groups`, env.a)).json).toEqual({ security_groups: [] });
  });

  it('removes the last group of a server: its ports keep none and the server view has no security_groups (as Nova)', async () => {
    const server = await c.bootActive(env.a, { name: 'sg-last' });
    const network = await neutron(env.a, 'POST', '/v2.0/networks', { network: { name: 'sg-last-net' } });
    const port = await neutron(env.a, 'POST', '/v2.0/ports', { port: { network_id: network.json.network.id, device_id: server.id, device_owner: 'compute:nova' } });
    expect(port.json.port.security_groups).toHaveLength(1);
    expect((await c.show(env.a, server.id)).json.server.security_groups).toEqual([{ name: 'default' }]);
    const remove = await c.action(env.a, server.id, { removeSecurityGroup: { name: 'default' } });
    expect(remove.status).toBe(202);
    expect((await neutron(env.a, 'GET', `/v2.0/ports/${port.json.port.id}`)).json.port.security_groups).toEqual([]);
    const shown = await c.show(env.a, server.id);
    expectSchema('servers.get_server', shown);
    expect(shown.json.server).not.toHaveProperty('security_groups');
    const detail = await c.r('GET', '/servers/detail', env.a);
    expectSchema('servers.list_servers_detail', detail);
    expect(detail.json.servers.find((s: { id: string }) => s.id === server.id)).not.toHaveProperty('security_groups');
    expect((await c.r('GET', `/servers/${server.id}/os-security-groups`, env.a)).json).toEqual({ security_groups: [] });
    // And back: the key returns with the group.
    expect((await c.action(env.a, server.id, { addSecurityGroup: { name: 'default' } })).status).toBe(202);
    expect((await c.show(env.a, server.id)).json.server.security_groups).toEqual([{ name: 'default' }]);
  });

  it('answers 503 with a clear message when the network service is down (server create still works)', async () => {
    await net.svc.close();
    net.closed = true;
    const res = await c.r('GET', '/os-security-groups', env.a);
    expect(res.status).toBe(503);
    expect(JSON.stringify(res.json)).toMatch(/network service .* is unreachable/);
    expect((await c.r('POST', '/os-security-group-rules', env.a, { json: { security_group_rule: { parent_group_id: '0b0e8c3a-5a1e-4b39-9f8e-3d6f1c2a9e11', ip_protocol: 'tcp', from_port: 1, to_port: 2 } } })).status).toBe(503);
    expect((await c.boot(env.a, { security_groups: [{ name: 'whatever' }] })).status).toBe(202);
  });
});
