import { createHash } from 'node:crypto'
import { mulberry32 } from '../support/random.ts'
import { expect } from 'chai'
import { InvalidOptionError, MemoredisError, UnkeyableArgumentError } from '../../lib/errors.ts'
import { digest, encodeArgs, encodeOne, keySegment } from '../../lib/keys/arguments.ts'
import { registerClass } from '../../lib/codec/registry.ts'

class KeySpecPoint {
  constructor(
    public x: number,
    public y: number,
  ) {}
}
class KeySpecRenamed {
  constructor(public x: number) {}
}
class KeySpecLoose {
  constructor(public x: number) {}
}
class KeySpecOther {
  constructor(public x: number) {}
}
registerClass(KeySpecPoint)
registerClass(KeySpecRenamed, { name: 'key-spec.Renamed' })

/** The error encodeArgs throws for `args`; fails the test when it throws nothing or something else. */
function unkeyable(args: readonly unknown[]): UnkeyableArgumentError {
  try {
    encodeArgs(args)
  } catch (error) {
    expect(error).to.be.instanceOf(UnkeyableArgumentError)
    return error as UnkeyableArgumentError
  }
  return expect.fail(`encodeArgs(${String(args)}) did not throw`)
}

function allDistinct(values: readonly (readonly unknown[])[]): void {
  const seen = new Map<string, number>()
  values.forEach((args, i) => {
    const text = encodeArgs(args)
    expect(seen.has(text), `arguments #${seen.get(text)} and #${i} share the encoding ${text}`).to.equal(false)
    seen.set(text, i)
  })
}

function withProps(target: object, entries: readonly (readonly [string, unknown])[]): object {
  for (const [k, v] of entries) Object.defineProperty(target, k, { value: v, enumerable: true, writable: true, configurable: true })
  return target
}

