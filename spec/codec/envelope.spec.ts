import { expect } from 'chai'
import { deflateRawSync } from 'node:zlib'
import { Envelope, superjsonCodec, type Codec, type Entry, type EnvelopeOptions } from '../../lib/codec/envelope.ts'
import { DecodeError, SignatureError, UnregisteredClassError, ValueTooLargeError } from '../../lib/errors.ts'
import { registerClass } from '../../lib/codec/registry.ts'
import { buildEnvelope, FuzzGuarded, hostilePayloads, mulberry32, prototypeChange, prototypeFingerprint, signWith } from '../fuzz/mutate.ts'

class Person {
  static constructed = 0
  constructor(
    public name: string,
    public age: number,
  ) {
    Person.constructed++
  }
  toString(): string {
    return `${this.name} is ${this.age}`
  }
}

class Team {
  members: Person[] = []
  roster = new Map<string, Person>()
  constructor(
    public lead: Person,
    public founded: Date,
  ) {}
  size(): number {
    return this.members.length
  }
}

registerClass(Person, { name: 'codec.spec.Person' })
registerClass(Team, { name: 'codec.spec.Team' })

const KEY_A = Buffer.from('key A: 0123456789abcdef0123456789')
const KEY_B = Buffer.from('key B: fedcba9876543210fedcba9876')
const NOW = 1_700_000_000_000

function envelope(options: Partial<EnvelopeOptions> = {}): Envelope {
  return new Envelope({
    codec: superjsonCodec,
    signingKeys: [],
    maxValueSize: 1024 * 1024,
    compressThreshold: Infinity,
    maxDecompressedSize: 4 * 1024 * 1024,
    strictClasses: false,
    onUnregisteredClass: () => {},
    ...options,
  })
}

function entry<T>(value: T, tags: readonly string[] = []): Entry<T> {
  return { value, created: NOW, freshUntil: NOW + 60_000, staleUntil: NOW + 90_000, tags }
}

function roundTrip<T>(value: T, e: Envelope = envelope()): T {
  return e.decode(e.encode(entry(value))).value as T
}

/** The exception `fn` throws (fails when it returns). */
function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  expect.fail('expected an exception')
}

/** A payload codec that counts its decodes; reads what superjsonCodec writes. */
function countingCodec(): Codec & { decodes: number } {
  const codec = {
    name: 'superjson',
    decodes: 0,
    encode: (value: unknown) => superjsonCodec.encode(value),
    decode: (bytes: Buffer) => {
      codec.decodes++
      return superjsonCodec.decode(bytes)
    },
  }
  return codec
}

/** An unsigned envelope with this payload text and header fields. */
function raw(payload: string | Buffer, header = `MR1 0 superjson ${NOW} ${NOW + 1} ${NOW + 2} 0`, tags = ''): Buffer {
  return buildEnvelope(header, Buffer.from(tags), Buffer.isBuffer(payload) ? payload : Buffer.from(payload))
}

const ownPolluted = (proto: object): boolean => Object.prototype.hasOwnProperty.call(proto, 'polluted')

function expectPristine(before: readonly string[]): void {
  expect(ownPolluted(Object.prototype), 'Object.prototype.polluted').to.equal(false)
  expect(ownPolluted(Array.prototype), 'Array.prototype.polluted').to.equal(false)
  expect(ownPolluted(Function.prototype), 'Function.prototype.polluted').to.equal(false)
  expect(({} as { polluted?: unknown }).polluted).to.equal(undefined)
  expect(prototypeChange(before)).to.equal(undefined)
}

