import { client, type ComputeEnv, neutronClient, type Project, startComputeWithNetwork } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';

// Nova's legacy APIs Tempest's compute group calls: os-hosts (2.1–2.42), the instance usage audit
// log, the os-networks / os-tenant-networks proxies (2.1–2.35, against the real network service,
// in-process), the nova-network leftovers that answer 410, and the static extensions list.
let env: ComputeEnv;
let c: ReturnType<typeof client>;
let stack: Awaited<ReturnType<typeof startComputeWithNetwork>>;

beforeAll(async () => {
  stack = await startComputeWithNetwork({ hosts: ['adm-1', 'adm-2'] });
  env = stack.env;
  c = client(env);
}, 120000);
afterAll(async () => {
  await stack?.close();
});

type R = { status: number; json: unknown; text: string };
const ok = (schema: string, res: R) => expect([res.status, tempestErrors(schema, res.status, res.json)]).toEqual([200, []]);
const at = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });
const fault = (res: R) => {
  const [key, v] = Object.entries(res.json as Record<string, { code: number; message: string }>)[0]!;
  return [res.status, key, v.message];
};

describe('os-hosts (2.1–2.42)', () => {
  it('is admin only: members and readers get 403 on every call', async () => {
    for (const who of [env.a, env.readerA]) {
      const calls = [
        c.r('GET', '/os-hosts', who),
        c.r('GET', '/os-hosts/adm-1', who),
        c.r('PUT', '/os-hosts/adm-1', who, { json: { status: 'enable', maintenance_mode: 'enable' } }),
        c.r('GET', '/os-hosts/adm-1/startup', who),
        c.r('GET', '/os-hosts/adm-1/shutdown', who),
        c.r('GET', '/os-hosts/adm-1/reboot', who),
      ];
      for (const res of await Promise.all(calls)) {
        expect(res.status).toBe(403);
        expect(res.json.forbidden.message).toMatch(/os_compute_api:os-hosts:(list|show|update|start|shutdown|reboot)/);
      }
      // As Nova: an invalid body is refused by the schema before the policy is asked.
      expect((await c.r('PUT', '/os-hosts/adm-1', who, { json: { status: 'invalid' } })).status).toBe(400);
    }
  });

  it('lists the enabled compute hosts with their zone; zone filter exact, blank = all', async () => {
    const all = await c.r('GET', '/os-hosts', env.admin);
    ok('hosts.list_hosts', all);
    expect(all.json.hosts).toEqual([
      { host_name: 'adm-1', service: 'compute', zone: 'nova' },
      { host_name: 'adm-2', service: 'compute', zone: 'nova' },
    ]);
    expect((await c.r('GET', '/os-hosts?zone=nova', env.admin)).json.hosts).toEqual(all.json.hosts);
    expect((await c.r('GET', '/os-hosts?zone=', env.admin)).json.hosts).toEqual(all.json.hosts);
    expect((await c.r('GET', '/os-hosts?zone=xxx', env.admin)).json).toEqual({ hosts: [] });
    expect((await c.r('GET', '/os-hosts', env.admin, { headers: at('2.42') })).status).toBe(200);
    expect(fault(await c.r('GET', '/os-hosts', env.admin, { headers: at('2.43') }))).toEqual([404, 'itemNotFound', 'The resource could not be found.']);
    expect((await c.r('GET', '/os-hosts/adm-1', env.admin, { headers: at('2.43') })).status).toBe(404);
  });

  it('shows total, used_now, used_max and one row per project of the instances on the host', async () => {
    const mine = await c.bootActive(env.a, { name: 'h-a' });
    const host = (await c.show(env.admin, mine.id)).json.server['OS-EXT-SRV-ATTR:host'] as string;
    // m1.small (1 vCPU, 2048 MB, 20 GB) pinned next to it by the admin.
    const theirs = await c.bootActive(env.admin, { name: 'h-adm', flavorRef: '2', availability_zone: `nova:${host}` });
    const res = await c.r('GET', `/os-hosts/${host}`, env.admin);
    ok('hosts.get_host_detail', res);
    const hv = (await c.r('GET', '/os-hypervisors/detail', env.admin)).json.hypervisors.find((h: { hypervisor_hostname: string }) => h.hypervisor_hostname === host);
    expect(res.json.host).toEqual([
      { resource: { host, project: '(total)', cpu: 16, memory_mb: 32768, disk_gb: 500 } },
      { resource: { host, project: '(used_now)', cpu: hv.vcpus_used, memory_mb: hv.memory_mb_used, disk_gb: hv.local_gb_used } },
      { resource: { host, project: '(used_max)', cpu: 2, memory_mb: 512 + 2048, disk_gb: 1 + 20 } },
      { resource: { host, project: env.a.id, cpu: 1, memory_mb: 512, disk_gb: 1 } },
      { resource: { host, project: env.admin.id, cpu: 1, memory_mb: 2048, disk_gb: 20 } },
    ]);
    expect(hv.vcpus_used).toBe(2);
    const other = host === 'adm-1' ? 'adm-2' : 'adm-1';
    expect((await c.r('GET', `/os-hosts/${other}`, env.admin)).json.host.map((r: { resource: { project: string } }) => r.resource.project)).toEqual(['(total)', '(used_now)', '(used_max)']);
    expect(fault(await c.r('GET', '/os-hosts/nonexistent_hostname', env.admin))).toEqual([404, 'itemNotFound', 'Compute host nonexistent_hostname could not be found.']);
    for (const s of [mine, theirs]) await c.r('DELETE', `/servers/${s.id}`, s === mine ? env.a : env.admin);
  });

  it('status disable/enable switches the host off for new instances, as os-services shows; Nova body validation', async () => {
    const off = await c.r('PUT', '/os-hosts/adm-2', env.admin, { json: { status: 'disable' } });
    ok('hosts.update_host', off);
    expect(off.json).toEqual({ host: 'adm-2', status: 'disabled' });
    expect((await c.r('GET', '/os-services?host=adm-2', env.admin)).json.services[0]).toMatchObject({ status: 'disabled', disabled_reason: null });
    // Nova lists enabled services only.
    expect((await c.r('GET', '/os-hosts', env.admin)).json.hosts.map((h: { host_name: string }) => h.host_name)).toEqual(['adm-1']);
    // The scheduler skips it: every boot lands on adm-1.
    const booted = await Promise.all([1, 2, 3].map(() => c.bootActive(env.admin, { name: 'after-disable' })));
    for (const s of booted) expect((await c.show(env.admin, s.id)).json.server['OS-EXT-SRV-ATTR:host']).toBe('adm-1');
    for (const s of booted) await c.r('DELETE', `/servers/${s.id}`, env.admin);

    const on = await c.r('PUT', '/os-hosts/adm-2', env.admin, { json: { status: 'ENABLE' } });
    ok('hosts.update_host', on);
    expect(on.json).toEqual({ host: 'adm-2', status: 'enabled' });
    expect((await c.r('GET', '/os-services?host=adm-2', env.admin)).json.services[0].status).toBe('enabled');

    const bad = async (json: unknown) => fault(await c.r('PUT', '/os-hosts/adm-2', env.admin, { json }));
    expect(await bad({ status: 'invalid', maintenance_mode: 'enable' })).toEqual([
      400,
      'badRequest',
      "Invalid input for field/attribute status. Value: invalid. 'invalid' is not one of ['enable', 'disable', 'Enable', 'Disable', 'ENABLE', 'DISABLE']",
    ]);
    expect((await bad({ status: 'enable', maintenance_mode: 'invalid' }))[0]).toBe(400);
    // Tempest's update_host without arguments sends both keys as null.
    expect(await bad({ status: null, maintenance_mode: null })).toEqual([400, 'badRequest', "Invalid input for field/attribute status. Value: None. None is not of type 'string'"]);
    expect(await bad({})).toEqual([400, 'badRequest', '{} is not valid under any of the given schemas']);
    expect(await bad({ status: 'enable', host: 'x' })).toEqual([400, 'badRequest', "Additional properties are not allowed ('host' was unexpected)"]);
    expect(fault(await c.r('PUT', '/os-hosts/nonexistent_hostname', env.admin, { json: { status: 'enable', maintenance_mode: 'enable' } }))).toEqual([
      404,
      'itemNotFound',
      'Compute host nonexistent_hostname could not be found.',
    ]);
  });

  it('maintenance mode and power actions are not supported by the drivers: 501 (404 for an unknown host)', async () => {
    expect(fault(await c.r('PUT', '/os-hosts/adm-1', env.admin, { json: { maintenance_mode: 'enable' } }))).toEqual([501, 'notImplemented', 'The requested functionality is not supported.']);
    // As in Nova, the status part is applied before maintenance mode is refused.
    expect((await c.r('PUT', '/os-hosts/adm-1', env.admin, { json: { status: 'disable', maintenance_mode: 'disable' } })).status).toBe(501);
    expect((await c.r('GET', '/os-services?host=adm-1', env.admin)).json.services[0].status).toBe('disabled');
    expect((await c.r('PUT', '/os-hosts/adm-1', env.admin, { json: { status: 'enable' } })).json.status).toBe('enabled');
    for (const action of ['startup', 'shutdown', 'reboot']) {
      expect(fault(await c.r('GET', `/os-hosts/adm-1/${action}`, env.admin))).toEqual([501, 'notImplemented', 'The requested functionality is not supported.']);
      expect(fault(await c.r('GET', `/os-hosts/nonexistent_hostname/${action}`, env.admin))).toEqual([404, 'itemNotFound', 'Compute host nonexistent_hostname could not be found.']);
    }
  });
});

