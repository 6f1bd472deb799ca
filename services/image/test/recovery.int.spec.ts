import fs from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Recovery } from '../src/lifecycle/recovery.js';
import { client, type ImageEnv, startImageEnv, storeFiles } from './helpers.js';

/** What a crashed image process leaves behind, and how the next start repairs it. */
let env: ImageEnv;
let c: ReturnType<typeof client>;
let db: pg.Client;
beforeAll(async () => {
  env = await startImageEnv();
  c = client(env);
  db = new pg.Client({ connectionString: env.db.url });
  await db.connect();
}, 60000);
afterAll(async () => {
  await db?.end();
  await env?.close();
});

const host = hostname().replace(/[^A-Za-z0-9-]/g, '-');
const deadOwner = `${host}:999999:1`;
const aged = (file: string) => {
  const old = new Date(Date.now() - 3600_000);
  fs.utimesSync(file, old, old);
};

it('puts images a dead process was uploading back to queued and removes its .part files', async () => {
  const img = await c.create(env.a);
  await db.query(`UPDATE image.image SET status = 'saving', upload_owner = $2 WHERE id = $1`, [img.id, deadOwner]);
  const part = path.join(env.storeDir, '.staging', `${img.id}.${host}.999999.abcd.part`);
  fs.writeFileSync(part, 'half an upload');
  // an upload of another (live) host is left alone
  const other = await c.create(env.a);
  await db.query(`UPDATE image.image SET status = 'saving', upload_owner = 'some-other-host:1:1' WHERE id = $1`, [other.id]);
  expect((await c.upload(env.a, img.id, Buffer.from('x'))).status).toBe(409);

  const recovery = env.svc.app.get(Recovery);
  expect(await recovery.repairInFlight()).toBe(1);
  await recovery.sweepFiles();
  expect((await c.show(env.a, img.id)).json.status).toBe('queued');
  expect((await c.show(env.a, other.id)).json.status).toBe('saving');
  expect(fs.existsSync(part)).toBe(false);
  expect((await c.upload(env.a, img.id, Buffer.from('now it works'))).status).toBe(204);
});

it('puts a dead import back to uploading when its staged data is still there', async () => {
  const img = await c.create(env.a);
  await c.r('PUT', `/v2/images/${img.id}/stage`, env.a, { body: Buffer.from('staged'), contentType: 'application/octet-stream' });
  await db.query(`UPDATE image.image SET status = 'importing', upload_owner = $2 WHERE id = $1`, [img.id, deadOwner]);
  await env.svc.app.get(Recovery).repairInFlight();
  expect((await c.show(env.a, img.id)).json.status).toBe('uploading');
  expect((await c.r('POST', `/v2/images/${img.id}/import`, env.a, { json: { method: { name: 'glance-direct' } } })).status).toBe(202);
});

it('sweeps store files no live image owns (after a grace period) and stale staged files', async () => {
  const live = await c.create(env.a);
  await c.upload(env.a, live.id, Buffer.from('keep me'));
  aged(path.join(env.storeDir, live.id));
  const orphan = path.join(env.storeDir, '0b0b0b0b-1111-4222-8333-444455556666');
  fs.writeFileSync(orphan, 'left by a failed delete');
  aged(orphan);
  const young = path.join(env.storeDir, '0c0c0c0c-1111-4222-8333-444455556666');
  fs.writeFileSync(young, 'maybe being committed right now');
  const staleStaged = path.join(env.storeDir, '.staging', '0d0d0d0d-1111-4222-8333-444455556666.staged');
  fs.writeFileSync(staleStaged, 'nobody imports this');
  await env.svc.app.get(Recovery).sweepFiles();
  const files = storeFiles(env.storeDir);
  expect(files).toContain(live.id);
  expect(files).toContain(path.basename(young));
  expect(files).not.toContain(path.basename(orphan));
  expect(files).not.toContain(`.staging/${path.basename(staleStaged)}`);
});
