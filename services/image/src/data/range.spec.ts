import { ApiError } from '@kumo/service-kit';
import { parseRange } from './range.js';

const err = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e as ApiError;
  }
  throw new Error('no error');
};

describe('Range', () => {
  it('parses single byte ranges', () => {
    expect(parseRange(undefined, 100)).toBeUndefined();
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-500', 100)).toEqual({ start: 0, end: 99 });
    expect(parseRange('bytes=50-5000', 100)).toEqual({ start: 50, end: 99 });
  });

  it('answers 416 with Content-Range for what it cannot serve', () => {
    for (const h of ['bytes=100-', 'bytes=0-1,5-6', 'items=0-1', 'bytes=5-1', 'bytes=-0', 'bytes=-']) {
      const e = err(() => parseRange(h, 100));
      expect(e.status).toBe(416);
      expect(e.options.headers?.['Content-Range']).toBe('bytes */100');
    }
  });
});
