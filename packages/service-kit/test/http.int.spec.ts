import request from 'supertest';
import { createTestDatabase, createTestVhost, startTestService, type TestDatabase, type TestService, type TestVhost } from '../src/testing/index.js';
import { fixtureVolume, plainService } from './fixtures/definitions.js';

const REQ_ID = /^req-[0-9a-f-]{36}$/;

describe('HTTP behaviour every service shares', () => {
  let db: TestDatabase;
  let vhost: TestVhost;
  let volume: TestService;
  let network: TestService;
  let identity: TestService;

  beforeAll(async () => {
    [db, vhost] = await Promise.all([createTestDatabase(), createTestVhost()]);
    const opts = { databaseUrl: db.url, amqpUrl: vhost.url, env: { KUMO_HTTP_BODY_LIMIT: '1kib' } };
    [volume, network, identity] = await Promise.all([
      startTestService(fixtureVolume, opts),
      startTestService(plainService('network', 'neutron'), opts),
      startTestService(plainService('identity', 'keystone'), opts),
    ]);
  }, 60000);

  afterAll(async () => {
    await Promise.all([volume?.close(), network?.close(), identity?.close()]);
    await Promise.all([db?.drop(), vhost?.delete()]);
  }, 60000);

  it('answers malformed JSON with 400 in each family shape, with a request id', async () => {
    const nova = await request(volume.url).post('/fixture/conflict').set('Content-Type', 'application/json').send('{"volume": ');
    expect(nova.status).toBe(400);
    expect(nova.body.badRequest.code).toBe(400);
    expect(nova.body.badRequest.message).toMatch(/^Malformed request body/);
    expect(nova.headers['x-openstack-request-id']).toMatch(REQ_ID);

    const neutron = await request(network.url).post('/v2.0/networks').set('Content-Type', 'application/json').send('{oops}');
    expect(neutron.status).toBe(400);
    expect(neutron.body).toEqual({ NeutronError: { type: 'HTTPBadRequest', message: expect.stringMatching(/^Malformed request body/), detail: '' } });

    const keystone = await request(identity.url).post('/v3/auth/tokens').set('Content-Type', 'application/json').send('[1,');
    expect(keystone.status).toBe(400);
    expect(keystone.body.error).toMatchObject({ code: 400, title: 'Bad Request' });
  });

  it('answers an oversized body with 413 and does not read it all', async () => {
    const res = await request(volume.url).post('/fixture/conflict').set('Content-Type', 'application/json').send({ x: 'a'.repeat(5000) });
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ overLimit: { code: 413, message: 'Request body is larger than the limit of 1024 bytes.' } });
  });

  it('answers unknown routes with 404 in the family shape', async () => {
    const res = await request(network.url).get('/v2.0/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body.NeutronError.type).toBe('HTTPNotFound');
    const nova = await request(volume.url).delete('/v3/abc/volumes/x');
    expect(nova.body.itemNotFound.code).toBe(404);
  });

  it('passes deliberate API errors through and hides internal ones', async () => {
    const conflict = await request(volume.url).get('/fixture/conflict');
    expect(conflict.status).toBe(409);
    expect(conflict.body).toEqual({ conflictingRequest: { code: 409, message: 'Volume v-1 is attached.' } });

    const boom = await request(volume.url).get('/fixture/boom');
    expect(boom.status).toBe(500);
    const id = boom.headers['x-openstack-request-id'];
    expect(boom.body.computeFault.message).toContain(id);
    expect(JSON.stringify(boom.body)).not.toMatch(/secret|postgres|at .*\.ts/);
  });

  it('answers 503 (nothing done, retry) when no database connection is free within KUMO_DB_POOL_TIMEOUT_S', async () => {
    const tight = await startTestService(fixtureVolume, {
      databaseUrl: db.url,
      amqpUrl: vhost.url,
      env: { KUMO_DB_POOL_SIZE: '1', KUMO_DB_POOL_TIMEOUT_S: '0.3' },
    });
    try {
      const holder = request(tight.url).get('/fixture/db-sleep?ms=2000').then((r) => r);
      await new Promise((r) => setTimeout(r, 300)); // let the holder take the only connection
      const starved = await request(tight.url).get('/fixture/db-sleep?ms=1');
      expect(starved.status).toBe(503);
      expect(starved.body.serviceUnavailable.message).toMatch(/database connection.*busy.*KUMO_DB_POOL_SIZE/);
      expect((await holder).status).toBe(200);
      // once the connection is back, the same request is served
      expect((await request(tight.url).get('/fixture/db-sleep?ms=1')).status).toBe(200);
    } finally {
      await tight.close();
    }
  }, 60000);

  it('serves health (database + broker) and Prometheus metrics', async () => {
    const health = await request(volume.url).get('/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'ok', info: { database: { status: 'up' }, broker: { status: 'up' } } });
    await request(volume.url).get('/fixture/conflict');
    const metrics = await request(volume.url).get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('process_resident_memory_bytes{service="volume"}');
    expect(metrics.text).toMatch(/kumo_http_requests_total\{method="GET",route="\/fixture\/conflict",status="409",service="volume"\} [1-9]/);
  });
});
