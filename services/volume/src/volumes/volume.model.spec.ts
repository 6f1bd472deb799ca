import { ApiError } from '@kumo/service-kit';
import { parseMetadata, parseName, parseSize, renderVolume, type Volume } from './volume.model.js';

describe('parseSize', () => {
  it('accepts integers and integer strings from 1 to the maximum', () => {
    expect(parseSize(1, 10)).toBe(1);
    expect(parseSize('10', 10)).toBe(10);
  });
  it.each([0, -1, 1.5, '', '#$%', null, undefined, '1e3', 11])('refuses %p with a 400', (v) => {
    expect(() => parseSize(v, 10)).toThrow(ApiError);
  });
});

describe('names and metadata', () => {
  it('takes display_name as an alias of name (OSC volume set --name)', () => {
    expect(parseName({ display_name: 'x' })).toBe('x');
    expect(parseName({ name: null })).toBeNull();
    expect(parseName({})).toBeUndefined();
    expect(() => parseName({ name: 5 })).toThrow(ApiError);
  });
  it('metadata values must be strings', () => {
    expect(parseMetadata({ a: 'b' })).toEqual({ a: 'b' });
    expect(() => parseMetadata({ a: 1 })).toThrow(ApiError);
    expect(() => parseMetadata(['a'])).toThrow(ApiError);
  });
});

describe('renderVolume', () => {
  const base: Volume = {
    id: '5e6f0d7a-1b2c-4d3e-8f90-123456789abc',
    projectId: 'p1',
    userId: 'u1',
    name: 'v',
    description: null,
    size: 1,
    status: 'in-use',
    bootable: false,
    imageId: null,
    snapshotId: null,
    imageMetadata: null,
    metadata: {},
    createOwner: null,
    failureReason: null,
    createdAt: new Date('2026-01-02T03:04:05.678Z'),
    updatedAt: new Date('2026-01-02T03:04:05Z'),
    attachments: [
      { id: 'a1', volumeId: '5e6f0d7a-1b2c-4d3e-8f90-123456789abc', serverId: 's1', status: 'attached', host: 'h', device: '/dev/vdb', reservedAt: new Date(), attachedAt: new Date('2026-01-02T03:04:06Z') },
    ],
  };
  it('answers Cinder shapes: string bootable, microsecond timestamps, completed attachments only', () => {
    const r = renderVolume(base, 'http://x:8776');
    expect(r).toMatchObject({ bootable: 'false', created_at: '2026-01-02T03:04:05.678000', updated_at: '2026-01-02T03:04:05.000000', volume_type: '__DEFAULT__' });
    expect(r.attachments).toEqual([{ id: base.id, attachment_id: 'a1', volume_id: base.id, server_id: 's1', host_name: 'h', device: '/dev/vdb', attached_at: '2026-01-02T03:04:06.000000' }]);
    expect(renderVolume({ ...base, attachments: [{ ...base.attachments[0]!, status: 'reserved' }] }, '').attachments).toEqual([]);
  });
});
