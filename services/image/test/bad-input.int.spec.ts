import { createHash } from 'node:crypto';
import net from 'node:net';
import { waitUntil } from '@kumo/service-kit/testing';
import { Fixtures } from './fixtures.js';
import { client, type ImageEnv, startImageEnv, storeFiles } from './helpers.js';

/**
 * Every bad input of issue 5: each gets a Glance-shaped error ({message, code, title}) and leaves
 * no partial data — the image keeps its state (queued, or killed for refused content) and the
 * store and staging directories hold nothing for it.
 */
let env: ImageEnv;
let c: ReturnType<typeof client>;
const fx = new Fixtures();

beforeAll(async () => {
  env = await startImageEnv();
  c = client(env);
}, 60000);
afterAll(async () => {
  await env?.close();
  fx.cleanup();
});

const glanceShaped = (json: { message?: unknown; code?: unknown; title?: unknown }, status: number) => {
  expect(json).toEqual({ message: expect.any(String), code: expect.stringMatching(new RegExp(`^${status} `)), title: expect.any(String) });
};

/** Image data files for `id` in the store or staging area. */
const filesOf = (id: string) => storeFiles(env.storeDir).filter((f) => f.includes(id));

async function expectUntouched(id: string, status = 'queued') {
  const img = (await c.show(env.a, id)).json;
  expect(img.status).toBe(status);
  expect(img.size).toBeNull();
  expect(img.checksum).toBeNull();
  expect(filesOf(id)).toEqual([]);
  expect((await c.download(env.a, id)).status).toBe(204);
}

describe('wrong content type', () => {
  it('refuses an upload that is not application/octet-stream (415)', async () => {
    const img = await c.create(env.a);
    const res = await c.r('PUT', `/v2/images/${img.id}/file`, env.a, { json: { data: 'x' } });
    expect(res.status).toBe(415);
    glanceShaped(res.json, 415);
    const none = await c.r('PUT', `/v2/images/${img.id}/file`, env.a, { body: Buffer.from('abc') });
    expect(none.status).toBe(415);
    await expectUntouched(img.id);
  });

  it('refuses a PATCH in plain JSON (415 with Accept-Patch) and a create in text/plain', async () => {
    const img = await c.create(env.a, { name: 'n' });
    const res = await c.r('PATCH', `/v2/images/${img.id}`, env.a, { json: [{ op: 'replace', path: '/name', value: 'm' }] });
    expect(res.status).toBe(415);
    glanceShaped(res.json, 415);
    expect(res.headers['accept-patch']).toBe('application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch');
    expect((await c.show(env.a, img.id)).json.name).toBe('n');
    const create = await c.r('POST', '/v2/images', env.a, { body: 'x', contentType: 'text/plain' });
    expect(create.status).toBe(415);
  });
});

describe('upload state', () => {
  it('refuses a second upload (409) and keeps the first data', async () => {
    const img = await c.create(env.a);
    expect((await c.upload(env.a, img.id, Buffer.from('first'))).status).toBe(204);
    const before = (await c.show(env.a, img.id)).json;
    const res = await c.upload(env.a, img.id, Buffer.from('second!'));
    expect(res.status).toBe(409);
    glanceShaped(res.json, 409);
    expect(res.json.message).toMatch(/only once/);
    expect((await c.show(env.a, img.id)).json).toEqual(before);
    expect((await c.download(env.a, img.id)).body.toString()).toBe('first');
    expect(filesOf(img.id)).toEqual([img.id]);
  });

  it('refuses two concurrent uploads to one image: one wins, the other gets 409', async () => {
    const img = await c.create(env.a);
    const [r1, r2] = await Promise.all([c.upload(env.a, img.id, Buffer.alloc(4 << 20, 1)), c.upload(env.a, img.id, Buffer.alloc(4 << 20, 2))]);
    expect([r1.status, r2.status].sort()).toEqual([204, 409]);
    const data = (await c.download(env.a, img.id)).body;
    expect(data.length).toBe(4 << 20);
    expect(new Set(data).size).toBe(1);
    expect(filesOf(img.id)).toEqual([img.id]);
  });

  it('refuses an upload to a deleted image (404)', async () => {
    const img = await c.create(env.a);
    expect((await c.del(env.a, img.id)).status).toBe(204);
    const res = await c.upload(env.a, img.id, Buffer.from('late'));
    expect(res.status).toBe(404);
    glanceShaped(res.json, 404);
    expect(filesOf(img.id)).toEqual([]);
  });

  it('refuses uploads to images without disk/container format (400)', async () => {
    const img = (await c.r('POST', '/v2/images', env.a, { json: { name: 'noformat' } })).json;
    const res = await c.upload(env.a, img.id, Buffer.from('x'));
    expect(res.status).toBe(400);
    expect(res.json.message).toMatch(/disk_format, container_format must be set/);
    await expectUntouched(img.id);
  });

  it('refuses a 0-byte upload (400), chunked or not', async () => {
    const img = await c.create(env.a);
    const res = await c.upload(env.a, img.id, Buffer.alloc(0));
    expect(res.status).toBe(400);
    glanceShaped(res.json, 400);
    expect(res.json.message).toMatch(/empty/);
    const { Readable } = await import('node:stream');
    const chunked = await c.upload(env.a, img.id, Readable.from([]));
    expect(chunked.status).toBe(400);
    await expectUntouched(img.id);
  });
});

