import { createHmac } from 'node:crypto'
import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { Envelope, superjsonCodec, type Entry } from '../../lib/codec/envelope.ts'
import { DecodeError, ValueTooLargeError } from '../../lib/errors.ts'
import { registerClass } from '../../lib/codec/registry.ts'

/**
 * The envelope fuzzer shared by spec/codec/fuzz.spec.ts (fixed seed, fixed count) and
 * spec/fuzz/run.ts (`npm run fuzz -- --seconds 60 --seed 123`). It takes valid envelopes
 * of varied rich values and mutates them: bytes (flips, truncation, extension), header
 * fields (swapped, duplicated, random numbers), tags, and the superjson document itself
 * (hostile meta paths and types, own `__proto__` keys, referential-equality tricks),
 * re-signing half of the signed ones so that the mutation reaches the payload decoder.
 *
 * The promise checked for every input: `decode` returns a well-formed Entry whose value
 * holds no function and no object of an unexpected prototype, or throws DecodeError,
 * SignatureError or ValueTooLargeError; and no built-in prototype ever changes.
 */

import { mulberry32 } from '../support/random.ts'

export { mulberry32 }

/** A registered class with a method, for the corpus. */
export class FuzzPoint {
  constructor(
    public x: number,
    public y: number,
  ) {}
  norm(): number {
    return Math.hypot(this.x, this.y)
  }
}

/** A registered class nesting instances of itself and a Date, for the corpus. */
export class FuzzNode {
  children: FuzzNode[] = []
  constructor(
    public label: string,
    public at: Date,
  ) {}
}

/** Counts every run of its code: a setter (restoring a field through it) and toString. */
export class FuzzGuarded {
  static codeRuns = 0
  set secret(_value: unknown) {
    FuzzGuarded.codeRuns++
  }
  toString(): string {
    FuzzGuarded.codeRuns++
    return 'guarded'
  }
}

registerClass(FuzzPoint, { name: 'fuzz.Point' })
registerClass(FuzzNode, { name: 'fuzz.Node' })
registerClass(FuzzGuarded, { name: 'fuzz.Guarded' })

/** The key the signed fuzz envelopes are signed with. */
export const FUZZ_KEY = Buffer.from('fuzz-signing-key-0123456789abcdef')

