import { ApiError } from '@kumo/service-kit';
import { decodePointer, dialectOf, parsePatch } from './json-patch.js';

const status = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as ApiError).status;
  }
  return 0;
};

describe('json-patch', () => {
  it('knows both Glance media types and refuses others with 415 + Accept-Patch', () => {
    expect(dialectOf('application/openstack-images-v2.1-json-patch')).toBe('2.1');
    expect(dialectOf('application/openstack-images-v2.0-json-patch; charset=UTF-8')).toBe('2.0');
    try {
      dialectOf('application/json');
      fail('accepted application/json');
    } catch (e) {
      expect((e as ApiError).status).toBe(415);
      expect((e as ApiError).options.headers?.['Accept-Patch']).toContain('application/openstack-images-v2.1-json-patch');
    }
  });

  it('parses the 2.1 (RFC 6902) dialect', () => {
    expect(parsePatch([{ op: 'add', path: '/hw_disk_bus', value: 'virtio' }, { op: 'remove', path: '/k' }], '2.1')).toEqual([
      { op: 'add', key: 'hw_disk_bus', value: 'virtio' },
      { op: 'remove', key: 'k' },
    ]);
  });

  it('parses the 2.0 dialect (op as the key)', () => {
    expect(parsePatch([{ replace: '/name', value: 'x' }, { remove: '/k' }], '2.0')).toEqual([
      { op: 'replace', key: 'name', value: 'x' },
      { op: 'remove', key: 'k' },
    ]);
  });

  it('decodes JSON pointer escapes and refuses malformed pointers', () => {
    expect(decodePointer('/a~1b~0c')).toEqual(['a/b~c']);
    expect(status(() => decodePointer('name'))).toBe(400);
    expect(status(() => decodePointer('/a~2'))).toBe(400);
  });

  it('refuses read-only and reserved attributes with 403, like Glance', () => {
    for (const key of ['id', 'status', 'checksum', 'size', 'os_hash_value', 'created_at', 'self', 'file', 'schema']) {
      expect(status(() => parsePatch([{ op: 'replace', path: `/${key}`, value: 'x' }], '2.1'))).toBe(403);
    }
    expect(status(() => parsePatch([{ op: 'add', path: '/os_glance_foo', value: 'x' }], '2.1'))).toBe(403);
    expect(status(() => parsePatch([{ op: 'add', path: '/locations', value: [] }], '2.1'))).toBe(403);
  });

  it('refuses malformed operations with 400', () => {
    expect(status(() => parsePatch({ op: 'add' }, '2.1'))).toBe(400);
    expect(status(() => parsePatch(['x'], '2.1'))).toBe(400);
    expect(status(() => parsePatch([{ op: 'move', path: '/a', from: '/b' }], '2.1'))).toBe(400);
    expect(status(() => parsePatch([{ op: 'add', path: '/a' }], '2.1'))).toBe(400);
    expect(status(() => parsePatch([{ add: '/a', replace: '/a', value: 1 }], '2.0'))).toBe(400);
    expect(status(() => parsePatch([{ op: 'add', path: '/a/b', value: 1 }], '2.1'))).toBe(400);
  });
});
