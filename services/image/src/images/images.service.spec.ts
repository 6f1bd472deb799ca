import { type AuthContext, PolicyService } from '@kumo/service-kit';
import { imagePolicy } from '../policy.js';
import type { Image } from './image.model.js';
import { ImagesService } from './images.service.js';
import { parsePatch } from './json-patch.js';

/** Glance's create/PATCH semantics, with no database: only parsing, policy and the pure apply step. */
const auth = (roles = ['member', 'reader'], projectId = 'p1'): AuthContext =>
  ({ token: 't', auditId: 'a', auditIds: ['a'], userId: 'u', userDomainId: 'default', projectId, system: false, roles, methods: ['password'], issuedAt: new Date(), expiresAt: new Date() }) as AuthContext;

const sut = new ImagesService({} as never, new PolicyService('glance', imagePolicy), {} as never, {} as never, {} as never, { kick: () => undefined });

const base: Image = {
  id: '11111111-2222-4333-8444-555555555555',
  name: 'n',
  status: 'queued',
  visibility: 'shared',
  protected: false,
  osHidden: false,
  owner: 'p1',
  diskFormat: 'raw',
  containerFormat: 'bare',
  size: null,
  virtualSize: null,
  checksum: null,
  osHashAlgo: null,
  osHashValue: null,
  minRam: 0,
  minDisk: 0,
  properties: { a: '1' },
  tags: [],
  store: null,
  location: null,
  failureReason: null,
  staged: null,
  uploadOwner: null,
  createdAt: new Date(),
  updatedAt: new Date(),
  deletedAt: null,
};

const status = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as { status: number }).status;
  }
  return 0;
};

describe('ImagesService', () => {
  it('parses a create body: defaults, properties, kernel_id, owner and visibility rules', () => {
    const n = sut.parseCreate(auth(), { name: 'c', disk_format: 'qcow2', kernel_id: '00000000-1111-2222-3333-444455556666', hw_disk_bus: 'virtio', tags: ['t'] });
    expect(n).toMatchObject({ owner: 'p1', visibility: 'shared', diskFormat: 'qcow2', tags: ['t'], properties: { kernel_id: '00000000-1111-2222-3333-444455556666', hw_disk_bus: 'virtio' } });
    expect(status(() => sut.parseCreate(auth(), { visibility: 'public' }))).toBe(403);
    expect(sut.parseCreate(auth(['admin', 'member', 'reader']), { visibility: 'public', owner: 'other' })).toMatchObject({ visibility: 'public', owner: 'other' });
    expect(status(() => sut.parseCreate(auth(['reader']), {}))).toBe(403);
    expect(status(() => sut.parseCreate(auth(), { size: 1 }))).toBe(403);
  });

  it('applies PATCH changes with the dialect differences', () => {
    const next = sut.apply(auth(), base, parsePatch([{ op: 'add', path: '/a', value: '2' }, { op: 'add', path: '/b', value: 'x' }, { op: 'remove', path: '/a' }], '2.1'), '2.1');
    expect(next.properties).toEqual({ b: 'x' });
    expect(base.properties).toEqual({ a: '1' });
    expect(status(() => sut.apply(auth(), base, parsePatch([{ add: '/a', value: '2' }], '2.0'), '2.0'))).toBe(409);
    expect(status(() => sut.apply(auth(), base, parsePatch([{ op: 'remove', path: '/name' }], '2.1'), '2.1'))).toBe(403);
    expect(status(() => sut.apply(auth(), { ...base, status: 'active' }, parsePatch([{ op: 'replace', path: '/disk_format', value: 'qcow2' }], '2.1'), '2.1'))).toBe(403);
    expect(sut.apply(auth(), base, parsePatch([{ op: 'replace', path: '/visibility', value: 'community' }], '2.1'), '2.1').visibility).toBe('community');
    expect(status(() => sut.apply(auth(), base, parsePatch([{ op: 'replace', path: '/visibility', value: 'public' }], '2.1'), '2.1'))).toBe(403);
  });
});