/** superjson documents that must never decode (each is wrapped in a valid envelope). */
export const hostilePayloads: readonly (readonly [string, string])[] = [
  ['own __proto__ at the root', '{"json":{"__proto__":{"polluted":1}}}'],
  ['own __proto__ nested in an array', '{"json":[{"a":{"__proto__":{"polluted":1}}}]}'],
  ['__proto__ spelled with \\u escapes', '{"json":{"\\u005f_proto__":{"polluted":1}}}'],
  ['own constructor.prototype keys', '{"json":{"constructor":{"prototype":{"polluted":1}}}}'],
  ['own __proto__ at the document level', '{"json":1,"__proto__":{"polluted":1}}'],
  ['a value path through __proto__', '{"json":{},"meta":{"values":{"__proto__.polluted":["undefined"]},"v":1}}'],
  ['a value path through constructor.prototype', '{"json":{},"meta":{"values":{"constructor.prototype.polluted":["undefined"]},"v":1}}'],
  ['a value path ending in prototype', '{"json":[],"meta":{"values":{"prototype":["undefined"]},"v":1}}'],
  ['an escaped-dot path segment __proto__', '{"json":{},"meta":{"values":{"a.__proto__":["undefined"]},"v":1}}'],
  ['a referential path to __proto__', '{"json":{"a":{}},"meta":{"referentialEqualities":{"a":["__proto__"]},"v":1}}'],
  ['a referential path to constructor.prototype', '{"json":{"a":{}},"meta":{"referentialEqualities":{"a":["constructor.prototype"]},"v":1}}'],
  ['a referential root path to __proto__', '{"json":{"a":1},"meta":{"referentialEqualities":[["__proto__"]],"v":1}}'],
  ['a referential copy of an inherited method', '{"json":{"a":{},"b":1},"meta":{"referentialEqualities":{"a.toString":["b"]},"v":1}}'],
  ['a referential copy through a typed array element', '{"json":{"t":[1],"b":1},"meta":{"values":{"t":[["typed-array","Uint8Array"]]},"referentialEqualities":{"t.0.toString":["b"]},"v":1}}'],
  ['a referential path out of range', '{"json":{"a":[],"b":{}},"meta":{"referentialEqualities":{"b":["a.99999999"]},"v":1}}'],
  ['a class instance with an own __proto__', '{"json":{"__proto__":{"polluted":1}},"meta":{"values":[["class","fuzz.Point"]],"v":1}}'],
  ['a class field that is a setter', '{"json":{"secret":1},"meta":{"values":[["class","fuzz.Guarded"]],"v":1}}'],
  ['a class field shadowing a method', '{"json":{"x":1,"y":2,"norm":"pwned"},"meta":{"values":[["class","fuzz.Point"]],"v":1}}'],
  ['an unregistered class', '{"json":{},"meta":{"values":[["class","Nope"]],"v":1}}'],
  ['the annotation "constructor"', '{"json":{"a":1},"meta":{"values":{"a":["constructor"]},"v":1}}'],
  ['the annotation "__proto__"', '{"json":{"a":1},"meta":{"values":{"a":["__proto__"]},"v":1}}'],
  ['the annotation "hasOwnProperty"', '{"json":{"a":1},"meta":{"values":{"a":["hasOwnProperty"]},"v":1}}'],
  ['a custom transformer named constructor', '{"json":{"a":1},"meta":{"values":{"a":[["custom","constructor"]]},"v":1}}'],
  ['a typed array named constructor', '{"json":{"a":[1]},"meta":{"values":{"a":[["typed-array","constructor"]]},"v":1}}'],
  ['a symbol', '{"json":{"a":"s"},"meta":{"values":{"a":[["symbol","s"]]},"v":1}}'],
  ['a bare string as annotation (recurses forever in superjson)', '{"json":{"a":1},"meta":{"values":{"a":"constructor"},"v":1}}'],
  ['a sparse-array index (a denial of service)', '{"json":{"a":[]},"meta":{"values":{"a":["set",{"100000000":["undefined"]}]},"v":1}}'],
  ['an annotation inside an annotated subtree', '{"json":{"a":[["k","2020-01-01T00:00:00.000Z"]]},"meta":{"values":{"a":["map"],"a.0.1":["Date"]},"v":1}}'],
  ['a map child that is a whole pair', '{"json":{"a":[[1,2]]},"meta":{"values":{"a":["map",{"0":["set"]}]},"v":1}}'],
  ['an Error whose message is a class instance (ToString would run its toString)', '{"json":{"e":{"message":{}}},"meta":{"values":{"e":["Error",{"message":[["class","fuzz.Guarded"]]}]},"v":1}}'],
  ['a bigint of 200,000 digits (BigInt parsing is superlinear)', `{"json":"${'7'.repeat(200_000)}","meta":{"values":["bigint"],"v":1}}`],
  ['an Error with an extra key', '{"json":{"e":{"message":"x","toString":1}},"meta":{"values":{"e":["Error"]},"v":1}}'],
  ['a regexp with bad flags', '{"json":{"r":"/a/zz"},"meta":{"values":{"r":["regexp"]},"v":1}}'],
  ['a hex bigint', '{"json":{"b":"0x10"},"meta":{"values":{"b":["bigint"]},"v":1}}'],
  ['a typed array of objects', '{"json":{"t":[{"a":1}]},"meta":{"values":{"t":[["typed-array","Float64Array"]]},"v":1}}'],
  ['meta without v', '{"json":{"a":1},"meta":{"values":{"a":["undefined"]}}}'],
  ['meta of a legacy version', '{"json":{"a":1},"meta":{"values":{"a":["undefined"]},"v":0}}'],
  ['an unknown meta key', '{"json":1,"meta":{"v":1,"x":1}}'],
  ['an unknown document key', '{"json":1,"x":2}'],
  ['marks of an unknown version', '{"json":{"\\u0001constructor":1},"mr":2}'],
  ['an escaped key that needs no escape', '{"json":{"\\u0001a":1},"mr":1}'],
  ['a null-prototype mark other than 0', '{"json":{"\\u0001":{"polluted":1}},"mr":1}'],
  ['an Error mark naming Function', '{"json":{"e":{"name":"x","message":"m","\\u0001":["Function",0,[]]}},"meta":{"values":{"e":["Error"]},"v":1},"mr":1}'],
  ['an Error mark with unknown flags', '{"json":{"e":{"name":"x","message":"m","\\u0001":["Error",4,[]]}},"meta":{"values":{"e":["Error"]},"v":1},"mr":1}'],
  ['an Error mark giving it a stack', '{"json":{"e":{"name":"x","message":"m","\\u0001":["Error",0,[["stack","forged"]]]}},"meta":{"values":{"e":["Error"]},"v":1},"mr":1}'],
  ['an Error mark that is not an array', '{"json":{"e":{"name":"x","message":"m","\\u0001":"TypeError"}},"meta":{"values":{"e":["Error"]},"v":1},"mr":1}'],
  ['an Invalid Date that is not null', '{"json":{"d":"x"},"meta":{"values":{"d":[["custom","InvalidDate"]]},"v":1}}'],
  ['a float array holding a word', '{"json":{"f":["NaN","pwned"]},"meta":{"values":{"f":[["custom","Float64Array"]]},"v":1}}'],
  ['no json key', '{"meta":{"v":1}}'],
  ['an array document', '[1,2,3]'],
  ['not JSON', '{"json":'],
]

