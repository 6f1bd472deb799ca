import { createHash, randomBytes } from 'node:crypto';
import { HashWorkers, InlineHashSession } from './hashing.js';

const expected = (data: Buffer) => ({ checksum: createHash('md5').update(data).digest('hex'), osHashValue: createHash('sha512').update(data).digest('hex') });

describe('hashing', () => {
  const workers = new HashWorkers();
  afterAll(() => workers.stop());

  it('computes md5 and sha512 on worker threads, across batch boundaries, with backpressure', async () => {
    const data = randomBytes((4 << 20) * 6 + 12345);
    const session = workers.session();
    let waited = 0;
    for (let off = 0; off < data.length; off += 65536) {
      const wait = session.update(data.subarray(off, off + 65536));
      if (wait) {
        waited++;
        await wait;
      }
    }
    expect(await session.finish()).toEqual(expected(data));
    expect(waited).toBeGreaterThan(0);
  });

  it('keeps concurrent sessions apart', async () => {
    const a = randomBytes(20 << 20);
    const b = randomBytes(18 << 20);
    const [sa, sb] = [workers.session(), workers.session()];
    for (let off = 0; off < a.length; off += 1 << 20) {
      await sa.update(a.subarray(off, off + (1 << 20)));
      await sb.update(b.subarray(off, off + (1 << 20)));
    }
    expect(await Promise.all([sa.finish(), sb.finish()])).toEqual([expected(a), expected(b)]);
  });

  it('hashes small data inline, and an empty stream too', async () => {
    const small = workers.session(1000);
    expect(small).toBeInstanceOf(InlineHashSession);
    small.update(Buffer.from('abc'));
    expect(await small.finish()).toEqual(expected(Buffer.from('abc')));
    expect(await workers.session().finish()).toEqual(expected(Buffer.alloc(0)));
  });
});