describe('Envelope round trips', () => {
  it('keeps primitives, including -0, NaN, ±Infinity, bigint and undefined at the root', () => {
    for (const value of [null, undefined, true, false, 0, -0, 1.5, NaN, Infinity, -Infinity, 2n ** 100n, -7n, '', 'text']) {
      expect(Object.is(roundTrip(value), value), String(value)).to.equal(true)
    }
  })

  it('keeps strings exactly: quotes, backslashes, control characters, line separators, astral characters', () => {
    const text = 'q"\\\u0000\u001f\n\t\u2028\u2029 é 𝄞 \ud800 end'
    expect(roundTrip({ text })).to.deep.equal({ text })
  })

  it('restores Date, Map with object keys, Set, BigInt, RegExp and URL', () => {
    const key = { id: 1 }
    const back = roundTrip({
      date: new Date(NOW),
      map: new Map<unknown, unknown>([[key, 'object key'], ['s', new Set([1n])]]),
      set: new Set(['a', 2, 3n]),
      big: 12345678901234567890n,
      regexp: /a+b?\/c/giu,
      url: new URL('https://user@example.com:8080/p?q=1#h'),
    })
    expect(back.date).to.be.instanceOf(Date)
    expect(back.date.getTime()).to.equal(NOW)
    expect(back.map).to.be.instanceOf(Map)
    expect([...back.map.keys()][0]).to.deep.equal(key)
    expect(back.map.get('s')).to.deep.equal(new Set([1n]))
    expect(back.set).to.deep.equal(new Set(['a', 2, 3n]))
    expect(back.big).to.equal(12345678901234567890n)
    expect(back.regexp).to.be.instanceOf(RegExp)
    expect(back.regexp.source).to.equal('a+b?\\/c')
    expect(back.regexp.flags).to.equal('giu')
    expect(back.url).to.be.instanceOf(URL)
    expect(back.url.href).to.equal('https://user@example.com:8080/p?q=1#h')
  })

  it('keeps undefined inside objects (the key stays) and arrays', () => {
    const back = roundTrip({ a: undefined, list: [undefined, 1, undefined] })
    expect(Object.keys(back)).to.deep.equal(['a', 'list'])
    expect(back.a).to.equal(undefined)
    expect(back.list).to.deep.equal([undefined, 1, undefined])
    expect(back.list.length).to.equal(3)
  })

  it('restores Errors as Error with name, message and cause, without the stack', () => {
    const back = roundTrip(new TypeError('bad input', { cause: { at: new Date(5) } }))
    expect(back).to.be.instanceOf(Error)
    expect(back.name).to.equal('TypeError')
    expect(back.message).to.equal('bad input')
    expect(back.cause).to.deep.equal({ at: new Date(5) })
    expect(back.stack).to.equal(undefined)
  })

  it('restores the typed arrays superjson knows, and Buffers', () => {
    const arrays = [
      new Int8Array([-1, 2]), new Uint8Array([255]), new Uint8ClampedArray([9]), new Int16Array([-300]), new Uint16Array([65535]),
      new Int32Array([-5]), new Uint32Array([4294967295]), new Float32Array([1.5]), new Float64Array([-2.25]),
    ]
    for (const array of arrays) {
      const back = roundTrip(array)
      expect(back.constructor).to.equal(array.constructor)
      expect([...back]).to.deep.equal([...array])
    }
    const buffer = roundTrip(Buffer.from([0, 1, 254, 255]))
    expect(Buffer.isBuffer(buffer)).to.equal(true)
    expect([...buffer]).to.deep.equal([0, 1, 254, 255])
  })

  it('restores an instance of a registered class whose methods work: new Person("John", 20).toString()', () => {
    const back = roundTrip(new Person('John', 20))
    expect(back).to.be.instanceOf(Person)
    expect(Object.getPrototypeOf(back)).to.equal(Person.prototype)
    expect(back.toString()).to.equal('John is 20')
    expect(`${back}`).to.equal('John is 20')
  })

  it('does not call the constructor of a registered class when restoring', () => {
    const bytes = envelope().encode(entry(new Person('Ann', 30)))
    const before = Person.constructed
    envelope().decode(bytes)
    expect(Person.constructed).to.equal(before)
  })

  it('restores registered instances nested in arrays, maps, sets and other instances', () => {
    const team = new Team(new Person('Lead', 50), new Date(NOW))
    team.members.push(new Person('A', 1), new Person('B', 2))
    team.roster.set('a', new Person('R', 3))
    const back = roundTrip({ teams: [team], bySet: new Set([new Person('S', 4)]) })
    const restored = back.teams[0] as Team
    expect(restored).to.be.instanceOf(Team)
    expect(restored.size()).to.equal(2)
    expect(restored.lead.toString()).to.equal('Lead is 50')
    expect(restored.founded.getTime()).to.equal(NOW)
    expect(restored.members.map(String)).to.deep.equal(['A is 1', 'B is 2'])
    expect(restored.roster.get('a')?.toString()).to.equal('R is 3')
    expect([...back.bySet][0]).to.be.instanceOf(Person)
  })

  it('keeps shared references and cycles', () => {
    const shared = new Person('Shared', 1)
    const value: Record<string, unknown> = { a: shared, b: shared, list: [shared] }
    value.self = value
    const back = roundTrip(value)
    expect(back.a).to.equal(back.b)
    expect((back.list as unknown[])[0]).to.equal(back.a)
    expect(back.self).to.equal(back)
  })

  it('keeps object keys with dots, backslashes, or no characters at all', () => {
    const value = { 'a.b': { 'c\\d': new Date(1), '': [new Date(2)] }, '.': 1 }
    expect(roundTrip(value)).to.deep.equal(value)
  })

  it('keeps "__proto__", "constructor" and "prototype" as string values and Map keys', () => {
    const value = { words: ['__proto__', 'constructor', 'prototype'], map: new Map([['__proto__', 1], ['constructor', 2]]) }
    const back = roundTrip(value)
    expect(back).to.deep.equal(value)
    expect(Object.getPrototypeOf(back)).to.equal(Object.prototype)
  })

  it('keeps created, freshUntil, staleUntil and tags, whatever the tag text', () => {
    const e = envelope()
    const tags = ['t:user:42', 'with space', 'new\nline', 'ünï 𝄞', '"quoted"', '']
    const input: Entry = { value: 1, created: NOW + 0.5, freshUntil: NOW + 1000, staleUntil: NOW + 1000, tags }
    const bytes = e.encode(input)
    const back = e.decode(bytes)
    expect(back).to.deep.equal({ ...input, size: bytes.length })
    expect(Object.isFrozen(back.tags)).to.equal(true)
  })

  it('keeps a validator of any text up to 200 bytes, signed or not, in the header as base64url; refuses a longer one', () => {
    for (const e of [envelope(), envelope({ signingKeys: [KEY_A] })]) {
      for (const validator of ['"etag-1"', 'W/"x y"', 'Wed, 21 Oct 2015 07:28:00 GMT', 'ünï 𝄞\n', 'v'.repeat(200)]) {
        const input: Entry = { ...entry({ a: 1 }, ['t:x']), validator }
        const bytes = e.encode(input)
        expect(bytes.toString('latin1', 0, bytes.indexOf(10)).split(' ')[7]).to.equal(Buffer.from(validator).toString('base64url'))
        expect(e.decode(bytes)).to.deep.equal({ ...input, size: bytes.length })
      }
      expect(() => e.encode({ ...entry(1), validator: 'v'.repeat(201) })).to.throw(TypeError, /validator/)
    }
    expect(envelope().decode(envelope().encode(entry(1)))).to.not.have.property('validator')
  })

  it('reads back exactly the times it wrote, for 20,000 generated times: whole, with 1 to 3 decimals, long fractions, negative, exponents', () => {
    const e = envelope()
    const random = mulberry32(0x71e5)
    const times = [
      () => Math.floor(random() * 4e12),
      () => Number((1.7e12 + random() * 1e12).toFixed(1 + Math.floor(random() * 3))),
      () => 1.7e12 + random() * 1e12,
      () => -Number((random() * 1e6).toFixed(2)),
      () => random() * 1e-7,
      () => 2 ** 53 + 2 * Math.floor(random() * 1e6),
    ]
    for (let i = 0; i < 20_000; i++) {
      const created = (times[i % times.length] as () => number)()
      const input: Entry = { value: null, created, freshUntil: created + 0.25, staleUntil: created + 1e21, tags: [] }
      const back = e.decode(e.encode(input))
      expect([back.created, back.freshUntil, back.staleUntil], String(created)).to.deep.equal([input.created, input.freshUntil, input.staleUntil])
    }
  })

  it('refuses to encode an entry with non-finite or out-of-order times, or tags that are not strings', () => {
    const e = envelope()
    const ok = entry(1)
    expect(thrown(() => e.encode({ ...ok, created: NaN }))).to.be.instanceOf(RangeError)
    expect(thrown(() => e.encode({ ...ok, staleUntil: Infinity }))).to.be.instanceOf(RangeError)
    expect(thrown(() => e.encode({ ...ok, freshUntil: ok.created - 1 }))).to.be.instanceOf(RangeError)
    expect(thrown(() => e.encode({ ...ok, staleUntil: ok.freshUntil - 1 }))).to.be.instanceOf(RangeError)
    expect(thrown(() => e.encode({ ...ok, tags: [1] as unknown as string[] }))).to.be.instanceOf(TypeError)
  })

  it('refuses a value written by another codec instead of misreading it', () => {
    const json: Codec = { name: 'json', encode: (v) => JSON.stringify(v), decode: (b) => JSON.parse(b.toString()) as unknown }
    const bytes = envelope({ codec: json }).encode(entry({ a: 1 }))
    expect(envelope({ codec: json }).decode(bytes).value).to.deep.equal({ a: 1 })
    const error = thrown(() => envelope().decode(bytes))
    expect(error).to.be.instanceOf(DecodeError)
    expect((error as Error).message).to.include('codec json')
  })
})

