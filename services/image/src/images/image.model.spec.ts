import { ApiError } from '@kumo/service-kit';
import { isReservedKey, validateAttribute, validateProperty } from './image.model.js';

const status = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as ApiError).status;
  }
  return 0;
};

describe('image attributes', () => {
  it('validates base attributes like Glance\'s schema', () => {
    expect(validateAttribute('disk_format', 'qcow2')).toBe('qcow2');
    expect(status(() => validateAttribute('disk_format', 'wrong'))).toBe(400);
    expect(status(() => validateAttribute('container_format', 'wrong'))).toBe(400);
    expect(status(() => validateAttribute('min_ram', -1))).toBe(400);
    expect(status(() => validateAttribute('min_disk', '1'))).toBe(400);
    expect(status(() => validateAttribute('protected', 'yes'))).toBe(400);
    expect(status(() => validateAttribute('visibility', 'everyone'))).toBe(400);
    expect(status(() => validateAttribute('name', 'x'.repeat(256)))).toBe(400);
    expect(status(() => validateAttribute('kernel_id', 'abc'))).toBe(400);
    expect(validateAttribute('tags', ['a', 'a', 'b'])).toEqual(['a', 'b']);
    expect(status(() => validateAttribute('tags', Array.from({ length: 129 }, (_, i) => `t${i}`)))).toBe(413);
  });

  it('keeps properties strings', () => {
    expect(validateProperty('hw_disk_bus', 'virtio')).toBe('virtio');
    expect(status(() => validateProperty('hw_disk_bus', 1))).toBe(400);
    expect(status(() => validateProperty('', 'x'))).toBe(400);
  });

  it('reserves os_glance_* and the location keys', () => {
    expect(isReservedKey('os_glance_import_task')).toBe(true);
    expect(isReservedKey('locations')).toBe(true);
    expect(isReservedKey('os_distro')).toBe(false);
  });
});
