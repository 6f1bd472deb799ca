import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { client, type ComputeEnv, type Project, request, startComputeEnv } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';

let env: ComputeEnv;
let c: ReturnType<typeof client>;
beforeAll(async () => {
  env = await startComputeEnv({ hosts: ['mv-1'] });
  c = client(env);
}, 60000);
afterAll(() => env?.close());

const at = (v: string) => ({ headers: { 'OpenStack-API-Version': `compute ${v}`, 'X-OpenStack-Nova-API-Version': v } });
const r = (method: string, url: string, who: Project, v: string, json?: unknown) => c.r(method, url, who, { ...at(v), json });
const expectSchema = (name: string, res: { status: number; json: unknown }) => expect(tempestErrors(name, res.status, res.json)).toEqual([]);

describe('microversions 2.1 … 2.5', () => {
  it('negotiates: none → 2.1, latest → 2.5, each version echoed, above → 406, garbage → 400', async () => {
    const root = await request(env.url, 'GET', '/');
    expect(root.json.versions.find((v: { id: string }) => v.id === 'v2.1')).toMatchObject({ version: '2.5', min_version: '2.1' });
    expect((await c.r('GET', '/flavors', env.a)).headers['openstack-api-version']).toBe('compute 2.1');
    const latest = await r('GET', '/flavors', env.a, 'latest');
    expect(latest.headers['openstack-api-version']).toBe('compute 2.5');
    expect(latest.headers['x-openstack-nova-api-version']).toBe('2.5');
    expect((await r('GET', '/flavors', env.a, '2.3')).headers['openstack-api-version']).toBe('compute 2.3');
    const above = await r('GET', '/flavors', env.a, '2.6');
    expect(above.status).toBe(406);
    expect(above.json.computeFault.message).toBe('Version 2.6 is not supported by the API. Minimum is 2.1 and maximum is 2.5.');
    expect((await r('GET', '/flavors', env.a, 'two')).status).toBe(400);
    // novaclient below 2.27 sends only the legacy header.
    const legacy = await c.r('GET', '/flavors', env.a, { headers: { 'X-OpenStack-Nova-API-Version': '2.4' } });
    expect(legacy.headers['x-openstack-nova-api-version']).toBe('2.4');
  });

  it('2.2: keypairs have a type, create answers 201 and delete 204; 2.1 keeps 200/202 and refuses type', async () => {
    const created = await r('POST', '/os-keypairs', env.a, '2.2', { keypair: { name: 'k22', type: 'ssh' } });
    expectSchema('v2_2/keypairs.create_keypair', created);
    expect(created.json.keypair.type).toBe('ssh');
    expectSchema('v2_2/keypairs.get_keypair', await r('GET', '/os-keypairs/k22', env.a, '2.2'));
    expectSchema('v2_2/keypairs.list_keypairs', await r('GET', '/os-keypairs', env.a, '2.2'));
    // At 2.1 the same key is shown without type (Tempest's 2.1 schema forbids it).
    expectSchema('keypairs.get_keypair', await r('GET', '/os-keypairs/k22', env.a, '2.1'));
    expectSchema('keypairs.list_keypairs', await r('GET', '/os-keypairs', env.a, '2.1'));
    expect((await r('POST', '/os-keypairs', env.a, '2.1', { keypair: { name: 'k21', type: 'ssh' } })).status).toBe(400);
    expect((await r('POST', '/os-keypairs', env.a, '2.2', { keypair: { name: 'kbad', type: 'pgp' } })).status).toBe(400);
    const old = await r('POST', '/os-keypairs', env.a, '2.1', { keypair: { name: 'k21' } });
    expectSchema('keypairs.create_keypair', old);
    expect((await r('DELETE', '/os-keypairs/k21', env.a, '2.1')).status).toBe(202);
    const del = await r('DELETE', '/os-keypairs/k22', env.a, '2.2');
    expect(del.status).toBe(204);
    expect(del.text).toBe('');
  });

  it('2.2: an x509 certificate imports as a keypair of type x509', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-x509-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=kumo'], { stdio: 'ignore' });
    const pem = fs.readFileSync(path.join(dir, 'c.pem'), 'utf8');
    fs.rmSync(dir, { recursive: true });
    const res = await r('POST', '/os-keypairs', env.a, '2.2', { keypair: { name: 'cert', type: 'x509', public_key: pem } });
    expectSchema('v2_2/keypairs.create_keypair', res);
    expect(res.json.keypair).toMatchObject({ type: 'x509', fingerprint: expect.stringMatching(/^([0-9a-f]{2}:){19}[0-9a-f]{2}$/) });
    expect((await r('POST', '/os-keypairs', env.a, '2.2', { keypair: { name: 'gen509', type: 'x509' } })).status).toBe(400);
  });

  it('2.3: admins see the extended server attributes, others do not; 2.1 keeps the 2.1 shape', async () => {
    const s = await c.bootActive(env.a, { name: 'ext', user_data: Buffer.from('#!/bin/sh\necho hi\n').toString('base64') });
    const admin23 = await r('GET', `/servers/${s.id}`, env.admin, '2.3');
    expectSchema('v2_3/servers.get_server', admin23);
    expect(admin23.json.server).toMatchObject({
      'OS-EXT-SRV-ATTR:reservation_id': expect.stringMatching(/^r-/),
      'OS-EXT-SRV-ATTR:launch_index': 0,
      'OS-EXT-SRV-ATTR:hostname': 'ext',
      'OS-EXT-SRV-ATTR:root_device_name': '/dev/vda',
      'OS-EXT-SRV-ATTR:user_data': Buffer.from('#!/bin/sh\necho hi\n').toString('base64'),
    });
    expectSchema('v2_3/servers.list_servers_detail', await r('GET', '/servers/detail', env.admin, '2.3'));
    const member23 = await r('GET', `/servers/${s.id}`, env.a, '2.3');
    expectSchema('v2_3/servers.get_server', member23);
    expect(member23.json.server['OS-EXT-SRV-ATTR:user_data']).toBeUndefined();
    const admin21 = await r('GET', `/servers/${s.id}`, env.admin, '2.1');
    expectSchema('servers.get_server', admin21);
    expect(admin21.json.server['OS-EXT-SRV-ATTR:hostname']).toBeUndefined();
  });

  it('2.5: non-admins may filter by ip6 (ignored for them below 2.5)', async () => {
    const s = await c.bootActive(env.a, { name: 'v6' });
    // No IPv6 port: the filter matches nothing at 2.5 and is ignored at 2.4.
    const at25 = await r('GET', '/servers?ip6=fd00::', env.a, '2.5');
    expect(at25.json.servers).toEqual([]);
    const at24 = await r('GET', '/servers?ip6=fd00::', env.a, '2.4');
    expect(at24.json.servers.map((x: { id: string }) => x.id)).toContain(s.id);
  });
});
