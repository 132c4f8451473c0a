import { expect } from 'chai'
import { EncodeError, registerClass } from '../../lib/index.ts'
import { record, useCaches } from '../fixtures/stampede-helpers.ts'

/**
 * Every value either comes back exactly, through a real Redis into a second cache (its
 * own L1), or is refused before it is stored: an `error` event with `ERR_ENCODE`, the
 * caller still gets its value, and neither Redis nor the writer's L1 keeps it.
 * "Exactly" is {@link difference}: it sees -0 and NaN, holes, prototypes, symbol keys,
 * property order and enumerability, an own `cause`, and shared references.
 */

class Car {
  constructor(
    public model: string,
    public extras: object,
  ) {}
}
registerClass(Car, { name: 'round-trip.Car' })

type Obj = Record<PropertyKey, unknown>
const proto = (v: object): object | null => Object.getPrototypeOf(v) as object | null

/** Where `b` differs from `a` (a path and why), or undefined when it is the same value. */
function difference(a: unknown, b: unknown, path = 'value', pairs = new Map<object, unknown>()): string | undefined {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) {
    return Object.is(a, b) ? undefined : `${path}: ${String(a)} became ${String(b)}`
  }
  if (pairs.has(a)) return pairs.get(a) === b ? undefined : `${path}: a shared reference became two objects`
  if ([...pairs.values()].includes(b)) return `${path}: two objects became one`
  pairs.set(a, b)
  if (proto(a) !== proto(b)) return `${path}: the prototype changed`
  const at = (key: PropertyKey): string => `${path}[${String(key)}]`
  if (a instanceof Date) return Object.is(a.getTime(), (b as Date).getTime()) ? undefined : `${path}: the time changed`
  if (a instanceof RegExp || a instanceof URL) return String(a) === String(b) ? undefined : `${path}: changed`
  if (ArrayBuffer.isView(a)) {
    const x = a as unknown as ArrayLike<unknown>
    const y = b as unknown as ArrayLike<unknown>
    if (x.length !== y.length) return `${path}: the length changed`
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return `${at(i)}: ${String(x[i])} became ${String(y[i])}`
    return undefined
  }
  if (a instanceof Map || a instanceof Set) {
    const x = [...(a as Map<unknown, unknown>)]
    const y = [...(b as Map<unknown, unknown>)]
    if (x.length !== y.length) return `${path}: the size changed`
    for (let i = 0; i < x.length; i++) {
      const found = difference(x[i], y[i], at(i), pairs)
      if (found !== undefined) return found
    }
    return undefined
  }
  return ownDifference(a, b as object, path, pairs)
}

/** Own keys (with symbols, order and enumerability; an Error's as a set, its stack aside) and their values. */
function ownDifference(a: object, b: object, path: string, pairs: Map<object, unknown>): string | undefined {
  const error = a instanceof Error
  const keysOf = (v: object): PropertyKey[] => {
    const keys = Reflect.ownKeys(v).filter((k) => !(error && k === 'stack'))
    return error ? keys.map(String).sort() : keys
  }
  const [x, y] = [keysOf(a), keysOf(b)]
  if (x.length !== y.length || x.some((k, i) => k !== y[i])) return `${path}: own keys [${x.map(String).join()}] became [${y.map(String).join()}]`
  if (error && ((a as Error).message !== (b as Error).message || (a as Error).name !== (b as Error).name)) return `${path}: name or message changed`
  for (const key of x) {
    if (Object.prototype.propertyIsEnumerable.call(a, key) !== Object.prototype.propertyIsEnumerable.call(b, key)) return `${path}[${String(key)}]: enumerability changed`
    const found = difference((a as Obj)[key], (b as Obj)[key], `${path}[${String(key)}]`, pairs)
    if (found !== undefined) return found
  }
  return undefined
}

const nullProto = (fields: Obj): object => Object.assign(Object.create(null) as object, fields)
const withFields = <E extends Error>(error: E, fields: Obj): E => Object.assign(error, fields)
const own = (key: string, value: unknown): Obj => {
  const o: Obj = {}
  Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true })
  return o
}

