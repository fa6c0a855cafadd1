/**
 * The identity of a formula's structure: a 128-bit hash key per node, computed from its
 * arguments' keys (so each node costs O(1), however deep the formula: a text key grows
 * with its subformula and made a 10,000-deep chain cost gigabytes), and an exact
 * equality for where a hash is not enough (a cache that must never run the wrong
 * program). Variables count by category, slot and dimension (alias names left out),
 * constants by value.
 */
import { foldNodes, Node, OPS, OpName } from './ir';

const OP_INDEX = new Map(Object.keys(OPS).map((name, k) => [name as OpName, k + 1]));
const CAT_INDEX = { i: 1, j: 2, param: 3 } as const;

/** Four 32-bit lanes, each a multiply-xorshift mix of the same words with its own seed. */
class Hasher {
  private h = [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344];
  word(w: number): this {
    for (let l = 0; l < 4; l++) {
      let x = (this.h[l] ^ w) >>> 0;
      x = Math.imul(x ^ (x >>> 16), 0x7feb352d + 2 * l);
      x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
      this.h[l] = (x ^ (x >>> 16)) >>> 0;
    }
    return this;
  }
  float(v: number): this {
    const b = new DataView(new ArrayBuffer(8));
    b.setFloat64(0, v);
    return this.word(b.getUint32(0)).word(b.getUint32(4));
  }
  key(k: string): this {
    for (let p = 0; p < 32; p += 8) this.word(parseInt(k.slice(p, p + 8), 16));
    return this;
  }
  hex(): string {
    return this.h.map((x) => x.toString(16).padStart(8, '0')).join('');
  }
}

const keys = new WeakMap<Node, string>();

/**
 * A 128-bit structural key (32 hex digits): equal formulas have equal keys; different
 * ones almost surely do not (use {@link sameFormula} where "almost" is not enough).
 * The same in every process.
 *
 * @example
 * structuralKey(parseFormula('2*x', aliases).node) === structuralKey(parseFormula('IntCst(2)*x', aliases).node); // true
 */
export function structuralKey(node: Node): string {
  const known = keys.get(node);
  if (known !== undefined) return known;
  return foldNodes<string>(node, (n, inner) => {
    let key = keys.get(n);
    if (key !== undefined) return key;
    const h = new Hasher();
    if (n.kind === 'var') h.word(CAT_INDEX[n.cat]).word(n.pos).word(n.dim);
    else if (n.kind === 'const') h.word(4).float(n.value).word(n.dim);
    else {
      h.word(5 + (OP_INDEX.get(n.op) as number)).word(inner.length).word(n.ints.length);
      inner.forEach((k) => h.key(k));
      n.ints.forEach((v) => h.word(v));
    }
    key = h.hex();
    keys.set(n, key);
    return key;
  });
}

/**
 * A stable 64-bit structural hash (16 hex digits), the same across runs and processes:
 * a cache key for lowered programs.
 *
 * @example
 * formulaHash(a) === formulaHash(b); // a and b are the same formula
 */
export function formulaHash(node: Node): string {
  return structuralKey(node).slice(0, 16);
}

/**
 * True when two formulas have the same structure, compared node by node (each pair once,
 * without recursion).
 *
 * @example
 * sameFormula(parseFormula('x+y', aliases).node, parseFormula('(x + y)', aliases).node); // true
 */
export function sameFormula(a: Node, b: Node): boolean {
  const seen = new Map<Node, Set<Node>>();
  const stack: [Node, Node][] = [[a, b]];
  while (stack.length > 0) {
    const [p, q] = stack.pop() as [Node, Node];
    if (p === q) continue;
    const done = seen.get(p);
    if (done?.has(q)) continue;
    if (done) done.add(q);
    else seen.set(p, new Set([q]));
    if (p.kind !== q.kind || p.dim !== q.dim) return false;
    if (p.kind === 'var' && q.kind === 'var') {
      if (p.cat !== q.cat || p.pos !== q.pos) return false;
    } else if (p.kind === 'const' && q.kind === 'const') {
      if (!Object.is(p.value, q.value)) return false;
    } else if (p.kind === 'op' && q.kind === 'op') {
      if (p.op !== q.op || p.args.length !== q.args.length || p.ints.some((v, k) => v !== q.ints[k])) return false;
      p.args.forEach((arg, k) => stack.push([arg, q.args[k]]));
    }
  }
  return true;
}
