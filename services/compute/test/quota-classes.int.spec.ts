import { startTestService, type TestService } from '@kumo/service-kit/testing';
import { computeService } from '../src/service.js';
import { client, type ComputeEnv, request, startComputeEnv } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';

// Default quotas are global state: this file has an environment (database) of its own.
let env: ComputeEnv;
let c: ReturnType<typeof client>;

beforeAll(async () => {
  env = await startComputeEnv({ hosts: ['qc-1'] });
  c = client(env);
}, 60000);
afterAll(() => env?.close());

const expectSchema = (name: string, res: { status: number; json: unknown }) => expect(tempestErrors(name, res.status, res.json)).toEqual([]);

/** The built-in defaults, as os-quota-class-sets shows them at 2.1 (no server_groups/server_group_members). */
const BUILT_IN = {
  instances: 10,
  cores: 20,
  ram: 51200,
  floating_ips: 10,
  fixed_ips: -1,
  metadata_items: 128,
  injected_files: 5,
  injected_file_content_bytes: 10240,
  injected_file_path_bytes: 255,
  key_pairs: 100,
  security_groups: 10,
  security_group_rules: 20,
};

describe('os-quota-class-sets', () => {
  it('updates the default quotas as Tempest’s test_update_default_quotas does, persistently', async () => {
    const shown = await c.r('GET', '/os-quota-class-sets/default', env.admin);
    expectSchema('quota_classes.get_quota_class_set', shown);
    expect(shown.json).toEqual({ quota_class_set: { id: 'default', ...BUILT_IN } });

    const body: Record<string, number> = { ...shown.json.quota_class_set };
    delete body.id;
    for (const k of Object.keys(body)) body[k] = body[k]! + 100;
    const updated = await c.r('PUT', '/os-quota-class-sets/default', env.admin, { json: { quota_class_set: body } });
    expectSchema('quota_classes.update_quota_class_set', updated);
    expect(updated.json).toEqual({ quota_class_set: body });
    const again = await c.r('GET', '/os-quota-class-sets/default', env.admin);
    expectSchema('quota_classes.get_quota_class_set', again);
    expect(again.json.quota_class_set).toEqual({ id: 'default', ...body });

    // Stored in the database: a second API process on the same schema answers the same.
    const replica: TestService = await startTestService(computeService, { databaseUrl: env.db.url, amqpUrl: env.vhost.url, env: { KUMO_IDENTITY_URL: env.identity.url } });
    try {
      const there = await request(replica.url, 'GET', '/v2.1/os-quota-class-sets/default', { token: env.admin.token });
      expect(there.json.quota_class_set).toEqual({ id: 'default', ...body });
    } finally {
      await replica.close();
    }

    // Put back what Tempest's cleanup puts back.
    const restored = await c.r('PUT', '/os-quota-class-sets/default', env.admin, { json: { quota_class_set: BUILT_IN } });
    expect(restored.json.quota_class_set).toEqual(BUILT_IN);
  });

  it('makes the new defaults the limits of every project without its own, in quota checks too', async () => {
    const set = await c.r('PUT', '/os-quota-class-sets/default', env.admin, { json: { quota_class_set: { instances: 1, key_pairs: '7', server_groups: 3 } } });
    expect(set.status).toBe(200);
    // server_groups is accepted and applied, but not shown below 2.50 (as in Nova).
    expect(set.json.quota_class_set).toEqual({ ...BUILT_IN, instances: 1, key_pairs: 7 });
    try {
      const defaults = await c.r('GET', `/os-quota-sets/${env.b.id}/defaults`, env.b);
      expectSchema('quotas.get_quota_set', defaults);
      expect(defaults.json.quota_set).toMatchObject({ id: env.b.id, instances: 1, key_pairs: 7, server_groups: 3, cores: 20 });
      expect((await c.r('GET', `/os-quota-sets/${env.b.id}`, env.b)).json.quota_set).toMatchObject({ instances: 1, key_pairs: 7, server_groups: 3 });
      const limits = await c.r('GET', '/limits', env.b);
      expectSchema('limits.get_limit', limits);
      expect(limits.json.limits.absolute).toMatchObject({ maxTotalInstances: 1, maxTotalKeypairs: 7, maxServerGroups: 3 });

      // Project b has no limit of its own: the default class applies to boots.
      expect((await c.boot(env.b, { name: 'first' })).status).toBe(202);
      const over = await c.boot(env.b, { name: 'second' });
      expect(over.status).toBe(403);
      expect(over.json.forbidden.message).toMatch(/Quota exceeded for instances/);
      // A project's own limit still wins over the default class.
      await c.r('PUT', `/os-quota-sets/${env.a.id}`, env.admin, { json: { quota_set: { instances: 5 } } });
      expect((await c.boot(env.a, { name: 'a1' })).status).toBe(202);
      expect((await c.boot(env.a, { name: 'a2' })).status).toBe(202);
      // Deleting a project's quota falls back to the (changed) defaults.
      expect((await c.r('DELETE', `/os-quota-sets/${env.a.id}`, env.admin)).status).toBe(202);
      expect((await c.r('GET', `/os-quota-sets/${env.a.id}`, env.a)).json.quota_set.instances).toBe(1);
    } finally {
      await c.r('PUT', '/os-quota-class-sets/default', env.admin, { json: { quota_class_set: { instances: 10, key_pairs: 100, server_groups: 10 } } });
    }
    expect((await c.boot(env.b, { name: 'second' })).status).toBe(202);
  });

  it('stores other classes without applying them', async () => {
    const gold = await c.r('PUT', '/os-quota-class-sets/gold', env.admin, { json: { quota_class_set: { cores: 500 } } });
    expectSchema('quota_classes.update_quota_class_set', gold);
    expect(gold.json.quota_class_set).toEqual({ ...BUILT_IN, cores: 500 });
    expect((await c.r('GET', '/os-quota-class-sets/gold', env.admin)).json.quota_class_set).toEqual({ id: 'gold', ...BUILT_IN, cores: 500 });
    expect((await c.r('GET', '/os-quota-class-sets/default', env.admin)).json.quota_class_set.cores).toBe(20);
    expect((await c.r('GET', `/os-quota-sets/${env.b.id}/defaults`, env.b)).json.quota_set.cores).toBe(20);
  });

  it('is for admins only and validates like Nova (400 badRequest, 403 forbidden)', async () => {
    for (const who of [env.a, env.readerA]) {
      const show = await c.r('GET', '/os-quota-class-sets/default', who);
      expect(show.status).toBe(403);
      expect(show.json.forbidden).toBeDefined();
      const put = await c.r('PUT', '/os-quota-class-sets/default', who, { json: { quota_class_set: { instances: 1000 } } });
      expect(put.status).toBe(403);
      expect(put.json.forbidden).toBeDefined();
    }
    expect((await c.r('GET', '/os-quota-class-sets/default', env.admin)).json.quota_class_set.instances).toBe(10);

    const bad = async (body: unknown, message: RegExp, id = 'default') => {
      const res = await c.r('PUT', `/os-quota-class-sets/${id}`, env.admin, { json: body });
      expect(res.status).toBe(400);
      expect(res.json.badRequest.message).toMatch(message);
    };
    await bad({ quota_class_set: { bogus: 1 } }, /Additional properties are not allowed \('bogus' was unexpected\)/);
    await bad({ quota_class_set: { instances: -2 } }, /-2 is less than the minimum of -1/);
    await bad({ quota_class_set: { instances: 2147483648 } }, /greater than the maximum/);
    await bad({ quota_class_set: { instances: 'ten' } }, /is not of type 'integer'/);
    await bad({ quota_class_set: { instances: null } }, /is not of type 'integer', 'string'/);
    await bad({ quota_class_set: { instances: 1.5 } }, /is not of type 'integer'/);
    await bad({ quota_class_set: { force: true } }, /'force' was unexpected/);
    await bad({ quota_set: { instances: 1 } }, /quota_set/);
    await bad({}, /quota_class_set/);
    await bad({ quota_class_set: { instances: 1 } }, /between 1 and 255/, 'x'.repeat(256));
    // Nothing was half applied.
    expect((await c.r('GET', '/os-quota-class-sets/default', env.admin)).json.quota_class_set).toEqual({ id: 'default', ...BUILT_IN });
  });
});

