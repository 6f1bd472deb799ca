import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

export interface Digests {
  checksum: string;
  osHashValue: string;
}

/**
 * One upload's digests (md5 `checksum` + sha512 `os_hash_value`). `update` may return a promise:
 * the caller must wait for it before feeding more (backpressure, so memory stays bounded).
 */
export interface HashSession {
  update(chunk: Buffer): Promise<void> | undefined;
  finish(): Promise<Digests>;
  abort(): void;
}

/** Where upload digests are computed. */
export interface Hasher {
  session(sizeHint?: number): HashSession;
  stop(): Promise<void>;
}

export const HASHER = Symbol('HASHER');

/** Hashes on the calling thread (small uploads, or when worker threads are off). */
export class InlineHashSession implements HashSession {
  private readonly md5 = createHash('md5');
  private readonly sha512 = createHash('sha512');

  update(chunk: Buffer): undefined {
    this.md5.update(chunk);
    this.sha512.update(chunk);
    return undefined;
  }

  async finish(): Promise<Digests> {
    return { checksum: this.md5.digest('hex'), osHashValue: this.sha512.digest('hex') };
  }

  abort(): void {}
}

// The worker: one hash state per session id, fed with shared batches, acking each one.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const sessions = new Map();
parentPort.on('message', (m) => {
  if (m.t === 'data') {
    let h = sessions.get(m.id);
    if (!h) sessions.set(m.id, (h = createHash(workerData.algo)));
    h.update(new Uint8Array(m.buf, 0, m.len));
    parentPort.postMessage({ t: 'ack', id: m.id });
  } else if (m.t === 'end') {
    const h = sessions.get(m.id) ?? createHash(workerData.algo);
    sessions.delete(m.id);
    parentPort.postMessage({ t: 'digest', id: m.id, hex: h.digest('hex') });
  } else if (m.t === 'abort') {
    sessions.delete(m.id);
  }
});
`;

interface Waiter {
  onAck: () => void;
  onDigest: (hex: string) => void;
  onError: (err: Error) => void;
}

/** A worker thread computing one algorithm for any number of sessions. */
class HashThread {
  private worker?: Worker;
  private readonly sessions = new Map<number, Waiter>();

  constructor(readonly algo: 'md5' | 'sha512') {}

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { algo: this.algo } });
    w.unref();
    w.on('message', (m: { t: string; id: number; hex?: string }) => {
      const s = this.sessions.get(m.id);
      if (!s) return;
      if (m.t === 'ack') s.onAck();
      else if (m.t === 'digest') {
        this.sessions.delete(m.id);
        s.onDigest(m.hex!);
      }
    });
    const fail = (err: Error) => {
      this.worker = undefined;
      for (const [id, s] of this.sessions) {
        this.sessions.delete(id);
        s.onError(new Error(`the ${this.algo} hashing thread failed: ${err.message}`));
      }
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
    this.worker = w;
    return w;
  }

  register(id: number, waiter: Waiter) {
    this.sessions.set(id, waiter);
  }

  post(msg: Record<string, unknown>) {
    this.ensure().postMessage(msg);
  }

  forget(id: number) {
    this.sessions.delete(id);
    this.worker?.postMessage({ t: 'abort', id });
  }

  async stop() {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}

const BATCH = 4 << 20;
const MAX_IN_FLIGHT = 4;
const RING = MAX_IN_FLIGHT + 2;

/**
 * md5 and sha512 on two worker threads, in parallel with each other and with the socket and
 * disk I/O of the main thread (KUMO_IMAGE_HASH_THREADS=true). On one core md5 and sha512
 * together run at roughly the speed of a disk write, so this helps when the disk is fast and a
 * core is free; on a saturated host the extra threads and copies cost more than they save. Data goes to the threads in 4 MiB
 * SharedArrayBuffer batches, copied once; at most MAX_IN_FLIGHT batches (16 MiB) are outstanding per
 * upload, so memory stays flat whatever the image size.
 */
export class HashWorkers implements Hasher {
  private readonly md5 = new HashThread('md5');
  private readonly sha512 = new HashThread('sha512');
  private nextId = 1;

  session(sizeHint?: number): HashSession {
    // Below a few batches the round trips to the threads cost more than they save.
    if (sizeHint !== undefined && sizeHint < 4 * BATCH) return new InlineHashSession();
    const id = this.nextId++;
    const threads = [this.md5, this.sha512];
    // A ring of shared batch buffers, reused once both threads have acked them: a new
    // SharedArrayBuffer per batch would pile up, because the worker isolates hardly ever run their
    // GC and so keep every buffer they were sent alive.
    const ring: { buf: Buffer; batchNo: number }[] = [];
    let batch: Buffer | undefined;
    let batchLen = 0;
    let sent = 0;
    const acked = { md5: 0, sha512: 0 };
    /** batches not yet hashed by both threads */
    const completed = () => Math.min(acked.md5, acked.sha512);
    const inFlightNow = () => sent - completed();
    let failed: Error | undefined;
    let released: (() => void) | undefined;
    const digests: Partial<Record<'md5' | 'sha512', string>> = {};
    let done: ((d: Digests) => void) | undefined;
    let doneErr: ((e: Error) => void) | undefined;

    const onError = (err: Error) => {
      failed ??= err;
      released?.();
      doneErr?.(err);
    };
    for (const t of threads) {
      t.register(id, {
        onAck: () => {
          acked[t.algo]++;
          const r = released;
          released = undefined;
          r?.();
        },
        onDigest: (hex) => {
          digests[t.algo] = hex;
          if (digests.md5 && digests.sha512) done?.({ checksum: digests.md5, osHashValue: digests.sha512 });
        },
        onError,
      });
    }
    const nextBuffer = (): Buffer => {
      const slot = ring[sent % RING];
      if (slot && slot.batchNo < completed()) {
        slot.batchNo = sent;
        return slot.buf;
      }
      // The slot's last batch is still being hashed (a chunk bigger than the free batches): a
      // fresh buffer, which takes the slot.
      const fresh = { buf: Buffer.from(new SharedArrayBuffer(BATCH)), batchNo: sent };
      ring[sent % RING] = fresh;
      return fresh.buf;
    };
    const send = () => {
      if (!batch || batchLen === 0) return;
      for (const t of threads) t.post({ t: 'data', id, buf: batch.buffer, len: batchLen });
      sent++;
      batch = undefined;
      batchLen = 0;
    };
    const room = (): Promise<void> | undefined => {
      if (failed) return Promise.reject(failed);
      if (inFlightNow() < MAX_IN_FLIGHT) return undefined;
      return new Promise<void>((resolve, reject) => {
        released = () => (failed ? reject(failed) : resolve());
      }).then(() => room());
    };
    return {
      update(chunk: Buffer) {
        if (failed) return Promise.reject(failed);
        let off = 0;
        while (off < chunk.length) {
          batch ??= nextBuffer();
          const n = chunk.copy(batch, batchLen, off);
          batchLen += n;
          off += n;
          if (batchLen === BATCH) send();
        }
        return room();
      },
      async finish() {
        send();
        while (inFlightNow() > 0) {
          if (failed) throw failed;
          await new Promise<void>((resolve) => (released = resolve));
        }
        if (failed) throw failed;
        const result = new Promise<Digests>((resolve, reject) => {
          done = resolve;
          doneErr = reject;
        });
        for (const t of threads) t.post({ t: 'end', id });
        return result;
      },
      abort() {
        for (const t of threads) t.forget(id);
      },
    };
  }

  async stop() {
    await Promise.all([this.md5.stop(), this.sha512.stop()]);
  }
}

export class InlineHasher implements Hasher {
  session(): HashSession {
    return new InlineHashSession();
  }

  async stop() {}
}
