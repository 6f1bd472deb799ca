import { ApiError } from '@kumo/service-kit';
import { DEFAULT_LIMIT, nextQuery, parseListQuery } from './list-query.js';

const status = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as ApiError).status;
  }
  return 0;
};

describe('list query', () => {
  it('defaults to 25 newest first', () => {
    const q = parseListQuery({});
    expect(q.limit).toBe(DEFAULT_LIMIT);
    expect(q.sort).toEqual([{ key: 'created_at', dir: 'desc' }]);
    expect(q.memberStatus).toBe('accepted');
  });

  it('parses filters, in: lists, sizes, times, tags and properties', () => {
    const q = parseListQuery({ name: 'in:a,b', status: 'active', size_min: '10', size_max: '20', tag: ['x', 'y'], hw_disk_bus: 'virtio', created_at: 'gte:2024-01-01T00:00:00Z', os_hidden: 'true', limit: '5000' });
    expect(q.equals.name).toEqual(['a', 'b']);
    expect(q.equals.status).toEqual(['active']);
    expect(q.sizeMin).toBe(10);
    expect(q.sizeMax).toBe(20);
    expect(q.tags).toEqual(['x', 'y']);
    expect(q.properties).toEqual({ hw_disk_bus: 'virtio' });
    expect(q.times[0]!.op).toBe('gte');
    expect(q.booleans.os_hidden).toBe(true);
    expect(q.limit).toBe(1000);
  });

  it('parses both sort syntaxes', () => {
    expect(parseListQuery({ sort: 'name:asc,size' }).sort).toEqual([
      { key: 'name', dir: 'asc' },
      { key: 'size', dir: 'desc' },
    ]);
    expect(parseListQuery({ sort_key: ['size', 'name'], sort_dir: 'asc' }).sort).toEqual([
      { key: 'size', dir: 'asc' },
      { key: 'name', dir: 'asc' },
    ]);
  });

  it('refuses bad values with 400', () => {
    expect(status(() => parseListQuery({ sort_key: 'bogus' }))).toBe(400);
    expect(status(() => parseListQuery({ sort_dir: 'sideways' }))).toBe(400);
    expect(status(() => parseListQuery({ sort: 'name', sort_key: 'size' }))).toBe(400);
    expect(status(() => parseListQuery({ limit: '-1' }))).toBe(400);
    expect(status(() => parseListQuery({ limit: 'x' }))).toBe(400);
    expect(status(() => parseListQuery({ marker: 'not-a-uuid' }))).toBe(400);
    expect(status(() => parseListQuery({ status: 'bogus' }))).toBe(400);
    expect(status(() => parseListQuery({ visibility: 'bogus' }))).toBe(400);
    expect(status(() => parseListQuery({ member_status: 'bogus' }))).toBe(400);
    expect(status(() => parseListQuery({ created_at: 'gte:yesterday' }))).toBe(400);
  });

  it('builds next links from the caller parameters and the new marker', () => {
    expect(nextQuery({ limit: '2', marker: 'old', tag: ['a', 'b'] }, 'new')).toBe('limit=2&tag=a&tag=b&marker=new');
  });
});