describe('2.50: os-quota-class-sets', () => {
  const at50 = { headers: { 'OpenStack-API-Version': 'compute 2.50' } };
  const NETWORK = ['fixed_ips', 'floating_ips', 'security_group_rules', 'security_groups'];
  const AT_2_50 = { ...Object.fromEntries(Object.entries(BUILT_IN).filter(([k]) => !NETWORK.includes(k))), server_groups: 10, server_group_members: 10 };

  it('shows server_groups and server_group_members, not the network quotas; refuses setting those (400); 2.49 as before', async () => {
    const shown = await c.r('GET', '/os-quota-class-sets/silver', env.admin, at50);
    expectSchema('v2_50/quota_classes.get_quota_class_set', shown);
    expect(shown.json.quota_class_set).toEqual({ id: 'silver', ...AT_2_50 });
    const upd = await c.r('PUT', '/os-quota-class-sets/silver', env.admin, { ...at50, json: { quota_class_set: { server_groups: 4, server_group_members: 6 } } });
    expectSchema('v2_50/quota_classes.update_quota_class_set', upd);
    expect(upd.json.quota_class_set).toEqual({ ...AT_2_50, server_groups: 4, server_group_members: 6 });
    for (const k of [...NETWORK, 'networks']) {
      const res = await c.r('PUT', '/os-quota-class-sets/silver', env.admin, { ...at50, json: { quota_class_set: { [k]: 1 } } });
      expect([k, res.status, res.json.badRequest?.message]).toEqual([k, 400, expect.stringContaining(`('${k}' was unexpected)`)]);
    }
    const old = await c.r('GET', '/os-quota-class-sets/silver', env.admin, { headers: { 'OpenStack-API-Version': 'compute 2.49' } });
    expectSchema('quota_classes.get_quota_class_set', old);
    expect(old.json.quota_class_set).toEqual({ id: 'silver', ...BUILT_IN });
    expect((await c.r('PUT', '/os-quota-class-sets/silver', env.admin, { headers: { 'OpenStack-API-Version': 'compute 2.49' }, json: { quota_class_set: { floating_ips: 3 } } })).status).toBe(200);
    expect((await c.r('GET', '/os-quota-class-sets/silver', env.a, at50)).status).toBe(403);
    expect((await c.r('PUT', '/os-quota-class-sets/silver', env.readerA, { ...at50, json: { quota_class_set: { server_groups: 1 } } })).status).toBe(403);
  });
});