const ALLOWED_PROTOTYPES = new Set<object | null>([
  null, Object.prototype, Array.prototype, Map.prototype, Set.prototype, Date.prototype, RegExp.prototype, Error.prototype,
  URL.prototype, Buffer.prototype, FuzzPoint.prototype, FuzzNode.prototype, FuzzGuarded.prototype,
  ...[Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array].map((c) => c.prototype),
])

const WATCHED_PROTOTYPES: readonly object[] = [
  Object.prototype, Array.prototype, Function.prototype, String.prototype, Number.prototype, Boolean.prototype,
  Symbol.prototype, BigInt.prototype, Map.prototype, Set.prototype, Date.prototype, RegExp.prototype, Error.prototype,
  Promise.prototype, URL.prototype, Buffer.prototype, Uint8Array.prototype, Object.getPrototypeOf(Uint8Array.prototype) as object,
  FuzzPoint.prototype, FuzzNode.prototype, FuzzGuarded.prototype,
]

/** A fingerprint of the built-in prototypes: own keys and their own prototypes. */
export function prototypeFingerprint(): string[] {
  return WATCHED_PROTOTYPES.map((p) => {
    const parent = Object.getPrototypeOf(p) as object | null
    return `${Reflect.ownKeys(p).map(String).join(',')}<${parent === null ? 'null' : WATCHED_PROTOTYPES.indexOf(parent)}`
  })
}

/** How `now` differs from an earlier fingerprint, or undefined when it does not. */
export function prototypeChange(before: readonly string[], now: readonly string[] = prototypeFingerprint()): string | undefined {
  for (let i = 0; i < before.length; i++) {
    if (before[i] !== now[i]) return `prototype #${i} changed: ${before[i]} => ${now[i]}`
  }
  return undefined
}

/** What is wrong with a decoded entry, or undefined when nothing is. */
export function entryProblem(entry: Entry): string | undefined {
  const { created, freshUntil, staleUntil, tags } = entry
  if (![created, freshUntil, staleUntil].every(Number.isFinite) || !(created <= freshUntil && freshUntil <= staleUntil)) return 'bad times'
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) return 'bad tags'
  const seen = new Set<object>()
  const stack: unknown[] = [entry.value]
  while (stack.length > 0) {
    const v = stack.pop()
    if (typeof v === 'function') return 'a function in the value'
    if (typeof v !== 'object' || v === null || seen.has(v)) continue
    seen.add(v)
    if (!ALLOWED_PROTOTYPES.has(Object.getPrototypeOf(v) as object | null)) return 'an object with an unexpected prototype'
    if (Object.prototype.hasOwnProperty.call(v, '__proto__')) return 'an own __proto__ key'
    if (v instanceof Map) for (const [k, x] of v) stack.push(k, x)
    else if (v instanceof Set) for (const x of v) stack.push(x)
    else if (!ArrayBuffer.isView(v)) for (const key of Reflect.ownKeys(v)) stack.push(Object.getOwnPropertyDescriptor(v, key)?.value)
  }
  return undefined
}

/** header + newline + tags + payload, followed by its mac under `key` when given. */
export function buildEnvelope(header: string, tags: Buffer, payload: Buffer, key?: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(`${header}\n`, 'latin1'), tags, payload])
  return key === undefined ? body : signWith(body, key)
}