/** Values that come back exactly. */
const kept: Array<[string, () => unknown]> = [
  ['Float64Array with NaN, ±Infinity and -0', () => new Float64Array([NaN, Infinity, -Infinity, -0, 1.5])],
  ['Float32Array with NaN, ±Infinity and -0', () => ({ f: new Float32Array([NaN, Infinity, -Infinity, -0, 0.1]) })],
  ['plain typed arrays', () => [new Float64Array([0.1, 2]), new Int16Array([-3, 4]), new Uint8Array([255])]],
  ['an Invalid Date, alone and inside a value', () => [new Date(NaN), { at: new Date(NaN), ok: new Date(0) }]],
  ['-0, NaN and ±Infinity in plain data', () => ({ z: -0, n: NaN, i: [Infinity, -Infinity] })],
  ['a null-prototype object, nested and shared', () => { const n = nullProto({ a: 1, inner: nullProto({}) }); return { n, again: [n] } }], // prettier-ignore
  ['{ constructor: "Ferrari" }', () => ({ constructor: 'Ferrari' })],
  ['own __proto__, constructor and prototype keys, nested, in order', () => ({ a: 1, ...own('__proto__', { prototype: own('__proto__', 2) }), constructor: { x: new Date(5) }, z: 3 })],
  ['keys that start with the escape character beside an escaped key', () => ({ constructor: 1, '\u0001': 2, '\u0001constructor': 3, '\u0001\u0001': 4 })],
  ['keys that start with the escape character, alone', () => ({ '\u0001': 1, '\u0001a': [2] })],
  ['a null-prototype object with a __proto__ key', () => nullProto(own('__proto__', 'not a prototype'))],
  ['a Map and a Set holding escaped and null-prototype objects', () => new Map<unknown, unknown>([[{ constructor: 1 }, new Set([nullProto({ b: 2 })])]])],
  ['a registered class instance holding an escaped object', () => new Car('T', { constructor: 'Ferrari' })],
  ['an Error without a cause', () => new Error('boom')],
  ['an Error with a cause, and one whose cause is undefined', () => [new Error('a', { cause: { code: 1 } }), new Error('b', { cause: undefined })]],
  ['built-in Error classes', () => [new TypeError('t'), new RangeError('r'), new SyntaxError('s'), new URIError('u'), new EvalError('e'), new ReferenceError('f')]],
  ['an Error with fields of its own and an own name', () => withFields(new RangeError('r', { cause: new TypeError('inner') }), { code: 'E_RANGE', at: new Date(3), name: 'Custom' })],
  ['a chain of causes', () => new Error('outer', { cause: new Error('middle', { cause: new TypeError('inner') }) })],
  ['shared references and cycles in plain data', () => { const s = { a: 1 }; const o: Obj = { s, list: [s] }; o.self = o; return o }], // prettier-ignore
  ['undefined in objects and arrays', () => ({ u: undefined, list: [undefined, 1] })],
  ['plain JSON and Dates', () => ({ id: 1, name: 'Ada', tags: ['x'], born: new Date(0), nested: { ok: true, none: null } })],
]

/** Values that cannot come back exactly, refused before they are stored. */
const refused: Array<[string, () => unknown]> = [
  ['an array with holes', () => ({ list: [1, , 3] })], // eslint-disable-line no-sparse-arrays
  ['a symbol key', () => ({ a: 1, [Symbol('s')]: 2 })],
  ['a symbol key on a null-prototype object', () => nullProto({ [Symbol('s')]: 2 })],
  ['a symbol value', () => [Symbol('s')]],
  ['a function value', () => ({ f: () => 1 })],
  ['a registered class instance with an own constructor field', () => Object.assign(new Car('T', {}), { constructor: 'x' })],
  ['an object shared through a class instance', () => { const s = { a: 1 }; return { s, car: new Car('T', s) } }], // prettier-ignore
  ['a cycle through an Error', () => { const e = new Error('loop'); e.cause = { e }; return e }], // prettier-ignore
]

describe('values through Redis: exactly the same, or refused before they are stored', () => {
  const { redis, make } = useCaches()

  it('tells apart what it should (the comparison itself)', () => {
    expect(difference(new Float64Array([-0]), new Float64Array([0]))).to.match(/-?0 became 0/)
    expect(difference([1, , 3], [1, undefined, 3])).to.match(/own keys/) // eslint-disable-line no-sparse-arrays
    expect(difference(nullProto({}), {})).to.match(/prototype/)
    expect(difference({ [Symbol('s')]: 1 }, {})).to.match(/own keys/)
    expect(difference(new Error('x'), new Error('x', { cause: undefined }))).to.match(/own keys/)
    expect(difference(new TypeError('x'), new Error('x'))).to.match(/prototype/)
    const s = {}
    expect(difference([s, s], [{}, {}])).to.match(/shared/)
    expect(difference({ a: 1, b: 2 }, { b: 2, a: 1 })).to.match(/own keys/)
  })

  for (const [what, make_] of kept) {
    it(`keeps ${what}`, async () => {
      const [writer, reader] = [make(), make()]
      const errors = record(writer, 'error')
      const value = make_()
      expect(await writer.getOrSet('v', () => value)).to.equal(value)
      expect(errors).to.deep.equal([])
      const back = await reader.getOrSet('v', () => 'not from Redis')
      expect(back).to.not.equal('not from Redis')
      expect(difference(make_(), back)).to.equal(undefined)
    })
  }

  for (const [what, make_] of refused) {
    it(`refuses ${what} with ERR_ENCODE, storing it nowhere`, async () => {
      const writer = make()
      const errors = record(writer, 'error')
      const value = make_()
      expect(await writer.getOrSet('v', () => value)).to.equal(value)
      expect(errors).to.have.length(1)
      expect(errors[0]?.error).to.be.instanceOf(EncodeError)
      expect(errors[0]?.error.code).to.equal('ERR_ENCODE')
      expect(await redis.client.exists('spec:default:v')).to.equal(0)
      // Not in the writer's L1 either: the next call runs the function.
      expect(await writer.getOrSet('v', () => 'computed again')).to.equal('computed again')
    })
  }
})
