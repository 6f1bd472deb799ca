import { client, type ImageEnv, startImageEnv } from './helpers.js';

let env: ImageEnv;
beforeAll(async () => {
  env = await startImageEnv();
}, 60000);
afterAll(() => env?.close());

it('creates, uploads, shows and downloads', async () => {
  const c = client(env);
  const img = await c.create(env.a, { name: 'x' });
  expect(img.status).toBe('queued');
  const up = await c.upload(env.a, img.id, Buffer.alloc(1024, 7));
  expect(up.status).toBe(204);
  const shown = await c.show(env.a, img.id);
  expect(shown.json.status).toBe('active');
  const dl = await c.download(env.a, img.id);
  expect(dl.status).toBe(200);
  expect(dl.body.length).toBe(1024);
});
