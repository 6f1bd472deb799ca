import { ApiError } from '@kumo/service-kit';
import { bool, name, queryBool, str, wrapped } from './validate.js';

const status = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof ApiError ? err.status : 'not an ApiError';
  }
  return 'no error';
};

describe('request validation', () => {
  it('refuses what Keystone refuses with 400', () => {
    expect(status(() => wrapped({ name: 'x' }, 'project'))).toBe(400);
    expect(status(() => wrapped({ project: [] }, 'project'))).toBe(400);
    expect(status(() => name({ name: 'x'.repeat(65) }, 'name', 64))).toBe(400);
    expect(status(() => name({ name: '' }))).toBe(400);
    expect(status(() => name({ name: '   ' }))).toBe(400);
    expect(status(() => name({ name: 'a\u0000b' }))).toBe(400);
    expect(status(() => name({ name: 'tab\there' }))).toBe(400);
    expect(status(() => name({ name: 5 }))).toBe(400);
    expect(status(() => bool({ enabled: 'True' }, 'enabled'))).toBe(400);
    expect(status(() => str({ description: 'line\nbreak' }, 'description', { multiline: true }))).toBe('no error');
    expect(name({ name: "x'); DROP TABLE users; --" })).toBe("x'); DROP TABLE users; --");
  });

  it('reads query booleans as Keystone does', () => {
    expect(queryBool('false')).toBe(false);
    expect(queryBool('0')).toBe(false);
    expect(queryBool('True')).toBe(true);
    expect(queryBool('')).toBe(true);
    expect(queryBool(undefined)).toBeUndefined();
  });
});