/** Sends a request by hand: headers, some body bytes, then `end` (half-close) or `destroy` (reset). */
function rawUpload(id: string, token: string, headers: Record<string, string>, body: Buffer, how: 'end' | 'destroy' | 'answer'): Promise<string> {
  const url = new URL(env.url);
  return new Promise((resolve) => {
    const sock = net.connect(Number(url.port), url.hostname, () => {
      const head = [`PUT /v2/images/${id}/file HTTP/1.1`, `Host: ${url.host}`, `X-Auth-Token: ${token}`, 'Content-Type: application/octet-stream', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
      sock.write(head);
      sock.write(body, () => {
        if (how !== 'answer') setTimeout(() => (how === 'end' ? sock.end() : sock.destroy()), 200);
      });
    });
    let got = '';
    sock.on('data', (d) => {
      got += d.toString();
      // 'answer': keep sending nothing more, read the response, then hang up.
      if (how === 'answer' && /\r\n\r\n[\s\S]*\}/.test(got)) sock.destroy();
    });
    sock.on('error', () => undefined);
    sock.on('close', () => resolve(got));
  });
}

describe('interrupted and short uploads', () => {
  it('a size mismatch with Content-Length (fewer bytes, then EOF) stores nothing and leaves the image queued', async () => {
    const img = await c.create(env.a);
    await rawUpload(img.id, env.a.token, { 'Content-Length': String(10 << 20) }, Buffer.alloc(1 << 20, 3), 'end');
    await waitUntil('the image to be queued again', async () => (await c.show(env.a, img.id)).json.status === 'queued' && filesOf(img.id).length === 0, { timeoutMs: 15000 });
    await expectUntouched(img.id);
    // and it can still be uploaded properly
    expect((await c.upload(env.a, img.id, Buffer.from('good'))).status).toBe(204);
  });

  it('a connection reset in the middle of a chunked upload stores nothing and leaves the image queued', async () => {
    const img = await c.create(env.a);
    const chunk = Buffer.alloc(256 << 10, 9);
    const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
    await rawUpload(img.id, env.a.token, { 'Transfer-Encoding': 'chunked' }, Buffer.concat([framed, framed, framed]), 'destroy');
    await waitUntil('the image to be queued again', async () => (await c.show(env.a, img.id)).json.status === 'queued' && filesOf(img.id).length === 0, { timeoutMs: 15000 });
    await expectUntouched(img.id);
  });
});

