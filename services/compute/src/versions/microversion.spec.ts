import type { Request } from 'express';
import { requireAtMost, requireVersion } from './microversion.js';

const at = (n: number) => ({ kumoMicroversion: n }) as unknown as Request;

describe('microversion bounds', () => {
  it('requireAtMost(52) serves 2.1–2.52 and answers 404 from 2.53 (APIs Nova removed)', () => {
    expect(() => requireAtMost(at(2001), 52)).not.toThrow();
    expect(() => requireAtMost(at(2052), 52)).not.toThrow();
    expect(() => requireAtMost(at(2053), 52)).toThrow(expect.objectContaining({ status: 404 }));
  });

  it('requireVersion(26) refuses below 2.26', () => {
    expect(() => requireVersion(at(2025), 26)).toThrow();
    expect(() => requireVersion(at(2026), 26)).not.toThrow();
  });
});
