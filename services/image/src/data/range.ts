import { ApiError } from '@kumo/service-kit';

export interface ByteRange {
  start: number;
  /** inclusive */
  end: number;
}

/**
 * One `Range: bytes=...` of a `size`-byte image (RFC 9110 §14): `a-b`, `a-`, `-n`. Several
 * ranges are not supported (Glance serves one); an unsatisfiable range is 416 with
 * `Content-Range: bytes * /size`. Returns undefined for no Range header (whole image).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const unsatisfiable = (why: string) => new ApiError(416, `Requested range not satisfiable: ${why} (the image has ${size} bytes).`, { headers: { 'Content-Range': `bytes */${size}` } });
  const m = /^\s*bytes\s*=\s*(.+)$/i.exec(header);
  if (!m) throw unsatisfiable(`${JSON.stringify(header)} is not a byte range`);
  const spec = m[1]!.trim();
  if (spec.includes(',')) throw unsatisfiable('only one range per request is supported');
  const r = /^(\d*)\s*-\s*(\d*)$/.exec(spec);
  if (!r || (r[1] === '' && r[2] === '')) throw unsatisfiable(`${JSON.stringify(spec)} is not a byte range`);
  let start: number;
  let end: number;
  if (r[1] === '') {
    const suffix = Number(r[2]);
    if (suffix === 0) throw unsatisfiable('an empty suffix range');
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(r[1]);
    end = r[2] === '' ? size - 1 : Math.min(Number(r[2]), size - 1);
    if (r[2] !== '' && Number(r[2]) < start) throw unsatisfiable(`the range ends before it starts`);
  }
  if (start >= size || size === 0) throw unsatisfiable(`it starts at byte ${start}`);
  return { start, end };
}