/** `bytes` followed by their HMAC-SHA256 under `key`, as the envelope format signs. */
export function signWith(bytes: Buffer, key: Buffer): Buffer {
  // The envelope's mac covers the Redis key first (length-prefixed); these are stored under ''.
  return Buffer.concat([bytes, createHmac('sha256', key).update('0:').update(bytes).digest()])
}

/** The parts of an envelope given without its mac. */
function splitEnvelope(body: Buffer): { fields: string[]; tags: Buffer; payload: Buffer } {
  const newline = body.indexOf(10)
  const fields = body.toString('latin1', 0, newline).split(' ')
  const tagLength = Number(fields[6])
  return { fields, tags: body.subarray(newline + 1, newline + 1 + tagLength), payload: body.subarray(newline + 1 + tagLength) }
}

/** The corpus: rich values whose valid envelopes are mutated. */
function corpusValues(): unknown[] {
  const point = new FuzzPoint(3, 4)
  const root = new FuzzNode('root', new Date(1_700_000_000_000))
  root.children.push(new FuzzNode('leaf', new Date(0)), new FuzzNode('leaf2', new Date(1)))
  const cyclic: Record<string, unknown> = { name: 'cycle', when: new Date(5) }
  cyclic.self = cyclic
  return [
    null, 42, 'plain text', -0, NaN, Infinity, 10n ** 30n, undefined, true,
    { id: 1, name: 'user', email: 'a@b.c', tags: ['x', 'y'] },
    { when: new Date(86_400_000), maybe: undefined, list: [undefined, 1, null], big: -123n },
    new Map<unknown, unknown>([['a', 1], [point, new Set([1, 'two', 3n])], ['__proto__', 'a map key is data']]),
    new Set([new Date(2), /re+gex/giu, new URL('https://example.com/a?b=c#d')]),
    { error: new Error('boom', { cause: { code: 'E_CAUSE', at: new Date(3) } }) },
    { u8: new Uint8Array([1, 2, 255]), f64: new Float64Array([1.5, -2]), i32: new Int32Array([-1, 7]), buf: Buffer.from('bytes \u00ff') },
    { point, again: point, nested: { deeper: [point, new FuzzPoint(-1, 0.5)] } },
    root,
    cyclic,
    { 'dotted.key': { 'back\\slash': new Date(4), '': 'empty key', 'a.b.c': [new Map([[1, 2]])] } },
    { text: 'constructor prototype __proto__ as values are data', quote: '"\\\u0000\u2028', unicode: 'ünïcödé ✓' },
    Array.from({ length: 60 }, (_, i) => ({ i, at: new Date(i * 1000), label: `item ${i}`, repeat: 'abcabcabc' })),
  ]
}

const NUMBER_TOKENS = ['', '-', 'NaN', 'Infinity', '-1', '0', '1e400', '0x10', '1.5', '9'.repeat(30), ' 1', '-0', '1e+21', '00', '4294967296']
const TYPES: readonly unknown[] = [
  'undefined', 'bigint', 'Date', 'regexp', 'set', 'map', 'number', 'URL', 'Error', 'constructor', '__proto__', 'toString', 'symbol',
  ['class', 'fuzz.Point'], ['class', 'fuzz.Node'], ['class', 'fuzz.Guarded'], ['class', 'Nope'], ['class', 'constructor'],
  ['typed-array', 'Uint8Array'], ['typed-array', 'Float64Array'], ['typed-array', 'BigInt64Array'], ['custom', 'Buffer'],
  ['custom', 'x'], ['symbol', 'x'], 'Date', 'set', 'map',
]
const HOSTILE_SEGMENTS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'length', '99999999', '-1', '1e3', '01', '']
const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'secret', 'norm', 'x', 'message', 'cause']

type Json = Record<string, unknown>
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const escapeSegment = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\./g, '\\.')