describe('Envelope signing', () => {
  const value = { user: new Person('Signed', 9), at: new Date(NOW) }

  it('signs with the key and verifies with it', () => {
    const e = envelope({ signingKeys: [KEY_A] })
    const back = e.decode(e.encode(entry(value))).value as typeof value
    expect(back.user.toString()).to.equal('Signed is 9')
  })

  it('reads values signed with an older key while it is still in the list, and signs new ones with the first', () => {
    const old = envelope({ signingKeys: [KEY_A] }).encode(entry(value))
    const rotated = envelope({ signingKeys: [KEY_B, KEY_A] })
    expect((rotated.decode(old).value as typeof value).user).to.be.instanceOf(Person)
    const fresh = rotated.encode(entry(value))
    expect(envelope({ signingKeys: [KEY_B] }).decode(fresh).value).to.deep.equal(value)
    expect(thrown(() => envelope({ signingKeys: [KEY_A] }).decode(fresh))).to.be.instanceOf(SignatureError)
  })

  it('refuses a value signed with a key that is not in the list (SignatureError, ERR_BAD_SIGNATURE)', () => {
    const bytes = envelope({ signingKeys: [KEY_A] }).encode(entry(value))
    const error = thrown(() => envelope({ signingKeys: [KEY_B] }).decode(bytes))
    expect(error).to.be.instanceOf(SignatureError)
    expect(error).to.be.instanceOf(DecodeError)
    expect((error as SignatureError).code).to.equal('ERR_BAD_SIGNATURE')
  })

  it('refuses a signed value copied to another Redis key (the key is signed too)', () => {
    const e = envelope({ signingKeys: [KEY_A] })
    const bytes = e.encode(entry(value), 'app:default:user%3A1')
    expect((e.decode(bytes, 'app:default:user%3A1').value as typeof value).user).to.be.instanceOf(Person)
    expect(thrown(() => e.decode(bytes, 'app:default:user%3A2'))).to.be.instanceOf(SignatureError)
  })

  it('refuses an unsigned value when signing keys are set', () => {
    const bytes = envelope().encode(entry(value))
    const error = thrown(() => envelope({ signingKeys: [KEY_A] }).decode(bytes))
    expect(error).to.be.instanceOf(SignatureError)
    expect((error as Error).message).to.include('not signed')
  })

  it('refuses a value with any single bit flipped, in the header, the tags, the payload or the mac', () => {
    const e = envelope({ signingKeys: [KEY_A] })
    const bytes = e.encode(entry({ n: 1 }, ['t:a']))
    for (let i = 0; i < bytes.length; i++) {
      for (const bit of [0, 3, 7]) {
        const tampered = Buffer.from(bytes)
        tampered[i] = (tampered[i] as number) ^ (1 << bit)
        expect(thrown(() => e.decode(tampered)), `byte ${i} bit ${bit}`).to.be.instanceOf(SignatureError)
      }
    }
    expect(thrown(() => e.decode(bytes.subarray(0, bytes.length - 1)))).to.be.instanceOf(SignatureError)
    expect(thrown(() => e.decode(Buffer.concat([bytes, Buffer.from([0])])))).to.be.instanceOf(SignatureError)
  })

  it('checks the signature before the payload is decoded or inflated', () => {
    const codec = countingCodec()
    const reader = envelope({ codec, signingKeys: [KEY_B] })
    expect(thrown(() => reader.decode(envelope({ signingKeys: [KEY_A] }).encode(entry(value))))).to.be.instanceOf(SignatureError)
    const bomb = signWith(raw(deflateRawSync(Buffer.alloc(50 * 1024 * 1024)), `MR1 3 superjson ${NOW} ${NOW} ${NOW} 0`), KEY_A)
    expect(thrown(() => reader.decode(bomb))).to.be.instanceOf(SignatureError)
    expect(codec.decodes).to.equal(0)
  })

  it('still reads a signed value when this reader has no keys (it opted out of verification)', () => {
    const bytes = envelope({ signingKeys: [KEY_A] }).encode(entry(value))
    expect(envelope().decode(bytes).value).to.deep.equal(value)
  })

  it('refuses hostile payloads even when they carry a valid signature', () => {
    const reader = envelope({ signingKeys: [KEY_A] })
    for (const [name, text] of hostilePayloads) {
      const bytes = signWith(raw(text, `MR1 2 superjson ${NOW} ${NOW} ${NOW} 0`), KEY_A)
      expect(thrown(() => reader.decode(bytes)), name).to.be.instanceOf(DecodeError).and.not.instanceOf(SignatureError)
    }
  })
})

