import { generateKeyPairSync } from 'node:crypto';
import { client, type ComputeEnv, request, startComputeEnv } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';
import { MAX_MICROVERSION } from '../src/versions/microversion.js';

let env: ComputeEnv;
let c: ReturnType<typeof client>;

beforeAll(async () => {
  env = await startComputeEnv({ hosts: ['fake-1'] });
  c = client(env);
});
afterAll(() => env?.close());

const expectSchema = (name: string, res: { status: number; json: unknown }) => expect(tempestErrors(name, res.status, res.json)).toEqual([]);

describe('discovery and microversions', () => {
  it('answers GET / and /v2.1 without a token, with microversion headers', async () => {
    const root = await request(env.url, 'GET', '/');
    expect(root.status).toBe(200);
    expect(root.json.versions.find((v: { id: string }) => v.id === 'v2.1')).toMatchObject({ version: MAX_MICROVERSION, min_version: '2.1' });
    expectSchema('versions.list_versions', root);
    const v = await request(env.url, 'GET', '/v2.1');
    expect(v.json.version.id).toBe('v2.1');
    expectSchema('versions.get_one_version', v);
    const legacy = await request(env.url, 'GET', '/v2/');
    expectSchema('versions.get_one_version', legacy);
    expect(legacy.json.version.id).toBe('v2.0');
    for (const r of [root, v]) {
      expect(r.headers['openstack-api-version']).toBe('compute 2.1');
      expect(r.headers['x-openstack-nova-api-version']).toBe('2.1');
      expect(r.headers.vary).toMatch(/OpenStack-API-Version/);
    }
  });

  it('echoes headers on errors too and refuses versions above the maximum with 406', async () => {
    const r = await c.r('GET', '/servers/nope', env.a);
    expect(r.status).toBe(404);
    expect(r.json.itemNotFound).toMatchObject({ code: 404 });
    expect(r.headers['x-openstack-nova-api-version']).toBe('2.1');
    expect(r.headers['x-compute-request-id']).toMatch(/^req-/);
    const bad = await c.r('GET', '/flavors', env.a, { headers: { 'X-OpenStack-Nova-API-Version': '2.99' } });
    expect(bad.status).toBe(406);
    const latest = await c.r('GET', '/flavors', env.a, { headers: { 'OpenStack-API-Version': 'compute latest' } });
    expect(latest.status).toBe(200);
  });

  it('needs a token', async () => {
    expect((await request(env.url, 'GET', '/v2.1/servers')).status).toBe(401);
  });
});

