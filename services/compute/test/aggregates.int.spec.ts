import { client, type ComputeEnv, startComputeEnv } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';

/** os-aggregates: Nova's API with Tempest's schemas, admin only, availability zones through aggregates. */
describe('host aggregates', () => {
  let env: ComputeEnv;
  let c: ReturnType<typeof client>;
  beforeAll(async () => {
    env = await startComputeEnv({ hosts: ['agg-1', 'agg-2', 'agg-3'] });
    c = client(env);
    await c.r('PUT', `/os-quota-sets/${env.a.id}`, env.admin, { json: { quota_set: { instances: -1, cores: -1, ram: -1 } } });
  });
  afterAll(() => env?.close());

  const ok = (schema: string, res: { status: number; json: unknown; text: string }) => {
    expect([res.status, tempestErrors(schema, res.status, res.json)]).toEqual([200, []]);
  };
  const act = (id: number, body: unknown) => c.r('POST', `/os-aggregates/${id}/action`, env.admin, { json: body });

  it('is admin only: members and readers get 403', async () => {
    const created = await c.r('POST', '/os-aggregates', env.admin, { json: { aggregate: { name: 'private' } } });
    const id = created.json.aggregate.id as number;
    for (const who of [env.a, env.readerA]) {
      const calls = [
        c.r('GET', '/os-aggregates', who),
        c.r('POST', '/os-aggregates', who, { json: { aggregate: { name: 'x' } } }),
        c.r('GET', `/os-aggregates/${id}`, who),
        c.r('PUT', `/os-aggregates/${id}`, who, { json: { aggregate: { name: 'y' } } }),
        c.r('DELETE', `/os-aggregates/${id}`, who),
        c.r('POST', `/os-aggregates/${id}/action`, who, { json: { add_host: { host: 'agg-1' } } }),
        c.r('POST', `/os-aggregates/${id}/action`, who, { json: { remove_host: { host: 'agg-1' } } }),
        c.r('POST', `/os-aggregates/${id}/action`, who, { json: { set_metadata: { metadata: { a: 'b' } } } }),
      ];
      for (const res of await Promise.all(calls)) {
        expect(res.status).toBe(403);
        expect(res.json.forbidden.message).toMatch(/os-aggregates/);
      }
    }
    expect((await c.r('DELETE', `/os-aggregates/${id}`, env.admin)).status).toBe(200);
  });

  it("CRUD and actions answer in Tempest's schemas; Nova's 400/404/409", async () => {
    const created = await c.r('POST', '/os-aggregates', env.admin, { json: { aggregate: { name: 'crud', availability_zone: 'az-crud' } } });
    ok('aggregates.create_aggregate', created);
    const id = created.json.aggregate.id as number;
    expect(created.json.aggregate).toMatchObject({ name: 'crud', availability_zone: 'az-crud', deleted: false, updated_at: null });

    const dup = await c.r('POST', '/os-aggregates', env.admin, { json: { aggregate: { name: 'crud' } } });
    expect(dup.status).toBe(409);
    expect(dup.json.conflictingRequest.message).toBe('Aggregate crud already exists.');
    for (const bad of [{ name: '' }, { name: 'x'.repeat(256) }, {}, { name: 'n', extra: 1 }, { name: 'n', availability_zone: '' }])
      expect((await c.r('POST', '/os-aggregates', env.admin, { json: { aggregate: bad } })).json.badRequest.code).toBe(400);

    ok('aggregates.list_aggregates', await c.r('GET', '/os-aggregates', env.admin));
    ok('aggregates.get_aggregate', await c.r('GET', `/os-aggregates/${id}`, env.admin));
    const missing = await c.r('GET', '/os-aggregates/999999', env.admin);
    expect([missing.status, missing.json.itemNotFound.message]).toEqual([404, 'Aggregate 999999 could not be found.']);
    expect((await c.r('DELETE', '/os-aggregates/999999', env.admin)).status).toBe(404);

    const updated = await c.r('PUT', `/os-aggregates/${id}`, env.admin, { json: { aggregate: { name: 'crud-2' } } });
    ok('aggregates.update_aggregate', updated);
    expect(updated.json.aggregate).toMatchObject({ name: 'crud-2', availability_zone: 'az-crud' });
    expect((await c.r('PUT', `/os-aggregates/${id}`, env.admin, { json: { aggregate: {} } })).status).toBe(400);

    const unknown = await act(id, { add_host: { host: 'no-such-host' } });
    expect([unknown.status, unknown.json.itemNotFound.message]).toEqual([404, 'Compute host no-such-host could not be found.']);
    const added = await act(id, { add_host: { host: 'agg-3' } });
    ok('aggregates.aggregate_add_remove_host', added);
    expect(added.json.aggregate.hosts).toEqual(['agg-3']);
    const again = await act(id, { add_host: { host: 'agg-3' } });
    expect([again.status, again.json.conflictingRequest.message]).toEqual([409, `Aggregate ${id} already has host agg-3.`]);

    const meta = await act(id, { set_metadata: { metadata: { ssd: 'true', color: 'blue' } } });
    ok('aggregates.aggregate_set_metadata', meta);
    expect(meta.json.aggregate.metadata).toEqual({ availability_zone: 'az-crud', ssd: 'true', color: 'blue' });
    // null deletes a key (Nova's set_metadata merges).
    expect((await act(id, { set_metadata: { metadata: { color: null } } })).json.aggregate.metadata).toEqual({ availability_zone: 'az-crud', ssd: 'true' });
    expect((await act(id, { set_metadata: { metadata: { 'bad/key': 'x' } } })).status).toBe(400);
    expect((await act(id, { bogus: {} })).status).toBe(400);

    const notEmpty = await c.r('DELETE', `/os-aggregates/${id}`, env.admin);
    expect([notEmpty.status, notEmpty.json.badRequest.message]).toEqual([400, `Cannot remove host from aggregate ${id}. Reason: Host aggregate is not empty.`]);
    const notIn = await act(id, { remove_host: { host: 'agg-1' } });
    expect([notIn.status, notIn.json.itemNotFound.message]).toEqual([404, `Cannot remove host agg-1 in aggregate ${id}`]);
    const removed = await act(id, { remove_host: { host: 'agg-3' } });
    ok('aggregates.aggregate_add_remove_host', removed);
    expect(removed.json.aggregate.hosts).toEqual([]);
    expect((await c.r('DELETE', `/os-aggregates/${id}`, env.admin)).status).toBe(200);
    expect((await c.r('GET', `/os-aggregates/${id}`, env.admin)).status).toBe(404);
  });

  it('aggregate zones: os-availability-zone shows them, a host cannot be in two zones, boots land in the zone', async () => {
    const za = (await c.r('POST', '/os-aggregates', env.admin, { json: { aggregate: { name: 'zone-a', availability_zone: 'az-a' } } })).json.aggregate
      .id as number;
    const zb = (await c.r('POST', '/os-aggregates', env.admin, { json: { aggregate: { name: 'zone-b', availability_zone: 'az-b' } } })).json.aggregate
      .id as number;
    const plain = (await c.r('POST', '/os-aggregates', env.admin, { json: { aggregate: { name: 'plain' } } })).json.aggregate.id as number;
    expect((await act(za, { add_host: { host: 'agg-1' } })).status).toBe(200);

    const zones = await c.r('GET', '/os-availability-zone', env.a);
    expect(tempestErrors('availability_zone.list_availability_zone_list', zones.status, zones.json)).toEqual([]);
    expect(zones.json.availabilityZoneInfo.map((z: { zoneName: string }) => z.zoneName).sort()).toEqual(['az-a', 'nova']);
    const detail = await c.r('GET', '/os-availability-zone/detail', env.admin);
    expect(tempestErrors('availability_zone.list_availability_zone_list_detail', detail.status, detail.json)).toEqual([]);
    const hostsOf = (name: string) => Object.keys(detail.json.availabilityZoneInfo.find((z: { zoneName: string }) => z.zoneName === name)?.hosts ?? {}).sort();
    expect(hostsOf('az-a')).toEqual(['agg-1']);
    expect(hostsOf('nova')).toEqual(['agg-2', 'agg-3']);
    const svc = await c.r('GET', '/os-services?host=agg-1', env.admin);
    expect(svc.json.services[0].zone).toBe('az-a');

    // A host in az-a cannot join an aggregate of another zone: add_host 409, set_metadata/update 400 (Nova).
    const clash = await act(zb, { add_host: { host: 'agg-1' } });
    expect(clash.status).toBe(409);
    expect(clash.json.conflictingRequest.message).toBe(
      `Cannot add host to aggregate ${zb}. Reason: One or more hosts already in availability zone(s) ["az-a"].`,
    );
    expect((await act(plain, { add_host: { host: 'agg-1' } })).status).toBe(200);
    const metaClash = await act(plain, { set_metadata: { metadata: { availability_zone: 'az-other' } } });
    expect(metaClash.status).toBe(400);
    expect(metaClash.json.badRequest.message).toMatch(
      /^Cannot update metadata of aggregate \d+\. Reason: One or more hosts already in availability zone\(s\) \["az-a"\]/,
    );
    const updClash = await c.r('PUT', `/os-aggregates/${plain}`, env.admin, { json: { aggregate: { availability_zone: 'az-other' } } });
    expect([updClash.status, updClash.json.badRequest?.message]).toEqual([400, expect.stringMatching(/^Cannot update aggregate/)]);
    // The same zone is no conflict; a zone cannot be emptied (Nova: "does not support empty named availability zone").
    expect((await act(plain, { set_metadata: { metadata: { availability_zone: 'az-a' } } })).status).toBe(200);
    for (const zone of [null, '']) {
      const empty = await act(plain, { set_metadata: { metadata: { availability_zone: zone } } });
      expect([empty.status, empty.json.badRequest?.message]).toEqual([
        400,
        `Cannot update metadata of aggregate ${plain}. Reason: Aggregate plain does not support empty named availability zone.`,
      ]);
    }
    expect((await c.r('PUT', `/os-aggregates/${plain}`, env.admin, { json: { aggregate: { availability_zone: null } } })).status).toBe(400);
    expect((await c.r('POST', '/os-aggregates', env.admin, { json: { aggregate: { name: 'inner', availability_zone: 'internal' } } })).status).toBe(400);
    expect((await act(plain, { remove_host: { host: 'agg-1' } })).status).toBe(200);

    // Boots asking for az-a land on agg-1 (the AZ filter uses the aggregate's zone); az-b has no host.
    const servers = await Promise.all([1, 2, 3].map((n) => c.bootActive(env.a, { name: `in-a-${n}`, availability_zone: 'az-a' })));
    for (const s of servers) {
      const admin = (await c.show(env.admin, s.id)).json.server;
      expect([admin['OS-EXT-SRV-ATTR:host'], admin['OS-EXT-AZ:availability_zone']]).toEqual(['agg-1', 'az-a']);
    }
    const noHost = await c.boot(env.a, { name: 'in-b', availability_zone: 'az-b' });
    expect(noHost.status).toBe(400); // az-b has no host: not an available zone (Nova answers 400 at the API)
    const elsewhere = await c.bootActive(env.a, { name: 'in-nova', availability_zone: 'nova' });
    expect(['agg-2', 'agg-3']).toContain((await c.show(env.admin, elsewhere.id)).json.server['OS-EXT-SRV-ATTR:host']);

    // A zone whose hosts run instances cannot be renamed (Nova's check_no_instances_in_az).
    const rename = await act(za, { set_metadata: { metadata: { availability_zone: 'az-renamed' } } });
    expect([rename.status, rename.json.badRequest?.message]).toEqual([
      400,
      `Cannot update metadata of aggregate ${za}. Reason: One or more hosts contain instances in this zone.`,
    ]);
    expect((await c.r('PUT', `/os-aggregates/${za}`, env.admin, { json: { aggregate: { availability_zone: 'az-renamed' } } })).status).toBe(400);
    expect((await c.r('PUT', `/os-aggregates/${za}`, env.admin, { json: { aggregate: { availability_zone: 'az-a', name: 'zone-a2' } } })).status).toBe(200);
    for (const s of [...servers, elsewhere]) expect((await c.r('DELETE', `/servers/${s.id}`, env.a)).status).toBe(204);
    for (const s of [...servers, elsewhere]) await c.waitStatus(env.a, s.id, 'DELETED');
    expect((await act(za, { remove_host: { host: 'agg-1' } })).status).toBe(200);
    for (const id of [za, zb, plain]) expect((await c.r('DELETE', `/os-aggregates/${id}`, env.admin)).status).toBe(200);
    const after = await c.r('GET', '/os-availability-zone', env.a);
    expect(after.json.availabilityZoneInfo.map((z: { zoneName: string }) => z.zoneName)).toEqual(['nova']);
  }, 60000);

  it('AggregateInstanceExtraSpecsFilter: scoped flavor extra specs must match aggregate metadata', async () => {
    const agg = (await c.r('POST', '/os-aggregates', env.admin, { json: { aggregate: { name: 'fast-disks' } } })).json.aggregate.id as number;
    await act(agg, { add_host: { host: 'agg-2' } });
    await act(agg, { set_metadata: { metadata: { ssd: 'true' } } });
    const flavor = async (id: string, specs: Record<string, string>) => {
      expect((await c.r('POST', '/flavors', env.admin, { json: { flavor: { id, name: `f-${id}`, ram: 64, vcpus: 1, disk: 1 } } })).status).toBe(200);
      expect((await c.r('POST', `/flavors/${id}/os-extra_specs`, env.admin, { json: { extra_specs: specs } })).status).toBe(200);
    };
    await flavor('ssd-only', { 'aggregate_instance_extra_specs:ssd': 'true' });
    await flavor('gpu-only', { 'aggregate_instance_extra_specs:gpu': 'yes' });
    const ssd = await Promise.all([1, 2, 3, 4].map((n) => c.bootActive(env.a, { name: `ssd-${n}`, flavorRef: 'ssd-only' })));
    for (const s of ssd) expect((await c.show(env.admin, s.id)).json.server['OS-EXT-SRV-ATTR:host']).toBe('agg-2');
    const gpu = await c.boot(env.a, { name: 'gpu', flavorRef: 'gpu-only' });
    const failed = await c.waitStatus(env.a, gpu.json.server.id, 'ERROR');
    expect(failed.fault.message).toMatch(/^No valid host was found/);
    for (const s of [...ssd, failed]) await c.r('DELETE', `/servers/${s.id}`, env.a);
    for (const s of [...ssd, failed]) await c.waitStatus(env.a, s.id, 'DELETED');
    await act(agg, { remove_host: { host: 'agg-2' } });
    await c.r('DELETE', `/os-aggregates/${agg}`, env.admin);
  }, 60000);
});
