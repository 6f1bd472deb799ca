import { client, type NetEnv, startNetEnv } from './helpers.js';

let env: NetEnv;
let c: ReturnType<typeof client>;

beforeAll(async () => {
  env = await startNetEnv();
  c = client(env);
});
afterAll(() => env?.close());

describe('subnets', () => {
  it('computes gateway and pools for IPv4, keeps DNS, routes and DHCP setting', async () => {
    const net = await c.network(env.a);
    const s = await c.subnet(env.a, net.id, '10.0.0.0/24', { name: 's4', dns_nameservers: ['8.8.8.8'], host_routes: [{ destination: '192.168.0.0/16', nexthop: '10.0.0.254' }] });
    expect(s).toMatchObject({ name: 's4', ip_version: 4, cidr: '10.0.0.0/24', gateway_ip: '10.0.0.1', allocation_pools: [{ start: '10.0.0.2', end: '10.0.0.254' }], dns_nameservers: ['8.8.8.8'], enable_dhcp: true, ipv6_ra_mode: null, host_routes: [{ destination: '192.168.0.0/16', nexthop: '10.0.0.254' }] });
    expect((await c.get(env.a, `/v2.0/networks/${net.id}`)).json.network.subnets).toEqual([s.id]);
    const upd = await c.put(env.a, `/v2.0/subnets/${s.id}`, { subnet: { name: 'x', enable_dhcp: false, dns_nameservers: [] } });
    expect(upd.json.subnet).toMatchObject({ name: 'x', enable_dhcp: false, dns_nameservers: [] });
    const noGw = await c.subnet(env.a, net.id, '10.1.0.0/28', { gateway_ip: null, allocation_pools: [{ start: '10.1.0.5', end: '10.1.0.9' }] });
    expect(noGw).toMatchObject({ gateway_ip: null, allocation_pools: [{ start: '10.1.0.5', end: '10.1.0.9' }] });
  });

  it('supports IPv6 subnets with SLAAC (EUI-64 addresses) and stateful DHCPv6', async () => {
    const net = await c.network(env.a);
    const slaac = await c.subnet(env.a, net.id, '2001:db8:1::/64', { ipv6_ra_mode: 'slaac', ipv6_address_mode: 'slaac' });
    expect(slaac).toMatchObject({ ip_version: 6, gateway_ip: '2001:db8:1::1', ipv6_ra_mode: 'slaac', ipv6_address_mode: 'slaac', allocation_pools: [{ start: '2001:db8:1::2', end: '2001:db8:1:0:ffff:ffff:ffff:ffff' }] });
    const v4 = await c.subnet(env.a, net.id, '10.2.0.0/24');
    const port = await c.port(env.a, net.id, { mac_address: 'fa:16:3e:11:22:33' });
    const ips = port.fixed_ips.map((f: { ip_address: string }) => f.ip_address);
    expect(ips).toContain('2001:db8:1:0:f816:3eff:fe11:2233');
    expect(port.fixed_ips.find((f: { subnet_id: string }) => f.subnet_id === v4.id)).toBeDefined();
    // deleting a SLAAC subnet takes its derived addresses off the ports
    expect((await c.del(env.a, `/v2.0/subnets/${slaac.id}`)).status).toBe(204);
    expect((await c.get(env.a, `/v2.0/ports/${port.id}`)).json.port.fixed_ips).toEqual([expect.objectContaining({ subnet_id: v4.id })]);
    const net2 = await c.network(env.a);
    const stateful = await c.subnet(env.a, net2.id, 'fd00:abcd::/64', { ipv6_address_mode: 'dhcpv6-stateful', ipv6_ra_mode: 'dhcpv6-stateful' });
    const p2 = await c.port(env.a, net2.id);
    expect(p2.fixed_ips).toEqual([{ subnet_id: stateful.id, ip_address: expect.stringMatching(/^fd00:abcd::/) }]);
  });

  it.each([
    ['an invalid prefix', { cidr: '10.0.0.0/33' }, 400, 'InvalidInput'],
    ['IPv6 in an IPv4 subnet', { cidr: '2001:db8::/64', ip_version: 4 }, 400, 'InvalidInput'],
    ['a gateway outside the CIDR', { cidr: '10.5.0.0/24', gateway_ip: '10.6.0.1' }, 400, 'InvalidInput'],
    ['host bits in the CIDR', { cidr: '10.5.0.3/24' }, 400, 'InvalidInput'],
    ['a pool outside the CIDR', { cidr: '10.5.0.0/24', allocation_pools: [{ start: '10.5.0.10', end: '10.5.1.10' }] }, 400, 'OutOfBoundsAllocationPool'],
    ['a gateway inside the pool', { cidr: '10.5.0.0/24', gateway_ip: '10.5.0.20', allocation_pools: [{ start: '10.5.0.10', end: '10.5.0.30' }] }, 409, 'GatewayConflictWithAllocationPools'],
    ['IPv6 modes on IPv4', { cidr: '10.5.0.0/24', ipv6_ra_mode: 'slaac' }, 400, 'InvalidInput'],
    ['no cidr', {}, 400, 'BadRequest'],
  ])('refuses %s with a NeutronError', async (_what, body, status, type) => {
    const net = await c.network(env.a);
    const res = await c.post(env.a, '/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, ...body } });
    expect(res.status).toBe(status);
    expect(res.json.NeutronError.type).toBe(type);
    expect(res.json.NeutronError.message).toBeTruthy();
    expect((await c.get(env.a, `/v2.0/networks/${net.id}`)).json.network.subnets).toEqual([]);
  });

  it('refuses overlapping subnets on one network', async () => {
    const net = await c.network(env.a);
    await c.subnet(env.a, net.id, '10.7.0.0/16');
    const res = await c.post(env.a, '/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, cidr: '10.7.3.0/24' } });
    expect(res.status).toBe(400);
    expect(res.json.NeutronError).toMatchObject({ type: 'InvalidInput', message: expect.stringContaining('overlaps') });
  });

  it('refuses deleting a subnet with allocations (409 SubnetInUse)', async () => {
    const net = await c.network(env.a);
    const s = await c.subnet(env.a, net.id, '10.8.0.0/24');
    const p = await c.port(env.a, net.id);
    expect((await c.del(env.a, `/v2.0/subnets/${s.id}`)).json.NeutronError.type).toBe('SubnetInUse');
    await c.del(env.a, `/v2.0/ports/${p.id}`);
    expect((await c.del(env.a, `/v2.0/subnets/${s.id}`)).status).toBe(204);
  });
});

describe('subnet pools', () => {
  it('carves subnets from a pool without overlap, and refuses deleting a pool in use', async () => {
    const res = await c.post(env.a, '/v2.0/subnetpools', { subnetpool: { name: 'pool', prefixes: ['10.60.0.0/16'], default_prefixlen: 24 } });
    expect(res.status).toBe(201);
    const pool = res.json.subnetpool;
    expect(pool).toMatchObject({ name: 'pool', ip_version: 4, prefixes: ['10.60.0.0/16'], default_prefixlen: 24, min_prefixlen: 8, max_prefixlen: 32, shared: false });
    const net = await c.network(env.a);
    const s1 = (await c.post(env.a, '/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, subnetpool_id: pool.id } })).json.subnet;
    const s2 = (await c.post(env.a, '/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, subnetpool_id: pool.id, prefixlen: 26 } })).json.subnet;
    expect(s1).toMatchObject({ cidr: '10.60.0.0/24', subnetpool_id: pool.id, gateway_ip: '10.60.0.1' });
    expect(s2.cidr).toBe('10.60.1.0/26');
    const clash = await c.post(env.a, '/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, subnetpool_id: pool.id, cidr: '10.60.0.128/25' } });
    expect(clash.status).toBe(409);
    const outside = await c.post(env.a, '/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, subnetpool_id: pool.id, cidr: '10.61.0.0/24' } });
    expect(outside.status).toBe(400);
    expect((await c.put(env.a, `/v2.0/subnetpools/${pool.id}`, { subnetpool: { name: 'renamed', prefixes: ['10.60.0.0/15'] } })).json.subnetpool).toMatchObject({ name: 'renamed', prefixes: ['10.60.0.0/15'] });
    expect((await c.put(env.a, `/v2.0/subnetpools/${pool.id}`, { subnetpool: { prefixes: ['10.60.0.0/24'] } })).status).toBe(400);
    expect((await c.del(env.a, `/v2.0/subnetpools/${pool.id}`)).json.NeutronError.type).toBe('SubnetPoolInUse');
    expect((await c.get(env.b, `/v2.0/subnetpools/${pool.id}`)).status).toBe(404);
    expect((await c.put(env.a, `/v2.0/subnetpools/${pool.id}/tags/t1`, undefined)).status).toBe(201);
    await c.del(env.a, `/v2.0/subnets/${s1.id}`);
    await c.del(env.a, `/v2.0/subnets/${s2.id}`);
    expect((await c.del(env.a, `/v2.0/subnetpools/${pool.id}`)).status).toBe(204);
  });
});

describe('ports', () => {
  it('creates a port with a MAC, an IP, the default security group and Neutron fields', async () => {
    const net = await c.network(env.a);
    const s = await c.subnet(env.a, net.id, '10.10.0.0/24');
    const p = await c.port(env.a, net.id, { name: 'p1', device_id: 'dev', device_owner: 'compute:nova' });
    expect(p).toMatchObject({ name: 'p1', network_id: net.id, status: 'DOWN', admin_state_up: true, device_id: 'dev', device_owner: 'compute:nova', port_security_enabled: true, allowed_address_pairs: [], 'binding:vnic_type': 'normal' });
    expect(p.mac_address).toMatch(/^fa:16:3e(:[0-9a-f]{2}){3}$/);
    expect(p.fixed_ips).toEqual([{ subnet_id: s.id, ip_address: expect.stringMatching(/^10\.10\.0\.\d+$/) }]);
    const groups = (await c.get(env.a, '/v2.0/security-groups?name=default')).json.security_groups;
    expect(groups).toHaveLength(1);
    expect(p.security_groups).toEqual([groups[0].id]);
    expect((await c.get(env.a, `/v2.0/ports?device_id=dev&network_id=${net.id}`)).json.ports.map((x: { id: string }) => x.id)).toEqual([p.id]);
    expect((await c.get(env.a, `/v2.0/ports?fixed_ips=ip_address%3D${p.fixed_ips[0].ip_address}`)).json.ports.map((x: { id: string }) => x.id)).toEqual([p.id]);
  });

  it('takes requested fixed IPs and MACs, and refuses ones in use or outside the subnet', async () => {
    const net = await c.network(env.a);
    const s = await c.subnet(env.a, net.id, '10.11.0.0/24');
    const p = await c.port(env.a, net.id, { fixed_ips: [{ subnet_id: s.id, ip_address: '10.11.0.50' }], mac_address: 'fa:16:3e:00:00:50' });
    expect(p.fixed_ips).toEqual([{ subnet_id: s.id, ip_address: '10.11.0.50' }]);
    const used = await c.post(env.a, '/v2.0/ports', { port: { network_id: net.id, fixed_ips: [{ ip_address: '10.11.0.50' }] } });
    expect(used.status).toBe(409);
    expect(used.json.NeutronError.type).toBe('IpAddressAlreadyAllocated');
    const outside = await c.post(env.a, '/v2.0/ports', { port: { network_id: net.id, fixed_ips: [{ subnet_id: s.id, ip_address: '10.12.0.5' }] } });
    expect(outside.status).toBe(400);
    expect(outside.json.NeutronError.type).toBe('InvalidIpForSubnet');
    const noSubnet = await c.post(env.a, '/v2.0/ports', { port: { network_id: net.id, fixed_ips: [{ ip_address: '192.168.9.9' }] } });
    expect(noSubnet.json.NeutronError.type).toBe('InvalidIpForNetwork');
    const mac = await c.post(env.a, '/v2.0/ports', { port: { network_id: net.id, mac_address: 'fa:16:3e:00:00:50' } });
    expect(mac.status).toBe(409);
    expect(mac.json.NeutronError.type).toBe('MacAddressInUse');
    // nothing half-created: only the first port exists
    expect((await c.get(env.a, `/v2.0/ports?network_id=${net.id}`)).json.ports).toHaveLength(1);
  });

  it('updates fixed IPs, security groups, port security and address pairs', async () => {
    const net = await c.network(env.a);
    const s = await c.subnet(env.a, net.id, '10.13.0.0/24');
    const p = await c.port(env.a, net.id);
    const moved = await c.put(env.a, `/v2.0/ports/${p.id}`, { port: { fixed_ips: [{ subnet_id: s.id, ip_address: '10.13.0.77' }], name: 'moved', allowed_address_pairs: [{ ip_address: '10.13.0.200' }] } });
    expect(moved.status).toBe(200);
    expect(moved.json.port).toMatchObject({ name: 'moved', fixed_ips: [{ subnet_id: s.id, ip_address: '10.13.0.77' }], allowed_address_pairs: [{ ip_address: '10.13.0.200' }] });
    const refused = await c.put(env.a, `/v2.0/ports/${p.id}`, { port: { port_security_enabled: false } });
    expect(refused.status).toBe(409);
    const off = await c.put(env.a, `/v2.0/ports/${p.id}`, { port: { port_security_enabled: false, security_groups: [], allowed_address_pairs: [] } });
    expect(off.json.port).toMatchObject({ port_security_enabled: false, security_groups: [] });
    // the old address is free again
    const again = await c.port(env.a, net.id, { fixed_ips: [{ ip_address: p.fixed_ips[0].ip_address }] });
    expect(again.fixed_ips[0].ip_address).toBe(p.fixed_ips[0].ip_address);
    const noSg = await c.port(env.a, net.id, { security_groups: [] });
    expect(noSg.security_groups).toEqual([]);
  });

  it('hides binding details from non-admins and lets admins bind', async () => {
    const net = await c.network(env.a);
    await c.subnet(env.a, net.id, '10.14.0.0/24');
    const p = await c.port(env.a, net.id);
    expect(p).not.toHaveProperty('binding:host_id');
    expect((await c.put(env.a, `/v2.0/ports/${p.id}`, { port: { 'binding:host_id': 'node1' } })).status).toBe(403);
    const bound = await c.put(env.admin, `/v2.0/ports/${p.id}`, { port: { 'binding:host_id': 'node1' } });
    expect(bound.json.port).toMatchObject({ 'binding:host_id': 'node1', 'binding:vif_type': 'bridge' });
  });

  it('gives 200 concurrent ports on a /24 unique IPs and MACs, then 409 IpAddressGenerationFailure', async () => {
    const net = await c.network(env.a);
    const s = await c.subnet(env.a, net.id, '10.20.0.0/24');
    const results = await Promise.all(Array.from({ length: 200 }, () => c.post(env.a, '/v2.0/ports', { port: { network_id: net.id } })));
    const failed = results.filter((r) => r.status !== 201);
    expect(failed.map((r) => r.text)).toEqual([]);
    const ports = results.map((r) => r.json.port);
    const ips = ports.map((p) => p.fixed_ips[0].ip_address as string);
    expect(new Set(ips).size).toBe(200);
    expect(new Set(ports.map((p) => p.mac_address)).size).toBe(200);
    for (const ip of ips) expect(ip).toMatch(/^10\.20\.0\.(\d+)$/);
    // the pool holds 253 addresses: 53 more fit, the next is refused
    const rest = await Promise.all(Array.from({ length: 60 }, () => c.post(env.a, '/v2.0/ports', { port: { network_id: net.id } })));
    expect(rest.filter((r) => r.status !== 201 && r.status !== 409).map((r) => r.text)).toEqual([]);
    expect(rest.filter((r) => r.status === 201)).toHaveLength(53);
    const refused = rest.filter((r) => r.status !== 201);
    expect(refused.every((r) => r.status === 409 && r.json.NeutronError.type === 'IpAddressGenerationFailure')).toBe(true);
    const all = (await c.get(env.a, `/v2.0/ports?network_id=${net.id}`)).json.ports;
    expect(all).toHaveLength(253);
    expect(new Set(all.map((p: { fixed_ips: { ip_address: string }[] }) => p.fixed_ips[0]!.ip_address)).size).toBe(253);
    expect(s.allocation_pools).toEqual([{ start: '10.20.0.2', end: '10.20.0.254' }]);
  }, 120000);

  it('stays unique with no quota lock at all: 200 parallel creates race only on the database constraints', async () => {
    // An unlimited port quota skips the per-project advisory lock, so every transaction picks and inserts concurrently.
    const q = await c.put(env.admin, `/v2.0/quotas/${env.b.id}`, { quota: { port: -1 } });
    expect(q.status).toBe(200);
    const net = await c.network(env.b);
    await c.subnet(env.b, net.id, '10.21.0.0/24');
    const results = await Promise.all(Array.from({ length: 200 }, () => c.post(env.b, '/v2.0/ports', { port: { network_id: net.id } })));
    expect(results.filter((r) => r.status !== 201).map((r) => r.text)).toEqual([]);
    const ports = results.map((r) => r.json.port);
    expect(new Set(ports.map((p) => p.fixed_ips[0].ip_address)).size).toBe(200);
    expect(new Set(ports.map((p) => p.mac_address)).size).toBe(200);
  }, 120000);

  it('holds the port quota exactly under concurrent creates (409 OverQuota for the rest, nothing half-made)', async () => {
    const project = { id: `projq${Math.random().toString(16).slice(2, 8)}`, token: '' };
    project.token = await env.identity.token({ projectId: project.id, userId: `u-${project.id}`, roles: ['member'] });
    await c.put(env.admin, `/v2.0/quotas/${project.id}`, { quota: { port: 5 } });
    const net = await c.network(project);
    await c.subnet(project, net.id, '10.22.0.0/24');
    const results = await Promise.all(Array.from({ length: 12 }, () => c.post(project, '/v2.0/ports', { port: { network_id: net.id } })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(5);
    expect(results.filter((r) => r.status !== 201).every((r) => r.status === 409 && r.json.NeutronError.type === 'OverQuota')).toBe(true);
    expect((await c.get(project, `/v2.0/ports?network_id=${net.id}`)).json.ports).toHaveLength(5);
    const details = (await c.get(project, `/v2.0/quotas/${project.id}/details`)).json.quota.port;
    expect(details).toEqual({ limit: 5, used: 5, reserved: 0 });
  });
});