describe('flavors', () => {
  it('lists the seeded flavors in Tempest shape', async () => {
    const list = await c.r('GET', '/flavors', env.a);
    expectSchema('flavors.list_flavors', list);
    expect(list.json.flavors.map((f: { name: string }) => f.name)).toEqual(expect.arrayContaining(['m1.tiny', 'm1.small', 'm1.nano']));
    const detail = await c.r('GET', '/flavors/detail?is_public=None', env.a);
    expectSchema('flavors.list_flavors_details', detail);
    const one = await c.r('GET', '/flavors/1', env.a);
    expectSchema('flavors.create_update_get_flavor_details', one);
    expect(one.json.flavor).toMatchObject({ id: '1', name: 'm1.tiny', ram: 512, vcpus: 1, disk: 1, swap: '' });
  });

  it('filters by minRam and pages with limit/marker and next links', async () => {
    const big = await c.r('GET', '/flavors/detail?minRam=4096', env.a);
    expect(big.json.flavors.every((f: { ram: number }) => f.ram >= 4096)).toBe(true);
    const page1 = await c.r('GET', '/flavors?limit=2', env.a);
    expect(page1.json.flavors).toHaveLength(2);
    expect(page1.json.flavors_links[0].rel).toBe('next');
    const marker = page1.json.flavors[1].id;
    const page2 = await c.r('GET', `/flavors?limit=2&marker=${marker}`, env.a);
    expect(page2.json.flavors[0].id).not.toBe(page1.json.flavors[0].id);
    expect((await c.r('GET', '/flavors?marker=nope', env.a)).status).toBe(400);
  });

  it('admin creates a flavor (id generated for null/auto), members may not; duplicates conflict', async () => {
    const body = { flavor: { name: 'custom.1', ram: 256, vcpus: 1, disk: 2, id: null } };
    expect((await c.r('POST', '/flavors', env.a, { json: body })).status).toBe(403);
    const created = await c.r('POST', '/flavors', env.admin, { json: body });
    expectSchema('flavors.create_update_get_flavor_details', created);
    expect(created.json.flavor.id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await c.r('POST', '/flavors', env.admin, { json: body })).status).toBe(409);
    const auto = await c.r('POST', '/flavors', env.admin, { json: { flavor: { name: 'custom.2', ram: 256, vcpus: 1, disk: 0, id: 'auto' } } });
    expect(auto.json.flavor.id).not.toBe('auto');
    const bad = await c.r('POST', '/flavors', env.admin, { json: { flavor: { name: 'x', ram: -1, vcpus: 1, disk: 0 } } });
    expect(bad.status).toBe(400);
    expect(bad.json.badRequest.message).toMatch(/ram/);
    expect((await c.r('DELETE', `/flavors/${created.json.flavor.id}`, env.admin)).status).toBe(202);
    expect((await c.r('GET', `/flavors/${created.json.flavor.id}`, env.admin)).status).toBe(404);
  });

  it('extra specs: set, get one, delete; members cannot write', async () => {
    const set = await c.r('POST', '/flavors/2/os-extra_specs', env.admin, { json: { extra_specs: { 'hw:cpu_policy': 'dedicated', 'hw:cpu_sockets': '1' } } });
    expectSchema('flavors_extra_specs.set_get_flavor_extra_specs', set);
    const one = await c.r('GET', '/flavors/2/os-extra_specs/hw:cpu_policy', env.a);
    expect(one.json).toEqual({ 'hw:cpu_policy': 'dedicated' });
    expectSchema('flavors_extra_specs.set_get_flavor_extra_specs_key', one);
    expect((await c.r('POST', '/flavors/2/os-extra_specs', env.a, { json: { extra_specs: { a: 'b' } } })).status).toBe(403);
    expect((await c.r('DELETE', '/flavors/2/os-extra_specs/hw:cpu_sockets', env.admin)).status).toBe(200);
    expect((await c.r('GET', '/flavors/2/os-extra_specs/hw:cpu_sockets', env.admin)).status).toBe(404);
  });

  it('private flavors are visible only to projects given access', async () => {
    const f = await c.r('POST', '/flavors', env.admin, { json: { flavor: { name: 'private.1', ram: 128, vcpus: 1, disk: 1, 'os-flavor-access:is_public': false } } });
    const id = f.json.flavor.id;
    expect((await c.r('GET', `/flavors/${id}`, env.a)).status).toBe(404);
    const add = await c.r('POST', `/flavors/${id}/action`, env.admin, { json: { addTenantAccess: { tenant: env.a.id } } });
    expectSchema('flavors_access.add_remove_list_flavor_access', add);
    expect(add.json.flavor_access).toEqual([{ flavor_id: id, tenant_id: env.a.id }]);
    expect((await c.r('GET', `/flavors/${id}`, env.a)).status).toBe(200);
    expect((await c.r('GET', `/flavors/${id}`, env.b)).status).toBe(404);
    expect((await c.r('GET', '/flavors', env.b)).json.flavors.map((x: { id: string }) => x.id)).not.toContain(id);
    expect((await c.r('POST', `/flavors/${id}/action`, env.admin, { json: { addTenantAccess: { tenant: env.a.id } } })).status).toBe(409);
    expect((await c.r('GET', '/flavors/1/os-flavor-access', env.admin)).status).toBe(404);
  });
});

describe('keypairs', () => {
  it('generates an RSA key pair and returns the private key once', async () => {
    const res = await c.r('POST', '/os-keypairs', env.a, { json: { keypair: { name: 'gen' } } });
    expect(res.status).toBe(200);
    expectSchema('keypairs.create_keypair', res);
    expect(res.json.keypair.private_key).toMatch(/BEGIN RSA PRIVATE KEY/);
    expect(res.json.keypair.public_key).toMatch(/^ssh-rsa /);
    expect(res.json.keypair.fingerprint).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    const show = await c.r('GET', '/os-keypairs/gen', env.a);
    expectSchema('keypairs.get_keypair', show);
    expect(show.json.keypair.private_key).toBeUndefined();
    expect((await c.r('POST', '/os-keypairs', env.a, { json: { keypair: { name: 'gen' } } })).status).toBe(409);
  });

  it('imports ssh-ed25519 and RSA keys with the MD5 fingerprint; refuses garbage', async () => {
    const ed = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
    const raw = Buffer.from(ed.x!, 'base64url');
    const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
    const blob = Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]);
    const line = `ssh-ed25519 ${blob.toString('base64')} me@host`;
    const res = await c.r('POST', '/os-keypairs', env.a, { json: { keypair: { name: 'ed', public_key: line } } });
    expect(res.status).toBe(200);
    expect(res.json.keypair.private_key).toBeUndefined();
    const { createHash } = await import('node:crypto');
    expect(res.json.keypair.fingerprint).toBe(createHash('md5').update(blob).digest('hex').match(/../g)!.join(':'));
    const rsa = (await c.r('POST', '/os-keypairs', env.b, { json: { keypair: { name: 'gen2' } } })).json.keypair.public_key;
    const imp = await c.r('POST', '/os-keypairs', env.a, { json: { keypair: { name: 'rsa-imported', public_key: rsa } } });
    expect(imp.status).toBe(200);
    const bad = await c.r('POST', '/os-keypairs', env.a, { json: { keypair: { name: 'bad', public_key: 'ssh-rsa AAAAnotakey' } } });
    expect(bad.status).toBe(400);
    expect(bad.json.badRequest.message).toMatch(/Keypair data is invalid/);
    expect((await c.r('POST', '/os-keypairs', env.a, { json: { keypair: { name: 'bad/name' } } })).status).toBe(400);
    const list = await c.r('GET', '/os-keypairs', env.a);
    expectSchema('keypairs.list_keypairs', list);
    expect(list.json.keypairs.map((k: { keypair: { name: string } }) => k.keypair.name).sort()).toEqual(['ed', 'gen', 'rsa-imported']);
  });

  it('keypairs are per user: another project cannot see or delete them', async () => {
    expect((await c.r('GET', '/os-keypairs/ed', env.b)).status).toBe(404);
    expect((await c.r('DELETE', '/os-keypairs/ed', env.b)).status).toBe(404);
    expect((await c.r('GET', `/os-keypairs/ed?user_id=${env.a.userId}`, env.b)).status).toBe(403);
    expect((await c.r('GET', `/os-keypairs/ed?user_id=${env.a.userId}`, env.admin)).status).toBe(200);
    expect((await c.r('DELETE', '/os-keypairs/ed', env.a)).status).toBe(202);
    expect((await c.r('GET', '/os-keypairs/ed', env.a)).status).toBe(404);
  });
});