describe('encodeArgs', () => {
  describe('primitives', () => {
    it('gives 1, "1", 1n, true, null and undefined six different encodings', () => {
      allDistinct([[1], ['1'], [1n], [true], [null], [undefined]])
      expect([1, '1', 1n, true, null, undefined].map((v) => encodeArgs([v]))).to.deep.equal(['d1;', 's1:1', 'i1;', 't', 'n', 'u'])
    })

    it('keys -0 apart from 0, and every NaN alike whatever its bits', () => {
      expect(encodeArgs([-0])).to.equal('d-0;')
      expect(encodeArgs([0])).to.equal('d0;')
      const otherNaN = new Float64Array(new Uint32Array([1, 0x7ff80000]).buffer)[0]
      expect(Number.isNaN(otherNaN)).to.equal(true)
      expect(encodeArgs([otherNaN])).to.equal(encodeArgs([NaN])).and.to.equal('dNaN;')
      expect(encodeArgs([0 / 0])).to.equal('dNaN;')
    })

    it('writes numbers in their shortest round-trip form', () => {
      allDistinct([[0.1 + 0.2], [0.3], [Infinity], [-Infinity], [1e21], [5e-324], [2 ** 53], [2 ** 53 + 2], [-1]])
      expect(encodeArgs([0.1 + 0.2, 1e21, -Infinity])).to.equal('d0.30000000000000004;d1e+21;d-Infinity;')
    })

    it('keys bigints by their digits, sign included', () => {
      expect(encodeArgs([2n ** 70n, -5n])).to.equal(`i${2n ** 70n};i-5;`)
      allDistinct([[0n], [-0n, 1n], [1n], [-1n], [0]])
    })

    it('encodes no arguments as the empty string, so f() and f(undefined) differ', () => {
      expect(encodeArgs([])).to.equal('')
      expect(encodeArgs([undefined])).to.equal('u')
      allDistinct([[], [undefined], [undefined, undefined]])
    })
  })

  describe('strings', () => {
    it('length-prefixes every string so its content cannot fake structure', () => {
      expect(encodeArgs(['a:b'])).to.equal('s3:a:b')
      allDistinct([['a', 'b'], ['a' + encodeArgs(['b'])], ['ab'], ['s1:a'], ['(', ')'], ['()'], [')s0:'], ['d1;'], [1]])
    })

    it('keeps quotes, separators, unicode and lone surrogates apart', () => {
      allDistinct([['"'], ["'"], ['\\'], [':'], ['é'], ['e\u0301'], ['😀'], ['\ud83d'], ['\ude00'], ['\ufffd'], [''], [' ']])
    })
  })

  describe('objects', () => {
    it('ignores the order in which keys were written', () => {
      const a = encodeArgs([{ id: 42, name: 'x', nested: { z: 1, a: 2 } }])
      const b = encodeArgs([{ nested: { a: 2, z: 1 }, name: 'x', id: 42 }])
      expect(a).to.equal(b).and.to.equal('<2:idd42;4:names1:x6:nested<1:ad2;1:zd1;>>')
    })

    it('sorts integer-like keys as text, whatever order the engine lists them in', () => {
      expect(encodeArgs([{ b: 1, 10: 2, 9: 3, '01': 4 }])).to.equal(encodeArgs([{ '01': 4, 9: 3, b: 1, 10: 2 }]))
      expect(encodeArgs([{ 10: 2, 9: 3 }])).to.equal('<2:10d2;1:9d3;>')
    })

    it('keys a null-prototype object like a plain one', () => {
      const bare = Object.assign(Object.create(null) as object, { b: 2, a: 1 })
      expect(encodeArgs([bare])).to.equal(encodeArgs([{ a: 1, b: 2 }]))
    })

    it('tells a key holding undefined from a missing key', () => {
      allDistinct([[{}], [{ a: undefined }], [{ a: null }]])
    })

    it('keys an own "__proto__" property like any other', () => {
      const own = withProps({}, [['__proto__', 1]])
      expect(encodeArgs([own])).to.equal('<9:__proto__d1;>')
      expect(encodeArgs([{}])).to.equal('<>')
    })

    it('counts only own enumerable properties', () => {
      const hidden = Object.defineProperty({ a: 1 }, 'secret', { value: 2, enumerable: false })
      const inherited = Object.assign(Object.create({ inherited: 1 }) as object, { a: 1 })
      expect(encodeArgs([hidden])).to.equal(encodeArgs([{ a: 1 }]))
      // An object with another prototype is an instance of a class (here `Object` of another chain).
      expect(encodeArgs([inherited])).to.equal('O6:Object<1:ad1;>')
    })

    it('reads getters and ignores non-enumerable symbol keys', () => {
      const o = { get v() { return 7 } }
      Object.defineProperty(o, Symbol('internal'), { value: 1, enumerable: false })
      expect(encodeArgs([o])).to.equal('<1:vd7;>')
    })

    it('does not call toJSON: an object is keyed by what it holds', () => {
      class Loud {
        constructor(public v: number) {}
        toJSON(): string {
          return 'same'
        }
      }
      allDistinct([[new Loud(1)], [new Loud(2)]])
      const date = new Date(5)
      Object.defineProperty(date, 'toJSON', { value: () => 'same', enumerable: false })
      expect(encodeArgs([date])).to.equal('D5;')
    })
  })

  describe('arrays', () => {
    it('keeps arrays, objects and array-likes apart', () => {
      function args(..._: unknown[]): IArguments {
        // eslint-disable-next-line prefer-rest-params -- the arguments object is the array-like under test
        return arguments
      }
      allDistinct([[[1]], [{ 0: 1 }], [{ 0: 1, length: 1 }], [new Set([1])], [[[1]]], [[]], [{}]])
      // An arguments object is an object whose only enumerable keys are its indexes.
      expect(encodeArgs([args(1)])).to.equal(encodeArgs([{ 0: 1 }])).and.to.not.equal(encodeArgs([[1]]))
      expect(encodeArgs([[1, [2, []]]])).to.equal('(d1;(d2;()))')
    })

    it('encodes holes deterministically and apart from undefined', () => {
      // eslint-disable-next-line no-sparse-arrays -- holes are the point
      const sparse = [1, , 3]
      const trailing = new Array<unknown>(3)
      trailing[0] = 1
      expect(encodeArgs([sparse])).to.equal('(d1;_d3;)')
      expect(encodeArgs([trailing])).to.equal('(d1;__)')
      allDistinct([[[1, undefined, 3]], [sparse], [[1, 3]], [[1, null, 3]], [trailing], [[1, undefined, undefined]]])
    })

    it('ignores properties of an array that are not indexes', () => {
      const tagged = Object.assign([1, 2], { note: 'x' })
      expect(encodeArgs([tagged])).to.equal(encodeArgs([[1, 2]]))
    })

    it('accepts a value met twice without a cycle (a DAG)', () => {
      const shared = { id: 1 }
      const dag = { a: shared, b: [shared, { c: shared }] }
      expect(encodeArgs([dag, shared])).to.equal('<1:a<2:idd1;>1:b(<2:idd1;><1:c<2:idd1;>>)><2:idd1;>')
    })
  })

  describe('built-in types', () => {
    it('keys Dates by their time value, invalid Dates alike and apart from valid ones', () => {
      expect(encodeArgs([new Date(0), new Date('2024-01-02T03:04:05.006Z')])).to.equal('D0;D1704164645006;')
      expect(encodeArgs([new Date('nope')])).to.equal(encodeArgs([new Date(NaN)])).and.to.equal('DNaN;')
      allDistinct([[new Date(0)], [new Date(1)], [new Date(NaN)], [0], [NaN], ['1970-01-01T00:00:00.000Z']])
    })

    it('sorts Map entries, so insertion order does not matter', () => {
      const a = new Map<unknown, unknown>([['b', 2], ['a', 1], [1, 'one']])
      const b = new Map<unknown, unknown>([[1, 'one'], ['a', 1], ['b', 2]])
      expect(encodeArgs([a])).to.equal(encodeArgs([b]))
      allDistinct([[new Map([[1, 'a']])], [new Map([['1', 'a']])], [new Map([[1, 'b']])], [new Map()], [{ 1: 'a' }], [[[1, 'a']]]])
    })

    it('keys Maps with object keys by content, and entries with alike keys by their values', () => {
      const a = new Map<object, number>([[{ k: 1 }, 1], [{ k: 1 }, 2], [[0], 3]])
      const b = new Map<object, number>([[[0], 3], [{ k: 1 }, 2], [{ k: 1 }, 1]])
      expect(encodeArgs([a])).to.equal(encodeArgs([b]))
      expect(encodeArgs([new Map([[{ k: 1 }, 1]])])).to.not.equal(encodeArgs([new Map([[{ k: 1 }, 2]])]))
    })

    it('sorts Set members, so insertion order does not matter', () => {
      expect(encodeArgs([new Set([3, 'x', 1n, null])])).to.equal(encodeArgs([new Set([null, 1n, 'x', 3])]))
      expect(encodeArgs([new Set([2, 1])])).to.equal('S(d1;d2;)')
      allDistinct([[new Set([1])], [new Set(['1'])], [new Set()], [[1]], [new Set([1, 2])], [new Map([[1, 1]])]])
    })

    it('keys Buffers, typed arrays, DataViews and ArrayBuffers by type name and bytes', () => {
      const bytes = [1, 2, 3, 4]
      const buffer = new Uint8Array(bytes).buffer
      const all = [
        Buffer.from(bytes), new Uint8Array(bytes), new Int8Array(bytes), new Uint8ClampedArray(bytes),
        new Uint16Array(buffer), new Int16Array(buffer), new Uint32Array(buffer), new Int32Array(buffer),
        new Float32Array(buffer), new DataView(buffer), buffer, new BigInt64Array(8), new BigUint64Array(8),
        new Float64Array(8), new SharedArrayBuffer(4),
      ]
      allDistinct(all.map((v) => [v]))
      expect(encodeArgs([Buffer.from('hi')])).to.equal('B6:Buffer4:aGk=')
      expect(encodeArgs([new Uint8Array([1, 2])])).to.equal(encodeArgs([new Uint8Array([1, 2])]))
      allDistinct([[new Uint8Array([1, 2])], [new Uint8Array([2, 1])], [new Uint8Array([1])], [new Uint8Array()]])
    })

    it('keys a view by its own window of the buffer, not the whole buffer', () => {
      const big = new Uint8Array([9, 9, 1, 2, 9])
      expect(encodeArgs([big.subarray(2, 4)])).to.equal(encodeArgs([new Uint8Array([1, 2])]))
      expect(encodeArgs([new DataView(big.buffer, 2, 2)])).to.equal(encodeArgs([new DataView(new Uint8Array([1, 2]).buffer)]))
      expect(encodeArgs([Buffer.from(big.buffer, 2, 2)])).to.equal(encodeArgs([Buffer.from([1, 2])]))
    })

    it('keys RegExps by source and flags, not lastIndex', () => {
      const used = /a.b/g
      used.lastIndex = 3
      expect(encodeArgs([used])).to.equal(encodeArgs([/a.b/g])).and.to.equal('R3:a.bg;')
      allDistinct([[/a/], [/a/i], [/A/], ['/a/'], [/a/gi], [new RegExp('')]])
    })

    it('keys boxed primitives, URLs, URLSearchParams and Errors by their hidden values', () => {
      allDistinct([[Object(1)], [Object(2)], [1], [Object('1')], [Object(1n)], [Object(true)], [Object(false)]])
      allDistinct([[new URL('https://a.example/x')], [new URL('https://a.example/y')], ['https://a.example/x']])
      allDistinct([[new URLSearchParams('a=1')], [new URLSearchParams('a=2')]])
      allDistinct([[new Error('a')], [new Error('b')], [new TypeError('a')], [Object.assign(new Error('a'), { code: 1 })]])
      expect(encodeArgs([new URL('https://a.example/x')])).to.equal('U19:https://a.example/x')
    })
  })

  describe('class instances', () => {
    it('keys an instance of a registered class by tag, registered name and own properties', () => {
      expect(encodeArgs([new KeySpecPoint(1, 2)])).to.equal('C12:KeySpecPoint<1:xd1;1:yd2;>')
      expect(encodeArgs([new KeySpecRenamed(1)])).to.equal('C16:key-spec.Renamed<1:xd1;>')
      allDistinct([[new KeySpecPoint(1, 2)], [new KeySpecPoint(2, 1)], [{ x: 1, y: 2 }]])
    })

    it('keys an instance of an unregistered class by its constructor name and own properties', () => {
      expect(encodeArgs([new KeySpecLoose(1)])).to.equal('O12:KeySpecLoose<1:xd1;>')
      expect(encodeArgs([new KeySpecLoose(1)])).to.equal(encodeArgs([new KeySpecLoose(1)]))
      allDistinct([[new KeySpecLoose(1)], [new KeySpecLoose(2)], [new KeySpecOther(1)], [{ x: 1 }], [new KeySpecRenamed(1)]])
    })

    it('never keys a registered class like an unregistered one of the same name', () => {
      const Impostor = {
        KeySpecPoint: class {
          constructor(
            public x: number,
            public y: number,
          ) {}
        },
      }.KeySpecPoint
      expect(Impostor.name).to.equal('KeySpecPoint')
      expect(encodeArgs([new Impostor(1, 2)])).to.equal('O12:KeySpecPoint<1:xd1;1:yd2;>')
      allDistinct([[new KeySpecPoint(1, 2)], [new Impostor(1, 2)]])
    })

    it('ignores methods on the prototype', () => {
      class WithMethod {
        v = 1
        run(): number {
          return this.v
        }
      }
      expect(encodeArgs([new WithMethod()])).to.equal('O10:WithMethod<1:vd1;>')
    })
  })

  describe('refusals', () => {
    it('refuses a function with ERR_UNKEYABLE_ARGUMENT and the path to it', () => {
      const error = unkeyable([1, { user: { tags: ['a', 'b', () => 0] } }])
      expect(error).to.be.instanceOf(MemoredisError)
      expect(error.code).to.equal('ERR_UNKEYABLE_ARGUMENT')
      expect(error.path).to.equal('args[1].user.tags[2]')
      expect(error.message).to.equal('a function cannot be part of a key at args[1].user.tags[2]')
      expect(unkeyable([() => 0]).path).to.equal('args[0]')
    })

    it('refuses symbols as values and as enumerable keys', () => {
      expect(unkeyable([Symbol('s')]).path).to.equal('args[0]')
      expect(unkeyable([{ a: [Symbol.iterator] }]).path).to.equal('args[0].a[0]')
      const error = unkeyable([{ ok: 1, [Symbol('tag')]: 1 }])
      expect(error.path).to.equal('args[0][Symbol(tag)]')
      expect(error.message).to.match(/symbol-keyed property/)
      expect(unkeyable([Object(Symbol('boxed'))]).path).to.equal('args[0]')
    })

    it('refuses WeakMap, WeakSet, WeakRef, Promise and iterators', () => {
      function* gen(): Generator<number> {
        yield 1
      }
      const values = [new WeakMap(), new WeakSet(), new WeakRef({}), Promise.resolve(1), gen(), new Map().keys(), new Set().values()]
      for (const value of values) {
        const error = unkeyable([{ v: value }])
        expect(error.path).to.equal('args[0].v')
      }
      expect(unkeyable([Promise.resolve()]).message).to.equal('a Promise cannot be part of a key at args[0]')
    })

    it('refuses cycles, naming where the cycle closes', () => {
      const self: Record<string, unknown> = {}
      self.me = self
      expect(unkeyable([self]).path).to.equal('args[0].me')
      const a: Record<string, unknown> = {}
      a.list = [{ back: a }]
      const error = unkeyable([a])
      expect(error.path).to.equal('args[0].list[0].back')
      expect(error.message).to.match(/cycle/)
      const arr: unknown[] = []
      arr.push(arr)
      expect(unkeyable([arr]).path).to.equal('args[0][0]')
    })

    it('names paths through Map keys, Map values, Set members and odd property names', () => {
      const m = new Map<unknown, unknown>([['ok', 1], ['bad', () => 0]])
      expect(unkeyable([m]).path).to.equal('args[0].get("bad")')
      expect(unkeyable([new Map([[() => 0, 1]])]).path).to.equal('args[0].keys()[0]')
      expect(unkeyable([new Map([[{ k: 1 }, () => 0]])]).path).to.equal('args[0].get({…})')
      expect(unkeyable([new Set([1, () => 0])]).path).to.equal('args[0].values()[1]')
      expect(unkeyable([{ 'a b': { 3: () => 0 } }]).path).to.equal('args[0]["a b"]["3"]')
      const looped = new Map<string, unknown>()
      looped.set('self', looped)
      expect(unkeyable([looped]).path).to.equal('args[0].get("self")')
    })

    it('starts clean after a refusal', () => {
      const shared = { n: 1 }
      unkeyable([{ a: shared, b: [shared, new Map([[1, () => 0]])] }])
      expect(encodeArgs([shared, [shared]])).to.equal('<1:nd1;>(<1:nd1;>)')
    })

    it('lets a getter memoize too: a re-entrant call neither sees a false cycle nor breaks the outer path', () => {
      let calls = 0
      const node: Record<string, unknown> = {}
      Object.defineProperty(node, 'inner', { enumerable: true, get: () => (calls++ === 0 ? encodeArgs([node]) : 'stop') })
      const inner = '<5:inners4:stop>'
      expect(encodeArgs([node])).to.equal(`<5:inners${inner.length}:${inner}>`)

      let innerPath = ''
      const outer = {
        get a() {
          try {
            encodeArgs([{ deep: [() => 0] }])
          } catch (error) {
            innerPath = (error as UnkeyableArgumentError).path
          }
          return 1
        },
        b: { fn: () => 0 },
      }
      expect(unkeyable([outer]).path).to.equal('args[0].b.fn')
      expect(innerPath).to.equal('args[0].deep[0]')
    })
  })

  describe('depth', () => {
    it('refuses arguments nested too deeply to walk with UnkeyableArgumentError', () => {
      let deep: unknown[] = []
      for (let i = 0; i < 100_000; i++) deep = [deep]
      const error = unkeyable([deep])
      expect(error.path).to.equal('args')
      expect(error.message).to.match(/nested too deeply/)
    })
  })
})

