import { client, externalNetwork, type NetEnv, startNetEnv } from './helpers.js';

let env: NetEnv;
let c: ReturnType<typeof client>;
let ext: Awaited<ReturnType<typeof externalNetwork>>;

beforeAll(async () => {
  env = await startNetEnv();
  c = client(env);
  ext = await externalNetwork(env);
});
afterAll(() => env?.close());

describe('security groups', () => {
  it('creates the default group on first use with the usual rules', async () => {
    const list = (await c.get(env.a, '/v2.0/security-groups')).json.security_groups;
    expect(list.map((g: { name: string }) => g.name)).toEqual(['default']);
    const rules = list[0].security_group_rules as Record<string, unknown>[];
    expect(rules).toHaveLength(4);
    expect(rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ direction: 'ingress', ethertype: 'IPv4', remote_group_id: list[0].id }),
        expect.objectContaining({ direction: 'ingress', ethertype: 'IPv6', remote_group_id: list[0].id }),
        expect.objectContaining({ direction: 'egress', ethertype: 'IPv4', remote_ip_prefix: null }),
        expect.objectContaining({ direction: 'egress', ethertype: 'IPv6', remote_ip_prefix: null }),
      ]),
    );
    // listing again (or racing) never makes a second one
    await Promise.all([c.get(env.a, '/v2.0/security-groups'), c.get(env.a, '/v2.0/security-groups')]);
    expect((await c.get(env.a, '/v2.0/security-groups?name=default')).json.security_groups).toHaveLength(1);
    expect((await c.del(env.a, `/v2.0/security-groups/${list[0].id}`)).status).toBe(409);
  });

  it('creates, updates and deletes groups and rules', async () => {
    const res = await c.post(env.a, '/v2.0/security-groups', { security_group: { name: 'web', description: 'web' } });
    expect(res.status).toBe(201);
    const g = res.json.security_group;
    expect(g.security_group_rules).toHaveLength(2);
    const rule = await c.post(env.a, '/v2.0/security-group-rules', { security_group_rule: { security_group_id: g.id, direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 22, port_range_max: 22, remote_ip_prefix: '0.0.0.0/0' } });
    expect(rule.status).toBe(201);
    expect(rule.json.security_group_rule).toMatchObject({ protocol: 'tcp', port_range_min: 22, port_range_max: 22, remote_ip_prefix: '0.0.0.0/0', security_group_id: g.id });
    const dup = await c.post(env.a, '/v2.0/security-group-rules', { security_group_rule: { security_group_id: g.id, direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 22, port_range_max: 22, remote_ip_prefix: '0.0.0.0/0' } });
    expect(dup.json.NeutronError.type).toBe('SecurityGroupRuleExists');
    const icmp = await c.post(env.a, '/v2.0/security-group-rules', { security_group_rule: { security_group_id: g.id, direction: 'ingress', protocol: 'icmp', remote_ip_prefix: '0.0.0.0/0' } });
    expect(icmp.status).toBe(201);
    expect((await c.get(env.a, `/v2.0/security-group-rules?security_group_id=${g.id}`)).json.security_group_rules).toHaveLength(4);
    expect((await c.put(env.a, `/v2.0/security-groups/${g.id}`, { security_group: { name: 'web2' } })).json.security_group.name).toBe('web2');
    expect((await c.del(env.a, `/v2.0/security-group-rules/${rule.json.security_group_rule.id}`)).status).toBe(204);
    expect((await c.get(env.a, `/v2.0/security-group-rules/${rule.json.security_group_rule.id}`)).status).toBe(404);
    expect((await c.del(env.a, `/v2.0/security-groups/${g.id}`)).status).toBe(204);
  });

  it.each([
    ['port_range_min > max', { protocol: 'tcp', port_range_min: 100, port_range_max: 90 }, 'SecurityGroupInvalidPortRange'],
    ['ports without protocol', { port_range_min: 1, port_range_max: 2 }, 'SecurityGroupProtocolRequiredWithPorts'],
    ['an unknown protocol', { protocol: 'bogus' }, 'SecurityGroupRuleInvalidProtocol'],
    ['an IPv6 prefix on an IPv4 rule', { remote_ip_prefix: '::/0' }, 'SecurityGroupRuleParameterConflict'],
    ['a bad ethertype', { ethertype: 'IPv5' }, 'SecurityGroupRuleInvalidEtherType'],
    ['an ICMP type over 255', { protocol: 'icmp', port_range_min: 300 }, 'SecurityGroupInvalidIcmpValue'],
    ['a negative port', { protocol: 'tcp', port_range_min: -16, port_range_max: 80 }, 'SecurityGroupInvalidPortValue'],
    ['a port over 65535', { protocol: 'udp', port_range_min: 80, port_range_max: 65536 }, 'SecurityGroupInvalidPortValue'],
    ['only a maximum port', { protocol: 'tcp', port_range_max: 6 }, 'SecurityGroupInvalidPortRange'],
    ['an ICMP code without type', { protocol: 'icmp', port_range_max: 6 }, 'SecurityGroupMissingIcmpType'],
  ])('refuses a rule with %s (400)', async (_what, body, type) => {
    const g = (await c.post(env.a, '/v2.0/security-groups', { security_group: { name: `g-${type}` } })).json.security_group;
    const res = await c.post(env.a, '/v2.0/security-group-rules', { security_group_rule: { security_group_id: g.id, direction: 'ingress', ...body } });
    expect(res.status).toBe(400);
    expect(res.json.NeutronError.type).toBe(type);
    expect((await c.get(env.a, `/v2.0/security-groups/${g.id}`)).json.security_group.security_group_rules).toHaveLength(2);
    expect((await c.del(env.a, `/v2.0/security-groups/${g.id}`)).status).toBe(204);
  });
});