describe('quotas, limits, availability zones', () => {
  it('shows defaults and limits with usage in Tempest shape', async () => {
    const q = await c.r('GET', `/os-quota-sets/${env.a.id}`, env.a);
    expectSchema('quotas.get_quota_set', q);
    expect(q.json.quota_set).toMatchObject({ id: env.a.id, instances: 10, cores: 20, ram: 51200 });
    expectSchema('quotas.get_quota_set', await c.r('GET', `/os-quota-sets/${env.a.id}/defaults`, env.a));
    expectSchema('quotas.get_quota_set_details', await c.r('GET', `/os-quota-sets/${env.a.id}/detail`, env.a));
    const l = await c.r('GET', '/limits', env.a);
    expectSchema('limits.get_limit', l);
    expect(l.json.limits.absolute.maxTotalInstances).toBe(10);
  });

  it('only admins update quotas; another project cannot read them', async () => {
    expect((await c.r('GET', `/os-quota-sets/${env.a.id}`, env.b)).status).toBe(403);
    expect((await c.r('PUT', `/os-quota-sets/${env.b.id}`, env.b, { json: { quota_set: { instances: 50 } } })).status).toBe(403);
    const up = await c.r('PUT', `/os-quota-sets/${env.b.id}`, env.admin, { json: { quota_set: { instances: 5, cores: 7 } } });
    expectSchema('quotas.update_quota_set', up);
    expect(up.json.quota_set).toMatchObject({ instances: 5, cores: 7 });
    expect((await c.r('PUT', `/os-quota-sets/${env.b.id}`, env.admin, { json: { quota_set: { bogus: 1 } } })).status).toBe(400);
    expect((await c.r('GET', `/limits`, env.b)).json.limits.absolute.maxTotalInstances).toBe(5);
    expect((await c.r('DELETE', `/os-quota-sets/${env.b.id}`, env.admin)).status).toBe(202);
    expect((await c.r('GET', `/os-quota-sets/${env.b.id}`, env.b)).json.quota_set.instances).toBe(10);
  });

  it('availability zones: list for members, detail for admins', async () => {
    const az = await c.r('GET', '/os-availability-zone', env.a);
    expectSchema('availability_zone.list_availability_zone_list', az);
    expect(az.json.availabilityZoneInfo[0].zoneName).toBe('nova');
    expect((await c.r('GET', '/os-availability-zone/detail', env.a)).status).toBe(403);
    const d = await c.r('GET', '/os-availability-zone/detail', env.admin);
    expectSchema('availability_zone.list_availability_zone_list_detail', d);
    expect(Object.keys(d.json.availabilityZoneInfo[0].hosts)).toEqual(['fake-1']);
  });

  it('hypervisors and services are admin-only and reflect the agent', async () => {
    expect((await c.r('GET', '/os-hypervisors', env.a)).status).toBe(403);
    const h = await c.r('GET', '/os-hypervisors/detail', env.admin);
    expectSchema('hypervisors.list_hypervisors_detail', h);
    expect(h.json.hypervisors[0]).toMatchObject({ hypervisor_hostname: 'fake-1', state: 'up', vcpus: 16, memory_mb: 32768 });
    expectSchema('hypervisors.get_hypervisor', await c.r('GET', `/os-hypervisors/${h.json.hypervisors[0].id}`, env.admin));
    expectSchema('hypervisors.get_hypervisor_statistics', await c.r('GET', '/os-hypervisors/statistics', env.admin));
    const s = await c.r('GET', '/os-services', env.admin);
    expectSchema('services.list_services', s);
    expect(s.json.services[0]).toMatchObject({ binary: 'nova-compute', host: 'fake-1', state: 'up', status: 'enabled' });
    expect((await c.r('GET', '/os-services', env.a)).status).toBe(403);
  });
  it('2.1–2.52: os-hypervisors/{pattern}/search and /servers match hostnames by substring, admin only', async () => {
    const search = await c.r('GET', '/os-hypervisors/ake-/search', env.admin);
    expectSchema('hypervisors.list_search_hypervisors', search);
    expect(search.json.hypervisors).toEqual([{ id: expect.any(Number), hypervisor_hostname: 'fake-1', state: 'up', status: 'enabled' }]);
    // No server on the host: the servers key is absent (Tempest's schema allows no empty list either way).
    const none = await c.r('GET', '/os-hypervisors/fake-1/servers', env.admin);
    expectSchema('hypervisors.get_hypervisors_servers', none);
    expect(none.json.hypervisors[0].servers).toBeUndefined();
    const vm = await c.bootActive(env.a, { name: 'on-fake-1' });
    const some = await c.r('GET', '/os-hypervisors/fake/servers', env.admin);
    expectSchema('hypervisors.get_hypervisors_servers', some);
    expect(some.json.hypervisors[0].servers).toEqual(expect.arrayContaining([{ uuid: vm.id, name: 'on-fake-1' }]));
    for (const sub of ['search', 'servers']) {
      expect((await c.r('GET', `/os-hypervisors/fake/${sub}`, env.a)).status).toBe(403);
      const miss = await c.r('GET', `/os-hypervisors/nosuchhost/${sub}`, env.admin);
      expect(miss.status).toBe(404);
      expect(miss.json.itemNotFound.message).toBe("No hypervisor matching 'nosuchhost' could be found.");
      // Still there at 2.52; Nova removed them at 2.53 (the list's query parameters replace them).
      expect((await c.r('GET', `/os-hypervisors/fake/${sub}`, env.admin, { headers: { 'OpenStack-API-Version': 'compute 2.52' } })).status).toBe(200);
      expect((await c.r('GET', `/os-hypervisors/fake/${sub}`, env.admin, { headers: { 'OpenStack-API-Version': 'compute 2.53' } })).status).toBe(404);
    }
    expect((await c.r('DELETE', `/servers/${vm.id}`, env.a)).status).toBe(204);
    await c.waitStatus(env.a, vm.id, 'DELETED');
  });

  it("os-hypervisors/{id}/uptime: the node's uptime line from its agent's report; admin only, 404 unknown, 400 for a down host", async () => {
    const list = await c.r('GET', '/os-hypervisors', env.admin);
    const h = list.json.hypervisors.find((x: { hypervisor_hostname: string }) => x.hypervisor_hostname === 'fake-1');
    const r = await c.r('GET', `/os-hypervisors/${h.id}/uptime`, env.admin);
    expectSchema('hypervisors.get_hypervisor_uptime', r);
    expect(r.json.hypervisor).toMatchObject({ id: h.id, hypervisor_hostname: 'fake-1', state: 'up', status: 'enabled' });
    // The agent runs on this machine: its load averages are this machine's, as `uptime` prints them.
    expect(r.json.hypervisor.uptime).toMatch(/^ \d\d:\d\d:\d\d up .+, {2}load average: \d+\.\d\d, \d+\.\d\d, \d+\.\d\d$/);
    expect((await c.r('GET', `/os-hypervisors/${h.id}/uptime`, env.a)).status).toBe(403);
    expect((await c.r('GET', '/os-hypervisors/999999/uptime', env.admin)).status).toBe(404);
    const down = await c.r('PUT', '/os-services/force-down', env.admin, { json: { host: 'fake-1', binary: 'nova-compute', forced_down: true }, headers: { 'OpenStack-API-Version': 'compute 2.11' } });
    expect(down.status).toBe(200);
    try {
      const r400 = await c.r('GET', `/os-hypervisors/${h.id}/uptime`, env.admin);
      expect(r400.status).toBe(400);
      expect(r400.json.badRequest.message).toBe('Compute service fake-1 unavailable.');
    } finally {
      await c.r('PUT', '/os-services/force-down', env.admin, { json: { host: 'fake-1', binary: 'nova-compute', forced_down: false }, headers: { 'OpenStack-API-Version': 'compute 2.11' } });
    }
  });
});
