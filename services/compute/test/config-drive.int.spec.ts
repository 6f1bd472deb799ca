import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { client, type ComputeEnv, neutronClient, type Project, startComputeWithNetwork } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';

/**
 * Config drive (Nova's configdrive): the agent writes an ISO 9660 image labelled config-2 into the
 * instance directory and the FakeDriver's domain gets it as a read-only cdrom. The ISO is read
 * back with isoinfo (Rock Ridge names, as cloud-init sees them).
 */
let stack: Awaited<ReturnType<typeof startComputeWithNetwork>>;
let env: ComputeEnv;
let c: ReturnType<typeof client>;
const neutron = (who: Project, method: string, url: string, json?: unknown) => neutronClient(stack.network.url)(who, method, url, json);
// The test agent's instances directory is the OS's temporary directory (helpers.ts).
const isoOf = (id: string) => path.join(os.tmpdir(), id, 'disk.config');
const readIso = (iso: string, file: string) => execFileSync('isoinfo', ['-R', '-i', iso, '-x', file]).toString();
const listIso = (iso: string) =>
  execFileSync('isoinfo', ['-R', '-f', '-i', iso])
    .toString()
    .split('\n')
    .filter(Boolean)
    .sort();
const booted: string[] = [];

beforeAll(async () => {
  stack = await startComputeWithNetwork({ hosts: ['cd-1'] });
  env = stack.env;
  c = client(env);
});
afterAll(async () => {
  await stack?.close();
  for (const id of booted) fs.rmSync(path.join(os.tmpdir(), id), { recursive: true, force: true });
});

const hostOf = async (id: string) => (await c.show(env.admin, id)).json.server['OS-EXT-SRV-ATTR:host'] as string;
const diskOf = async (id: string) => (await env.drivers.get(await hostOf(id))!.getInfo(id)).spec.disks.find((d) => d.id === 'config');