describe('refused content (image killed, nothing stored)', () => {
  const refused = async (diskFormat: string, data: Buffer, reason: RegExp) => {
    const img = await c.create(env.a, { disk_format: diskFormat });
    const res = await c.upload(env.a, img.id, data);
    expect(res.status).toBe(400);
    glanceShaped(res.json, 400);
    expect(res.json.message).toMatch(reason);
    expect(res.json.message).toMatch(/killed/);
    const shown = (await c.show(env.a, img.id)).json;
    expect(shown.status).toBe('killed');
    expect(shown.os_glance_failure_reason).toMatch(reason);
    expect(shown.size).toBeNull();
    expect(filesOf(img.id)).toEqual([]);
    expect((await c.download(env.a, img.id)).status).toBe(204);
    // a killed image takes no more data, and can be deleted
    expect((await c.upload(env.a, img.id, Buffer.from('retry'))).status).toBe(409);
    expect((await c.del(env.a, img.id)).status).toBe(204);
  };

  it('raw bytes declared qcow2', () => refused('qcow2', Buffer.alloc(65536, 0x41), /declared format qcow2 but the content is raw/));

  it('a qcow2 declared raw (format confusion the other way)', () => refused('raw', fx.qcow2('plain.qcow2'), /declared format raw but the content is qcow2/));

  it('a qcow2 whose backing file is /etc/passwd', () => refused('qcow2', fx.backed('evil.qcow2', '/etc/passwd'), /backing file "\/etc\/passwd" is not allowed/));

  it('a qcow2 with a relative backing file', () => refused('qcow2', fx.backed('rel.qcow2', '../../../etc/shadow'), /backing file/));

  it('a qcow2 with an external data file', () => refused('qcow2', fx.dataFile('df.qcow2'), /data.file/));

  it('a VMDK descriptor whose extent is /etc/passwd', () => refused('vmdk', fx.vmdkDescriptor('/etc/passwd'), /VMDK createType monolithicFlat is not allowed/));

  it('a qcow2 bomb (256 TiB virtual in a few hundred KiB)', () => refused('qcow2', fx.bomb('bomb.qcow2', '256T'), /virtual size 281474976710656 bytes exceeds/));

  it('a qcow2 whose header claims 8 EiB', () => refused('qcow2', fx.forgedHeader(), /qemu-img could not read it as qcow2/));

  it('an ISO declared iso that is not one', () => refused('iso', Buffer.alloc(40000, 1), /declared format iso but the content is raw/));

  it('accepts a real qcow2 and reports its virtual size and digests', async () => {
    const data = fx.qcow2('ok.qcow2', '100M', Buffer.from('hello qcow2'));
    const img = await c.create(env.a, { disk_format: 'qcow2' });
    expect((await c.upload(env.a, img.id, data)).status).toBe(204);
    const shown = (await c.show(env.a, img.id)).json;
    expect(shown).toMatchObject({
      status: 'active',
      size: data.length,
      virtual_size: 100 * 1024 * 1024,
      checksum: createHash('md5').update(data).digest('hex'),
      os_hash_algo: 'sha512',
      os_hash_value: createHash('sha512').update(data).digest('hex'),
      stores: 'file',
    });
  });
});

describe('read-only attributes and other projects', () => {
  it('refuses a PATCH touching id, status or checksum (403) and changes nothing', async () => {
    const img = await c.create(env.a, { name: 'ro' });
    await c.upload(env.a, img.id, Buffer.from('ro-data'));
    const before = (await c.show(env.a, img.id)).json;
    for (const path of ['/id', '/status', '/checksum', '/size', '/os_hash_value', '/virtual_size', '/created_at']) {
      const res = await c.patch(env.a, img.id, [{ op: 'replace', path, value: path === '/size' ? 1 : 'x' }]);
      expect([path, res.status]).toEqual([path, 403]);
      glanceShaped(res.json, 403);
      expect(res.json.message).toBe(`Attribute '${path.slice(1)}' is read-only.`);
    }
    expect((await c.show(env.a, img.id)).json).toEqual(before);
  });

  it("answers 404 for another project's private image on every route, and changes nothing", async () => {
    const img = await c.create(env.a, { name: 'secret', visibility: 'private' });
    await c.upload(env.a, img.id, Buffer.from('secret data'));
    const before = (await c.show(env.a, img.id)).json;
    const calls = [
      c.show(env.b, img.id),
      c.patch(env.b, img.id, [{ op: 'replace', path: '/name', value: 'stolen' }]),
      c.del(env.b, img.id),
      c.download(env.b, img.id),
      c.upload(env.b, img.id, Buffer.from('overwrite')),
      c.r('PUT', `/v2/images/${img.id}/tags/x`, env.b),
      c.r('POST', `/v2/images/${img.id}/actions/deactivate`, env.b),
      c.r('GET', `/v2/images/${img.id}/members`, env.b),
    ];
    for (const res of await Promise.all(calls)) {
      expect(res.status).toBe(404);
      glanceShaped(res.json, 404);
    }
    expect((await c.show(env.a, img.id)).json).toEqual(before);
    expect((await c.download(env.a, img.id)).body.toString()).toBe('secret data');
  });
});

describe('size limits', () => {
  it('refuses a Content-Length above the maximum image size before reading the body (413)', async () => {
    const img = await c.create(env.a);
    const res = await c.r('PUT', `/v2/images/${img.id}/file`, env.a, { body: Buffer.from('tiny'), contentType: 'application/octet-stream', headers: { 'content-length': '4' } });
    expect(res.status).toBe(204);
    const img2 = await c.create(env.a);
    const big = await rawUpload(img2.id, env.a.token, { 'Content-Length': String(2 ** 41) }, Buffer.alloc(1024), 'answer');
    expect(big).toMatch(/^HTTP\/1\.1 413/);
    expect(big).toMatch(/maximum image size/);
    await expectUntouched(img2.id);
  });
});