describe('Envelope size limits', () => {
  it('refuses to encode an envelope larger than maxValueSize (ValueTooLargeError)', () => {
    const error = thrown(() => envelope({ maxValueSize: 1000 }).encode(entry('x'.repeat(2000))))
    expect(error).to.be.instanceOf(ValueTooLargeError)
    expect((error as ValueTooLargeError).code).to.equal('ERR_VALUE_TOO_LARGE')
    expect((error as ValueTooLargeError).limit).to.equal(1000)
    expect((error as ValueTooLargeError).size).to.be.greaterThan(1000)
  })

  it('refuses to decode input larger than maxValueSize before parsing any of it', () => {
    const codec = countingCodec()
    const bytes = envelope().encode(entry('x'.repeat(2000)))
    const error = thrown(() => envelope({ codec, maxValueSize: 1000 }).decode(bytes))
    expect(error).to.be.instanceOf(ValueTooLargeError)
    expect((error as ValueTooLargeError).size).to.equal(bytes.length)
    expect(codec.decodes).to.equal(0)
    // Garbage of that size is refused for its size, not its content: it was not read.
    expect(thrown(() => envelope({ maxValueSize: 1000 }).decode(Buffer.alloc(1001, 0xff)))).to.be.instanceOf(ValueTooLargeError)
  })

  it('compresses payloads at or above compressThreshold, and they come back intact', () => {
    const value = { rows: Array.from({ length: 2000 }, (_, i) => ({ id: i % 10, label: 'the same words again', at: new Date(0) })) }
    const plain = envelope().encode(entry(value))
    const e = envelope({ compressThreshold: 1024 })
    const packed = e.encode(entry(value))
    expect(packed.length).to.be.lessThan(plain.length / 10)
    expect(packed.toString('latin1', 0, 6)).to.equal('MR1 1 ')
    expect(e.decode(packed).value).to.deep.equal(value)
  })

  it('gives, on encode and on decode, the size L1 counts: the envelope with its payload uncompressed', () => {
    const value = { rows: Array.from({ length: 2000 }, (_, i) => ({ id: i % 10, label: 'the same words again' })) }
    const plain = envelope().encode(entry(value, ['t']))
    const e = envelope({ compressThreshold: 1024 })
    const packed = e.encodeSized(entry(value, ['t']))
    expect(packed.bytes.length).to.be.lessThan(plain.length / 10)
    // The header's flag digit is the only difference between the two envelopes' lengths.
    expect(packed.size).to.equal(plain.length)
    expect(e.decode(packed.bytes).size).to.equal(plain.length)
    expect(envelope().decode(plain).size).to.equal(plain.length)
  })

  it('does not compress payloads below the threshold, nor those that do not shrink', () => {
    expect(envelope({ compressThreshold: 1024 }).encode(entry('small')).toString('latin1', 0, 6)).to.equal('MR1 0 ')
    const bytesCodec: Codec = { name: 'bytes', encode: (v) => v as Buffer, decode: (b) => Buffer.from(b) }
    const e = envelope({ codec: bytesCodec, compressThreshold: 1024 })
    const random = Buffer.alloc(4096)
    const rng = mulberry32(7)
    for (let i = 0; i < random.length; i++) random[i] = Math.floor(rng() * 256)
    const bytes = e.encode(entry(random))
    expect(bytes.toString('latin1', 0, 6)).to.equal('MR1 0 ')
    expect((e.decode(bytes).value as Buffer).equals(random)).to.equal(true)
  })

  it('refuses a small compressed value that inflates past maxDecompressedSize (a zip bomb of 50 MB of zeros)', () => {
    const bomb = deflateRawSync(Buffer.alloc(50 * 1024 * 1024))
    expect(bomb.length).to.be.lessThan(100 * 1024)
    const started = Date.now()
    const error = thrown(() => envelope({ maxDecompressedSize: 1024 * 1024 }).decode(raw(bomb, `MR1 1 superjson ${NOW} ${NOW} ${NOW} 0`)))
    expect(error).to.be.instanceOf(ValueTooLargeError)
    expect((error as ValueTooLargeError).limit).to.equal(1024 * 1024)
    expect(Date.now() - started).to.be.lessThan(1000)
  })

  it('refuses to encode a value it could not read back: a payload above maxDecompressedSize', () => {
    const e = envelope({ compressThreshold: 100, maxDecompressedSize: 10_000 })
    expect(thrown(() => e.encode(entry('a'.repeat(20_000))))).to.be.instanceOf(ValueTooLargeError)
  })

  it('refuses compressed bytes that do not inflate (DecodeError with the zlib error as cause)', () => {
    const error = thrown(() => envelope().decode(raw(Buffer.from('not deflate data at all'), `MR1 1 superjson ${NOW} ${NOW} ${NOW} 0`)))
    expect(error).to.be.instanceOf(DecodeError)
    expect((error as DecodeError).cause).to.be.instanceOf(Error)
  })
})

