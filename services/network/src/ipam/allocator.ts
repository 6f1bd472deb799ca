import { randomBytes, randomInt } from 'node:crypto';
import { conflict, invalidInput, nerr } from '../api/common.js';
import { pgCode, pgConstraint, type Row } from '../db/core.js';
import type { Sql } from '../db/db.js';
import { type Cidr, cidrContains, eui64, formatIp, parseCidr, parseIp } from './ip.js';

/** A subnet as IPAM needs it. */
export interface IpamSubnet {
  id: string;
  networkId: string;
  cidr: Cidr;
  version: 4 | 6;
  gateway: string | null;
  pools: { start: bigint; end: bigint }[];
  ipv6AddressMode: string | null;
}

export function ipamSubnetOf(r: Row): IpamSubnet {
  const cidr = parseCidr(r.cidr)!;
  const pools = ((r.allocation_pools as { start: string; end: string }[]) ?? []).map((p) => ({ start: parseIp(p.start)!.value, end: parseIp(p.end)!.value }));
  return { id: r.id as string, networkId: r.network_id as string, cidr, version: cidr.version, gateway: (r.gateway_ip as string | null) ?? null, pools, ipv6AddressMode: (r.ipv6_address_mode as string | null) ?? null };
}

/** SLAAC subnets: the address is derived from the MAC, never picked from a pool. */
export const isAutoAddress = (s: IpamSubnet) => s.version === 6 && (s.ipv6AddressMode === 'slaac' || s.ipv6AddressMode === 'dhcpv6-stateless');

/** Enumerate free addresses when the pools hold at most this many; probe randomly above. */
const ENUMERATE_MAX = 1n << 16n;
const ATTEMPTS = 64;

export function randomMac(): string {
  const b = randomBytes(3);
  return `fa:16:3e:${[...b].map((x) => x.toString(16).padStart(2, '0')).join(':')}`;
}

export function normalizeMac(v: unknown): string {
  if (typeof v !== 'string' || !/^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/.test(v)) throw invalidInput(`'${String(v)}' is not a valid MAC address.`);
  const mac = v.toLowerCase().replace(/-/g, ':');
  if (mac === '00:00:00:00:00:00' || parseInt(mac.slice(0, 2), 16) & 1) throw invalidInput(`'${mac}' is not a valid unicast MAC address.`);
  return mac;
}

function poolSize(s: IpamSubnet): bigint {
  return s.pools.reduce((n, p) => n + (p.end - p.start + 1n), 0n);
}

function nth(s: IpamSubnet, index: bigint): bigint {
  let i = index;
  for (const p of s.pools) {
    const size = p.end - p.start + 1n;
    if (i < size) return p.start + i;
    i -= size;
  }
  throw new Error('index outside the pools');
}

function randomBig(n: bigint): bigint {
  if (n <= BigInt(Number.MAX_SAFE_INTEGER)) return BigInt(randomInt(0, Number(n)));
  const hex = randomBytes(16).toString('hex');
  return BigInt(`0x${hex}`) % n;
}

/**
 * Inserts one address for a port, inside the caller's transaction. The primary key
 * (network_id, ip_address) is what makes two concurrent ports never share an address: a
 * candidate another transaction took first fails the insert (the savepoint keeps our
 * transaction usable) and we pick again. Returns false when the address is taken.
 */
async function tryInsert(tx: Sql, t: (n: string) => string, s: IpamSubnet, portId: string, ip: string): Promise<boolean> {
  await tx.exec('SAVEPOINT ipam');
  try {
    await tx.exec(`INSERT INTO ${t('ip_allocation')} (network_id, ip_address, subnet_id, port_id) VALUES ($1, $2, $3, $4)`, [s.networkId, ip, s.id, portId]);
    await tx.exec('RELEASE SAVEPOINT ipam');
    return true;
  } catch (err) {
    await tx.exec('ROLLBACK TO SAVEPOINT ipam');
    if (pgCode(err) === '23505') return false;
    throw err;
  }
}

