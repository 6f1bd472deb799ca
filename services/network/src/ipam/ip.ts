/**
 * IPv4/IPv6 arithmetic on bigints: parsing, formatting, CIDR membership and overlap. Pure, so
 * IPAM and validation can be unit-tested without a database.
 */

export interface Cidr {
  version: 4 | 6;
  /** network address (host bits zero) */
  base: bigint;
  prefix: number;
  /** number of addresses in the block */
  size: bigint;
}

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseV4(s: string): bigint | null {
  const m = V4.exec(s);
  if (!m) return null;
  let v = 0n;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    if (part.length > 1 && part.startsWith('0')) return null;
    const n = Number(part);
    if (n > 255) return null;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.length < 2) return null;
  let tail4: bigint | null = null;
  let str = s;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    tail4 = parseV4(s.slice(lastColon + 1));
    if (tail4 === null) return null;
    str = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = str.split('::');
  if (halves.length > 2) return null;
  const groupsOf = (h: string) => (h === '' ? [] : h.split(':'));
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  if (tail4 !== null) v = (v & ~0xffffffffn) | tail4;
  return v;
}

/** The address as [version, value], or null when `s` is not an IP address. */
export function parseIp(s: unknown): { version: 4 | 6; value: bigint } | null {
  if (typeof s !== 'string') return null;
  const v4 = parseV4(s);
  if (v4 !== null) return { version: 4, value: v4 };
  if (!s.includes(':')) return null;
  const v6 = parseV6(s);
  return v6 === null ? null : { version: 6, value: v6 };
}

export function formatIp(version: 4 | 6, value: bigint): string {
  if (version === 4) return [24n, 16n, 8n, 0n].map((sh) => String((value >> sh) & 255n)).join('.');
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first on a tie.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** Canonical text of an address (`fe80::1`, `10.0.0.1`), or null when invalid. */
export function normalizeIp(s: unknown): string | null {
  const ip = parseIp(s);
  return ip ? formatIp(ip.version, ip.value) : null;
}

export const bitsOf = (version: 4 | 6): number => (version === 4 ? 32 : 128);

/**
 * Parses `a.b.c.d/n` or `x::/n`. `strict` refuses host bits (Neutron normalises subnets'
 * CIDRs, but refuses them in pools and routes only where it matters, so callers choose).
 */
export function parseCidr(s: unknown, strict = false): Cidr | null {
  if (typeof s !== 'string') return null;
  const slash = s.indexOf('/');
  const ip = parseIp(slash < 0 ? s : s.slice(0, slash));
  if (!ip) return null;
  const bits = bitsOf(ip.version);
  let prefix = bits;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return null;
    prefix = Number(p);
    if (prefix > bits) return null;
  }
  const size = 1n << BigInt(bits - prefix);
  const base = ip.value & ~(size - 1n) & ((1n << BigInt(bits)) - 1n);
  if (strict && base !== ip.value) return null;
  return { version: ip.version, base, prefix, size };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.version, c.base)}/${c.prefix}`;
}

export function cidrContains(c: Cidr, version: 4 | 6, value: bigint): boolean {
  return c.version === version && value >= c.base && value < c.base + c.size;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.version === b.version && a.base < b.base + b.size && b.base < a.base + a.size;
}

export interface Range {
  start: bigint;
  end: bigint;
}

/**
 * Neutron's default pool: the whole block minus the network address, the gateway and (IPv4)
 * the broadcast address; split around the gateway when it sits inside.
 */
export function defaultPools(c: Cidr, gateway: bigint | null): Range[] {
  let first = c.base + 1n;
  let last = c.base + c.size - 1n;
  if (c.version === 4) last -= 1n;
  if (c.version === 4 && c.prefix >= 31) {
    first = c.base;
    last = c.base + c.size - 1n;
  }
  if (last < first) return [];
  if (gateway === null || gateway < first || gateway > last) return [{ start: first, end: last }];
  const out: Range[] = [];
  if (gateway > first) out.push({ start: first, end: gateway - 1n });
  if (gateway < last) out.push({ start: gateway + 1n, end: last });
  return out;
}

/** EUI-64 interface id from a MAC (SLAAC addresses). */
export function eui64(c: Cidr, mac: string): bigint {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const bytes = [b[0]! ^ 0x02, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!];
  let iid = 0n;
  for (const x of bytes) iid = (iid << 8n) | BigInt(x);
  return c.base | iid;
}
