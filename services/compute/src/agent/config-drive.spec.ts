import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { InstanceSpec } from '@kumo/contracts';
import { CONFIG_DRIVE_FILE, ConfigDriveWriter, configDriveFiles, metaDataOf, networkDataOf } from './config-drive.js';

const spec: InstanceSpec = {
  instanceId: '0b6f4a0e-6a64-4a2e-9d43-3b0d3c1f6b5a',
  name: 'web 1',
  vcpus: 1,
  memoryMb: 64,
  diskGb: 1,
  extraSpecs: {},
  image: { id: 'i', properties: {} },
  userData: Buffer.from('#!/bin/sh\necho hi\n').toString('base64'),
  ports: [{ id: 'abcdef12-3456-7890-abcd-ef1234567890', macAddress: 'FA:16:3E:00:00:01', networkId: 'net-1', mtu: 1450 }],
  configDrive: {
    projectId: 'proj-1',
    hostname: 'web-1',
    availabilityZone: 'zone-a',
    launchIndex: 2,
    metadata: { role: 'web' },
    key: { name: 'k1', type: 'ssh', data: 'ssh-ed25519 AAAAC3Nz k1' },
    ports: [
      {
        id: 'abcdef12-3456-7890-abcd-ef1234567890',
        networkId: 'net-1',
        macAddress: 'FA:16:3E:00:00:01',
        mtu: 1450,
        fixedIps: [
          { ipAddress: '10.0.0.5', ipVersion: 4 },
          { ipAddress: 'fd00::5', ipVersion: 6 },
        ],
      },
    ],
  },
};

describe('config drive contents (Nova metadata)', () => {
  it('meta_data.json of the latest version holds what Nova writes', () => {
    expect(metaDataOf(spec, '2020-10-14', () => 'SEED')).toEqual({
      uuid: spec.instanceId,
      meta: { role: 'web' },
      public_keys: { k1: 'ssh-ed25519 AAAAC3Nz k1' },
      keys: [{ name: 'k1', type: 'ssh', data: 'ssh-ed25519 AAAAC3Nz k1' }],
      hostname: 'web-1.novalocal',
      name: 'web 1',
      launch_index: 2,
      availability_zone: 'zone-a',
      random_seed: 'SEED',
      project_id: 'proj-1',
      devices: [],
      dedicated_cpus: [],
    });
  });

  it('older versions carry only the fields they knew; no key and no metadata leave those out', () => {
    const bare = { ...spec, configDrive: { ...spec.configDrive!, key: null, metadata: {}, availabilityZone: null } };
    expect(metaDataOf(bare, '2012-08-10')).toEqual({ uuid: spec.instanceId, hostname: 'web-1.novalocal', name: 'web 1', launch_index: 2, availability_zone: 'nova' });
    expect(Object.keys(metaDataOf(bare, '2015-10-15', () => 's'))).toEqual(['uuid', 'hostname', 'name', 'launch_index', 'availability_zone', 'random_seed', 'project_id']);
  });

  it('network_data.json: a tap link per port, a DHCP network per fixed IP', () => {
    expect(networkDataOf(spec)).toEqual({
      links: [{ id: 'tapabcdef12-34', vif_id: 'abcdef12-3456-7890-abcd-ef1234567890', type: 'tap', mtu: 1450, ethernet_mac_address: 'fa:16:3e:00:00:01' }],
      networks: [
        { id: 'network0', type: 'ipv4_dhcp', link: 'tapabcdef12-34', network_id: 'net-1' },
        { id: 'network1', type: 'ipv6_slaac', link: 'tapabcdef12-34', network_id: 'net-1' },
      ],
      services: [],
    });
  });

  it('lays the files out per version as Nova does, user_data decoded', () => {
    const files = configDriveFiles(spec, () => 's');
    expect(files.get('openstack/latest/user_data')!.toString()).toBe('#!/bin/sh\necho hi\n');
    expect(files.get('openstack/2018-08-27/user_data')!.toString()).toBe('#!/bin/sh\necho hi\n');
    expect(JSON.parse(files.get('openstack/latest/vendor_data2.json')!.toString())).toEqual({});
    expect(JSON.parse(files.get('openstack/2018-08-27/meta_data.json')!.toString())).toMatchObject({ uuid: spec.instanceId, devices: [] });
    // Versions before the file existed do not have it.
    expect(files.has('openstack/2012-08-10/vendor_data.json')).toBe(false);
    expect(files.has('openstack/2013-10-17/network_data.json')).toBe(false);
    expect(files.has('openstack/2015-10-15/vendor_data2.json')).toBe(false);
    expect(files.has('openstack/2015-10-15/network_data.json')).toBe(true);
    expect(configDriveFiles({ ...spec, userData: null }).has('openstack/latest/user_data')).toBe(false);
  });
});

// genisoimage is one of ./kumo's prerequisites; missing, the writer's own error says to install it.
describe('ConfigDriveWriter (genisoimage)', () => {
  let dir: string;
  beforeEach(async () => (dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kumo-cfgdrive-test-'))));
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  it('writes an ISO labelled config-2 whose Rock Ridge names are the files', async () => {
    const target = await new ConfigDriveWriter().write(path.join(dir, 'inst'), configDriveFiles(spec));
    expect(target).toBe(path.join(dir, 'inst', CONFIG_DRIVE_FILE));
    const pvd = execFileSync('isoinfo', ['-d', '-i', target]).toString();
    expect(pvd).toMatch(/Volume id: config-2/);
    const md = JSON.parse(execFileSync('isoinfo', ['-R', '-i', target, '-x', '/openstack/latest/meta_data.json']).toString());
    expect(md).toMatchObject({ uuid: spec.instanceId, public_keys: { k1: 'ssh-ed25519 AAAAC3Nz k1' } });
    expect(execFileSync('isoinfo', ['-R', '-i', target, '-x', '/openstack/latest/user_data']).toString()).toBe('#!/bin/sh\necho hi\n');
    await new ConfigDriveWriter().remove(path.join(dir, 'inst'));
    await expect(fs.stat(target)).rejects.toThrow();
  });

  it('says what is missing when the ISO tool is not installed', async () => {
    await expect(new ConfigDriveWriter('/nonexistent/genisoimage').write(dir, configDriveFiles(spec))).rejects.toThrow(/not installed on this node \(apt-get install genisoimage\)/);
  });
});
