import { ApiError } from '@kumo/service-kit';
import { parseBlockDevices } from './block-devices.js';

const V = '5e6f0d7a-1b2c-4d3e-8f90-123456789abc';
const W = '6e6f0d7a-1b2c-4d3e-8f90-123456789abc';

describe('block_device_mapping_v2', () => {
  it('boot from an existing volume, with another volume attached', () => {
    expect(
      parseBlockDevices(
        [
          { source_type: 'volume', destination_type: 'volume', boot_index: 0, uuid: V, delete_on_termination: true },
          { source_type: 'volume', destination_type: 'volume', uuid: W },
        ],
        undefined,
      ),
    ).toEqual({ boot: { source: 'volume', volumeId: V, deleteOnTermination: true }, extra: [{ volumeId: W, deleteOnTermination: false }] });
  });

  it('boot from a new volume made of an image (volume_size required; string boot_index as the CLI sends it)', () => {
    expect(parseBlockDevices([{ source_type: 'image', destination_type: 'volume', boot_index: '0', uuid: V, volume_size: 2 }], undefined)!.boot).toEqual({ source: 'image', imageId: V, size: 2, deleteOnTermination: false });
    expect(() => parseBlockDevices([{ source_type: 'image', destination_type: 'volume', boot_index: 0, uuid: V }], undefined)).toThrow(/volume_size/);
  });

  it('image to local at boot index 0 is the plain image boot', () => {
    expect(parseBlockDevices([{ source_type: 'image', destination_type: 'local', boot_index: 0, uuid: V }], undefined)).toEqual({ boot: null, extra: [] });
  });

  it.each([
    [[{ source_type: 'blank', destination_type: 'local', boot_index: -1, volume_size: 1 }], /ephemeral/],
    [[{ source_type: 'snapshot', destination_type: 'volume', boot_index: 0, uuid: V }], /snapshot is not supported/],
    [[{ source_type: 'volume', destination_type: 'volume', boot_index: 0, uuid: 'x' }], /uuid/],
    [[{ source_type: 'volume', boot_index: 0, uuid: V }, { source_type: 'volume', boot_index: 0, uuid: W }], /Boot sequence/],
    [[{ source_type: 'volume', uuid: V, bogus: 1 }], /Additional properties/],
    [{}, /array/],
  ])('refuses %j', (bdm, message) => {
    expect(() => parseBlockDevices(bdm, undefined)).toThrow(message);
  });

  it('device tags: kept at 2.32 and from 2.42, refused below 2.32 and at 2.33–2.41 (as Nova)', () => {
    const bdm = [
      { source_type: 'volume', destination_type: 'volume', boot_index: 0, uuid: V, tag: 'root' },
      { source_type: 'volume', destination_type: 'volume', uuid: W, tag: 'data' },
    ];
    for (const v of [2032, 2042, 2047]) {
      expect(parseBlockDevices(bdm, undefined, v)).toEqual({ boot: { source: 'volume', volumeId: V, deleteOnTermination: false, tag: 'root' }, extra: [{ volumeId: W, deleteOnTermination: false, tag: 'data' }] });
    }
    for (const v of [2001, 2031, 2033, 2041]) expect(() => parseBlockDevices(bdm, undefined, v)).toThrow(/'tag' was unexpected/);
    expect(() => parseBlockDevices([{ source_type: 'volume', uuid: V, tag: 'a/b' }], undefined, 2042)).toThrow(/tag/);
    expect(() => parseBlockDevices([{ source_type: 'volume', uuid: V, tag: 'x'.repeat(61) }], undefined, 2042)).toThrow(/tag/);
  });

  it('refuses the legacy block_device_mapping', () => {
    expect(() => parseBlockDevices(undefined, [{ volume_id: V }])).toThrow(ApiError);
  });
});
