import { expect } from 'chai'
import { SuperJSON } from 'superjson'
import { superjsonCodec } from '../../lib/codec/envelope.ts'
import { DecodeError } from '../../lib/errors.ts'
import { plainSuperjson } from '../../lib/codec/plain-superjson.ts'
import { mulberry32 } from '../support/random.ts'

const SEED = 0x9a17
const COUNT = 3_000
const superjson = new SuperJSON()

/** Keys that need superjson's path escapes, look like indices, or are ordinary. */
const KEYS = ['a', 'id', 'créé', 'a.b', 'back\\slash', '.', '\\.', '0', '12', '', ' ', 'x'.repeat(40), '😀', '\u2028']
const STRINGS = ['', 'Ada', 'line\nbreak', '"quoted"', '\ud800 lone', '😀', '\u0000', 'x'.repeat(300)]

/** A value of JSON data and Dates (at least one Date somewhere when `dated`). */
function plainValue(random: () => number, depth: number): unknown {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T
  const roll = random()
  if (depth > 4 || roll < 0.45) {
    return pick<() => unknown>([
      () => pick(STRINGS),
      () => Math.floor(random() * 2e9) - 1e9,
      () => random() * 1e6,
      () => pick([0, Number.MAX_SAFE_INTEGER, 5e-324, 1e308]),
      () => random() < 0.5,
      () => null,
      () => new Date(Math.floor(random() * 4e12) - 1e12),
    ])()
  }
  const size = Math.floor(random() * 5)
  if (roll < 0.7) return Array.from({ length: size }, () => plainValue(random, depth + 1))
  const object: Record<string, unknown> = {}
  for (let i = 0; i < size; i++) object[pick(KEYS)] = plainValue(random, depth + 1)
  return object
}

/** Values superjson alone may write: each breaks one of the rules of the fast path. */
const declined: Array<[string, () => unknown]> = [
  ['undefined', () => ({ a: undefined })],
  ['NaN', () => ({ n: NaN })],
  ['-0', () => [-0]],
  ['Infinity', () => [Infinity]],
  ['a bigint', () => ({ b: 10n })],
  ['a Map', () => ({ m: new Map([[1, 2]]) })],
  ['a Set', () => new Set([1])],
  ['a RegExp', () => ({ r: /x/g })],
  ['a class instance', () => ({ u: new URL('https://example.com/') })],
  ['a shared object', () => { const shared = { a: 1 }; return { x: shared, y: shared } }], // prettier-ignore
  ['a shared Date', () => { const d = new Date(0); return [d, d] }], // prettier-ignore
  ['a cycle', () => { const o: Record<string, unknown> = {}; o.self = o; return o }], // prettier-ignore
  ['an inherited key', () => Object.create({ inherited: 1 }) as object],
  ['a toJSON key', () => ({ toJSON: 'x' })],
  ['a Date with its own toJSON', () => Object.assign(new Date(0), { toJSON: () => 'forged' })],
  ['a nesting deeper than 256', () => { let v: unknown = 1; for (let i = 0; i < 300; i++) v = [v]; return v }], // prettier-ignore
]

/**
 * Values the fast path declines and superjson alone would change: the codec marks them
 * (written with "mr": 1) or refuses them; spec/codec/round-trip.spec.ts checks each comes
 * back exactly.
 */
const declinedAndMarkedOrRefused: Array<[string, () => unknown]> = [
  ['a hole in an array', () => [1, , 3]], // eslint-disable-line no-sparse-arrays
  ['an invalid Date', () => ({ d: new Date(NaN) })],
  ['an Error', () => ({ e: new Error('boom') })],
  ['a null-prototype object', () => Object.assign(Object.create(null) as object, { a: 1 })],
  ['a function', () => ({ f: () => 1 })],
  ['a symbol', () => [Symbol('s')]],
  ['a symbol key', () => ({ a: 1, [Symbol('s')]: 2 })],
  ['a __proto__ key', () => JSON.parse('{"__proto__": 1}') as unknown],
  ['a constructor key', () => ({ constructor: 'Ferrari' })],
  ['a prototype key', () => ({ prototype: 1 })],
]

