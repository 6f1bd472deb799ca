import { ApiError } from '@kumo/service-kit';
import type { HttpCall } from '../security-groups/network-api.js';
import { VolumeApi, VolumeApiError } from './volume-api.js';
import { limited } from './volumes-proxy.service.js';

const refused = () => Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });

function api(answer: [number, unknown] | Error, seen: string[] = []): VolumeApi {
  const a = new VolumeApi({ KUMO_VOLUME_URL: 'http://vol.example:8776/' });
  const http: HttpCall = async (url, init) => {
    seen.push(`${init.method} ${url} ${init.headers['x-auth-token']}`);
    if (answer instanceof Error) throw answer;
    return { status: answer[0], text: JSON.stringify(answer[1]) };
  };
  a.http = http;
  return a;
}

describe('VolumeApi', () => {
  it("calls the project's Cinder URL with the caller's token", async () => {
    const seen: string[] = [];
    expect(await api([200, { volumes: [] }], seen).call('tok', 'p1', 'GET', '/volumes/detail')).toEqual({ volumes: [] });
    expect(seen).toEqual(['GET http://vol.example:8776/v3/p1/volumes/detail tok']);
  });

  it('answers 503 without a configured URL, when unreachable and on 5xx, saying what happened', async () => {
    await expect(new VolumeApi({}).call('tok', 'p1', 'GET', '/volumes')).rejects.toMatchObject({ status: 503, message: expect.stringMatching(/KUMO_VOLUME_URL/) });
    await expect(api(refused()).call('tok', 'p1', 'GET', '/volumes')).rejects.toMatchObject({ status: 503, message: expect.stringMatching(/unreachable \(ECONNREFUSED\)/) });
    const err = await api([500, { computeFault: { code: 500, message: 'boom' } }]).call('tok', 'p1', 'GET', '/volumes').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 503, message: expect.stringMatching(/HTTP 500: boom/) });
  });

  it("keeps Cinder's 4xx with its fault message for the caller to translate", async () => {
    const err = await api([413, { overLimit: { code: 413, message: 'VolumeLimitExceeded: too many' } }]).call('tok', 'p1', 'POST', '/volumes', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VolumeApiError);
    expect(err).toMatchObject({ status: 413, message: 'VolumeLimitExceeded: too many' });
  });
});

describe('limited (Nova common.limited)', () => {
  const items = [0, 1, 2, 3, 4];
  it('offset and limit; limit 0 means the maximum', () => {
    expect(limited(items, {})).toEqual(items);
    expect(limited(items, { limit: '2' })).toEqual([0, 1]);
    expect(limited(items, { offset: '1', limit: '1' })).toEqual([1]);
    expect(limited(items, { limit: '0' })).toEqual(items);
  });
  it('400 for non-integers and negatives', () => {
    expect(() => limited(items, { limit: 'x' })).toThrow('limit param must be an integer');
    expect(() => limited(items, { offset: '-1' })).toThrow('offset param must be positive');
  });
});
