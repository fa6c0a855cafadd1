/**
 * Request bodies checked before any work is queued: a client's mistake gets a 400 that
 * names the offending value, never a 500 or a NaN answer.
 */

/** A client error: the route answers 400 with `{ error: code, message }`. */
export class InputError extends Error {
  constructor(message) {
    super(message);
    this.name = 'InputError';
    this.code = 'ERR_BAD_INPUT';
    this.statusCode = 400;
  }
}

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' ? JSON.stringify(value).slice(0, 40) : typeof value;
}

/**
 * `body.points`, an array of 1 to `maxPoints` points of 3 finite numbers, as a row-major
 * Float64Array. JSON has no NaN; a number too large for a double (1e999) parses as
 * Infinity, and is refused here.
 */
export function readPoints(body, maxPoints) {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InputError('the body must be a JSON object { "points": [[x, y, z], ...] }');
  }
  const { points } = body;
  if (!Array.isArray(points)) throw new InputError(`points must be an array of [x, y, z] points, not ${describe(points)}`);
  if (points.length === 0 || points.length > maxPoints) {
    throw new InputError(`points must hold 1 to ${maxPoints} points, not ${points.length}`);
  }
  const out = new Float64Array(3 * points.length);
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    if (!Array.isArray(p) || p.length !== 3) throw new InputError(`points[${i}] must be [x, y, z], not ${describe(p)}`);
    for (let c = 0; c < 3; c++) {
      const v = p[c];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new InputError(`points[${i}][${c}] must be a finite number, not ${describe(v)}`);
      out[3 * i + c] = v;
    }
  }
  return out;
}

/**
 * `body.k`, a positive integer with k × points ≤ `maxValues` (the size of the answer).
 * Whether k exceeds the training points is left to lazykernel, whose OptionError says so.
 */
export function readK(body, points, maxValues) {
  const { k } = body;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1) throw new InputError(`k must be a positive integer, not ${describe(k)}`);
  if (k * points > maxValues) throw new InputError(`k × points must be at most ${maxValues}, not ${k} × ${points}`);
  return k;
}