describe('plainSuperjson: the superjson document of JSON data and Dates, without superjson', () => {
  it(`writes exactly the bytes SuperJSON.stringify writes, for ${COUNT} generated values of JSON data and Dates`, () => {
    const random = mulberry32(SEED)
    let withDates = 0
    for (let i = 0; i < COUNT; i++) {
      const value = plainValue(random, 0)
      const expected = superjson.stringify(value)
      expect(plainSuperjson(value), `seed ${SEED}, value ${i}: ${expected}`).to.equal(expected)
      if (expected.includes('"Date"')) withDates++
    }
    // Both kinds of document were compared: with annotations and without.
    expect(withDates).to.be.within(COUNT / 10, COUNT - COUNT / 10)
  })

  it('writes a Date root, and Dates under keys that need escapes, as superjson does', () => {
    for (const value of [new Date(0), { 'a.b': { 'c\\d': new Date(1) } }, [[new Date(2)]], { '': new Date(3) }]) {
      expect(plainSuperjson(value)).to.equal(superjson.stringify(value))
    }
  })

  for (const [what, make] of declined) {
    it(`declines ${what}, and superjsonCodec.encode then writes what superjson writes`, () => {
      expect(plainSuperjson(make())).to.equal(undefined)
      let expected: string | Error
      try {
        expected = superjson.stringify(make())
      } catch (error) {
        expected = error as Error
      }
      if (typeof expected === 'string') expect(superjsonCodec.encode(make())).to.equal(expected)
      else expect(() => superjsonCodec.encode(make())).to.throw(expected.constructor as ErrorConstructor)
    })
  }

  it('declines every value once Date.prototype.toJSON is replaced, as JSON.stringify would then write something else', () => {
    const original = Date.prototype.toJSON
    Date.prototype.toJSON = () => 'replaced'
    try {
      expect(plainSuperjson({ a: 1 })).to.equal(undefined)
    } finally {
      Date.prototype.toJSON = original
    }
    expect(plainSuperjson({ a: 1 })).to.equal('{"json":{"a":1}}')
  })

  for (const [what, make] of declinedAndMarkedOrRefused) {
    it(`declines ${what}, which superjson alone would change or refuse`, () => {
      expect(plainSuperjson(make())).to.equal(undefined)
    })
  }
})

describe('superjsonCodec.decode of documents whose only annotations are Dates (restored without superjson)', () => {
  const decode = (text: string): unknown => superjsonCodec.decode(Buffer.from(text))

  it(`gives what superjson.parse gives, for ${COUNT} generated values of JSON data and Dates`, () => {
    const random = mulberry32(SEED + 1)
    for (let i = 0; i < COUNT; i++) {
      const text = superjson.stringify(plainValue(random, 0))
      expect(decode(text), `seed ${SEED + 1}, value ${i}: ${text}`).to.deep.equal(superjson.parse(text))
    }
  })

  const hostile: Array<[string, string]> = [
    ['a path to a missing key', '{"json":{"a":"2020-01-01T00:00:00.000Z"},"meta":{"values":{"b":["Date"]},"v":1}}'],
    ['a path through a leaf', '{"json":{"a":"x"},"meta":{"values":{"a.b":["Date"]},"v":1}}'],
    ['an index out of range', '{"json":{"a":["x"]},"meta":{"values":{"a.1":["Date"]},"v":1}}'],
    ['an index that is not canonical', '{"json":{"a":["x"]},"meta":{"values":{"a.00":["Date"]},"v":1}}'],
    ['an inherited property', '{"json":{"a":{}},"meta":{"values":{"a.toString":["Date"]},"v":1}}'],
    ['a __proto__ segment', '{"json":{"a":{}},"meta":{"values":{"a.__proto__":["Date"]},"v":1}}'],
    ['a number where the Date should be', '{"json":{"a":1},"meta":{"values":{"a":["Date"]},"v":1}}'],
    ['an object where the Date should be', '{"json":{"a":{"b":1}},"meta":{"values":{"a":["Date"]},"v":1}}'],
    ['a bad escape', '{"json":{"a":"x"},"meta":{"values":{"a\\\\x":["Date"]},"v":1}}'],
    ['an unknown top-level key', '{"json":{"a":"x"},"meta":{"values":{"a":["Date"]},"v":1},"extra":1}'],
    ['an unknown meta key', '{"json":{"a":"x"},"meta":{"values":{"a":["Date"]},"v":1,"w":2}}'],
    ['another meta version', '{"json":{"a":"x"},"meta":{"values":{"a":["Date"]},"v":0}}'],
  ]
  for (const [what, text] of hostile) {
    it(`refuses ${what} with DecodeError, and changes no prototype`, () => {
      expect(() => decode(text)).to.throw(DecodeError)
      expect(Object.getOwnPropertyNames(Object.prototype)).not.to.include('a')
    })
  }

  it('restores a Date under keys with escapes and inside arrays, in place', () => {
    const value = { 'a.b': [{ 'c\\d': new Date(5) }], '': new Date(6) }
    expect(decode(superjson.stringify(value))).to.deep.equal(value)
  })
})