describe('encodeOne (the fast path of one string or number argument)', () => {
  it('gives the text encodeArgs gives, or undefined to leave the call to it', () => {
    const random = mulberry32(20261130)
    const values: unknown[] = [0, -0, 1, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 60, 1e-300, '', 'a', 'a:b', '😀', '\u0000', 1n, null, undefined, true, {}, []]
    for (let i = 0; i < 2_000; i++) {
      values.push((random() - 0.5) * 10 ** Math.floor(random() * 30))
      values.push(String.fromCodePoint(...Array.from({ length: Math.floor(random() * 6) }, () => Math.floor(random() * 0x10000))))
    }
    let fast = 0
    for (const value of values) {
      const one = encodeOne([value])
      if (one !== undefined) {
        fast++
        expect(one, String(value)).to.equal(encodeArgs([value]))
      }
    }
    expect(fast).to.be.above(3_900)
    expect(encodeOne([0]), 'zero (-0 looks alike) is left to encodeArgs').to.equal(undefined)
    expect(encodeOne(['a', 'b'])).to.equal(undefined)
    expect(encodeOne([])).to.equal(undefined)
  })
})

describe('digest', () => {
  it('returns short printable encodings as they are', () => {
    expect(digest('s2:42')).to.equal('s2:42')
    expect(digest(encodeArgs([{ id: 42, tags: ['a'] }]))).to.equal('<2:idd42;4:tags(s1:a)>')
    expect(digest('x'.repeat(64))).to.equal('x'.repeat(64))
  })

  it('hashes long text as # and the base64url SHA-256 of it', () => {
    const long = 'x'.repeat(65)
    const expected = '#' + createHash('sha256').update(long).digest('base64url')
    expect(digest(long)).to.equal(expected)
    expect(expected).to.match(/^#[A-Za-z0-9_-]{43}$/)
  })

  it('hashes whitespace, non-ASCII, controls, glob and brace characters, and a leading #', () => {
    for (const text of ['s3:a b', 's1:é', 's1:\t', 's1:\x7f', 's1:*', 's1:?', 's1:[', 's1:]', 's1:{', 's1:}', 's1:\\', '#abc', '']) {
      const result = digest(text)
      if (text === '') expect(result).to.equal('')
      else expect(result, JSON.stringify(text)).to.match(/^#[A-Za-z0-9_-]{43}$/)
    }
    expect(digest('a#b')).to.equal('a#b')
  })

  it('keeps texts that differ only in lone surrogates apart (UTF-8 would merge them)', () => {
    const texts = [encodeArgs(['\ud800']), encodeArgs(['\ud801']), encodeArgs(['\ufffd']), encodeArgs(['\udc00'])]
    expect(new Set(texts.map(digest)).size).to.equal(4)
  })

  it('never returns raw text that starts with # for any encoding', () => {
    for (const args of [[1], ['#'], [{ '#': 1 }], [[]], [null]]) {
      expect(encodeArgs(args).startsWith('#')).to.equal(false)
      expect(digest(encodeArgs(args)).startsWith('#')).to.equal(false)
    }
  })
})

describe('keySegment', () => {
  it('leaves ordinary names as they are', () => {
    for (const name of ['getUser', 'users.find', 'a-b_c', 'Größe', '名前', '😀', 'v2#x']) expect(keySegment(name)).to.equal(name)
  })

  it('percent-encodes %, :, whitespace, glob characters, braces, backslash, ! and controls', () => {
    const expected: Record<string, string> = {
      '%': '%25', ':': '%3A', ' ': '%20', '\t': '%09', '\n': '%0A', '*': '%2A', '?': '%3F', '[': '%5B', ']': '%5D',
      '{': '%7B', '}': '%7D', '\\': '%5C', '!': '%21', '\x00': '%00', '\x7f': '%7F', '\u0085': '%C2%85',
      '\u00a0': '%C2%A0', '\u2028': '%E2%80%A8', '\u3000': '%E3%80%80', '\ufeff': '%EF%BB%BF',
    }
    for (const [raw, escaped] of Object.entries(expected)) expect(keySegment(`a${raw}b`), JSON.stringify(raw)).to.equal(`a${escaped}b`)
    expect(keySegment('users:{eu}*')).to.equal('users%3A%7Beu%7D%2A')
  })

  it('escapes lone surrogates and keeps well-formed pairs', () => {
    expect(keySegment('a\ud800b')).to.equal('a%uD800b')
    expect(keySegment('\udc00')).to.equal('%uDC00')
    expect(keySegment('😀\ud83d')).to.equal('😀%uD83D')
  })

  it('keeps escaped and unescaped look-alikes apart', () => {
    const inputs = [':', '%3A', '%253A', '%', '%25', '%uD800', '\ud800', 'a b', 'a%20b']
    expect(new Set(inputs.map(keySegment)).size).to.equal(inputs.length)
  })

  it('refuses empty text with InvalidOptionError', () => {
    expect(() => keySegment('')).to.throw(InvalidOptionError).with.property('code', 'ERR_INVALID_OPTION')
  })

  it('never lets a forbidden character through and never maps two texts to one, for random unicode', () => {
    const seed = seedFromEnv()
    const random = prng(seed)
    const alphabet = [...'%:*?[]{}\\! \t\n\r\x00\x1f\x7f\u0085\u00a0\u2028\u3000\ufeffaZ09-_.é名', '\ud800', '\udfff', '😀']
    const outputs = new Map<string, string>()
    for (let n = 0; n < 5_000; n++) {
      let text = ''
      const length = 1 + Math.floor(random() * 8)
      for (let i = 0; i < length; i++) {
        text += random() < 0.7 ? pick(random, alphabet) : String.fromCodePoint(Math.floor(random() * 0x110000))
      }
      const out = keySegment(text)
      const where = `seed ${seed}, input ${JSON.stringify(text)}, output ${JSON.stringify(out)}`
      expect(/[\s:*?[\]{}\\!\p{Cc}]|\p{Cs}/u.test(out), where).to.equal(false)
      expect(out.replace(/%(?:u[0-9A-F]{4}|[0-9A-F]{2})/g, '').includes('%'), where).to.equal(false)
      const earlier = outputs.get(out)
      if (earlier !== undefined) expect(earlier, where).to.equal(text)
      outputs.set(out, text)
    }
  })
})

// ---------------------------------------------------------------------------------------
// Property check: random argument lists, described by a tree that the spec builds values
// from. Equal trees must encode alike however they are built (keys and Map/Set entries
// shuffled, plain or null prototype, views at other offsets); different trees never.
// The seed is random per run; set KEY_SPEC_SEED to replay one.

type Node =
  | { t: 'undefined' | 'null' }
  | { t: 'boolean'; v: boolean }
  | { t: 'number'; v: number }
  | { t: 'bigint'; v: bigint }
  | { t: 'string'; v: string }
  | { t: 'date'; v: number }
  | { t: 'regexp'; source: string; flags: string }
  | { t: 'bytes'; kind: BytesKind; bytes: number[] }
  | { t: 'array'; items: (Node | null)[] } // null: a hole
  | { t: 'object' | 'registered' | 'loose'; entries: [string, Node][] }
  | { t: 'map'; entries: [Node, Node][] }
  | { t: 'set'; items: Node[] }

type BytesKind = 'Buffer' | 'Uint8Array' | 'Int8Array' | 'Uint16Array' | 'Float64Array' | 'DataView' | 'ArrayBuffer'
const BYTES_KINDS: BytesKind[] = ['Buffer', 'Uint8Array', 'Int8Array', 'Uint16Array', 'Float64Array', 'DataView', 'ArrayBuffer']
const ELEMENT_SIZE: Record<BytesKind, number> = { Buffer: 1, Uint8Array: 1, Int8Array: 1, Uint16Array: 2, Float64Array: 8, DataView: 1, ArrayBuffer: 1 }
const NUMBERS = [0, -0, 1, -1, 42, 1.5, 0.1, NaN, Infinity, -Infinity, 1e21, 5e-324, Number.MAX_SAFE_INTEGER]
const BIGINTS = [0n, 1n, -1n, 42n, 2n ** 64n, -(2n ** 70n)]
const PIECES = ['a', 'b', 'x', ':', '"', "'", '\\', 's', '1', '0', ';', '(', ')', '<', '>', '_', '#', ' ', '{', '}', 'é', '😀', '\ud800', '\udc00', 'ü']
const KEYS = ['a', 'b', 'id', 'x', '10', '9', '01', '', ':', 'a b', '__proto__', 'é', 'length', '0', 's1:a']
const SOURCES = ['a.b', '^x+$', '(?:)', '\\d{2}', '[a-z]', 'a\\/b']
const DATES = [0, -1, 1, 1e12, NaN, 8.64e15]

type Random = () => number

const prng: (seed: number) => Random = mulberry32

function seedFromEnv(): number {
  const fromEnv = process.env.KEY_SPEC_SEED
  return fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 32)
}

function pick<T>(random: Random, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)]!
}