describe('os-instance_usage_audit_log', () => {
  const enc = (s: string) => encodeURIComponent(s);

  it('is admin only', async () => {
    for (const who of [env.a, env.readerA]) {
      const list = await c.r('GET', '/os-instance_usage_audit_log', who);
      expect([list.status, list.json.forbidden?.message]).toEqual([403, expect.stringMatching(/os-instance-usage-audit-log:list/)]);
      const show = await c.r('GET', `/os-instance_usage_audit_log/${enc('2026-11-27 10:00:00')}`, who);
      expect([show.status, show.json.forbidden?.message]).toEqual([403, expect.stringMatching(/os-instance-usage-audit-log:show/)]);
    }
  });

  it('reports the last completed month with every compute host not run (Kumo has no audit job)', async () => {
    const now = new Date();
    const list = await c.r('GET', '/os-instance_usage_audit_log', env.admin);
    ok('instance_usage_audit_logs.list_instance_usage_audit_log', list);
    const begin = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1)).toISOString().slice(0, 10);
    const end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString().slice(0, 10);
    expect(list.json.instance_usage_audit_logs).toEqual({
      period_beginning: `${begin} 00:00:00`,
      period_ending: `${end} 00:00:00`,
      num_hosts: 2,
      num_hosts_done: 0,
      num_hosts_running: 0,
      num_hosts_not_run: 2,
      hosts_not_run: ['adm-1', 'adm-2'],
      total_instances: 0,
      total_errors: 0,
      overall_status: '0 of 2 hosts done. 0 errors.',
      log: {},
    });
  });

  it('before_timestamp picks the month that ended strictly before it; a bad timestamp is a 400', async () => {
    const period = async (ts: string) => {
      const res = await c.r('GET', `/os-instance_usage_audit_log/${enc(ts)}`, env.admin);
      ok('instance_usage_audit_logs.get_instance_usage_audit_log', res);
      const l = res.json.instance_usage_audit_log;
      return [l.period_beginning, l.period_ending];
    };
    expect(await period('2026-03-15 10:20:30')).toEqual(['2026-02-01 00:00:00', '2026-03-01 00:00:00']);
    expect(await period('2026-03-01 00:00:00')).toEqual(['2026-01-01 00:00:00', '2026-02-01 00:00:00']);
    expect(await period('2026-03-01 00:00:00.5')).toEqual(['2026-02-01 00:00:00', '2026-03-01 00:00:00']);
    expect(await period('2026-01-10 08:00:00')).toEqual(['2025-12-01 00:00:00', '2026-01-01 00:00:00']);
    for (const badTs of ['invalid_time', '2026-02-30 00:00:00', '2026-03-01T00:00:00', '2026-03-01 00:00:00.']) {
      expect(fault(await c.r('GET', `/os-instance_usage_audit_log/${enc(badTs)}`, env.admin))).toEqual([400, 'badRequest', `Invalid timestamp for date ${badTs}`]);
    }
  });
});