describe('routers and floating IPs', () => {
  it('wires a router: gateway, interfaces, routes, floating IP association', async () => {
    const net = await c.network(env.a, { name: 'private' });
    const sub = await c.subnet(env.a, net.id, '10.30.0.0/24');
    const router = await c.router(env.a, { name: 'r1' });
    expect(router).toMatchObject({ name: 'r1', status: 'ACTIVE', external_gateway_info: null, routes: [], admin_state_up: true });
    const gw = await c.put(env.a, `/v2.0/routers/${router.id}`, { router: { external_gateway_info: { network_id: ext.net.id } } });
    expect(gw.status).toBe(200);
    expect(gw.json.router.external_gateway_info).toMatchObject({ network_id: ext.net.id, enable_snat: true, external_fixed_ips: [{ subnet_id: ext.subnet.id, ip_address: expect.stringMatching(/^172\.24\.4\./) }] });
    const iface = await c.put(env.a, `/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: sub.id });
    expect(iface.status).toBe(200);
    expect(iface.json).toMatchObject({ id: router.id, subnet_id: sub.id, subnet_ids: [sub.id], network_id: net.id, project_id: env.a.id });
    const ports = (await c.get(env.a, `/v2.0/ports?device_id=${router.id}`)).json.ports;
    expect(ports).toEqual([expect.objectContaining({ id: iface.json.port_id, device_owner: 'network:router_interface', fixed_ips: [{ subnet_id: sub.id, ip_address: '10.30.0.1' }] })]);
    const again = await c.put(env.a, `/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: sub.id });
    expect(again.status).toBe(400);
    const routes = await c.put(env.a, `/v2.0/routers/${router.id}`, { router: { routes: [{ destination: '192.168.0.0/24', nexthop: '10.30.0.10' }] } });
    expect(routes.json.router.routes).toEqual([{ destination: '192.168.0.0/24', nexthop: '10.30.0.10' }]);
    const badRoute = await c.put(env.a, `/v2.0/routers/${router.id}`, { router: { routes: [{ destination: '192.168.0.0/24', nexthop: '10.99.0.10' }] } });
    expect(badRoute.json.NeutronError.type).toBe('InvalidRoutes');

    const vm = await c.port(env.a, net.id, { device_id: 'server-1', device_owner: 'compute:nova' });
    const fip = await c.post(env.a, '/v2.0/floatingips', { floatingip: { floating_network_id: ext.net.id } });
    expect(fip.status).toBe(201);
    expect(fip.json.floatingip).toMatchObject({ floating_network_id: ext.net.id, port_id: null, status: 'DOWN', port_details: null, floating_ip_address: expect.stringMatching(/^172\.24\.4\./) });
    const assoc = await c.put(env.a, `/v2.0/floatingips/${fip.json.floatingip.id}`, { floatingip: { port_id: vm.id } });
    expect(assoc.status).toBe(200);
    expect(assoc.json.floatingip).toMatchObject({ port_id: vm.id, fixed_ip_address: vm.fixed_ips[0].ip_address, router_id: router.id, status: 'ACTIVE', port_details: { device_id: 'server-1', network_id: net.id, mac_address: vm.mac_address } });
    // a floating IP's address is not a port the tenant sees
    expect((await c.get(env.a, `/v2.0/ports?network_id=${ext.net.id}`)).json.ports).toEqual([]);
    const inUse = await c.put(env.a, `/v2.0/routers/${router.id}/remove_router_interface`, { subnet_id: sub.id });
    expect(inUse.json.NeutronError.type).toBe('RouterInterfaceInUseByFloatingIP');
    const ifacePort = await c.del(env.a, `/v2.0/ports/${iface.json.port_id}`);
    expect(ifacePort.json.NeutronError.type).toBe('L3PortInUse');
    expect((await c.put(env.a, `/v2.0/floatingips/${fip.json.floatingip.id}`, { floatingip: { port_id: null } })).json.floatingip).toMatchObject({ port_id: null, status: 'DOWN', fixed_ip_address: null });
    await c.put(env.a, `/v2.0/routers/${router.id}`, { router: { routes: [] } });
    expect((await c.del(env.a, `/v2.0/routers/${router.id}`)).json.NeutronError.type).toBe('RouterInUse');
    const removed = await c.put(env.a, `/v2.0/routers/${router.id}/remove_router_interface`, { subnet_id: sub.id });
    expect(removed.status).toBe(200);
    expect((await c.del(env.a, `/v2.0/floatingips/${fip.json.floatingip.id}`)).status).toBe(204);
    expect((await c.del(env.a, `/v2.0/routers/${router.id}`)).status).toBe(204);
    expect((await c.del(env.a, `/v2.0/ports/${vm.id}`)).status).toBe(204);
    expect((await c.del(env.a, `/v2.0/networks/${net.id}`)).status).toBe(204);
  });

  it('adds an interface by port and refuses a floating IP on a port with no route to the external network', async () => {
    const net = await c.network(env.a);
    const sub = await c.subnet(env.a, net.id, '10.31.0.0/24');
    const vm = await c.port(env.a, net.id);
    const fip = (await c.post(env.a, '/v2.0/floatingips', { floatingip: { floating_network_id: ext.net.id } })).json.floatingip;
    const noRoute = await c.put(env.a, `/v2.0/floatingips/${fip.id}`, { floatingip: { port_id: vm.id } });
    expect(noRoute.status).toBe(404);
    expect(noRoute.json.NeutronError.type).toBe('ExternalGatewayForFloatingIPNotFound');
    expect((await c.get(env.a, `/v2.0/floatingips/${fip.id}`)).json.floatingip.port_id).toBeNull();
    const created = await c.post(env.a, '/v2.0/floatingips', { floatingip: { floating_network_id: ext.net.id, port_id: vm.id } });
    expect(created.status).toBe(404);
    const router = await c.router(env.a, { external_gateway_info: { network_id: ext.net.id } });
    const p = await c.port(env.a, net.id, { fixed_ips: [{ subnet_id: sub.id, ip_address: '10.31.0.254' }] });
    const iface = await c.put(env.a, `/v2.0/routers/${router.id}/add_router_interface`, { port_id: p.id });
    expect(iface.json).toMatchObject({ port_id: p.id, subnet_id: sub.id });
    const ok = await c.post(env.a, '/v2.0/floatingips', { floatingip: { floating_network_id: ext.net.id, port_id: vm.id, fixed_ip_address: vm.fixed_ips[0].ip_address } });
    expect(ok.status).toBe(201);
    expect(ok.json.floatingip).toMatchObject({ router_id: router.id, status: 'ACTIVE' });
    const notExt = await c.post(env.a, '/v2.0/floatingips', { floatingip: { floating_network_id: net.id } });
    expect(notExt.status).toBe(400);
    expect((await c.put(env.a, `/v2.0/routers/${router.id}`, { router: { external_gateway_info: {} } })).json.NeutronError.type).toBe('RouterExternalGatewayInUseByFloatingIp');
    const notExtGw = await c.put(env.a, `/v2.0/routers/${router.id}`, { router: { external_gateway_info: { network_id: net.id } } });
    expect(notExtGw.status).toBe(400);
  });
});