describe('config drive', () => {
  it('boots with config_drive + user_data + key + metadata: the guest gets Nova metadata on a config-2 cdrom', async () => {
    const kp = await c.r('POST', '/os-keypairs', env.a, { json: { keypair: { name: 'cfg-key' } } });
    expect(kp.status).toBe(200);
    const pub = kp.json.keypair.public_key as string;
    const network = (await neutron(env.a, 'POST', '/v2.0/networks', { network: { name: 'cfg-net' } })).network;
    await neutron(env.a, 'POST', '/v2.0/subnets', { subnet: { network_id: network.id, cidr: '10.77.0.0/24', ip_version: 4 } });
    const userData = '#cloud-config\nruncmd:\n - echo config-drive\n';
    const res = await c.boot(env.a, {
      name: 'cfg-vm',
      config_drive: true,
      user_data: Buffer.from(userData).toString('base64'),
      key_name: 'cfg-key',
      metadata: { role: 'web', tier: '1' },
      networks: [{ uuid: network.id }],
    });
    expect(res.status).toBe(202);
    booted.push(res.json.server.id);
    const s = await c.waitStatus(env.a, res.json.server.id, 'ACTIVE');
    expect(s.config_drive).toBe('True');
    expect(tempestErrors('servers.get_server', 200, { server: s })).toEqual([]);

    const disk = await diskOf(s.id);
    expect(disk).toMatchObject({ path: isoOf(s.id), media: 'cdrom', readOnly: true, bus: 'ide', format: 'raw' });
    const iso = isoOf(s.id);
    expect(execFileSync('isoinfo', ['-d', '-i', iso]).toString()).toMatch(/Volume id: config-2/);
    const files = listIso(iso);
    for (const f of ['meta_data.json', 'user_data', 'network_data.json', 'vendor_data.json', 'vendor_data2.json']) {
      expect(files).toContain(`/openstack/latest/${f}`);
      expect(files).toContain(`/openstack/2018-08-27/${f}`);
    }

    const md = JSON.parse(readIso(iso, '/openstack/latest/meta_data.json'));
    expect(md).toMatchObject({
      uuid: s.id,
      name: 'cfg-vm',
      hostname: 'cfg-vm.novalocal',
      availability_zone: 'nova',
      project_id: env.a.id,
      launch_index: 0,
      meta: { role: 'web', tier: '1' },
      public_keys: { 'cfg-key': pub },
      keys: [{ name: 'cfg-key', type: 'ssh', data: pub }],
      devices: [],
    });
    expect(typeof md.random_seed).toBe('string');
    expect(readIso(iso, '/openstack/latest/user_data')).toBe(userData);
    expect(JSON.parse(readIso(iso, '/openstack/latest/vendor_data.json'))).toEqual({});
    expect(JSON.parse(readIso(iso, '/openstack/latest/vendor_data2.json'))).toEqual({});

    const [port] = (await neutron(env.a, 'GET', `/v2.0/ports?device_id=${s.id}`)).ports;
    const nd = JSON.parse(readIso(iso, '/openstack/latest/network_data.json'));
    expect(nd).toEqual({
      links: [{ id: `tap${port.id.slice(0, 11)}`, vif_id: port.id, type: 'tap', mtu: port.mtu ?? expect.any(Number), ethernet_mac_address: port.mac_address }],
      networks: [{ id: 'network0', type: 'ipv4_dhcp', link: `tap${port.id.slice(0, 11)}`, network_id: network.id }],
      services: [],
    });

    // Rebuild re-creates the drive with the server's current metadata; delete removes it.
    expect((await c.r('PUT', `/servers/${s.id}/metadata`, env.a, { json: { metadata: { role: 'db' } } })).status).toBe(200);
    expect((await c.action(env.a, s.id, { rebuild: { imageRef: env.image.publicId } })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    expect(JSON.parse(readIso(iso, '/openstack/latest/meta_data.json')).meta).toEqual({ role: 'db' });
    expect((await c.r('DELETE', `/servers/${s.id}`, env.a)).status).toBe(204);
    await c.waitStatus(env.a, s.id, 'DELETED');
    expect(fs.existsSync(iso)).toBe(false);
  });

  it('a server without config_drive gets no drive; an image with img_config_drive=mandatory forces one, kept across shelve/unshelve', async () => {
    const plain = await c.bootActive(env.a, { name: 'no-cfg' });
    booted.push(plain.id);
    expect(plain.config_drive).toBe('');
    expect(await diskOf(plain.id)).toBeUndefined();
    expect(fs.existsSync(isoOf(plain.id))).toBe(false);

    const base = env.image.images.get(env.image.publicId)!;
    const mandatory = '6d5c1e1a-8f1b-4c4e-9a7e-0c0fc0f1d0a1';
    env.image.images.set(mandatory, { ...base, id: mandatory, properties: { img_config_drive: 'mandatory' } });
    fs.copyFileSync(path.join(env.image.dataDir, env.image.publicId), path.join(env.image.dataDir, mandatory));
    const forced = await c.bootActive(env.a, { name: 'forced', imageRef: mandatory });
    booted.push(forced.id);
    expect(forced.config_drive).toBe('True');
    expect((await diskOf(forced.id))?.path).toBe(isoOf(forced.id));
    expect(JSON.parse(readIso(isoOf(forced.id), '/openstack/latest/meta_data.json'))).toMatchObject({ uuid: forced.id, name: 'forced' });
    // Without a key pair or metadata, Nova leaves those keys out.
    expect(Object.keys(JSON.parse(readIso(isoOf(forced.id), '/openstack/latest/meta_data.json')))).not.toContain('public_keys');
    expect(listIso(isoOf(forced.id))).not.toContain('/openstack/latest/user_data');
    // Shelve offload destroys the domain and its drive; unshelve spawns with a fresh one.
    expect((await c.action(env.a, forced.id, { shelve: null })).status).toBe(202);
    await c.waitStatus(env.a, forced.id, 'SHELVED_OFFLOADED');
    expect(fs.existsSync(isoOf(forced.id))).toBe(false);
    expect((await c.action(env.a, forced.id, { unshelve: null })).status).toBe(202);
    await c.waitStatus(env.a, forced.id, 'ACTIVE');
    expect((await diskOf(forced.id))?.path).toBe(isoOf(forced.id));
    expect(JSON.parse(readIso(isoOf(forced.id), '/openstack/latest/meta_data.json')).uuid).toBe(forced.id);
  });
});
