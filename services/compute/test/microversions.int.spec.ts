import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { client, type ComputeEnv, type Project, request, startComputeEnv } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';
import { MAX_MICROVERSION as MAX } from '../src/versions/microversion.js';
import { Db } from '../src/db/db.js';

/** The first version above the maximum. */
const ABOVE = `2.${Number(MAX.split('.')[1]) + 1}`;

let env: ComputeEnv;
let c: ReturnType<typeof client>;
beforeAll(async () => {
  env = await startComputeEnv({ hosts: ['mv-1'] });
  c = client(env);
  // Many small tests boot servers in one project.
  await c.r('PUT', `/os-quota-sets/${env.a.id}`, env.admin, { json: { quota_set: { instances: 100, cores: 200, ram: 1000000 } } });
}, 60000);
afterAll(() => env?.close());

const at = (v: string) => ({ headers: { 'OpenStack-API-Version': `compute ${v}`, 'X-OpenStack-Nova-API-Version': v } });
const r = (method: string, url: string, who: Project, v: string, json?: unknown) => c.r(method, url, who, { ...at(v), json });
const expectSchema = (name: string, res: { status: number; json: unknown }) => expect(tempestErrors(name, res.status, res.json)).toEqual([]);

describe('microversions 2.1 … 2.37', () => {
  it('negotiates: none → 2.1, latest → the maximum, each version echoed, above → 406, garbage → 400', async () => {
    const root = await request(env.url, 'GET', '/');
    expect(root.json.versions.find((v: { id: string }) => v.id === 'v2.1')).toMatchObject({ version: MAX, min_version: '2.1' });
    expect((await c.r('GET', '/flavors', env.a)).headers['openstack-api-version']).toBe('compute 2.1');
    const latest = await r('GET', '/flavors', env.a, 'latest');
    expect(latest.headers['openstack-api-version']).toBe(`compute ${MAX}`);
    expect(latest.headers['x-openstack-nova-api-version']).toBe(MAX);
    expect((await r('GET', '/flavors', env.a, '2.3')).headers['openstack-api-version']).toBe('compute 2.3');
    const above = await r('GET', '/flavors', env.a, ABOVE);
    expect(above.status).toBe(406);
    expect(above.json.computeFault.message).toBe(`Version ${ABOVE} is not supported by the API. Minimum is 2.1 and maximum is ${MAX}.`);
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
    const garbage = await r('POST', '/os-keypairs', env.a, '2.2', { keypair: { name: 'bad509', type: 'x509', public_key: '-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n' } });
    expect(garbage.status).toBe(400);
  });

  it('2.2: type x509 without public_key generates a keypair as Nova (self-signed CN=<user_id>, private key once)', async () => {
    const res = await r('POST', '/os-keypairs', env.a, '2.2', { keypair: { name: 'gen509', type: 'x509' } });
    expect(res.status).toBe(201);
    expectSchema('v2_2/keypairs.create_keypair', res);
    const k = res.json.keypair;
    expect(k).toMatchObject({ name: 'gen509', type: 'x509', user_id: env.a.userId });
    const cert = new X509Certificate(k.public_key);
    expect(cert.subject).toBe(`CN=${env.a.userId}`);
    expect(cert.checkIssued(cert) && cert.verify(cert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(k.private_key))).toBe(true);
    expect(cert.subjectAltName).toBe(`othername:UPN:${env.a.userId}@localhost`);
    expect(k.fingerprint).toBe(createHash('sha1').update(cert.raw).digest('hex').match(/../g)!.join(':'));
    const show = await r('GET', '/os-keypairs/gen509', env.a, '2.2');
    expectSchema('v2_2/keypairs.get_keypair', show);
    expect(show.json.keypair).toMatchObject({ type: 'x509', public_key: k.public_key, fingerprint: k.fingerprint });
    expect(show.json.keypair.private_key).toBeUndefined();
    const list = await r('GET', '/os-keypairs', env.a, '2.2');
    expectSchema('v2_2/keypairs.list_keypairs', list);
    const listed = list.json.keypairs.find((x: { keypair: { name: string } }) => x.keypair.name === 'gen509').keypair;
    expect(listed).toMatchObject({ type: 'x509', fingerprint: k.fingerprint });
    expect(listed.private_key).toBeUndefined();
    // The generated certificate imports back as an x509 keypair with the same fingerprint.
    const again = await r('POST', '/os-keypairs', env.a, '2.2', { keypair: { name: 'gen509-copy', type: 'x509', public_key: k.public_key } });
    expect(again.json.keypair).toMatchObject({ type: 'x509', fingerprint: k.fingerprint });
    expect(again.json.keypair.private_key).toBeUndefined();
    for (const n of ['gen509', 'gen509-copy', 'cert']) expect((await r('DELETE', `/os-keypairs/${n}`, env.a, '2.2')).status).toBe(204);
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

  it('2.6/2.8: POST /servers/{id}/remote-consoles gives the VNC console; other protocols as Nova; 404 below 2.6', async () => {
    const s = await c.bootActive(env.a, { name: 'rc' });
    const url = `/servers/${s.id}/remote-consoles`;
    const vnc = await r('POST', url, env.a, '2.6', { remote_console: { protocol: 'vnc', type: 'novnc' } });
    expectSchema('v2_6/servers.get_remote_consoles', vnc);
    expect(vnc.json.remote_console).toMatchObject({ protocol: 'vnc', type: 'novnc' });
    expect(new URL(vnc.json.remote_console.url).searchParams.get('token')).toBeTruthy();
    expectSchema('v2_8/servers.get_remote_consoles', await r('POST', url, env.a, '2.8', { remote_console: { protocol: 'vnc', type: 'novnc' } }));
    expect((await r('POST', url, env.a, '2.5', { remote_console: { protocol: 'vnc', type: 'novnc' } })).status).toBe(404);
    // Another project's server is a 404, before any console is made.
    expect((await r('POST', url, env.b, '2.6', { remote_console: { protocol: 'vnc', type: 'novnc' } })).status).toBe(404);
    expect((await r('POST', url, env.b, '2.8', { remote_console: { protocol: 'mks', type: 'webmks' } })).status).toBe(404);
    const spice = await r('POST', url, env.a, '2.6', { remote_console: { protocol: 'spice', type: 'spice-html5' } });
    expect(spice.json.badRequest).toEqual({ code: 400, message: 'Unavailable console type spice-html5.' });
    expect((await r('POST', url, env.a, '2.6', { remote_console: { protocol: 'rdp', type: 'rdp-html5' } })).json.badRequest.message).toBe('Unavailable console type rdp-html5.');
    // mks is not in the 2.6 enum (schema 400); from 2.8 it is "unavailable" (no MKS driver).
    expect((await r('POST', url, env.a, '2.7', { remote_console: { protocol: 'mks', type: 'webmks' } })).json.badRequest.message).toMatch(/is not one of/);
    expect((await r('POST', url, env.a, '2.8', { remote_console: { protocol: 'mks', type: 'webmks' } })).json.badRequest.message).toBe('Unavailable console type webmks.');
    expect((await r('POST', url, env.a, '2.6', { remote_console: { protocol: 'vnc', type: 'spice-html5' } })).status).toBe(400);
    expect((await r('POST', url, env.a, '2.6', { remote_console: { protocol: 'vnc' } })).status).toBe(400);
    expect((await r('POST', url, env.a, '2.6', {})).status).toBe(400);
  });

  it('2.7: adding a project to a public flavor is 409; below 2.7 it is recorded and listed', async () => {
    const f = await r('POST', '/flavors', env.admin, '2.1', { flavor: { name: 'pub.27', ram: 128, vcpus: 1, disk: 1 } });
    const id = f.json.flavor.id;
    const refused = await r('POST', `/flavors/${id}/action`, env.admin, '2.7', { addTenantAccess: { tenant: env.a.id } });
    expect(refused.status).toBe(409);
    expect(refused.json.conflictingRequest.message).toBe('Can not add access to a public flavor.');
    const old = await r('POST', `/flavors/${id}/action`, env.admin, '2.6', { addTenantAccess: { tenant: env.a.id } });
    expectSchema('flavors_access.add_remove_list_flavor_access', old);
    expect(old.json.flavor_access).toEqual([{ flavor_id: id, tenant_id: env.a.id }]);
    // Removing is allowed at any version; the flavor stays visible to everybody.
    const removed = await r('POST', `/flavors/${id}/action`, env.admin, '2.7', { removeTenantAccess: { tenant: env.a.id } });
    expect(removed.json.flavor_access).toEqual([]);
    expect((await r('GET', `/flavors/${id}`, env.b, '2.7')).status).toBe(200);
  });

  it('2.9: locked in show, detail, update and rebuild bodies; absent below', async () => {
    const s = await c.bootActive(env.a, { name: 'lk' });
    expect((await c.action(env.a, s.id, { lock: null })).status).toBe(202);
    const show = await r('GET', `/servers/${s.id}`, env.a, '2.9');
    expectSchema('v2_9/servers.get_server', show);
    expect(show.json.server.locked).toBe(true);
    expectSchema('v2_9/servers.list_servers_detail', await r('GET', '/servers/detail', env.a, '2.9'));
    expectSchema('v2_6/servers.get_server', await r('GET', `/servers/${s.id}`, env.a, '2.8'));
    expect((await c.action(env.a, s.id, { unlock: null })).status).toBe(202);
    const upd = await r('PUT', `/servers/${s.id}`, env.a, '2.9', { server: { name: 'lk2' } });
    expectSchema('v2_9/servers.update_server', upd);
    expect(upd.json.server.locked).toBe(false);
    expectSchema('servers.update_server', await r('PUT', `/servers/${s.id}`, env.a, '2.8', { server: { name: 'lk3' } }));
    const rb = await r('POST', `/servers/${s.id}/action`, env.a, '2.9', { rebuild: { imageRef: env.image.publicId } });
    expectSchema('v2_9/servers.rebuild_server_with_admin_pass', rb);
  });

  it('2.10: an admin creates a keypair for another user (user_id refused below 2.10)', async () => {
    const other = env.b.userId;
    const made = await r('POST', '/os-keypairs', env.admin, '2.10', { keypair: { name: 'k210', user_id: other } });
    expectSchema('v2_2/keypairs.create_keypair', made);
    expect(made.json.keypair.user_id).toBe(other);
    expect((await r('GET', '/os-keypairs/k210', env.b, '2.10')).status).toBe(200);
    expect((await r('POST', '/os-keypairs', env.admin, '2.9', { keypair: { name: 'k29', user_id: other } })).status).toBe(400);
    expect((await r('POST', '/os-keypairs', env.a, '2.10', { keypair: { name: 'k210b', user_id: other } })).status).toBe(403);
  });

  it('2.11: forced_down in the service list, PUT os-services/force-down (404 below 2.11); 2.16 host_status follows', async () => {
    const s = await c.bootActive(env.a, { name: 'hs' });
    const list = await r('GET', '/os-services', env.admin, '2.11');
    expectSchema('v2_11/services.list_services', list);
    expect(list.json.services.find((x: { host: string }) => x.host === 'mv-1')).toMatchObject({ forced_down: false, state: 'up' });
    expectSchema('services.list_services', await r('GET', '/os-services', env.admin, '2.10'));
    const hs = await r('GET', `/servers/${s.id}`, env.admin, '2.16');
    expectSchema('v2_16/servers.get_server', hs);
    expect(hs.json.server.host_status).toBe('UP');
    // Not for members (Nova's default policy), nor below 2.16.
    const member = await r('GET', `/servers/${s.id}`, env.a, '2.16');
    expectSchema('v2_16/servers.get_server', member);
    expect(member.json.server.host_status).toBeUndefined();
    expectSchema('v2_9/servers.get_server', await r('GET', `/servers/${s.id}`, env.admin, '2.15'));

    expect((await r('PUT', '/os-services/force-down', env.admin, '2.10', { host: 'mv-1', binary: 'nova-compute', forced_down: true })).status).toBe(404);
    expect((await r('PUT', '/os-services/force-down', env.a, '2.11', { host: 'mv-1', binary: 'nova-compute', forced_down: true })).status).toBe(403);
    expect((await r('PUT', '/os-services/force-down', env.admin, '2.11', { host: 'mv-1', binary: 'nova-compute', forced_down: 'yes' })).status).toBe(400);
    expect((await r('PUT', '/os-services/force-down', env.admin, '2.11', { host: 'nope', binary: 'nova-compute', forced_down: true })).status).toBe(404);
    try {
      const down = await r('PUT', '/os-services/force-down', env.admin, '2.11', { host: 'mv-1', binary: 'nova-compute', forced_down: true });
      expectSchema('v2_11/services.update_forced_down', down);
      expect(down.json.service).toEqual({ host: 'mv-1', binary: 'nova-compute', forced_down: true });
      expect((await r('GET', '/os-services', env.admin, '2.11')).json.services.find((x: { host: string }) => x.host === 'mv-1')).toMatchObject({ forced_down: true, state: 'down' });
      const detail = await r('GET', '/servers/detail?all_tenants=1', env.admin, '2.16');
      expectSchema('v2_16/servers.list_servers_detail', detail);
      expect(detail.json.servers.find((x: { id: string }) => x.id === s.id).host_status).toBe('DOWN');
    } finally {
      await r('PUT', '/os-services/force-down', env.admin, '2.11', { host: 'mv-1', binary: 'nova-compute', forced_down: false });
    }
    try {
      expect((await r('PUT', '/os-services/disable', env.admin, '2.11', { host: 'mv-1', binary: 'nova-compute' })).status).toBe(200);
      expect((await r('GET', `/servers/${s.id}`, env.admin, '2.16')).json.server.host_status).toBe('MAINTENANCE');
    } finally {
      await r('PUT', '/os-services/enable', env.admin, '2.11', { host: 'mv-1', binary: 'nova-compute' });
    }
  });

  it('2.12: os-virtual-interfaces is 400 with Neutron (as Nova), 404 for another project', async () => {
    const s = await c.bootActive(env.a, { name: 'vif' });
    const res = await r('GET', `/servers/${s.id}/os-virtual-interfaces`, env.a, '2.12');
    expect(res.json.badRequest).toEqual({ code: 400, message: 'Listing virtual interfaces is not supported by this cloud.' });
    expect((await r('GET', `/servers/${s.id}/os-virtual-interfaces`, env.b, '2.12')).status).toBe(404);
  });

  it('2.13/2.15: server groups show their owner from 2.13; soft policies only from 2.15', async () => {
    const g = await r('POST', '/os-server-groups', env.a, '2.13', { server_group: { name: 'g213', policies: ['anti-affinity'] } });
    expectSchema('v2_13/server_groups.create_show_server_group', g);
    expect(g.json.server_group).toMatchObject({ project_id: env.a.id, user_id: env.a.userId });
    expectSchema('v2_13/server_groups.list_server_groups', await r('GET', '/os-server-groups', env.a, '2.13'));
    expectSchema('server_groups.create_show_server_group', await r('GET', `/os-server-groups/${g.json.server_group.id}`, env.a, '2.12'));
    expectSchema('server_groups.list_server_groups', await r('GET', '/os-server-groups', env.a, '2.12'));
    expect((await r('GET', `/os-server-groups/${g.json.server_group.id}`, env.b, '2.13')).status).toBe(404);
    expect((await r('POST', '/os-server-groups', env.a, '2.14', { server_group: { name: 'soft', policies: ['soft-anti-affinity'] } })).status).toBe(400);
    const soft = await r('POST', '/os-server-groups', env.a, '2.15', { server_group: { name: 'soft', policies: ['soft-affinity'] } });
    expectSchema('v2_13/server_groups.create_show_server_group', soft);
    expect(soft.json.server_group.policies).toEqual(['soft-affinity']);
  });

  it('2.17: trigger_crash_dump injects an NMI through the agent (202, action recorded); 404 below, 409 when stopped or locked', async () => {
    const s = await c.bootActive(env.a, { name: 'nmi' });
    const dump = { trigger_crash_dump: null };
    expect((await r('POST', `/servers/${s.id}/action`, env.a, '2.16', dump)).status).toBe(404);
    expect((await r('POST', `/servers/${s.id}/action`, env.b, '2.17', dump)).status).toBe(404);
    expect((await r('POST', `/servers/${s.id}/action`, env.a, '2.17', { trigger_crash_dump: {} })).status).toBe(400);
    const ok = await r('POST', `/servers/${s.id}/action`, env.a, '2.17', dump);
    expect(ok.status).toBe(202);
    expect(ok.text).toBe('');
    // The agent call ends the action after the 202 (Nova casts it).
    let action: { action: string; request_id: string } | undefined;
    for (let n = 0; n < 100 && !action; n++) {
      const list = await r('GET', `/servers/${s.id}/os-instance-actions`, env.a, '2.17');
      action = list.json.instanceActions.find((a: { action: string }) => a.action === 'trigger_crash_dump');
      if (!action) await new Promise((res) => setTimeout(res, 50));
    }
    expect(action).toBeDefined();
    let detail: { events: { result: string | null }[] } | undefined;
    for (let n = 0; n < 100; n++) {
      detail = (await r('GET', `/servers/${s.id}/os-instance-actions/${action!.request_id}`, env.admin, '2.17')).json.instanceAction;
      if (detail?.events[0]?.result) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(detail!.events[0]!.result).toBe('Success');
    const host = (await r('GET', `/servers/${s.id}`, env.admin, '2.17')).json.server['OS-EXT-SRV-ATTR:host'];
    expect(env.drivers.get(host)!.store.domains.get(s.id)!.nmiCount).toBe(1);
    expect((await r('GET', `/servers/${s.id}`, env.a, '2.17')).json.server.status).toBe('ACTIVE');

    expect((await c.action(env.a, s.id, { lock: null })).status).toBe(202);
    expect((await r('POST', `/servers/${s.id}/action`, env.a, '2.17', dump)).json.conflictingRequest.message).toBe(`Instance ${s.id} is locked`);
    expect((await c.action(env.a, s.id, { unlock: null })).status).toBe(202);
    expect((await c.action(env.a, s.id, { 'os-stop': null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'SHUTOFF');
    const stopped = await r('POST', `/servers/${s.id}/action`, env.a, '2.17', dump);
    expect(stopped.json.conflictingRequest.message).toBe(`Cannot 'trigger_crash_dump' instance ${s.id} while it is in vm_state stopped`);
  });

  it('2.19: description on create, update and rebuild, shown from 2.19 (the name for servers created below); 400 below 2.19', async () => {
    const boot = async (v: string, extra: Record<string, unknown>) => {
      const res = await r('POST', '/servers', env.a, v, { server: { name: `d${v}`, imageRef: env.image.publicId, flavorRef: '1', networks: 'none', ...extra } });
      return res;
    };
    expect((await boot('2.18', { description: 'x' })).status).toBe(400);
    expect((await boot('2.19', { description: 'bad\u0007bell' })).status).toBe(400);
    expect((await boot('2.19', { description: 'x'.repeat(256) })).status).toBe(400);
    const made = await boot('2.19', { description: 'my web server' });
    expect(made.status).toBe(202);
    const id = made.json.server.id;
    await c.waitStatus(env.a, id, 'ACTIVE');
    const show = await r('GET', `/servers/${id}`, env.a, '2.19');
    expectSchema('v2_19/servers.get_server', show);
    expect(show.json.server.description).toBe('my web server');
    expectSchema('v2_19/servers.list_servers_detail', await r('GET', '/servers/detail', env.a, '2.19'));
    // 2.18 keeps the 2.16 shape (no description).
    expectSchema('v2_16/servers.get_server', await r('GET', `/servers/${id}`, env.a, '2.18'));
    const upd = await r('PUT', `/servers/${id}`, env.a, '2.19', { server: { description: null } });
    expectSchema('v2_19/servers.update_server', upd);
    expect(upd.json.server.description).toBeNull();
    expect((await r('PUT', `/servers/${id}`, env.a, '2.18', { server: { description: 'old' } })).status).toBe(400);
    expect((await r('PUT', `/servers/${id}`, env.b, '2.19', { server: { description: 'theirs' } })).status).toBe(404);
    const rb = await r('POST', `/servers/${id}/action`, env.a, '2.19', { rebuild: { imageRef: env.image.publicId, description: 'rebuilt' } });
    expectSchema('v2_19/servers.rebuild_server_with_admin_pass', rb);
    expect(rb.json.server.description).toBe('rebuilt');
    expect((await r('POST', `/servers/${id}/action`, env.a, '2.18', { rebuild: { imageRef: env.image.publicId, description: 'no' } })).status).toBe(400);
    // Created below 2.19: Nova stored the name as the description.
    const old = await boot('2.1', {});
    expect((await r('GET', `/servers/${old.json.server.id}`, env.a, '2.19')).json.server.description).toBe('d2.1');
  });

  it('2.21: the actions of a deleted server stay readable (404 below 2.21 and for another project)', async () => {
    const s = await c.bootActive(env.a, { name: 'gone' });
    expect((await c.r('DELETE', `/servers/${s.id}`, env.a)).status).toBe(204);
    await c.waitStatus(env.a, s.id, 'DELETED');
    expect((await r('GET', `/servers/${s.id}/os-instance-actions`, env.a, '2.20')).status).toBe(404);
    const list = await r('GET', `/servers/${s.id}/os-instance-actions`, env.a, '2.21');
    expect(list.status).toBe(200);
    expect(list.json.instanceActions.map((a: { action: string }) => a.action)).toEqual(expect.arrayContaining(['create', 'delete']));
    const rid = list.json.instanceActions.find((a: { action: string }) => a.action === 'create').request_id;
    const one = await r('GET', `/servers/${s.id}/os-instance-actions/${rid}`, env.admin, '2.21');
    expectSchema('v2_16/servers.show_instance_action', one);
    expect((await r('GET', `/servers/${s.id}/os-instance-actions`, env.b, '2.21')).status).toBe(404);
    expect((await r('GET', `/servers/${s.id}`, env.a, '2.21')).status).toBe(404);
  });

  it('2.25: os-migrateLive drops disk_over_commit and takes block_migration "auto"', async () => {
    const s = await c.bootActive(env.a, { name: 'lm25' });
    const live = (v: string, body: Record<string, unknown>) => r('POST', `/servers/${s.id}/action`, env.admin, v, { 'os-migrateLive': body });
    expect((await live('2.25', { host: null, block_migration: 'auto', disk_over_commit: false })).json.badRequest.message).toMatch(/'disk_over_commit' was unexpected/);
    expect((await live('2.24', { host: null, block_migration: false })).json.badRequest.message).toMatch(/'disk_over_commit' is a required property/);
    expect((await live('2.24', { host: null, block_migration: 'auto', disk_over_commit: false })).status).toBe(400);
    // Valid at 2.25; this environment has one host, so the scheduler finds none (400 below 2.34).
    expect((await live('2.25', { host: null, block_migration: 'auto' })).json.badRequest.message).toMatch(/No valid host/);
    expect((await r('GET', `/servers/${s.id}`, env.a, '2.25')).json.server.status).toBe('ACTIVE');
  });

  it('2.26: server tags API (404 below 2.26, another project 404), tags in server bodies, tag filters', async () => {
    const s1 = await c.bootActive(env.a, { name: 'tag1' });
    const s2 = await c.bootActive(env.a, { name: 'tag2' });
    const tags = (id: string) => `/servers/${id}/tags`;
    expect((await r('GET', tags(s1.id), env.a, '2.25')).status).toBe(404);
    expect((await r('GET', tags(s1.id), env.b, '2.26')).status).toBe(404);
    expect((await r('PUT', tags(s1.id), env.b, '2.26', { tags: ['x'] })).status).toBe(404);
    const put = await r('PUT', tags(s1.id), env.a, '2.26', { tags: ['web', 'prod', 'web'] });
    expectSchema('v2_26/servers.update_all_tags', put);
    expect(put.json.tags).toEqual(['prod', 'web']);
    expectSchema('v2_26/servers.list_tags', await r('GET', tags(s1.id), env.a, '2.26'));
    const one = await r('PUT', `${tags(s2.id)}/web`, env.a, '2.26');
    expect(one.status).toBe(201);
    expect(one.headers.location).toMatch(new RegExp(`/v2.1/servers/${s2.id}/tags/web$`));
    expect((await r('PUT', `${tags(s2.id)}/web`, env.a, '2.26')).status).toBe(204);
    expect((await r('GET', `${tags(s2.id)}/web`, env.a, '2.26')).status).toBe(204);
    expect((await r('GET', `${tags(s2.id)}/nope`, env.a, '2.26')).json.itemNotFound.message).toBe('Tag nope could not be found.');
    expect((await r('PUT', `${tags(s2.id)}/a,b`, env.a, '2.26')).status).toBe(400);
    expect((await r('PUT', tags(s2.id), env.a, '2.26', { tags: Array.from({ length: 51 }, (_, n) => `t${n}`) })).status).toBe(400);
    expect((await r('PUT', tags(s2.id), env.a, '2.26', { tags: ['x'.repeat(61)] })).status).toBe(400);
    // Readers may list but not change (policy 403 after the server is found).
    expect((await r('GET', tags(s1.id), env.readerA, '2.26')).status).toBe(200);
    expect((await r('PUT', `${tags(s1.id)}/r`, env.readerA, '2.26')).status).toBe(403);

    const show = await r('GET', `/servers/${s1.id}`, env.a, '2.26');
    expectSchema('v2_26/servers.get_server', show);
    expect(show.json.server.tags).toEqual(['prod', 'web']);
    expectSchema('v2_26/servers.list_servers_detail', await r('GET', '/servers/detail', env.a, '2.26'));
    expectSchema('v2_19/servers.get_server', await r('GET', `/servers/${s1.id}`, env.a, '2.25'));
    const upd = await r('PUT', `/servers/${s1.id}`, env.a, '2.26', { server: { name: 'tag1' } });
    expectSchema('v2_26/servers.update_server', upd);
    expect(upd.json.server.tags).toEqual(['prod', 'web']);

    const ids = async (query: string, v = '2.26') => (await r('GET', `/servers?${query}`, env.a, v)).json.servers.map((x: { id: string }) => x.id).filter((id: string) => id === s1.id || id === s2.id).sort();
    const both = [s1.id, s2.id].sort();
    expect(await ids('tags=web,prod')).toEqual([s1.id]);
    expect(await ids('tags=web')).toEqual(both);
    expect(await ids('tags-any=prod,zzz')).toEqual([s1.id]);
    expect(await ids('not-tags=web,prod')).toEqual([s2.id]);
    expect(await ids('not-tags-any=prod')).toEqual([s2.id]);
    expect(await ids('tags=web,prod', '2.25')).toEqual(both);

    expect((await r('DELETE', `${tags(s1.id)}/prod`, env.a, '2.26')).status).toBe(204);
    expect((await r('DELETE', `${tags(s1.id)}/prod`, env.a, '2.26')).status).toBe(404);
    expect((await r('DELETE', tags(s1.id), env.a, '2.26')).status).toBe(204);
    expect((await r('GET', tags(s1.id), env.a, '2.26')).json.tags).toEqual([]);
    // A server in the middle of a task cannot be tagged (Nova: valid vm_states only).
    expect((await c.action(env.a, s2.id, { 'os-stop': null })).status).toBe(202);
    await c.waitStatus(env.a, s2.id, 'SHUTOFF');
    expect((await r('PUT', `${tags(s2.id)}/off`, env.a, '2.26')).status).toBe(201);
  });

  it('2.28: hypervisor cpu_info is an object (a JSON string below); 2.33: hypervisor pages', async () => {
    const list = await r('GET', '/os-hypervisors/detail', env.admin, '2.28');
    expectSchema('v2_28/hypervisors.list_hypervisors_detail', list);
    expect(typeof list.json.hypervisors[0].cpu_info).toBe('object');
    const id = list.json.hypervisors[0].id;
    expectSchema('v2_28/hypervisors.get_hypervisor', await r('GET', `/os-hypervisors/${id}`, env.admin, '2.28'));
    const old = await r('GET', '/os-hypervisors/detail', env.admin, '2.27');
    expectSchema('hypervisors.list_hypervisors_detail', old);
    expect(typeof old.json.hypervisors[0].cpu_info).toBe('string');

    const page = await r('GET', '/os-hypervisors?limit=1', env.admin, '2.33');
    expect(page.json.hypervisors).toHaveLength(1);
    expect(page.json.hypervisors_links[0]).toMatchObject({ rel: 'next', href: expect.stringContaining(`marker=${page.json.hypervisors[0].id}`) });
    const detail = await r('GET', '/os-hypervisors/detail?limit=1', env.admin, '2.33');
    expectSchema('v2_33/hypervisors.list_hypervisors_detail', detail);
    const after = await r('GET', `/os-hypervisors?marker=${page.json.hypervisors[0].id}`, env.admin, '2.33');
    expect(after.json.hypervisors).toEqual([]);
    expect((await r('GET', '/os-hypervisors?marker=999999', env.admin, '2.33')).status).toBe(400);
    // Ignored below 2.33.
    expect((await r('GET', '/os-hypervisors?marker=999999', env.admin, '2.32')).status).toBe(200);
  });

  it('2.30: os-migrateLive takes force (400 below); same-host refusals stay synchronous below 2.34', async () => {
    const s = await c.bootActive(env.a, { name: 'lm30' });
    const live = (v: string, body: Record<string, unknown>) => r('POST', `/servers/${s.id}/action`, env.admin, v, { 'os-migrateLive': body });
    expect((await live('2.29', { host: 'mv-1', block_migration: 'auto', force: true })).json.badRequest.message).toMatch(/'force' was unexpected/);
    expect((await live('2.30', { host: 'mv-1', block_migration: 'auto', force: true })).json.badRequest.message).toBe(`Unable to migrate instance (${s.id}) to current host (mv-1).`);
    expect((await live('2.30', { host: null, block_migration: 'auto', force: 'maybe' })).status).toBe(400);
  });

  it('2.32: NICs may carry a device tag (400 below 2.32, and bad tags 400)', async () => {
    const boot = (v: string, nic: Record<string, unknown>, flavorRef = 'no-such-flavor') =>
      r('POST', '/servers', env.a, v, { server: { name: 'nic', imageRef: env.image.publicId, flavorRef, networks: [{ uuid: '11111111-2222-3333-4444-555555555555', ...nic }] } });
    expect((await boot('2.31', { tag: 'eth-a' })).json.badRequest.message).toMatch(/'tag' was unexpected/);
    expect((await boot('2.32', { tag: 'a/b' })).json.badRequest.message).toMatch(/tag/);
    expect((await boot('2.32', { tag: '' })).json.badRequest.message).toMatch(/tag/);
    // A valid tag passes validation: the request fails later, on the flavor.
    const ok = await boot('2.32', { tag: 'eth-a' });
    expect(ok.status).toBe(400);
    expect(ok.json.badRequest.message).not.toMatch(/tag/);
  });

  it('2.34: a live migration whose checks fail answers 202 and ends at once, the failure in the migration', async () => {
    const s = await c.bootActive(env.a, { name: 'lm34' });
    const res = await r('POST', `/servers/${s.id}/action`, env.admin, '2.34', { 'os-migrateLive': { host: 'mv-1', block_migration: 'auto' } });
    expect(res.status).toBe(202);
    const back = await c.waitStatus(env.a, s.id, 'ACTIVE');
    expect(back['OS-EXT-STS:task_state']).toBeNull();
    const m = await r('GET', `/os-migrations?instance_uuid=${s.id}`, env.admin, '2.34');
    expectSchema('v2_23/migrations.list_migrations', m);
    expect(m.json.migrations[0]).toMatchObject({ status: 'error', migration_type: 'live-migration' });
  });

  it('2.35: keypair pages (limit, marker = name, keypairs_links); ignored below', async () => {
    await r('DELETE', '/os-keypairs/k210', env.b, '2.35'); // left by the 2.10 test
    for (const n of ['p1', 'p2', 'p3']) expect((await r('POST', '/os-keypairs', env.b, '2.35', { keypair: { name: n } })).status).toBe(201);
    const first = await r('GET', '/os-keypairs?limit=2', env.b, '2.35');
    expectSchema('v2_2/keypairs.list_keypairs', { status: first.status, json: { keypairs: first.json.keypairs } });
    expect(first.json.keypairs.map((k: { keypair: { name: string } }) => k.keypair.name)).toEqual(['p1', 'p2']);
    expect(first.json.keypairs_links[0]).toMatchObject({ rel: 'next', href: expect.stringContaining('marker=p2') });
    const rest = await r('GET', '/os-keypairs?limit=2&marker=p2', env.b, '2.35');
    expect(rest.json.keypairs.map((k: { keypair: { name: string } }) => k.keypair.name)).toEqual(['p3']);
    expect(rest.json.keypairs_links).toBeUndefined();
    expect((await r('GET', '/os-keypairs?marker=zz', env.b, '2.35')).status).toBe(400);
    const old = await r('GET', '/os-keypairs?limit=2', env.b, '2.34');
    expectSchema('v2_2/keypairs.list_keypairs', old);
    expect(old.json.keypairs).toHaveLength(3);
  });

  it('2.36: proxy APIs answer 404 and the network quotas and limits are gone; unchanged at 2.35', async () => {
    for (const path of ['/os-networks', '/os-security-groups', '/os-security-group-rules', '/os-floating-ips', '/images', '/os-fping']) {
      const res = await r('GET', path, env.a, '2.36');
      expect([path, res.status, res.json?.itemNotFound?.code]).toEqual([path, 404, 404]);
    }
    // Below 2.36 os-networks is the proxy: 503 here (this environment has no network service), not 404.
    expect((await r('GET', '/os-networks', env.a, '2.35')).status).toBe(503);
    const s = await c.bootActive(env.a, { name: 'sg36' });
    // A server's own security groups are not a proxy API.
    expect((await r('GET', `/servers/${s.id}/os-security-groups`, env.a, '2.36')).status).not.toBe(404);

    const limits = await r('GET', '/limits', env.a, '2.36');
    expectSchema('v2_36/limits.get_limit', limits);
    expectSchema('limits.get_limit', await r('GET', '/limits', env.a, '2.35'));
    const q = await r('GET', `/os-quota-sets/${env.a.id}`, env.a, '2.36');
    expectSchema('v2_36/quotas.get_quota_set', q);
    expect(q.json.quota_set.floating_ips).toBeUndefined();
    expectSchema('quotas.get_quota_set', await r('GET', `/os-quota-sets/${env.a.id}`, env.a, '2.35'));
    expectSchema('v2_36/quotas.get_quota_set_details', await r('GET', `/os-quota-sets/${env.a.id}/detail`, env.a, '2.36'));
    expectSchema('v2_36/quotas.get_quota_set', await r('GET', `/os-quota-sets/${env.a.id}/defaults`, env.a, '2.36'));
    const upd = await r('PUT', `/os-quota-sets/${env.b.id}`, env.admin, '2.36', { quota_set: { key_pairs: 101 } });
    expectSchema('v2_36/quotas.update_quota_set', upd);
    expect((await r('PUT', `/os-quota-sets/${env.b.id}`, env.admin, '2.36', { quota_set: { security_groups: 5 } })).status).toBe(400);
    expect((await r('PUT', `/os-quota-sets/${env.b.id}`, env.admin, '2.35', { quota_set: { security_groups: 5 } })).status).toBe(200);
  });

  it('2.37: networks is required ("none", "auto" or a list), NIC tags refused again', async () => {
    const body = (extra: Record<string, unknown>) => ({ server: { name: 'n37', imageRef: env.image.publicId, flavorRef: '1', ...extra } });
    const missing = await r('POST', '/servers', env.a, '2.37', body({}));
    expect(missing.json.badRequest.message).toMatch(/'networks' is a required property/);
    expect((await r('POST', '/servers', env.a, '2.37', body({ networks: 'some' }))).status).toBe(400);
    expect((await r('POST', '/servers', env.a, '2.37', body({ networks: [{ uuid: '11111111-2222-3333-4444-555555555555', tag: 'x' }] }))).json.badRequest.message).toMatch(/'tag' was unexpected/);
    const none = await r('POST', '/servers', env.a, '2.37', body({ networks: 'none' }));
    expect(none.status).toBe(202);
    const s = await c.waitStatus(env.a, none.json.server.id, 'ACTIVE');
    expect(s.addresses).toEqual({});
    expectSchema('v2_26/servers.get_server', await r('GET', `/servers/${s.id}`, env.a, '2.37'));
  });
});

describe('microversions 2.38 … 2.47', () => {
  it('2.38: an unknown status filter is a 400 for members and admins; an empty list below', async () => {
    for (const who of [env.a, env.admin]) {
      const bad = await r('GET', '/servers?status=NOPE', who, '2.38');
      expect(bad.status).toBe(400);
      expect(bad.json.badRequest.message).toBe('Invalid status value');
      expect((await r('GET', '/servers/detail?status=nope', who, '2.38')).status).toBe(400);
      const old = await r('GET', '/servers?status=NOPE', who, '2.37');
      expect(old.status).toBe(200);
      expect(old.json.servers).toEqual([]);
    }
    const ok = await r('GET', '/servers?status=ACTIVE', env.a, '2.38');
    expect(ok.status).toBe(200);
    expectSchema('servers.list_servers', ok);
  });

  it('2.39: limits lose maxImageMeta and createImage no longer counts metadata against the quota', async () => {
    const limits = await r('GET', '/limits', env.a, '2.39');
    expectSchema('v2_39/limits.get_limit', limits);
    expect(limits.json.limits.absolute.maxImageMeta).toBeUndefined();
    const old = await r('GET', '/limits', env.a, '2.38');
    expectSchema('v2_36/limits.get_limit', old);
    expect(old.json.limits.absolute.maxImageMeta).toBe(128);
    // The image-metadata proxy is gone from 2.39 (the rest of /images from 2.36; images-proxy.int.spec.ts).
    expect((await r('GET', `/images/${env.image.publicId}/metadata`, env.a, '2.39')).status).toBe(404);

    const s = await c.bootActive(env.b, { name: 'img39' });
    await r('PUT', `/os-quota-sets/${env.b.id}`, env.admin, '2.1', { quota_set: { metadata_items: 1 } });
    try {
      const metadata = { a: '1', b: '2' };
      const refused = await r('POST', `/servers/${s.id}/action`, env.b, '2.38', { createImage: { name: 'i38', metadata } });
      expect(refused.status).toBe(403);
      expect(refused.json.forbidden.message).toBe('Image metadata limit exceeded');
      // Another project does not see the server at all.
      expect((await r('POST', `/servers/${s.id}/action`, env.a, '2.39', { createImage: { name: 'i39', metadata } })).status).toBe(404);
      const ok = await r('POST', `/servers/${s.id}/action`, env.b, '2.39', { createImage: { name: 'i39', metadata } });
      expect(ok.status).toBe(202);
      await c.waitStatus(env.b, s.id, 'ACTIVE');
    } finally {
      await r('PUT', `/os-quota-sets/${env.b.id}`, env.admin, '2.1', { quota_set: { metadata_items: 128 } });
    }
  });

  it('2.40: os-simple-tenant-usage pages by instance (limit, marker, *_links); ignored below', async () => {
    const s1 = await c.bootActive(env.b, { name: 'use1' });
    const s2 = await c.bootActive(env.b, { name: 'use2' });
    const window = `start=${new Date(Date.now() - 3600e3).toISOString().slice(0, 19)}&end=${new Date(Date.now() + 3600e3).toISOString().slice(0, 19)}`;
    const servers = (u: { server_usages: { instance_id: string }[] }) => u.server_usages.map((x) => x.instance_id);
    const all = await r('GET', `/os-simple-tenant-usage/${env.b.id}?${window}`, env.b, '2.40');
    expectSchema('tenant_usages.get_tenant_usage', all);
    const ids: string[] = servers(all.json.tenant_usage);
    expect(ids).toEqual(expect.arrayContaining([s1.id, s2.id]));
    expect(all.json.tenant_usage_links).toBeUndefined();

    const first = await r('GET', `/os-simple-tenant-usage/${env.b.id}?${window}&limit=1`, env.b, '2.40');
    expectSchema('tenant_usages.get_tenant_usage', first);
    expect(servers(first.json.tenant_usage)).toEqual([ids[0]]);
    const next = new URL(first.json.tenant_usage_links[0].href);
    expect(first.json.tenant_usage_links[0].rel).toBe('next');
    expect(next.pathname).toBe(`/v2.1/os-simple-tenant-usage/${env.b.id}`);
    expect(next.searchParams.get('marker')).toBe(ids[0]);
    expect(next.searchParams.get('limit')).toBe('1');
    const pages: string[] = [...servers(first.json.tenant_usage)];
    let marker = ids[0];
    for (;;) {
      const page = await r('GET', `/os-simple-tenant-usage/${env.b.id}?${window}&limit=1&marker=${marker}`, env.b, '2.40');
      if (!page.json.tenant_usage.server_usages) break;
      pages.push(...servers(page.json.tenant_usage));
      marker = pages[pages.length - 1]!;
    }
    expect(pages).toEqual(ids);

    const list = await r('GET', `/os-simple-tenant-usage?${window}&limit=1&detailed=1`, env.admin, '2.40');
    expectSchema('tenant_usages.list_tenant_usage', list);
    expect(list.json.tenant_usages).toHaveLength(1);
    expect(list.json.tenant_usages[0].server_usages).toHaveLength(1);
    expect(list.json.tenant_usages_links[0].href).toContain(`marker=${list.json.tenant_usages[0].server_usages[0].instance_id}`);
    expect((await r('GET', `/os-simple-tenant-usage?${window}&marker=no-such-server`, env.admin, '2.40')).json.badRequest.message).toBe('Marker no-such-server could not be found.');
    expect((await r('GET', `/os-simple-tenant-usage?${window}&limit=-1`, env.admin, '2.40')).status).toBe(400);
    // Below 2.40 limit and marker are ignored.
    const old = await r('GET', `/os-simple-tenant-usage/${env.b.id}?${window}&limit=1&marker=no-such-server`, env.b, '2.39');
    expect(servers(old.json.tenant_usage)).toEqual(ids);
    expect(old.json.tenant_usage_links).toBeUndefined();
    // Members only see their own project.
    expect((await r('GET', `/os-simple-tenant-usage/${env.b.id}?${window}&limit=1`, env.a, '2.40')).status).toBe(403);
    expect((await r('GET', `/os-simple-tenant-usage?${window}&limit=1`, env.a, '2.40')).status).toBe(403);
  });

  it('2.41: every aggregate body carries its uuid; absent below', async () => {
    const created = await r('POST', '/os-aggregates', env.admin, '2.41', { aggregate: { name: 'agg41', availability_zone: 'z41' } });
    expectSchema('v2_41/aggregates.create_aggregate', created);
    const { id, uuid } = created.json.aggregate;
    expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const show = await r('GET', `/os-aggregates/${id}`, env.admin, '2.41');
    expectSchema('v2_41/aggregates.get_aggregate', show);
    expect(show.json.aggregate.uuid).toBe(uuid);
    expectSchema('v2_41/aggregates.list_aggregates', await r('GET', '/os-aggregates', env.admin, '2.41'));
    expectSchema('v2_41/aggregates.update_aggregate', await r('PUT', `/os-aggregates/${id}`, env.admin, '2.41', { aggregate: { name: 'agg41b' } }));
    expectSchema('v2_41/aggregates.aggregate_set_metadata', await r('POST', `/os-aggregates/${id}/action`, env.admin, '2.41', { set_metadata: { metadata: { k: 'v' } } }));
    const added = await r('POST', `/os-aggregates/${id}/action`, env.admin, '2.41', { add_host: { host: 'mv-1' } });
    expectSchema('v2_41/aggregates.aggregate_add_remove_host', added);
    expect(added.json.aggregate).toMatchObject({ uuid, hosts: ['mv-1'] });
    const removed = await r('POST', `/os-aggregates/${id}/action`, env.admin, '2.41', { remove_host: { host: 'mv-1' } });
    expectSchema('v2_41/aggregates.aggregate_add_remove_host', removed);
    // 2.40: the 2.1 shapes (Tempest's 2.1 schemas forbid uuid).
    const old = await r('GET', `/os-aggregates/${id}`, env.admin, '2.40');
    expectSchema('aggregates.get_aggregate', old);
    expect(old.json.aggregate.uuid).toBeUndefined();
    expectSchema('aggregates.list_aggregates', await r('GET', '/os-aggregates', env.admin, '2.40'));
    expect((await r('GET', `/os-aggregates/${id}`, env.a, '2.41')).status).toBe(403);
    expect((await r('DELETE', `/os-aggregates/${id}`, env.admin, '2.41')).status).toBe(200);
  });

  it('2.42: device tags on NICs and block devices again (NICs 2.32–2.36, BDMs 2.32 only, then from 2.42)', async () => {
    const net = '11111111-2222-3333-4444-555555555555';
    const vol = '5e6f0d7a-1b2c-4d3e-8f90-123456789abc';
    // A valid request fails later, on the flavor: the tag itself passed validation.
    const boot = (v: string, extra: Record<string, unknown>) => r('POST', '/servers', env.a, v, { server: { name: 'tag42', imageRef: env.image.publicId, flavorRef: 'no-such-flavor', ...extra } });
    const nic = (tag: string) => ({ networks: [{ uuid: net, tag }] });
    // boot_index 5 is refused after the tag was checked (Kumo takes one boot device only).
    const bdm = (tag: string) => ({ block_device_mapping_v2: [{ source_type: 'volume', destination_type: 'volume', uuid: vol, boot_index: 5, tag }] });
    for (const [v, extra, ok] of [
      ['2.41', nic('eth0'), false],
      ['2.42', nic('eth0'), true],
      [MAX, nic('eth0'), true],
      ['2.31', bdm('disk1'), false],
      ['2.32', bdm('disk1'), true],
      ['2.33', bdm('disk1'), false],
      ['2.41', bdm('disk1'), false],
      ['2.42', bdm('disk1'), true],
    ] as [string, Record<string, unknown>, boolean][]) {
      const res = await boot(v, extra);
      expect([v, Object.keys(extra)[0], res.status]).toEqual([v, Object.keys(extra)[0], 400]);
      if (ok) expect([v, res.json.badRequest.message]).toEqual([v, expect.not.stringMatching(/tag/)]);
      else expect([v, res.json.badRequest.message]).toEqual([v, expect.stringMatching(/'tag' was unexpected/)]);
    }
    expect((await boot('2.42', nic('a,b'))).json.badRequest.message).toMatch(/tag/);
    expect((await boot('2.42', bdm('x'.repeat(61)))).json.badRequest.message).toMatch(/tag/);
  });

  it('2.43: os-hosts is gone (404; served up to 2.42, legacy-admin.int.spec.ts)', async () => {
    expect((await r('GET', '/os-hosts', env.admin, '2.42')).status).toBe(200);
    for (const path of ['/os-hosts', '/os-hosts/mv-1', '/os-hosts/mv-1/reboot']) {
      const res = await r('GET', path, env.admin, '2.43');
      expect([path, res.status, res.json?.itemNotFound?.code]).toEqual([path, 404, 404]);
    }
    expect((await r('PUT', '/os-hosts/mv-1', env.admin, '2.43', { status: 'disable' })).status).toBe(404);
  });

  it('2.44: the nova-network actions and os-virtual-interfaces answer 404; below, as before (floating IP actions: the proxy, floating-ips-proxy.int.spec.ts)', async () => {
    const s = await c.bootActive(env.a, { name: 'nn44' });
    const url = `/servers/${s.id}/os-virtual-interfaces`;
    expect((await r('GET', url, env.a, '2.43')).json.badRequest.message).toBe('Listing virtual interfaces is not supported by this cloud.');
    const vif = await r('GET', url, env.a, '2.44');
    expect([vif.status, vif.json.itemNotFound?.code]).toEqual([404, 404]);
    expect((await r('GET', url, env.b, '2.44')).status).toBe(404);
    const actions: [string, unknown][] = [
      ['addFixedIp', { networkId: '11111111-2222-3333-4444-555555555555' }],
      ['removeFixedIp', { address: '10.0.0.4' }],
      ['addFloatingIp', { address: '172.24.4.10' }],
      ['removeFloatingIp', { address: '172.24.4.10' }],
    ];
    for (const [name, arg] of actions) {
      const gone = await r('POST', `/servers/${s.id}/action`, env.a, '2.44', { [name]: arg });
      expect([name, gone.status, gone.json.itemNotFound?.code]).toEqual([name, 404, 404]);
      const old = await r('POST', `/servers/${s.id}/action`, env.a, '2.43', { [name]: arg });
      // addFloatingIp on a server without ports: Nova's 400; removeFloatingIp asks the network service, which this env has not (503).
      const want: Record<string, [number, string]> = {
        addFloatingIp: [400, 'No nw_info cache associated with instance'],
        removeFloatingIp: [503, expect.stringMatching(/KUMO_NETWORK_URL/) as unknown as string],
      };
      const [code, message] = want[name] ?? [400, `There is no such action: ${name}`];
      expect([name, old.status, (old.json.badRequest ?? old.json.computeFault ?? Object.values(old.json)[0])?.message]).toEqual([name, code, message]);
    }
    // Other actions stay.
    expect((await r('POST', `/servers/${s.id}/action`, env.a, '2.44', { lock: null })).status).toBe(202);
    expect((await r('POST', `/servers/${s.id}/action`, env.a, '2.44', { unlock: null })).status).toBe(202);
  });

  it('2.45: createImage answers {"image_id"} without a Location header; only the header below', async () => {
    const s = await c.bootActive(env.a, { name: 'img45' });
    const res = await r('POST', `/servers/${s.id}/action`, env.a, '2.45', { createImage: { name: 'snap45' } });
    expectSchema('v2_45/images.create_image', res);
    expect(res.headers.location).toBeUndefined();
    expect(env.image.images.get(res.json.image_id)).toMatchObject({ name: 'snap45', owner: env.a.id });
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    const old = await r('POST', `/servers/${s.id}/action`, env.a, '2.44', { createImage: { name: 'snap44' } });
    expect(old.status).toBe(202);
    expect(old.text).toBe('');
    expect(env.image.images.get(old.headers.location!.split('/').pop()!)).toMatchObject({ name: 'snap44' });
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    expect((await r('POST', `/servers/${s.id}/action`, env.b, '2.45', { createImage: { name: 'theirs' } })).status).toBe(404);
  });

  it('2.46: every response carries X-OpenStack-Request-ID (and x-compute-request-id); a global id sent in is not taken as ours', async () => {
    const global = 'req-0b0e3f4a-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
    const s = await c.bootActive(env.a, { name: 'rid46' });
    for (const v of ['2.45', '2.46']) {
      const res = await c.r('POST', `/servers/${s.id}/action`, env.a, { ...at(v), headers: { ...at(v).headers, 'X-OpenStack-Request-ID': global }, json: { lock: null } });
      expect(res.status).toBe(202);
      const rid = res.headers['x-openstack-request-id'] as string;
      expect(rid).toMatch(/^req-[0-9a-f-]{36}$/);
      expect(rid).not.toBe(global);
      expect(res.headers['x-compute-request-id']).toBe(rid);
      // The action is recorded under the local request id, readable at that version.
      const action = await r('GET', `/servers/${s.id}/os-instance-actions/${rid}`, env.a, v);
      expectSchema('v2_16/servers.show_instance_action', action);
      expect(action.json.instanceAction).toMatchObject({ action: 'lock', request_id: rid });
      expect((await c.action(env.a, s.id, { unlock: null })).status).toBe(202);
    }
    const missing = await r('GET', '/servers/no-such-server', env.a, '2.46');
    expect(missing.status).toBe(404);
    expect(missing.headers['x-openstack-request-id']).toMatch(/^req-/);
  });

  it('2.47: show, detail, update and rebuild embed the flavor (extra_specs for readers of the project and admins); {id, links} below', async () => {
    const f = await r('POST', '/flavors', env.admin, '2.1', { flavor: { name: 'emb.47', ram: 256, vcpus: 2, disk: 1, swap: 16, 'OS-FLV-EXT-DATA:ephemeral': 1 } });
    const flavorId = f.json.flavor.id;
    expect((await r('POST', `/flavors/${flavorId}/os-extra_specs`, env.admin, '2.1', { extra_specs: { 'hw:cpu_policy': 'shared', 'quota:disk_read_iops_sec': '100' } })).status).toBe(200);
    const s = await c.bootActive(env.a, { name: 'fl47', flavorRef: flavorId });
    const want = { vcpus: 2, ram: 256, disk: 1, ephemeral: 1, swap: 16, original_name: 'emb.47', extra_specs: { 'hw:cpu_policy': 'shared', 'quota:disk_read_iops_sec': '100' } };

    const show = await r('GET', `/servers/${s.id}`, env.a, '2.47');
    expectSchema('v2_47/servers.get_server', show);
    expect(show.json.server.flavor).toEqual(want);
    const detail = await r('GET', '/servers/detail', env.a, '2.47');
    expectSchema('v2_47/servers.list_servers_detail', detail);
    expect(detail.json.servers.find((x: { id: string }) => x.id === s.id).flavor).toEqual(want);
    const admin = await r('GET', `/servers/${s.id}`, env.admin, '2.47');
    expectSchema('v2_47/servers.get_server', admin);
    expect(admin.json.server.flavor).toEqual(want);
    expectSchema('v2_47/servers.list_servers_detail', await r('GET', '/servers/detail?all_tenants=1', env.admin, '2.47'));
    expect((await r('GET', `/servers/${s.id}`, env.readerA, '2.47')).json.server.flavor).toEqual(want);
    expect((await r('GET', `/servers/${s.id}`, env.b, '2.47')).status).toBe(404);
    const upd = await r('PUT', `/servers/${s.id}`, env.a, '2.47', { server: { name: 'fl47b' } });
    expectSchema('v2_47/servers.update_server', upd);
    expect(upd.json.server.flavor).toEqual(want);
    // The list (not detail) keeps {id, name, links}.
    expectSchema('v2_47/servers.list_servers', await r('GET', '/servers', env.a, '2.47'));

    // The server keeps the flavor it booted with: a flavor deleted since still shows.
    expect((await r('DELETE', `/flavors/${flavorId}`, env.admin, '2.1')).status).toBe(202);
    const rb = await r('POST', `/servers/${s.id}/action`, env.a, '2.47', { rebuild: { imageRef: env.image.publicId } });
    expectSchema('v2_47/servers.rebuild_server_with_admin_pass', rb);
    expect(rb.json.server.flavor).toEqual(want);
    await c.waitStatus(env.a, s.id, 'ACTIVE');

    const old = await r('GET', `/servers/${s.id}`, env.a, '2.46');
    expectSchema('v2_45/servers.get_server', old);
    expect(old.json.server.flavor).toEqual({ id: flavorId, links: [{ rel: 'bookmark', href: expect.stringMatching(new RegExp(`/flavors/${flavorId}$`)) }] });
    expectSchema('v2_45/servers.list_servers_detail', await r('GET', '/servers/detail', env.a, '2.46'));
  });
});

describe('microversions 2.48 … 2.53', () => {
  it('2.48: diagnostics in the standardized shape (admin only); the free-form dict below', async () => {
    const s = await c.bootActive(env.a, { name: 'diag48' });
    const d = await r('GET', `/servers/${s.id}/diagnostics`, env.admin, '2.48');
    expectSchema('v2_48/servers.show_server_diagnostics', d);
    expect(d.json).toMatchObject({
      state: 'running', driver: 'libvirt', hypervisor_os: 'linux', config_drive: false,
      num_cpus: 1, num_disks: 1, memory_details: { maximum: 512, used: 512 },
      cpu_details: [{ id: 0, time: null, utilisation: null }],
    });
    expect(['kvm', 'qemu']).toContain(d.json.hypervisor);
    expect(d.json.uptime).toBeGreaterThanOrEqual(0);
    expect(d.json.disk_details).toHaveLength(1);
    expect(d.json.disk_details[0].read_requests).toBeGreaterThan(0);
    expect(d.json.nic_details).toHaveLength(d.json.num_nics);
    const old = await r('GET', `/servers/${s.id}/diagnostics`, env.admin, '2.47');
    expectSchema('servers.show_server_diagnostics', old);
    expect(old.json).toMatchObject({ state: 'running', memory: 512 * 1024 });
    expect(old.json.driver).toBeUndefined();
    expect((await r('GET', `/servers/${s.id}/diagnostics`, env.a, '2.48')).status).toBe(403);
    expect((await r('GET', `/servers/${s.id}/diagnostics`, env.b, '2.48')).status).toBe(404);
    // Stopped: the domain is still defined, its state is Nova's "shutdown" and it has no uptime.
    expect((await c.action(env.a, s.id, { 'os-stop': null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'SHUTOFF');
    const stopped = await r('GET', `/servers/${s.id}/diagnostics`, env.admin, '2.48');
    expectSchema('v2_48/servers.show_server_diagnostics', stopped);
    expect(stopped.json).toMatchObject({ state: 'shutdown', uptime: null, cpu_details: [] });
  });

  it('2.51: every reader of the server sees the events of an action, the traceback only admins; below 2.51 only admins see events', async () => {
    const s = await c.bootActive(env.a, { name: 'ev51' });
    const lock = await r('POST', `/servers/${s.id}/action`, env.a, '2.51', { lock: null });
    expect(lock.status).toBe(202);
    const rid = lock.headers['x-openstack-request-id'] as string;
    const url = `/servers/${s.id}/os-instance-actions/${rid}`;
    const event = { event: 'compute_lock', start_time: expect.any(String), finish_time: expect.anything(), result: expect.anything() };
    for (const who of [env.a, env.readerA]) {
      const shown = await r('GET', url, who, '2.51');
      expectSchema('v2_51/servers.show_instance_action', shown);
      expect(shown.json.instanceAction.events).toEqual([event]);
      expect(shown.json.instanceAction.events[0]).not.toHaveProperty('traceback');
      const old = await r('GET', url, who, '2.50');
      expectSchema('v2_48/servers.show_instance_action', old);
      expect(old.json.instanceAction.events).toBeUndefined();
    }
    const admin = await r('GET', url, env.admin, '2.51');
    expectSchema('v2_51/servers.show_instance_action', admin);
    expect(admin.json.instanceAction.events).toEqual([{ ...event, traceback: null }]);
    expect((await r('GET', url, env.admin, '2.50')).json.instanceAction.events).toEqual([{ ...event, traceback: null }]);
    expect((await r('GET', url, env.b, '2.51')).status).toBe(404);

    // The other half of 2.51: os-server-external-events takes volume-extended (400 below).
    const ev = { events: [{ name: 'volume-extended', server_uuid: s.id, tag: '5e6f0d7a-1b2c-4d3e-8f90-123456789abc' }] };
    expect((await r('POST', '/os-server-external-events', env.admin, '2.50', ev)).status).toBe(400);
    const ok = await r('POST', '/os-server-external-events', env.admin, '2.51', ev);
    expect([ok.status, ok.json.events]).toEqual([200, [{ ...ev.events[0], code: 200 }]]);
    expect((await r('POST', '/os-server-external-events', env.a, '2.51', ev)).status).toBe(403);
  });

  it('2.52: tags on create (at most 50, the 2.26 tag rules), on every server of a multi-create; 400 below', async () => {
    const boot = (v: string, extra: Record<string, unknown>, who: Project = env.a) => r('POST', '/servers', who, v, { server: { name: 'tag52', imageRef: env.image.publicId, flavorRef: '1', networks: 'none', ...extra } });
    const below = await boot('2.51', { tags: ['a'] });
    expect(below.status).toBe(400);
    expect(below.json.badRequest.message).toMatch(/'tags' was unexpected/);
    for (const tags of ['a', [7], ['a/b'], ['x'.repeat(61)], Array.from({ length: 51 }, (_, n) => `t${n}`)]) {
      const res = await boot('2.52', { tags });
      expect([tags, res.status]).toEqual([tags, 400]);
    }
    expect((await boot('2.52', { tags: ['reader'] }, env.readerA)).status).toBe(403);

    const res = await boot('2.52', { tags: ['web', 'blue', 'web'], min_count: 2, max_count: 2, return_reservation_id: true });
    expect(res.status).toBe(202);
    const rid = res.json.reservation_id as string;
    const list = await r('GET', `/servers/detail?reservation_id=${rid}`, env.a, '2.52');
    expect(list.json.servers).toHaveLength(2);
    for (const s of list.json.servers as { id: string; tags: string[] }[]) {
      expect(s.tags).toEqual(['blue', 'web']);
      const tags = await r('GET', `/servers/${s.id}/tags`, env.a, '2.52');
      expectSchema('v2_26/servers.list_tags', tags);
      expect(tags.json.tags).toEqual(['blue', 'web']);
      await c.waitStatus(env.a, s.id, 'ACTIVE');
      expectSchema('v2_47/servers.get_server', await r('GET', `/servers/${s.id}`, env.a, '2.52'));
    }
    const byTag = await r('GET', '/servers?tags=blue,web', env.a, '2.52');
    expect((byTag.json.servers as { id: string }[]).map((x) => x.id).sort()).toEqual((list.json.servers as { id: string }[]).map((x) => x.id).sort());
    const fifty = await boot('2.52', { tags: Array.from({ length: 50 }, (_, n) => `t${n}`) });
    expect(fifty.status).toBe(202);
    expect((await r('GET', `/servers/${fifty.json.server.id}/tags`, env.a, '2.52')).json.tags).toHaveLength(50);
  });

  it('2.53: hypervisors by uuid (hypervisor_hostname_pattern, with_servers on the list, with_servers on show, uuid paging); the integer ids below', async () => {
    const s = await c.bootActive(env.a, { name: 'hv53' });
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    const list = await r('GET', '/os-hypervisors', env.admin, '2.53');
    expectSchema('v2_53/hypervisors.list_search_hypervisors', list);
    const hv = list.json.hypervisors.find((h: { hypervisor_hostname: string }) => h.hypervisor_hostname === 'mv-1');
    expect(hv.id).toMatch(uuid);
    expect(hv.servers).toBeUndefined();
    const detail = await r('GET', '/os-hypervisors/detail', env.admin, '2.53');
    expectSchema('v2_53/hypervisors.list_hypervisors_detail', detail);
    const hvd = detail.json.hypervisors.find((h: { id: string }) => h.id === hv.id);
    expect(hvd.service.id).toMatch(uuid);
    expect(hvd.service.id).not.toBe(hv.id);
    const old = await r('GET', '/os-hypervisors/detail', env.admin, '2.52');
    expectSchema('v2_33/hypervisors.list_hypervisors_detail', old);
    const oldHv = old.json.hypervisors.find((h: { hypervisor_hostname: string }) => h.hypervisor_hostname === 'mv-1');
    expect(typeof oldHv.id).toBe('number');
    expect(oldHv.service.id).toBe(oldHv.id);

    // with_servers and the pattern replace the sub-resources (404 from 2.53).
    const withServers = await r('GET', '/os-hypervisors?with_servers=true&hypervisor_hostname_pattern=mv-', env.admin, '2.53');
    expectSchema('v2_53/hypervisors.list_search_hypervisors', withServers);
    expect(withServers.json.hypervisors).toHaveLength(1);
    expect(withServers.json.hypervisors[0].servers).toContainEqual({ uuid: s.id, name: 'hv53' });
    const detailServers = await r('GET', '/os-hypervisors/detail?with_servers=1', env.admin, '2.53');
    expectSchema('v2_53/hypervisors.list_hypervisors_detail', detailServers);
    expect(detailServers.json.hypervisors[0].servers).toContainEqual({ uuid: s.id, name: 'hv53' });
    expect((await r('GET', '/os-hypervisors?with_servers=maybe', env.admin, '2.53')).status).toBe(400);
    const none = await r('GET', '/os-hypervisors?hypervisor_hostname_pattern=nomatch', env.admin, '2.53');
    expect([none.status, none.json.itemNotFound?.message]).toEqual([404, "No hypervisor matching 'nomatch' could be found."]);
    const paged = await r('GET', '/os-hypervisors?hypervisor_hostname_pattern=mv&limit=1', env.admin, '2.53');
    expect([paged.status, paged.json.badRequest?.message]).toEqual([400, 'Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.']);
    expect((await r('GET', '/os-hypervisors/mv/search', env.admin, '2.53')).status).toBe(404);
    expect((await r('GET', '/os-hypervisors/mv/servers', env.admin, '2.53')).status).toBe(404);

    // Show and uptime by uuid; an integer id is a 400 from 2.53, a uuid is not found below.
    const shown = await r('GET', `/os-hypervisors/${hv.id}?with_servers=true`, env.admin, '2.53');
    expectSchema('v2_53/hypervisors.get_hypervisor', shown);
    expect(shown.json.hypervisor).toMatchObject({ id: hv.id, service: { id: hvd.service.id } });
    expect(shown.json.hypervisor.servers).toContainEqual({ uuid: s.id, name: 'hv53' });
    expect((await r('GET', `/os-hypervisors/${hv.id}`, env.admin, '2.53')).json.hypervisor.servers).toBeUndefined();
    const byInt = await r('GET', `/os-hypervisors/${oldHv.id}`, env.admin, '2.53');
    expect([byInt.status, byInt.json.badRequest?.message]).toEqual([400, `Invalid uuid ${oldHv.id}`]);
    expect((await r('GET', `/os-hypervisors/${hv.id}`, env.admin, '2.52')).status).toBe(404);
    expect((await r('GET', '/os-hypervisors/00000000-0000-4000-8000-000000000000', env.admin, '2.53')).status).toBe(404);
    const up = await r('GET', `/os-hypervisors/${hv.id}/uptime`, env.admin, '2.53');
    if (up.status === 200) {
      expectSchema('v2_53/hypervisors.get_hypervisor_uptime', up);
      expect(up.json.hypervisor.id).toBe(hv.id);
    } else expect(up.status).toBe(501);
    expect((await r('GET', `/os-hypervisors/${oldHv.id}/uptime`, env.admin, '2.53')).status).toBe(400);

    // Paging by uuid marker.
    const page = await r('GET', '/os-hypervisors?limit=1', env.admin, '2.53');
    expectSchema('v2_53/hypervisors.list_search_hypervisors', page);
    expect(page.json.hypervisors_links[0].href).toContain(`marker=${page.json.hypervisors[0].id}`);
    expect((await r('GET', `/os-hypervisors?marker=${page.json.hypervisors[0].id}`, env.admin, '2.53')).status).toBe(200);
    expect((await r('GET', `/os-hypervisors?marker=${oldHv.id}`, env.admin, '2.53')).status).toBe(400);
    expect((await r('GET', '/os-hypervisors', env.a, '2.53')).status).toBe(403);
  });

  it('2.53: services by uuid: the list, PUT /os-services/{uuid} {status, disabled_reason, forced_down}, DELETE by uuid; the old forms below', async () => {
    const list = await r('GET', '/os-services', env.admin, '2.53');
    expectSchema('v2_53/services.list_services', list);
    const svc = list.json.services.find((x: { host: string }) => x.host === 'mv-1');
    expect(svc.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const oldList = await r('GET', '/os-services', env.admin, '2.52');
    expectSchema('v2_11/services.list_services', oldList);
    expect(typeof oldList.json.services.find((x: { host: string }) => x.host === 'mv-1').id).toBe('number');

    const put = (body: unknown, id = svc.id, who: Project = env.admin, v = '2.53') => r('PUT', `/os-services/${id}`, who, v, body);
    try {
      const disabled = await put({ status: 'disabled', disabled_reason: 'maintenance' });
      expectSchema('v2_53/services.update_service', disabled);
      expect(disabled.json.service).toMatchObject({ id: svc.id, host: 'mv-1', binary: 'nova-compute', status: 'disabled', disabled_reason: 'maintenance', forced_down: false, state: 'up' });
      expect((await r('GET', '/os-services', env.admin, '2.53')).json.services.find((x: { id: string }) => x.id === svc.id).status).toBe('disabled');
      const down = await put({ forced_down: true });
      expectSchema('v2_53/services.update_service', down);
      expect(down.json.service).toMatchObject({ status: 'disabled', forced_down: true, state: 'down' });
      const back = await put({ status: 'enabled', forced_down: false });
      expect(back.json.service).toMatchObject({ status: 'enabled', disabled_reason: null, forced_down: false, state: 'up' });

      for (const [body, message] of [
        [{ status: 'enabled', disabled_reason: 'x' }, "Specifying 'disabled_reason' with status 'enabled' is invalid."],
        [{}, "No updates were requested. Fields 'status' or 'forced_down' should be specified."],
        [{ disabled_reason: 'only' }, "No updates were requested. Fields 'status' or 'forced_down' should be specified."],
        [{ status: 'off' }, expect.stringMatching(/status/)],
        [{ forced_down: 'perhaps' }, expect.stringMatching(/forced_down/)],
        [{ host: 'mv-1' }, expect.stringMatching(/'host' was unexpected/)],
      ] as [unknown, string][]) {
        const res = await put(body);
        expect([body, res.status, res.json.badRequest?.message]).toEqual([body, 400, message]);
      }
      // The pre-2.53 forms are gone: their action name fails the uuid check, as in Nova.
      const oldForm = await r('PUT', '/os-services/disable', env.admin, '2.53', { host: 'mv-1', binary: 'nova-compute' });
      expect([oldForm.status, oldForm.json.badRequest?.message]).toEqual([400, 'Invalid uuid disable']);
      expect((await put({ status: 'disabled' }, '00000000-0000-4000-8000-000000000000')).status).toBe(404);
      expect((await put({ status: 'disabled' }, svc.id, env.a)).status).toBe(403);
      // Below 2.53 a uuid is an unknown action; the old form still works there.
      expect((await put({ status: 'disabled' }, svc.id, env.admin, '2.52')).status).toBe(404);
      expectSchema('v2_11/services.enable_disable_service', await r('PUT', '/os-services/enable', env.admin, '2.52', { host: 'mv-1', binary: 'nova-compute' }));
    } finally {
      await put({ status: 'enabled', forced_down: false });
    }

    // DELETE by uuid (a registered host without instances); an integer id is a 400 from 2.53.
    const db = env.svc.app.get(Db);
    const [row] = await db.rows<{ id: number; service_uuid: string }>(`INSERT INTO ${db.t('compute_node')} (host, vcpus, memory_mb, local_gb) VALUES ('mv-gone', 4, 4096, 40) RETURNING id, service_uuid`);
    const byInt = await r('DELETE', `/os-services/${row!.id}`, env.admin, '2.53');
    expect([byInt.status, byInt.json.badRequest?.message]).toEqual([400, `Invalid uuid ${row!.id}`]);
    expect((await r('DELETE', `/os-services/${row!.service_uuid}`, env.admin, '2.52')).status).toBe(404);
    expect((await r('DELETE', `/os-services/${row!.service_uuid}`, env.a, '2.53')).status).toBe(403);
    expect((await r('DELETE', `/os-services/${row!.service_uuid}`, env.admin, '2.53')).status).toBe(204);
    expect((await r('DELETE', `/os-services/${row!.service_uuid}`, env.admin, '2.53')).status).toBe(404);
    expect((await r('GET', '/os-services?host=mv-gone', env.admin, '2.53')).json.services).toEqual([]);
    // The host with servers stays (409 as below 2.53).
    expect((await r('DELETE', `/os-services/${svc.id}`, env.admin, '2.53')).status).toBe(409);
  });
});

describe('microversions 2.54 …', () => {
  it('2.54: rebuild takes key_name (the caller\'s keypair; null removes it) and shows it; 400 below', async () => {
    expect((await r('POST', '/os-keypairs', env.a, '2.2', { keypair: { name: 'k54' } })).status).toBe(201);
    const s = await c.bootActive(env.a, { name: 'rb54' });
    const rebuild = (v: string, extra: Record<string, unknown>, who: Project = env.a) => r('POST', `/servers/${s.id}/action`, who, v, { rebuild: { imageRef: env.image.publicId, ...extra } });

    const below = await rebuild('2.53', { key_name: 'k54' });
    expect([below.status, below.json.badRequest?.message]).toEqual([400, expect.stringContaining("'key_name' was unexpected")]);
    const old = await rebuild('2.53', {});
    expectSchema('v2_47/servers.rebuild_server_with_admin_pass', old);
    expect(old.json.server.key_name).toBeUndefined();
    await c.waitStatus(env.a, s.id, 'ACTIVE');

    const withKey = await rebuild('2.54', { key_name: 'k54' });
    expectSchema('v2_54/servers.rebuild_server_with_admin_pass', withKey);
    expect(withKey.json.server.key_name).toBe('k54');
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    const db = env.svc.app.get(Db);
    const pub = (await r('GET', '/os-keypairs/k54', env.a, '2.2')).json.keypair.public_key;
    expect(await db.rows(`SELECT key_name, key_data FROM ${db.t('instance')} WHERE id = $1`, [s.id])).toEqual([{ key_name: 'k54', key_data: pub }]);
    expect((await r('GET', `/servers/${s.id}`, env.a, '2.54')).json.server.key_name).toBe('k54');

    // Without key_name the key stays; null removes it.
    const kept = await rebuild('2.54', {});
    expect(kept.json.server.key_name).toBe('k54');
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    const unset = await rebuild('2.54', { key_name: null });
    expectSchema('v2_54/servers.rebuild_server_with_admin_pass', unset);
    expect(unset.json.server.key_name).toBeNull();
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    expect(await db.rows(`SELECT key_name, key_data FROM ${db.t('instance')} WHERE id = $1`, [s.id])).toEqual([{ key_name: null, key_data: null }]);

    // Another user's key (here: a name the caller has no keypair of) is a 400; bad values too.
    const missing = await rebuild('2.54', { key_name: 'nope' });
    expect([missing.status, missing.json.badRequest?.message]).toEqual([400, `Keypair nope not found for user ${env.a.userId}`]);
    for (const bad of ['', 5, 'x'.repeat(256)]) expect((await rebuild('2.54', { key_name: bad })).status).toBe(400);
    // Another project's server: 404 before the key is looked at; a reader may not rebuild.
    expect((await rebuild('2.54', { key_name: 'k54' }, env.b)).status).toBe(404);
    expect((await rebuild('2.54', { key_name: null }, env.readerA)).status).toBe(403);
  });

  it('2.55: flavor description on create, PUT /flavors/{id} to change it (admin; 404 below), shown in every flavor view; 400 below', async () => {
    const below = await r('POST', '/flavors', env.admin, '2.54', { flavor: { name: 'd.54', ram: 64, vcpus: 1, disk: 1, description: 'x' } });
    expect([below.status, below.json.badRequest?.message]).toEqual([400, expect.stringContaining("'description' was unexpected")]);
    const created = await r('POST', '/flavors', env.admin, '2.55', { flavor: { name: 'd.55', ram: 64, vcpus: 1, disk: 1, description: 'small one' } });
    expectSchema('v2_55/flavors.create_update_get_flavor_details', created);
    const id = created.json.flavor.id;
    expect(created.json.flavor.description).toBe('small one');
    const plain = await r('POST', '/flavors', env.admin, '2.55', { flavor: { name: 'd.55b', ram: 64, vcpus: 1, disk: 1 } });
    expectSchema('v2_55/flavors.create_update_get_flavor_details', plain);
    expect(plain.json.flavor.description).toBeNull();

    const show = await r('GET', `/flavors/${id}`, env.a, '2.55');
    expectSchema('v2_55/flavors.create_update_get_flavor_details', show);
    expect(show.json.flavor.description).toBe('small one');
    const list = await r('GET', '/flavors', env.a, '2.55');
    expectSchema('v2_55/flavors.list_flavors', list);
    expect(list.json.flavors.find((f: { id: string }) => f.id === id).description).toBe('small one');
    const detail = await r('GET', '/flavors/detail', env.a, '2.55');
    expectSchema('v2_55/flavors.list_flavors_details', detail);
    expect(detail.json.flavors.find((f: { id: string }) => f.id === id).description).toBe('small one');
    // Below 2.55 the 2.1 shapes, without the key.
    expectSchema('flavors.create_update_get_flavor_details', await r('GET', `/flavors/${id}`, env.a, '2.54'));
    expectSchema('flavors.list_flavors', await r('GET', '/flavors', env.a, '2.54'));
    expectSchema('flavors.list_flavors_details', await r('GET', '/flavors/detail', env.a, '2.54'));

    const put = (body: unknown, who: Project = env.admin, v = '2.55', fid = id) => r('PUT', `/flavors/${fid}`, who, v, body);
    const upd = await put({ flavor: { description: 'changed' } });
    expectSchema('v2_55/flavors.create_update_get_flavor_details', upd);
    expect(upd.json.flavor).toMatchObject({ id, name: 'd.55', ram: 64, description: 'changed' });
    expect((await r('GET', `/flavors/${id}`, env.a, '2.55')).json.flavor.description).toBe('changed');
    expect((await put({ flavor: { description: null } })).json.flavor.description).toBeNull();
    for (const bad of [{ flavor: {} }, { flavor: { description: 'x', name: 'y' } }, { flavor: { description: 5 } }, { flavor: { description: 'a\u0007b' } }, { flavor: { description: 'x'.repeat(65536) } }, {}]) {
      expect([bad, (await put(bad)).status]).toEqual([bad, 400]);
    }
    expect((await put({ flavor: { description: 'x'.repeat(65535) } })).status).toBe(200);
    expect((await put({ flavor: { description: 'x' } }, env.admin, '2.55', 'no-such-flavor')).status).toBe(404);
    expect((await put({ flavor: { description: 'mine' } }, env.a)).status).toBe(403);
    expect((await put({ flavor: { description: 'mine' } }, env.readerA)).status).toBe(403);
    expect((await put({ flavor: { description: 'old' } }, env.admin, '2.54')).status).toBe(404);
    for (const f of [id, plain.json.flavor.id]) expect((await r('DELETE', `/flavors/${f}`, env.admin, '2.55')).status).toBe(202);
  });

  it('2.57: rebuild takes user_data (null removes it) and shows it; personality refused on create and rebuild; injected-file quotas and limits gone; as before at 2.56', async () => {
    const ud = (x: string) => Buffer.from(x).toString('base64');
    const s = await c.bootActive(env.a, { name: 'rb57', user_data: ud('first') });
    const rebuild = (v: string, extra: Record<string, unknown>, who: Project = env.a) => r('POST', `/servers/${s.id}/action`, who, v, { rebuild: { imageRef: env.image.publicId, ...extra } });
    const below = await rebuild('2.56', { user_data: ud('x') });
    expect([below.status, below.json.badRequest?.message]).toEqual([400, expect.stringContaining("'user_data' was unexpected")]);
    const old = await rebuild('2.56', { personality: [] });
    expectSchema('v2_54/servers.rebuild_server_with_admin_pass', old);
    expect(old.json.server.user_data).toBeUndefined();
    await c.waitStatus(env.a, s.id, 'ACTIVE');

    const kept = await rebuild('2.57', {});
    expectSchema('v2_57/servers.rebuild_server_with_admin_pass', kept);
    expect(kept.json.server.user_data).toBe(ud('first'));
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    const changed = await rebuild('2.57', { user_data: ud('second') });
    expectSchema('v2_57/servers.rebuild_server_with_admin_pass', changed);
    expect(changed.json.server.user_data).toBe(ud('second'));
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    expect((await r('GET', `/servers/${s.id}`, env.admin, '2.57')).json.server['OS-EXT-SRV-ATTR:user_data']).toBe(ud('second'));
    const removed = await rebuild('2.57', { user_data: null });
    expectSchema('v2_57/servers.rebuild_server_with_admin_pass', removed);
    expect(removed.json.server.user_data).toBeNull();
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    for (const bad of [5, 'not base64!', 'QQ'.repeat(32768)]) expect((await rebuild('2.57', { user_data: bad })).status).toBe(400);
    expect((await rebuild('2.57', { user_data: ud('x') }, env.b)).status).toBe(404);
    expect((await rebuild('2.57', { user_data: ud('x') }, env.readerA)).status).toBe(403);

    // personality: ignored below (no file injection here), refused from 2.57.
    const pers = [{ path: '/etc/motd', contents: ud('hi') }];
    expect((await rebuild('2.57', { personality: pers })).status).toBe(400);
    const createdWith = await r('POST', '/servers', env.a, '2.57', { server: { name: 'p57', imageRef: env.image.publicId, flavorRef: '1', networks: 'none', personality: pers } });
    expect([createdWith.status, createdWith.json.badRequest?.message]).toEqual([400, expect.stringContaining("'personality' was unexpected")]);

    // Quotas, quota classes and limits lose the injected-file entries; setting them is a 400.
    const limits = await r('GET', '/limits', env.a, '2.57');
    expectSchema('v2_57/limits.get_limit', limits);
    expect(limits.json.limits.absolute.maxPersonality).toBeUndefined();
    const oldLimits = await r('GET', '/limits', env.a, '2.56');
    expectSchema('v2_39/limits.get_limit', oldLimits);
    expect(oldLimits.json.limits.absolute.maxPersonality).toBe(5);
    const q = await r('GET', `/os-quota-sets/${env.a.id}`, env.a, '2.57');
    expectSchema('v2_57/quotas.get_quota_set', q);
    expect(q.json.quota_set.injected_files).toBeUndefined();
    expectSchema('v2_57/quotas.get_quota_set_details', await r('GET', `/os-quota-sets/${env.a.id}/detail`, env.a, '2.57'));
    expectSchema('v2_57/quotas.get_quota_set', await r('GET', `/os-quota-sets/${env.a.id}/defaults`, env.a, '2.57'));
    expectSchema('v2_36/quotas.get_quota_set', await r('GET', `/os-quota-sets/${env.a.id}`, env.a, '2.56'));
    const upd = await r('PUT', `/os-quota-sets/${env.a.id}`, env.admin, '2.57', { quota_set: { key_pairs: 101 } });
    expectSchema('v2_57/quotas.update_quota_set', upd);
    expect(upd.json.quota_set.key_pairs).toBe(101);
    for (const k of ['injected_files', 'injected_file_content_bytes', 'injected_file_path_bytes']) {
      expect((await r('PUT', `/os-quota-sets/${env.a.id}`, env.admin, '2.57', { quota_set: { [k]: 3 } })).status).toBe(400);
      expect((await r('PUT', '/os-quota-class-sets/test57', env.admin, '2.57', { quota_class_set: { [k]: 3 } })).status).toBe(400);
    }
    expect((await r('PUT', `/os-quota-sets/${env.a.id}`, env.admin, '2.56', { quota_set: { injected_files: 6 } })).json.quota_set.injected_files).toBe(6);
    const qc = await r('GET', '/os-quota-class-sets/test57', env.admin, '2.57');
    expectSchema('v2_57/quota_classes.get_quota_class_set', qc);
    expectSchema('v2_57/quota_classes.update_quota_class_set', await r('PUT', '/os-quota-class-sets/test57', env.admin, '2.57', { quota_class_set: { cores: 30 } }));
    expectSchema('v2_50/quota_classes.get_quota_class_set', await r('GET', '/os-quota-class-sets/test57', env.admin, '2.56'));
    expect((await r('GET', '/os-quota-class-sets/test57', env.a, '2.57')).status).toBe(403);
  });

  it('2.58: instance actions page (limit, marker = request id, changes-since) with updated_at and instanceActions_links; all of them below', async () => {
    const s = await c.bootActive(env.a, { name: 'ia58' });
    for (const a of [{ 'os-stop': null }, { 'os-start': null }, { pause: null }]) {
      expect((await r('POST', `/servers/${s.id}/action`, env.a, '2.58', a)).status).toBe(202);
      await c.waitStatus(env.a, s.id, ['ACTIVE', 'SHUTOFF', 'PAUSED']);
    }
    const url = `/servers/${s.id}/os-instance-actions`;
    const all = await r('GET', url, env.a, '2.58');
    expect(all.status).toBe(200);
    const acts = all.json.instanceActions as { action: string; request_id: string; start_time: string; updated_at: string }[];
    expect(acts.map((a) => a.action)).toEqual(['pause', 'start', 'stop', 'create']);
    for (const a of acts) expect(Date.parse(a.updated_at)).toBeGreaterThanOrEqual(Date.parse(a.start_time));
    expect(all.json.instanceActions_links).toBeUndefined();
    const shown = await r('GET', `${url}/${acts[1]!.request_id}`, env.a, '2.58');
    expectSchema('v2_58/servers.show_instance_action', shown);
    expect(shown.json.instanceAction.updated_at).toBe(acts[1]!.updated_at);

    const page1 = await r('GET', `${url}?limit=2`, env.a, '2.58');
    expect(page1.json.instanceActions.map((a: { action: string }) => a.action)).toEqual(['pause', 'start']);
    const next = new URL(page1.json.instanceActions_links[0].href);
    expect([page1.json.instanceActions_links[0].rel, next.pathname, next.searchParams.get('limit'), next.searchParams.get('marker')]).toEqual(['next', `/v2.1${url}`, '2', acts[1]!.request_id]);
    const page2 = await r('GET', `${url}?limit=2&marker=${acts[1]!.request_id}`, env.a, '2.58');
    expect(page2.json.instanceActions.map((a: { action: string }) => a.action)).toEqual(['stop', 'create']);
    const page3 = await r('GET', `${url}?limit=2&marker=${acts[3]!.request_id}`, env.a, '2.58');
    expect([page3.json.instanceActions, page3.json.instanceActions_links]).toEqual([[], undefined]);
    const badMarker = await r('GET', `${url}?marker=req-nope`, env.a, '2.58');
    expect([badMarker.status, badMarker.json.badRequest?.message]).toEqual([400, 'Marker req-nope could not be found.']);
    expect((await r('GET', `${url}?limit=-1`, env.a, '2.58')).status).toBe(400);
    expect((await r('GET', `${url}?limit=x`, env.a, '2.58')).status).toBe(400);

    const since = await r('GET', `${url}?changes-since=${encodeURIComponent(acts[1]!.updated_at)}`, env.a, '2.58');
    expect(since.json.instanceActions.map((a: { action: string }) => a.action)).toEqual(['pause', 'start']);
    expect((await r('GET', `${url}?changes-since=2999-01-01T00:00:00Z`, env.a, '2.58')).json.instanceActions).toEqual([]);
    expect((await r('GET', `${url}?changes-since=yesterday`, env.a, '2.58')).status).toBe(400);

    // Below 2.58: the 2.1 shape, every action, paging parameters ignored.
    const old = await r('GET', `${url}?limit=1&marker=req-nope&changes-since=yesterday`, env.a, '2.57');
    expectSchema('servers.list_instance_actions', old);
    expect(old.json.instanceActions).toHaveLength(4);
    expectSchema('v2_51/servers.show_instance_action', await r('GET', `${url}/${acts[1]!.request_id}`, env.a, '2.57'));
    expect((await r('GET', url, env.b, '2.58')).status).toBe(404);
    expect((await r('GET', `${url}?limit=1`, env.readerA, '2.58')).json.instanceActions).toHaveLength(1);
  });
});
