import { PassThrough, type Readable } from 'node:stream';
import { ApiError } from '@kumo/service-kit';
import type { Request, Response } from 'express';

/**
 * The request body as a stream the upload pipeline may consume and destroy without destroying
 * the connection (so a 413 or 409 can still be answered): bytes flow from `req` into a
 * PassThrough with backpressure; an aborted or stalled client ends it with an error.
 */
export function requestBody(req: Request, idleTimeoutMs: number): Readable {
  const body = new PassThrough({ highWaterMark: 1 << 20 });
  // The pipeline that consumes `body` reports its errors; when a request is refused before the
  // pipeline starts, a later client abort must not become an unhandled 'error' event.
  body.on('error', () => undefined);
  const fail = (err: Error) => {
    if (!body.destroyed) body.destroy(err);
  };
  req.on('error', fail);
  req.on('close', () => {
    if (!req.complete) fail(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
  });
  req.setTimeout(idleTimeoutMs, () => fail(Object.assign(new Error('upload idle timeout'), { code: 'ETIMEDOUT' })));
  req.pipe(body);
  return body;
}

/** `Content-Length` of a non-chunked request, if it has one. */
export function declaredLength(req: Request): number | undefined {
  if (/chunked/i.test(String(req.headers['transfer-encoding'] ?? ''))) return undefined;
  const raw = req.headers['content-length'];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw ApiError.badRequest(`Invalid Content-Length ${JSON.stringify(raw)}.`);
  return n;
}

export function requireOctetStream(req: Request): void {
  const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/octet-stream') {
    throw new ApiError(415, `Unsupported Content-Type ${JSON.stringify(type || '(none)')}: image data must be sent as application/octet-stream.`);
  }
}

const DRAIN_BYTES = 16 << 20;
const DRAIN_MS = 3000;

/**
 * Before answering an upload with an error: the client may still be sending. Read (and drop) a
 * bounded amount so a small body ends cleanly and the client reads our answer instead of a
 * connection reset; past the bound, ask for the connection to be closed after the answer.
 */
export async function settleBeforeError(req: Request, res: Response): Promise<void> {
  if (req.complete || req.destroyed) return;
  req.unpipe();
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > DRAIN_BYTES) {
    // Far too much to read for nothing: answer now and close.
    res.setHeader('Connection', 'close');
    req.pause();
    return;
  }
  let seen = 0;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      req.off('data', onData);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > DRAIN_BYTES) done();
    };
    const timer = setTimeout(done, DRAIN_MS);
    req.on('data', onData);
    req.once('end', done);
    req.once('close', done);
    req.resume();
  });
  if (!req.complete) {
    res.setHeader('Connection', 'close');
    req.pause();
  }
}