/** Random JSON-tree mutations of a superjson document. */
class DocMutator {
  constructor(private readonly rng: () => number) {}

  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.rng() * list.length)] as T
  }

  /** A random path of own keys/indices into `json`, sometimes with a hostile last segment. */
  path(json: unknown): string[] {
    const path: string[] = []
    let node = json
    while (this.rng() < 0.75) {
      if (Array.isArray(node) && node.length > 0) {
        const i = Math.floor(this.rng() * node.length)
        path.push(String(i))
        node = node[i]
      } else if (isRecord(node) && Object.keys(node).length > 0) {
        const key = this.pick(Object.keys(node))
        path.push(key)
        node = node[key]
      } else break
    }
    if (this.rng() < 0.25) path.push(this.pick(HOSTILE_SEGMENTS))
    return path
  }

  key(json: unknown): string {
    return this.path(json).map(escapeSegment).join('.')
  }

  annotation(json: unknown, depth = 0): unknown[] {
    const node: unknown[] = [this.pick(TYPES)]
    if (depth < 2 && this.rng() < 0.3) node.push({ [this.key(json)]: this.annotation(json, depth + 1) })
    return node
  }

  randomJson(): unknown {
    return this.pick<unknown>([null, 0, -1, 1e21, 'x', '/a/g', '2020-01-01', 'NaN', [], {}, [[1, 2]], [1, 'a'], { message: 'm' }, true])
  }

  mutate(doc: Json): string {
    const kind = Math.floor(this.rng() * 8)
    const json = doc.json
    const meta = (isRecord(doc.meta) ? doc.meta : (doc.meta = { v: 1 })) as Json
    switch (kind) {
      case 0: { // a new value annotation
        const values = isRecord(meta.values) ? meta.values : (meta.values = {})
        ;(values as Json)[this.key(json)] = this.annotation(json)
        return 'doc:annotate'
      }
      case 1: { // a referential equality, valid-looking or not
        const refs = isRecord(meta.referentialEqualities) ? meta.referentialEqualities : (meta.referentialEqualities = {})
        ;(refs as Json)[this.key(json)] = [this.key(json), this.key(json)]
        return 'doc:reference'
      }
      case 2: { // an own hostile key somewhere in the json
        const target = this.objectIn(json)
        if (target === undefined) return 'doc:none'
        Object.defineProperty(target, this.pick(HOSTILE_KEYS), { value: this.rng() < 0.5 ? { polluted: 1 } : this.randomJson(), enumerable: true, configurable: true, writable: true })
        return 'doc:own-key'
      }
      case 3: { // replace a node of the json
        const path = this.path(json)
        if (path.length === 0) doc.json = this.randomJson()
        else {
          const parent = this.at(json, path.slice(0, -1))
          const last = path[path.length - 1] as string
          if (typeof parent !== 'object' || parent === null || (Array.isArray(parent) && !(Number(last) < parent.length))) return 'doc:none'
          // An own data property, even for '__proto__'.
          const ok = Reflect.defineProperty(parent, last, { value: this.randomJson(), enumerable: true, configurable: true, writable: true })
          if (!ok) return 'doc:none'
        }
        return 'doc:replace'
      }
      case 4: // meta version games
        meta.v = this.pick<unknown>([0, 2, '1', null, undefined])
        return 'doc:version'
      case 5: { // root annotation
        meta.values = this.rng() < 0.5 ? this.annotation(json) : [this.pick(TYPES), { [this.key(json)]: this.annotation(json) }]
        return 'doc:root'
      }
      case 6: { // change the type of an existing annotation
        const values = meta.values
        if (!isRecord(values) || Object.keys(values).length === 0) return 'doc:none'
        values[this.pick(Object.keys(values))] = this.rng() < 0.8 ? [this.pick(TYPES)] : this.pick<unknown>(['Date', {}, [], null, [['class']]])
        return 'doc:retype'
      }
      default: { // root referential equalities
        meta.referentialEqualities = [[this.key(json)], { [this.key(json)]: [this.key(json)] }]
        return 'doc:root-reference'
      }
    }
  }

  private at(json: unknown, path: readonly string[]): unknown {
    let node = json
    // Own properties only: the fuzzer must not pollute a prototype itself via a hostile segment.
    for (const s of path) node = typeof node === 'object' && node !== null && Object.hasOwn(node, s) ? (node as Json)[s] : undefined
    return node
  }

  private objectIn(json: unknown): Json | undefined {
    const node = this.at(json, this.path(json))
    return isRecord(node) ? node : isRecord(json) ? json : undefined
  }
}

interface Seed {
  bytes: Buffer
  signed: boolean
}

/** Stateful input generator: a deterministic function of its seed. */
export class Mutator {
  private readonly rng: () => number
  private readonly doc: DocMutator
  private readonly seeds: Seed[] = []
  private readonly bomb = deflateRawSync(Buffer.alloc(4 * 1024 * 1024))

