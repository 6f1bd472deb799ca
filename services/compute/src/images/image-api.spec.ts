import { ApiError } from '@kumo/service-kit';
import type { HttpCall } from '../security-groups/network-api.js';
import { ImageApi, ImageApiError, propertiesOf } from './image-api.js';

function api(answer: HttpCall): ImageApi {
  const a = new ImageApi({ KUMO_IMAGE_URL: 'http://img.example:9292/' });
  a.http = answer;
  return a;
}

describe('ImageApi', () => {
  it('answers 503 naming KUMO_IMAGE_URL when it is not configured', async () => {
    await expect(new ImageApi({}).call('tok', 'GET', '/images')).rejects.toMatchObject({ status: 503, message: expect.stringMatching(/KUMO_IMAGE_URL/) });
  });

  it('sends the caller’s token to /v2 of the image service', async () => {
    const seen: string[] = [];
    const a = api(async (url, init) => {
      seen.push(`${init.method} ${url} ${init.headers['x-auth-token']} ${init.headers['content-type'] ?? ''}`);
      return { status: 200, text: '{"images": []}' };
    });
    expect(await a.call('tok', 'GET', '/images?limit=1')).toEqual({ images: [] });
    await a.call('tok', 'PATCH', '/images/x', [], 'application/openstack-images-v2.1-json-patch');
    expect(seen).toEqual(['GET http://img.example:9292/v2/images?limit=1 tok ', 'PATCH http://img.example:9292/v2/images/x tok application/openstack-images-v2.1-json-patch']);
  });

  it('turns an unreachable service and 5xx answers into 503s that say what happened', async () => {
    const refused = api(async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    });
    await expect(refused.call('tok', 'GET', '/images')).rejects.toMatchObject({ status: 503, message: expect.stringMatching(/unreachable \(ECONNREFUSED\)/) });
    const err = await api(async () => ({ status: 500, text: '{"message": "boom", "code": "500 Internal Server Error"}' })).call('tok', 'GET', '/images').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 503, message: expect.stringMatching(/HTTP 500: boom/) });
  });

  it('keeps 4xx answers with Glance’s message for the caller to map', async () => {
    const err = await api(async () => ({ status: 413, text: '{"message": "Maximum number of properties exceeded", "code": "413 Request Entity Too Large"}' })).call('tok', 'PATCH', '/images/x', []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageApiError);
    expect(err).toMatchObject({ status: 413, message: 'Maximum number of properties exceeded' });
  });

  it('takes the non-schema string keys of an image as its properties', () => {
    expect(propertiesOf({ id: 'i', name: 'n', status: 'active', size: 1, min_ram: 0, min_disk: 0, created_at: '', updated_at: '', tags: [], os_hash_algo: 'sha512', hw_disk_bus: 'virtio', instance_uuid: 'u' })).toEqual({ hw_disk_bus: 'virtio', instance_uuid: 'u' });
  });
});