describe('os-networks and os-tenant-networks (2.1–2.35) over the network service', () => {
  const neutron = (who: Project, method: string, url: string, json?: unknown) => neutronClient(stack.network.url)(who, method, url, json);
  let pub: string;
  let netA: string;
  let netB: string;
  beforeAll(async () => {
    pub = (await neutron(env.admin, 'POST', '/v2.0/networks', { network: { name: 'public', 'router:external': true } })).network.id;
    netA = (await neutron(env.a, 'POST', '/v2.0/networks', { network: { name: 'net-a' } })).network.id;
    await neutron(env.a, 'POST', '/v2.0/subnets', { subnet: { network_id: netA, cidr: '10.41.0.0/24', ip_version: 4 } });
    netB = (await neutron(env.b, 'POST', '/v2.0/networks', { network: { name: 'net-b' } })).network.id;
  });

  const NULLS = ['cidr', 'netmask', 'gateway', 'broadcast', 'dns1', 'dns2', 'cidr_v6', 'gateway_v6', 'netmask_v6'];
  const ADMIN_NULLS = ['created_at', 'updated_at', 'deleted_at', 'deleted', 'injected', 'bridge', 'vlan', 'vpn_public_address', 'vpn_public_port', 'vpn_private_address', 'dhcp_start', 'project_id', 'host', 'bridge_interface', 'multi_host', 'priority', 'rxtx_base', 'mtu', 'dhcp_server', 'enable_dhcp', 'share_address'];
  const novaNet = (id: string, label: string, admin = false) => ({ id, label, ...Object.fromEntries([...NULLS, ...(admin ? ADMIN_NULLS : [])].map((f) => [f, null])) });
  const byId = <T extends { id: string }>(nets: T[]) => [...nets].sort((x, y) => x.id.localeCompare(y.id));

  it('os-networks: the networks the caller sees, Nova shape (id, label, the rest null; admin fields for admins)', async () => {
    const mine = await c.r('GET', '/os-networks', env.a, { headers: at('2.35') });
    expect(mine.status).toBe(200);
    expect(byId(mine.json.networks)).toEqual(byId([novaNet(netA, 'net-a'), novaNet(pub, 'public')]));
    // Readers read (Nova: PROJECT_READER_OR_ADMIN).
    expect((await c.r('GET', '/os-networks', env.readerA)).json.networks.map((n: { id: string }) => n.id).sort()).toEqual([netA, pub].sort());
    const all = await c.r('GET', '/os-networks', env.admin);
    expect(all.json.networks.find((n: { id: string }) => n.id === netB)).toEqual(novaNet(netB, 'net-b', true));
    expect(fault(await c.r('GET', '/os-networks', env.a, { headers: at('2.36') }))).toEqual([404, 'itemNotFound', 'The resource could not be found.']);
  });

  it('os-networks/{id}: shown to who can see it; another project\'s network or an unknown id is 404 "Network not found"', async () => {
    const shown = await c.r('GET', `/os-networks/${netA}`, env.a);
    expect([shown.status, shown.json]).toEqual([200, { network: novaNet(netA, 'net-a') }]);
    expect((await c.r('GET', `/os-networks/${pub}`, env.admin)).json.network).toEqual(novaNet(pub, 'public', true));
    expect(fault(await c.r('GET', `/os-networks/${netB}`, env.a))).toEqual([404, 'itemNotFound', 'Network not found']);
    expect(fault(await c.r('GET', '/os-networks/5f0a6c5e-2b64-4b8e-9c1b-2b1c9a3f7d10', env.a))).toEqual([404, 'itemNotFound', 'Network not found']);
    expect((await c.r('GET', '/os-networks/not-a-uuid', env.a)).status).toBe(404);
  });

  it('os-tenant-networks: id, label and cidr "None", in Tempest\'s schemas', async () => {
    const list = await c.r('GET', '/os-tenant-networks', env.a);
    ok('tenant_networks.list_tenant_networks', list);
    expect(byId(list.json.networks)).toEqual(byId([{ id: netA, cidr: 'None', label: 'net-a' }, { id: pub, cidr: 'None', label: 'public' }]));
    const shown = await c.r('GET', `/os-tenant-networks/${netA}`, env.readerA);
    ok('tenant_networks.get_tenant_network', shown);
    expect(shown.json.network).toEqual({ id: netA, cidr: 'None', label: 'net-a' });
    expect(fault(await c.r('GET', `/os-tenant-networks/${netB}`, env.a))).toEqual([404, 'itemNotFound', 'Network not found']);
    expect((await c.r('GET', `/os-tenant-networks/${netA}`, env.a, { headers: at('2.36') })).status).toBe(404);
  });

  it('nova-network\'s writes and os-floating-ips-bulk answer 410 as Nova (404 from 2.36)', async () => {
    const GONE = [410, 'computeFault', 'This resource is no longer available.  No forwarding address is given.'];
    const calls: [string, string, unknown?][] = [
      ['POST', '/os-networks', { network: { label: 'x', cidr: '10.9.0.0/24' } }],
      ['POST', '/os-networks/add', { id: netA }],
      ['POST', `/os-networks/${netA}/action`, { disassociate: null }],
      ['DELETE', `/os-networks/${netA}`],
      ['POST', '/os-tenant-networks', { network: { label: 'x', cidr: '10.9.0.0/24' } }],
      ['DELETE', `/os-tenant-networks/${netA}`],
      ['GET', '/os-floating-ips-bulk'],
      ['POST', '/os-floating-ips-bulk', { floating_ips_bulk_create: { ip_range: '10.9.0.0/28' } }],
      ['GET', '/os-floating-ips-bulk/host1'],
      ['PUT', '/os-floating-ips-bulk/delete', { ip_range: '10.9.0.0/28' }],
    ];
    for (const [method, url, json] of calls) {
      expect([method, url, ...fault(await c.r(method, url, env.admin, { json }))]).toEqual([method, url, ...GONE]);
      expect((await c.r(method, url, env.admin, { json, headers: at('2.36') })).status).toBe(404);
    }
    // Nothing was deleted.
    expect((await c.r('GET', `/os-networks/${netA}`, env.a)).status).toBe(200);
  });
});

describe('extensions', () => {
  it('lists Nova\'s static extension list to anyone and shows one by alias; unknown alias 404', async () => {
    const list = await c.r('GET', '/extensions', env.readerA);
    ok('extensions.list_extensions', list);
    expect(list.json.extensions).toHaveLength(99);
    expect(list.json.extensions.map((e: { name: string }) => e.name)).toContain('Hosts');
    const shown = await c.r('GET', '/extensions/os-consoles', env.a, { headers: at('2.47') });
    expect([shown.status, shown.json]).toEqual([
      200,
      { extension: { alias: 'os-consoles', name: 'Consoles', description: 'Interactive Console support.', links: [], namespace: 'http://docs.openstack.org/compute/ext/fake_xml', updated: '2014-12-03T00:00:00Z' } },
    ]);
    expect(fault(await c.r('GET', '/extensions/os-nope', env.a))).toEqual([404, 'itemNotFound', 'The resource could not be found.']);
  });
});