describe('external network deletion', () => {
  it('takes unassociated floating IPs with it, and is refused while one is associated', async () => {
    const other = await externalNetwork(env, '172.26.4.0/24');
    const fip = (await c.post(env.a, '/v2.0/floatingips', { floatingip: { floating_network_id: other.net.id } })).json.floatingip;
    expect((await c.del(env.admin, `/v2.0/networks/${other.net.id}`)).status).toBe(204);
    expect((await c.get(env.a, `/v2.0/floatingips/${fip.id}`)).status).toBe(404);
  });
});

describe('quotas, extensions, zones', () => {
  it('reports quotas with usage and enforces them', async () => {
    const q = await c.get(env.b, `/v2.0/quotas/${env.b.id}`);
    expect(q.json.quota).toMatchObject({ network: 100, subnet: 100, port: 500, router: 10, floatingip: 50, security_group: 10, security_group_rule: 100 });
    await c.network(env.b);
    const d = await c.get(env.b, `/v2.0/quotas/${env.b.id}/details`);
    expect(d.json.quota.network).toEqual({ limit: 100, used: expect.any(Number), reserved: 0 });
    expect(d.json.quota.network.used).toBeGreaterThanOrEqual(1);
    expect((await c.put(env.b, `/v2.0/quotas/${env.b.id}`, { quota: { network: 1000 } })).status).toBe(403);
    expect((await c.get(env.b, `/v2.0/quotas/${env.a.id}`)).status).toBe(403);
    const used = d.json.quota.network.used as number;
    expect((await c.put(env.admin, `/v2.0/quotas/${env.b.id}`, { quota: { network: used } })).json.quota.network).toBe(used);
    const over = await c.post(env.b, '/v2.0/networks', { network: { name: 'one-too-many' } });
    expect(over.status).toBe(409);
    expect(over.json.NeutronError.type).toBe('OverQuota');
    expect((await c.get(env.admin, '/v2.0/quotas')).json.quotas.map((x: { project_id: string }) => x.project_id)).toContain(env.b.id);
    expect((await c.del(env.admin, `/v2.0/quotas/${env.b.id}`)).status).toBe(204);
    expect((await c.get(env.b, `/v2.0/quotas/${env.b.id}/default`)).json.quota.network).toBe(100);
    // Neutron's optional .json suffix (Tempest's quota client uses it)
    expect((await c.get(env.b, `/v2.0/quotas/${env.b.id}/details.json`)).json.quota.network.limit).toBe(100);
    expect((await c.get(env.b, '/v2.0/networks.json?fields=id')).status).toBe(200);
  });

  it('lists extensions, shows one by alias, 404s the unsupported', async () => {
    const list = (await c.get(env.a, '/v2.0/extensions')).json.extensions.map((e: { alias: string }) => e.alias);
    expect(list).toEqual(expect.arrayContaining(['router', 'external-net', 'security-group', 'quotas', 'binding', 'availability_zone']));
    expect((await c.get(env.a, '/v2.0/extensions/router')).json.extension.alias).toBe('router');
    const missing = await c.get(env.a, '/v2.0/extensions/tag-ports-during-bulk-creation');
    expect(missing.status).toBe(404);
    expect(missing.json.NeutronError).toBeDefined();
    expect((await c.get(env.a, '/v2.0/availability_zones')).json.availability_zones).toEqual(expect.arrayContaining([{ name: 'nova', resource: 'network', state: 'available' }]));
    expect((await c.get(env.admin, '/v2.0/agents')).json).toEqual({ agents: [] });
    expect((await c.get(env.a, '/v2.0')).json.resources.map((r: { name: string }) => r.name)).toContain('network');
  });
});
