import { cidrsOverlap, defaultPools, eui64, formatCidr, formatIp, normalizeIp, parseCidr, parseIp } from './ip.js';

describe('ip', () => {
  it('parses and formats IPv4 and IPv6 canonically', () => {
    expect(normalizeIp('10.0.0.1')).toBe('10.0.0.1');
    expect(normalizeIp('2001:0db8:0000:0000:0000:0000:0000:0001')).toBe('2001:db8::1');
    expect(normalizeIp('2001:db8:0:1:0:0:0:1')).toBe('2001:db8:0:1::1');
    expect(normalizeIp('::ffff:10.0.0.1')).toBe('::ffff:a00:1');
    expect(normalizeIp('2001:db8::1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(normalizeIp('::')).toBe('::');
    for (const bad of ['10.0.0.256', '10.0.0', '01.0.0.1', '2001:db8:::1', '1:2:3:4:5:6:7:8:9', 'x', '']) expect(parseIp(bad)).toBeNull();
    expect(formatIp(6, 1n)).toBe('::1');
  });

  it('parses CIDRs, refusing bad prefixes and (strict) host bits', () => {
    expect(parseCidr('10.0.0.0/33')).toBeNull();
    expect(parseCidr('2001:db8::/129')).toBeNull();
    expect(formatCidr(parseCidr('10.0.0.5/24')!)).toBe('10.0.0.0/24');
    expect(parseCidr('10.0.0.5/24', true)).toBeNull();
    expect(cidrsOverlap(parseCidr('10.0.0.0/16')!, parseCidr('10.0.5.0/24')!)).toBe(true);
    expect(cidrsOverlap(parseCidr('10.0.0.0/24')!, parseCidr('10.0.1.0/24')!)).toBe(false);
    expect(cidrsOverlap(parseCidr('10.0.0.0/24')!, parseCidr('::/0')!)).toBe(false);
  });

  it('computes default pools around the gateway', () => {
    const c = parseCidr('10.0.0.0/24')!;
    expect(defaultPools(c, parseIp('10.0.0.1')!.value).map((p) => [formatIp(4, p.start), formatIp(4, p.end)])).toEqual([['10.0.0.2', '10.0.0.254']]);
    expect(defaultPools(c, parseIp('10.0.0.100')!.value).map((p) => [formatIp(4, p.start), formatIp(4, p.end)])).toEqual([
      ['10.0.0.1', '10.0.0.99'],
      ['10.0.0.101', '10.0.0.254'],
    ]);
    const v6 = parseCidr('2001:db8::/64')!;
    expect(defaultPools(v6, v6.base + 1n).map((p) => [formatIp(6, p.start), formatIp(6, p.end)])).toEqual([['2001:db8::2', '2001:db8::ffff:ffff:ffff:ffff']]);
  });

  it('derives EUI-64 addresses from MACs', () => {
    expect(formatIp(6, eui64(parseCidr('2001:db8:1::/64')!, 'fa:16:3e:11:22:33'))).toBe('2001:db8:1:0:f816:3eff:fe11:2233');
  });
});