/** A specific address (the user asked for it): 409 IpAddressAlreadyAllocated when taken. */
export async function allocateSpecific(tx: Sql, t: (n: string) => string, s: IpamSubnet, portId: string, ipText: string): Promise<string> {
  const ip = parseIp(ipText);
  if (!ip) throw invalidInput(`'${ipText}' is not a valid IP address.`);
  if (!cidrContains(s.cidr, ip.version, ip.value)) throw badRequestType('InvalidIpForSubnet', `IP address ${ipText} is not a valid IP for the specified subnet ${s.id}.`);
  if (s.version === 4 && s.cidr.prefix < 31 && (ip.value === s.cidr.base || ip.value === s.cidr.base + s.cidr.size - 1n)) {
    throw badRequestType('InvalidIpForSubnet', `IP address ${ipText} is the network or broadcast address of subnet ${s.id}; pick a host address.`);
  }
  const text = formatIp(ip.version, ip.value);
  if (!(await tryInsert(tx, t, s, portId, text))) throw conflict('IpAddressAlreadyAllocated', `IP address ${text} already allocated in subnet ${s.id}. Choose another address or leave it out to get a free one.`);
  return text;
}

/** Any free address of the subnet's pools (or the SLAAC address of `mac`); 409 IpAddressGenerationFailure when none is left. */
export async function allocateAny(tx: Sql, t: (n: string) => string, s: IpamSubnet, portId: string, mac: string): Promise<string> {
  if (isAutoAddress(s)) return allocateSpecific(tx, t, s, portId, formatIp(6, eui64(s.cidr, mac)));
  const total = poolSize(s);
  // Cheap path first: a handful of random candidates checked with one indexed query, so a create
  // costs O(1) queries however many addresses the subnet already has. Dense pools fall through
  // to the exact path below (which also decides exhaustion).
  for (let attempt = 0; attempt < 3 && total > 0n; attempt++) {
    const candidates = [...new Set(Array.from({ length: 8 }, () => formatIp(s.version, nth(s, randomBig(total)))))];
    const taken = new Set(
      (await tx.rows<{ ip_address: string }>(`SELECT ip_address FROM ${t('ip_allocation')} WHERE network_id = $1 AND ip_address = ANY($2::text[])`, [s.networkId, candidates])).map((r) => r.ip_address),
    );
    const free = candidates.find((c) => !taken.has(c));
    if (!free) break;
    if (await tryInsert(tx, t, s, portId, free)) return free;
  }
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const used = new Set((await tx.rows<{ ip_address: string }>(`SELECT ip_address FROM ${t('ip_allocation')} WHERE subnet_id = $1`, [s.id])).map((r) => r.ip_address));
    let candidate: string | null = null;
    if (total <= ENUMERATE_MAX) {
      // Random among the free ones, so concurrent requests rarely collide on the same candidate.
      const free: bigint[] = [];
      for (const p of s.pools) for (let v = p.start; v <= p.end; v++) if (!used.has(formatIp(s.version, v))) free.push(v);
      if (!free.length) break;
      candidate = formatIp(s.version, free[randomInt(0, free.length)]!);
    } else {
      for (let probe = 0; probe < 32 && !candidate; probe++) {
        const c = formatIp(s.version, nth(s, randomBig(total)));
        if (!used.has(c)) candidate = c;
      }
      if (!candidate) continue;
    }
    if (await tryInsert(tx, t, s, portId, candidate)) return candidate;
  }
  throw conflict('IpAddressGenerationFailure', `No more IP addresses available on network ${s.networkId} (subnet ${s.id}). Add a subnet or free addresses by deleting unused ports.`);
}

const badRequestType = (type: string, message: string) => nerr(400, type, message);

/** Inserts a port row with `mac` (given) or a random `fa:16:3e` MAC, retrying collisions of random ones. */
export async function insertWithMac(tx: Sql, given: string | null, insert: (mac: string) => Promise<void>): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const mac = given ?? randomMac();
    await tx.exec('SAVEPOINT mac');
    try {
      await insert(mac);
      await tx.exec('RELEASE SAVEPOINT mac');
      return mac;
    } catch (err) {
      await tx.exec('ROLLBACK TO SAVEPOINT mac');
      if (pgCode(err) !== '23505' || pgConstraint(err) !== 'port_mac') throw err;
      if (given) throw conflict('MacAddressInUse', `Unable to complete operation for network. The mac address ${given} is in use; leave mac_address out to get a free one.`);
      if (attempt > 10) throw err;
    }
  }
}
