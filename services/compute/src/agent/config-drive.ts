import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { InstanceSpec } from '@kumo/contracts';

const run = promisify(execFile);

/** The config drive's file in the instance directory (Nova's libvirt driver names it so too). */
export const CONFIG_DRIVE_FILE = 'disk.config';

/**
 * The OpenStack metadata versions Nova's config drive carries (nova/api/metadata/base.py), oldest
 * first; each directory holds the files its version knows, `latest` those of the newest.
 */
export const OPENSTACK_VERSIONS = ['2012-08-10', '2013-04-04', '2013-10-17', '2015-10-15', '2016-06-30', '2016-10-06', '2017-02-22', '2018-08-27', '2020-10-14'] as const;
const GRIZZLY = '2013-04-04';
const HAVANA = '2013-10-17';
const LIBERTY = '2015-10-15';
const NEWTON_ONE = '2016-06-30';
const NEWTON_TWO = '2016-10-06';
const VICTORIA = '2020-10-14';

/** Nova's default `[api] dhcp_domain`: meta_data.json's hostname is the instance's hostname in it. */
const DHCP_DOMAIN = 'novalocal';

/** meta_data.json of one metadata version, in Nova's shape (uuid first, fields added by version). */
export function metaDataOf(s: InstanceSpec, version: string, randomSeed = (): string => randomBytes(512).toString('base64')): Record<string, unknown> {
  const c = s.configDrive!;
  const md: Record<string, unknown> = { uuid: s.instanceId };
  // Nova leaves `meta` out when the server has no metadata.
  if (Object.keys(c.metadata).length) md.meta = c.metadata;
  if (c.key) {
    md.public_keys = { [c.key.name]: c.key.data };
    md.keys = [{ name: c.key.name, type: c.key.type, data: c.key.data }];
  }
  md.hostname = `${c.hostname}.${DHCP_DOMAIN}`;
  md.name = s.name;
  md.launch_index = c.launchIndex;
  md.availability_zone = c.availabilityZone ?? 'nova';
  if (version >= GRIZZLY) md.random_seed = randomSeed();
  if (version >= LIBERTY) md.project_id = c.projectId;
  // Device role tagging (2.32/2.42 tags) is not passed to the agent: Nova too writes [] for untagged devices.
  if (version >= NEWTON_ONE) md.devices = [];
  // Pinned vCPUs' host CPUs (hw:cpu_policy=dedicated), as Nova's dedicated_cpus.
  if (version >= VICTORIA) md.dedicated_cpus = (s.numa ?? []).flatMap((n) => n.cpus).sort((a, b) => a - b);
  return md;
}

/**
 * network_data.json in Nova's format (nova/virt/netutils.py get_network_metadata): one link per
 * port (Kumo plugs TAPs: type `tap`, id the TAP's name), one network per fixed IP. Kumo's subnets
 * serve DHCP (the network service's dnsmasq), so networks are `ipv4_dhcp` as Nova writes them then;
 * IPv6 ones are `ipv6_slaac` (compute does not learn the subnet's address mode). DNS services are
 * not listed: compute does not learn the subnets' name servers (the guest gets them by DHCP).
 */
export function networkDataOf(s: InstanceSpec): { links: unknown[]; networks: unknown[]; services: unknown[] } {
  const links: unknown[] = [];
  const networks: unknown[] = [];
  let n = 0;
  for (const p of s.configDrive!.ports) {
    const link = `tap${p.id.slice(0, 11)}`;
    links.push({ id: link, vif_id: p.id, type: 'tap', mtu: p.mtu || null, ethernet_mac_address: p.macAddress.toLowerCase() });
    for (const ip of p.fixedIps) {
      networks.push({ id: `network${n++}`, type: ip.ipVersion === 6 ? 'ipv6_slaac' : 'ipv4_dhcp', link, network_id: p.networkId });
    }
  }
  return { links, networks, services: [] };
}

/** Every file of the drive (path → content), as Nova's metadata_for_config_drive lays them out. */
export function configDriveFiles(s: InstanceSpec, randomSeed?: () => string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));
  // user_data arrives base64 (as the API took it); the guest reads the decoded bytes.
  const userData = s.userData ? Buffer.from(s.userData.replace(/\s/g, ''), 'base64') : null;
  const networkData = json(networkDataOf(s));
  for (const version of [...OPENSTACK_VERSIONS, 'latest']) {
    const v = version === 'latest' ? OPENSTACK_VERSIONS[OPENSTACK_VERSIONS.length - 1]! : version;
    const dir = `openstack/${version}`;
    files.set(`${dir}/meta_data.json`, json(metaDataOf(s, v, randomSeed)));
    if (userData) files.set(`${dir}/user_data`, userData);
    if (v >= HAVANA) files.set(`${dir}/vendor_data.json`, json({}));
    if (v >= LIBERTY) files.set(`${dir}/network_data.json`, networkData);
    if (v >= NEWTON_TWO) files.set(`${dir}/vendor_data2.json`, json({}));
  }
  return files;
}

/**
 * Writes and removes config drive images (side effects only; the contents come from
 * configDriveFiles). ISO 9660 with Joliet and Rock Ridge, label `config-2`, made by genisoimage
 * with Nova's options, so cloud-init finds it by label.
 */
export class ConfigDriveWriter {
  constructor(private readonly mkisofs = process.env.KUMO_AGENT_MKISOFS ?? 'genisoimage') {}

  /** Builds `<dir>/disk.config` from `files` (replacing an older one: a rebuild gets fresh contents). */
  async write(dir: string, files: Map<string, Buffer>): Promise<string> {
    await fs.mkdir(dir, { recursive: true });
    const staging = await fs.mkdtemp(path.join(os.tmpdir(), 'kumo-configdrive-'));
    const target = path.join(dir, CONFIG_DRIVE_FILE);
    const partial = `${target}.partial`;
    try {
      for (const [rel, content] of files) {
        await fs.mkdir(path.join(staging, path.dirname(rel)), { recursive: true });
        await fs.writeFile(path.join(staging, rel), content);
      }
      try {
        await run(this.mkisofs, ['-o', partial, '-ldots', '-allow-lowercase', '-allow-multidot', '-l', '-publisher', 'Kumo', '-quiet', '-J', '-r', '-V', 'config-2', staging], { timeout: 60_000 });
      } catch (err) {
        const e = err as NodeJS.ErrnoException & { stderr?: string };
        if (e.code === 'ENOENT') throw new Error(`cannot build the config drive: ${this.mkisofs} is not installed on this node (apt-get install genisoimage)`, { cause: err });
        throw new Error(`cannot build the config drive: ${this.mkisofs} failed: ${(e.stderr ?? e.message).trim()}`, { cause: err });
      }
      // Renamed into place so a domain never sees a half-written image.
      await fs.rename(partial, target);
      return target;
    } finally {
      await fs.rm(staging, { recursive: true, force: true });
      await fs.rm(partial, { force: true });
    }
  }

  async remove(dir: string): Promise<void> {
    await fs.rm(path.join(dir, CONFIG_DRIVE_FILE), { force: true });
  }
}