  constructor(seed: number, plain: Envelope, signed: Envelope) {
    this.rng = mulberry32(seed)
    this.doc = new DocMutator(this.rng)
    const now = 1_700_000_000_000
    for (const [i, value] of corpusValues().entries()) {
      const entry: Entry = { value, created: now, freshUntil: now + 60_000, staleUntil: now + 90_000, tags: i % 3 === 0 ? [] : ['t:a', `t:${i} ü`] }
      this.seeds.push({ bytes: plain.encode(entry), signed: false }, { bytes: signed.encode(entry), signed: true })
    }
  }

  private int(n: number): number {
    return Math.floor(this.rng() * n)
  }

  /** One mutated input, which decoder should read it, and what was done to it. */
  next(): { bytes: Buffer; signed: boolean; kinds: string[] } {
    const seed = this.seeds[this.int(this.seeds.length)] as Seed
    const kinds: string[] = []
    // Most signed inputs are re-signed after the damage, so that it reaches the decoder
    // behind the signature check; the rest check that damage alone is refused.
    const resign = seed.signed && this.rng() < 0.7
    const body = seed.signed ? seed.bytes.subarray(0, seed.bytes.length - 32) : seed.bytes
    let bytes: Buffer = resign ? body : seed.bytes
    if (this.rng() < 0.6) {
      bytes = this.structural(body, seed.signed, kinds)
      if (seed.signed && !resign) bytes = this.rng() < 0.5 ? signWith(bytes, Buffer.from('not-the-key')) : bytes
    } else {
      for (let r = 1 + this.int(3); r > 0; r--) bytes = this.raw(bytes, kinds)
    }
    if (resign) {
      bytes = signWith(bytes, FUZZ_KEY)
      kinds.push('resigned')
    }
    return { bytes, signed: seed.signed, kinds }
  }

  /** Byte-level damage. */
  private raw(input: Buffer, kinds: string[]): Buffer {
    const bytes = Buffer.from(input)
    switch (this.int(5)) {
      case 0: {
        const i = this.int(bytes.length)
        bytes[i] = (bytes[i] as number) ^ (1 << this.int(8))
        kinds.push(`flip@${i}`)
        return bytes
      }
      case 1: {
        const i = this.int(bytes.length)
        bytes[i] = this.int(256)
        kinds.push(`byte@${i}`)
        return bytes
      }
      case 2: {
        const n = this.int(bytes.length)
        kinds.push(`truncate@${n}`)
        return bytes.subarray(0, n)
      }
      case 3: {
        const extra = Buffer.from(Array.from({ length: 1 + this.int(64) }, () => this.int(256)))
        kinds.push(`extend+${extra.length}`)
        return Buffer.concat([bytes, extra])
      }
      default: {
        const i = this.int(bytes.length)
        kinds.push(`delete@${i}`)
        return Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1 + this.int(8))])
      }
    }
  }

  /** Header, tags and document mutations of an envelope without its mac, rebuilt well-framed (no mac). */
  private structural(input: Buffer, signed: boolean, kinds: string[]): Buffer {
    const { fields, tags: tagBytes, payload: stored } = splitEnvelope(input)
    let tags = tagBytes
    let payload = stored
    let compressed = fields[1] === '1' || fields[1] === '3'
    const op = this.int(10)
    if (op === 0) {
      const i = 1 + this.int(6)
      fields[i] = this.rng() < 0.7 ? this.pick(NUMBER_TOKENS) : String(Math.floor((this.rng() - 0.5) * 2 ** (this.int(60))))
      kinds.push(`field${i}=${fields[i]}`)
    } else if (op === 1) {
      const i = 1 + this.int(6)
      const j = 1 + this.int(6)
      ;[fields[i], fields[j]] = [fields[j] as string, fields[i] as string]
      kinds.push(`swap${i}/${j}`)
    } else if (op === 2) {
      const i = 1 + this.int(6)
      fields.splice(i, this.rng() < 0.5 ? 0 : 1, fields[this.int(fields.length)] as string)
      kinds.push(`dup-or-replace${i}`)
    } else if (op === 3) {
      tags = Buffer.from(this.pick(['{"__proto__":{"polluted":1}}', '[1,2]', '["a",{}]', '"x"', '[', '["a\\u0000"]', '[]', 'null']))
      kinds.push(`tags=${tags.toString()}`)
    } else if (op === 4) {
      const [name, text] = this.pick(hostilePayloads)
      payload = Buffer.from(text)
      compressed = this.rng() < 0.3
      kinds.push(`hostile:${name}`)
    } else if (op === 5) {
      payload = this.bomb
      compressed = true
      kinds.push('zip-bomb')
    } else {
      const doc = JSON.parse((compressed ? inflateRawSync(payload) : payload).toString('utf8')) as Json
      const steps = 1 + this.int(3)
      for (let s = 0; s < steps; s++) kinds.push(this.doc.mutate(doc))
      payload = Buffer.from(JSON.stringify(doc))
    }
    if (op >= 3) {
      // Framed as the writer would: right flags and tags length (header ops keep their damage).
      if (compressed && op !== 5) payload = deflateRawSync(payload)
      fields[1] = String((compressed ? 1 : 0) | (signed ? 2 : 0))
      fields[6] = String(tags.length)
    }
    return buildEnvelope(fields.join(' '), tags, payload)
  }

  private pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)] as T
  }
}