describe('Envelope and unregistered classes', () => {
  class CodecSpecLoose {
    at = new Date(3)
    constructor(public n: number) {}
    twice(): number {
      return this.n * 2
    }
  }

  it('with strictClasses, refuses to encode an instance of an unregistered class (UnregisteredClassError)', () => {
    const e = envelope({ strictClasses: true })
    const error = thrown(() => e.encode(entry({ deep: new Map([['k', [new CodecSpecLoose(1)]]]) })))
    expect(error).to.be.instanceOf(UnregisteredClassError)
    expect((error as UnregisteredClassError).className).to.equal('CodecSpecLoose')
    expect((error as UnregisteredClassError).code).to.equal('ERR_UNREGISTERED_CLASS')
  })

  it('without strictClasses, stores it as a plain object of its own fields, rich fields included', () => {
    const back = roundTrip({ u: new CodecSpecLoose(4) })
    expect(Object.getPrototypeOf(back.u)).to.equal(Object.prototype)
    expect(back.u).to.deep.equal({ at: new Date(3), n: 4 })
  })

  it('calls onUnregisteredClass once per class name per process, across envelopes', () => {
    class CodecSpecOnce {
      x = 1
    }
    const names: string[] = []
    const first = envelope({ onUnregisteredClass: (name) => names.push(name) })
    const second = envelope({ onUnregisteredClass: (name) => names.push(name) })
    for (let i = 0; i < 3; i++) first.encode(entry([new CodecSpecOnce(), new CodecSpecOnce()]))
    second.encode(entry(new CodecSpecOnce()))
    expect(names).to.deep.equal(['CodecSpecOnce'])
  })

  it('keeps shared references and cycles through a converted instance', () => {
    class CodecSpecLinked {
      next: unknown
      label = 'node'
    }
    const node = new CodecSpecLinked()
    node.next = node
    const back = roundTrip({ a: node, b: node })
    expect(back.a).to.equal(back.b)
    expect((back.a as { next: unknown }).next).to.equal(back.a)
  })

  it('never reports registered classes, plain or null-prototype objects, or the types superjson knows', () => {
    const names: string[] = []
    const e = envelope({ strictClasses: true, onUnregisteredClass: (name) => names.push(name) })
    const value = {
      person: new Person('P', 1), nullProto: Object.assign(Object.create(null) as object, { a: 1 }), date: new Date(0), map: new Map(), set: new Set(),
      regexp: /x/, error: new RangeError('r'), url: new URL('http://x'), typed: new Float32Array(1), buffer: Buffer.alloc(1), big: 1n,
    }
    expect(() => e.encode(entry(value))).not.to.throw()
    expect(names).to.deep.equal([])
  })

  it('stores a subclass of Map as a Map, and reports it', () => {
    class CodecSpecMap extends Map<string, number> {}
    const names: string[] = []
    const e = envelope({ onUnregisteredClass: (name) => names.push(name) })
    const back = e.decode(e.encode(entry(new CodecSpecMap([['a', 1]])))).value
    expect(Object.getPrototypeOf(back)).to.equal(Map.prototype)
    expect(back).to.deep.equal(new Map([['a', 1]]))
    expect(names).to.deep.equal(['CodecSpecMap'])
  })

  it('leaves other codecs alone: they own their type support', () => {
    const json: Codec = { name: 'json', encode: (v) => JSON.stringify(v), decode: (b) => JSON.parse(b.toString()) as unknown }
    expect(() => envelope({ codec: json, strictClasses: true }).encode(entry(new CodecSpecLoose(1)))).not.to.throw()
  })
})