function shuffled<T>(random: Random, list: readonly T[]): T[] {
  const out = [...list]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

function isPrimitive(node: Node): boolean {
  return ['undefined', 'null', 'boolean', 'number', 'bigint', 'string'].includes(node.t)
}

function generate(random: Random, depth: number): Node {
  const r = random()
  if (depth >= 3 || r < 0.45) {
    switch (Math.floor(random() * 7)) {
      case 0: return random() < 0.5 ? { t: 'undefined' } : { t: 'null' }
      case 1: return { t: 'boolean', v: random() < 0.5 }
      case 2: return { t: 'number', v: random() < 0.7 ? pick(random, NUMBERS) : Math.floor(random() * 2000) - 1000 }
      case 3: return { t: 'bigint', v: pick(random, BIGINTS) }
      default: {
        let v = ''
        const length = Math.floor(random() * 5)
        for (let i = 0; i < length; i++) v += pick(random, PIECES)
        return { t: 'string', v }
      }
    }
  }
  const size = Math.floor(random() * 4)
  switch (Math.floor(random() * 9)) {
    case 0: return { t: 'date', v: pick(random, DATES) }
    case 1: {
      const flags = [...'gimsy'].filter(() => random() < 0.3).join('')
      return { t: 'regexp', source: pick(random, SOURCES), flags }
    }
    case 2: {
      const kind = pick(random, BYTES_KINDS)
      const bytes = Array.from({ length: size * ELEMENT_SIZE[kind] }, () => Math.floor(random() * 3))
      return { t: 'bytes', kind, bytes }
    }
    case 3: {
      const items: (Node | null)[] = []
      for (let i = 0; i < size; i++) {
        // Holes, and the same node twice (built as one shared value: a DAG).
        items.push(random() < 0.15 ? null : i > 0 && random() < 0.15 ? items[i - 1]! : generate(random, depth + 1))
      }
      return { t: 'array', items }
    }
    case 4: return { t: 'map', entries: uniqueKeys(random, size, depth).map((k): [Node, Node] => [k, generate(random, depth + 1)]) }
    case 5: return { t: 'set', items: uniqueKeys(random, size, depth) }
    default: {
      const t = pick(random, ['object', 'object', 'registered', 'loose'] as const)
      const keys = shuffled(random, KEYS).slice(0, size)
      return { t, entries: keys.map((k): [string, Node] => [k, generate(random, depth + 1)]) }
    }
  }
}

/** Map keys or Set members: primitives that a Map would merge (SameValueZero) appear once. */
function uniqueKeys(random: Random, size: number, depth: number): Node[] {
  const out: Node[] = []
  const seen = new Set<string>()
  for (let i = 0; i < size; i++) {
    let node = generate(random, depth + 1)
    if (node.t === 'number' && node.v === 0) node = { t: 'number', v: 0 } // a Map stores -0 as 0
    if (isPrimitive(node)) {
      const d = describeNode(node)
      if (seen.has(d)) continue
      seen.add(d)
    }
    out.push(node)
  }
  return out
}

/** The reference notion of equality: a canonical JSON description of the tree. */
function describeNode(node: Node | null): string {
  if (node === null) return '"hole"'
  switch (node.t) {
    case 'undefined':
    case 'null': return JSON.stringify([node.t])
    case 'number': return JSON.stringify([node.t, Object.is(node.v, -0) ? '-0' : String(node.v)])
    case 'bigint': return JSON.stringify([node.t, String(node.v)])
    case 'date': return JSON.stringify([node.t, String(node.v)])
    case 'boolean':
    case 'string': return JSON.stringify([node.t, node.v])
    case 'regexp': return JSON.stringify([node.t, node.source, node.flags])
    case 'bytes': return JSON.stringify([node.t, node.kind, node.bytes])
    case 'array': return `["array",${node.items.map(describeNode).join(',')}]`
    case 'set': return `["set",${node.items.map(describeNode).sort().join(',')}]`
    case 'map': return `["map",${node.entries.map(([k, v]) => `[${describeNode(k)},${describeNode(v)}]`).sort().join(',')}]`
    default: {
      const entries = [...node.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      return `[${JSON.stringify(node.t)},${entries.map(([k, v]) => `[${JSON.stringify(k)},${describeNode(v)}]`).join(',')}]`
    }
  }
}

/** A fresh value for the tree: key order, Map/Set order, prototype and byte offsets vary with `random`. */
function build(node: Node, random: Random): unknown {
  switch (node.t) {
    case 'undefined': return undefined
    case 'null': return null
    case 'boolean':
    case 'number':
    case 'bigint':
    case 'string': return node.v
    case 'date': return new Date(node.v)
    case 'regexp': return new RegExp(node.source, node.flags)
    case 'bytes': return buildBytes(node.kind, node.bytes, random)
    case 'array': {
      const out = new Array<unknown>(node.items.length)
      const built = new Map<Node, unknown>()
      node.items.forEach((item, i) => {
        if (item === null) return
        if (!built.has(item)) built.set(item, build(item, random))
        out[i] = built.get(item)
      })
      return out
    }
    case 'set': return new Set(shuffled(random, node.items).map((item) => build(item, random)))
    case 'map': return new Map(shuffled(random, node.entries).map(([k, v]) => [build(k, random), build(v, random)]))
    default: {
      const target =
        node.t === 'registered' ? Object.create(KeySpecPoint.prototype) as object
        : node.t === 'loose' ? Object.create(KeySpecLoose.prototype) as object
        : random() < 0.3 ? Object.create(null) as object : {}
      return withProps(target, shuffled(random, node.entries).map(([k, v]) => [k, build(v, random)] as const))
    }
  }
}

function buildBytes(kind: BytesKind, bytes: readonly number[], random: Random): unknown {
  // Place the bytes at a random aligned offset inside a larger buffer: only the view counts.
  const size = ELEMENT_SIZE[kind]
  const offset = kind === 'ArrayBuffer' ? 0 : size * Math.floor(random() * 3)
  const backing = new Uint8Array(offset + bytes.length + size * Math.floor(random() * 2)).fill(7)
  backing.set(bytes, offset)
  const count = bytes.length / size
  switch (kind) {
    case 'Buffer': return Buffer.from(backing.buffer, offset, bytes.length)
    case 'Uint8Array': return new Uint8Array(backing.buffer, offset, count)
    case 'Int8Array': return new Int8Array(backing.buffer, offset, count)
    case 'Uint16Array': return new Uint16Array(backing.buffer, offset, count)
    case 'Float64Array': return new Float64Array(backing.buffer, offset, count)
    case 'DataView': return new DataView(backing.buffer, offset, bytes.length)
    case 'ArrayBuffer': return new Uint8Array(bytes).buffer
  }
}

describe('encodeArgs and digest on random arguments', () => {
  it('give equal values one encoding and different values different encodings and digests', function () {
    this.timeout(60_000)
    const seed = seedFromEnv()
    const random = prng(seed)
    const byEncoding = new Map<string, string>()
    const byDescription = new Map<string, string>()
    const byDigest = new Map<string, string>()
    let hashed = 0
    for (let n = 0; n < 5_000; n++) {
      const nodes = Array.from({ length: Math.floor(random() * 3) + (n % 7 === 0 ? 0 : 1) }, () => generate(random, 0))
      const description = `[${nodes.map(describeNode).join(',')}]`
      const where = `seed ${seed} (KEY_SPEC_SEED=${seed} to replay), case ${n}: ${description}`
      const first = encodeArgs(nodes.map((node) => build(node, random)))
      const second = encodeArgs(nodes.map((node) => build(node, random)))
      expect(second, `equal values, different encodings; ${where}`).to.equal(first)
      expect(first.startsWith('#'), where).to.equal(false)
      const key = digest(first)
      expect(digest(second), where).to.equal(key)
      if (key !== first) {
        hashed++
        expect(key, where).to.match(/^#[A-Za-z0-9_-]{43}$/)
      }

      const earlier = byEncoding.get(first)
      if (earlier !== undefined) expect(earlier, `two different values share ${first}; ${where}`).to.equal(description)
      byEncoding.set(first, description)
      const sameValue = byDescription.get(description)
      if (sameValue !== undefined) expect(first, `equal values, different encodings; ${where}`).to.equal(sameValue)
      byDescription.set(description, first)
      const sameDigest = byDigest.get(key)
      if (sameDigest !== undefined) expect(sameDigest, `two encodings share the digest ${key}; ${where}`).to.equal(first)
      byDigest.set(key, first)
    }
    // The generator must reach both forms of digest and repeat some values, or the check is hollow.
    expect(hashed).to.be.above(500)
    expect(byEncoding.size).to.be.below(5_000).and.above(2_000)
  })
})