/** One input that broke the promise. */
export interface Violation {
  iteration: number
  kinds: string[]
  problem: string
  /** The input, base64. */
  input: string
}

/** What a fuzz run saw. */
export interface FuzzReport {
  seed: number
  count: number
  outcomes: Record<string, number>
  violations: Violation[]
}

/** The decoders of a run: unsigned (compressing small payloads) and signed with {@link FUZZ_KEY}. */
export function fuzzEnvelopes(): { plain: Envelope; signed: Envelope } {
  const options = {
    codec: superjsonCodec,
    maxValueSize: 1024 * 1024,
    compressThreshold: 256,
    maxDecompressedSize: 1024 * 1024,
    strictClasses: true,
    onUnregisteredClass: () => {},
  }
  return { plain: new Envelope({ ...options, signingKeys: [] }), signed: new Envelope({ ...options, signingKeys: [FUZZ_KEY] }) }
}

/**
 * Runs the fuzzer for `count` inputs or `seconds`, whichever ends first (at least one
 * must be given), and reports outcomes and violations (at most `maxViolations`, default 20).
 */
export function runFuzz(options: { seed: number; count?: number; seconds?: number; maxViolations?: number }): FuzzReport {
  const { seed } = options
  const count = options.count ?? Infinity
  const deadline = options.seconds === undefined ? Infinity : Date.now() + options.seconds * 1000
  const maxViolations = options.maxViolations ?? 20
  const { plain, signed } = fuzzEnvelopes()
  const mutator = new Mutator(seed, plain, signed)
  const fingerprint = prototypeFingerprint()
  const report: FuzzReport = { seed, count: 0, outcomes: {}, violations: [] }
  const violate = (iteration: number, kinds: string[], problem: string, bytes: Buffer): void => {
    if (report.violations.length < maxViolations) report.violations.push({ iteration, kinds, problem, input: bytes.toString('base64') })
  }
  for (let i = 0; i < count && (i % 64 !== 0 || Date.now() < deadline); i++) {
    const { bytes, signed: isSigned, kinds } = mutator.next()
    const codeRuns = FuzzGuarded.codeRuns
    let outcome: string
    try {
      const entry = (isSigned ? signed : plain).decode(bytes)
      outcome = 'entry'
      const problem = entryProblem(entry)
      if (problem !== undefined) violate(i, kinds, problem, bytes)
    } catch (error) {
      outcome = error instanceof DecodeError || error instanceof ValueTooLargeError ? error.constructor.name : 'other'
      if (outcome === 'other') violate(i, kinds, `threw ${String(error)}`, bytes)
    }
    if (FuzzGuarded.codeRuns !== codeRuns) violate(i, kinds, 'code of a registered class ran', bytes)
    const change = i % 16 === 0 || outcome === 'entry' ? prototypeChange(fingerprint) : undefined
    if (change !== undefined) {
      violate(i, kinds, change, bytes)
      break // nothing after this is trustworthy
    }
    report.outcomes[outcome] = (report.outcomes[outcome] ?? 0) + 1
    report.count++
  }
  const change = prototypeChange(fingerprint)
  if (change !== undefined && !report.violations.some((v) => v.problem.includes('prototype'))) {
    violate(report.count, [], change, Buffer.alloc(0))
  }
  return report
}