describe('Envelope and hostile or corrupt input', () => {
  let before: string[]
  beforeEach(() => {
    before = prototypeFingerprint()
  })
  afterEach(() => expectPristine(before))

  const refuses = (bytes: Buffer, why: string, e: Envelope = envelope()): DecodeError => {
    const error = thrown(() => e.decode(bytes))
    expect(error, why).to.be.instanceOf(DecodeError)
    return error as DecodeError
  }

  it('refuses random bytes', () => {
    const rng = mulberry32(42)
    for (let n = 0; n < 300; n++) {
      const bytes = Buffer.from(Array.from({ length: Math.floor(rng() * 200) }, () => Math.floor(rng() * 256)))
      if (n % 2 === 0) bytes.write('MR1 ', 0, 'latin1') // past the magic, too
      refuses(bytes, `sample ${n}`)
    }
  })

  it('refuses every truncation of a valid envelope', () => {
    const bytes = envelope().encode(entry({ p: new Person('T', 1), at: new Date(0) }, ['t:1']))
    for (let n = 0; n < bytes.length; n++) refuses(bytes.subarray(0, n), `first ${n} bytes`)
  })

  it('refuses input that is not a Buffer', () => {
    refuses('MR1 0 superjson 1 1 1 0\n{"json":1}' as unknown as Buffer, 'a string')
  })

  it('refuses malformed headers', () => {
    const t = `${NOW} ${NOW + 1} ${NOW + 2}`
    const payload = '{"json":1}'
    const cases: [string, string, string?][] = [
      ['wrong magic', `XX1 0 superjson ${t} 0`],
      ['a later version', `MR2 0 superjson ${t} 0`],
      ['unknown flags', `MR1 4 superjson ${t} 0`],
      ['a flags word', `MR1 01 superjson ${t} 0`],
      ['a letter for flags', `MR1 x superjson ${t} 0`],
      ['NaN created', `MR1 0 superjson NaN ${NOW} ${NOW} 0`],
      ['Infinity staleUntil', `MR1 0 superjson ${NOW} ${NOW} Infinity 0`],
      ['a hex time', `MR1 0 superjson 0x10 ${NOW} ${NOW} 0`],
      ['an empty time', `MR1 0 superjson  ${NOW} ${NOW} 0`],
      ['an overflowing time', `MR1 0 superjson 1e400 1e400 1e400 0`],
      ['created after freshUntil', `MR1 0 superjson ${NOW + 1} ${NOW} ${NOW + 2} 0`],
      ['freshUntil after staleUntil', `MR1 0 superjson ${NOW} ${NOW + 2} ${NOW + 1} 0`],
      ['a negative tags length', `MR1 0 superjson ${t} -1`],
      ['a fractional tags length', `MR1 0 superjson ${t} 1.5`],
      ['a tags length past the end', `MR1 0 superjson ${t} 9999`],
      ['a missing field', `MR1 0 superjson ${t}`],
      ['an extra field past the validator', `MR1 0 superjson ${t} 0 dg 0`],
      ['a header longer than 400 bytes', `MR1 0 superjson ${t} ${'0'.repeat(400)}`],
      ['tags that are an object', `MR1 0 superjson ${t} 28`, '{"__proto__":{"polluted":1}}'],
      ['tags that are not strings', `MR1 0 superjson ${t} 5`, '[1,2]'],
      ['tags that are not JSON', `MR1 0 superjson ${t} 3`, '[a]'],
    ]
    for (const [why, header, tags] of cases) refuses(raw(payload, header, tags), why)
    refuses(Buffer.from(`MR1 0 superjson ${t} 0${payload}`), 'no newline')
  })

  for (const [name, text] of hostilePayloads) {
    it(`refuses ${name}`, () => {
      const codeRuns = FuzzGuarded.codeRuns
      refuses(raw(text), name)
      refuses(raw(deflateRawSync(text), `MR1 1 superjson ${NOW} ${NOW} ${NOW} 0`), `${name}, compressed`)
      expect(FuzzGuarded.codeRuns, "code of a registered class ran").to.equal(codeRuns)
    })
  }

  it('refuses an own __proto__ in a registered class instance without changing its prototype', () => {
    refuses(raw('{"json":{"name":"x","__proto__":{"isAdmin":true}},"meta":{"values":[["class","codec.spec.Person"]],"v":1}}'), 'class')
    refuses(raw('{"json":{"name":"x","toString":"shadowed"},"meta":{"values":[["class","codec.spec.Person"]],"v":1}}'), 'method shadowing')
  })

  it('restores an escaped __proto__ key of a marked document as an own data property, reaching no prototype', () => {
    const text = '{"json":{"a":{"\\u0001__proto__":{"polluted":1}},"c":{"\\u0001constructor":{"\\u0001prototype":1}}},"mr":1}'
    const value = envelope().decode(raw(text)).value as { a: object; c: object }
    expect(Object.getPrototypeOf(value.a)).to.equal(Object.prototype)
    expect(Object.getOwnPropertyDescriptor(value.a, '__proto__')?.value).to.deep.equal({ polluted: 1 })
    expect(Object.getOwnPropertyDescriptor(value.c, 'constructor')?.value).to.deep.equal({ prototype: 1 })
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined)
  })

  it('leaves marks inside a registered class instance unread: its fields are never redefined', () => {
    const text = '{"json":{"\\u0001__proto__":1,"name":"T","age":1},"meta":{"values":[["class","codec.spec.Person"]],"v":1},"mr":1}'
    const value = envelope().decode(raw(text)).value as Person
    expect(value).to.be.instanceOf(Person)
    expect(Object.keys(value)).to.deep.equal(['\u0001__proto__', 'name', 'age'])
  })

  it('refuses the sparse-array trick in well under a second', () => {
    const started = Date.now()
    refuses(raw('{"json":{"a":[]},"meta":{"values":{"a":["set",{"4294967294":["undefined"]}]},"v":1}}'), 'sparse')
    expect(Date.now() - started).to.be.lessThan(200)
  })

  it('refuses an annotation tree nested 100,000 deep as a DecodeError, not a stack overflow', () => {
    const depth = 100_000
    const meta = `${'["set",{"0":'.repeat(depth)}["undefined"]${'}]'.repeat(depth)}`
    const json = `${'['.repeat(depth)}null${']'.repeat(depth)}`
    refuses(raw(`{"json":${json},"meta":{"values":${meta},"v":1}}`), 'deep', envelope({ maxValueSize: 16 * 1024 * 1024 }))
  })

  it('wraps what the payload decoder throws as DecodeError with the original as cause', () => {
    const error = refuses(raw('{"json":{"r":"/a/zz"},"meta":{"values":{"r":["regexp"]},"v":1}}'), 'bad regexp flags')
    expect(error.code).to.equal('ERR_DECODE')
    expect(error.cause).to.be.instanceOf(SyntaxError)
  })

  it('decodes deeply nested plain JSON without a stack overflow', () => {
    const depth = 100_000
    const value = envelope({ maxValueSize: 4 * 1024 * 1024 }).decode(raw(`{"json":${'['.repeat(depth)}"constructor"${']'.repeat(depth)}}`)).value
    let node = value
    for (let i = 0; i < depth; i++) node = (node as unknown[])[0]
    expect(node).to.equal('constructor')
  })
})
