import { expect } from 'chai'
import sinon from 'sinon'
import {
  createCache,
  defaultCache,
  DuplicateNameError,
  InvalidOptionError,
  memoize,
  memoized,
  registerClass,
  UnkeyableArgumentError,
  type Cache,
} from 'memoredis'
import { readWithinCoherence } from '../support/coherence.ts'
import { eachTopology } from '../support/topology.ts'

class Money {
  constructor(
    public amount: bigint,
    public currency: string,
  ) {}
  format(): string {
    return `${this.amount} ${this.currency}`
  }
}
registerClass(Money)

/** A function that counts its runs. */
function counted<A extends unknown[], R>(body: (...args: A) => R): ((...args: A) => R) & { runs: number } {
  const fn = Object.assign(
    function work(...args: A): R {
      fn.runs++
      return body(...args)
    },
    { runs: 0 },
  )
  return fn
}

const settle = <T>(p: Promise<T>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e)

describe('memoize', () => {
  let cache: Cache
  beforeEach(() => {
    cache = createCache({ prefix: 'm' })
  })
  afterEach(() => cache.close())

  describe('a memoized function', () => {
    it('keeps the function’s name and length, and always returns a promise', async () => {
      function add(a: number, b: number): number {
        return a + b
      }
      const memo = memoize(add, { cache })
      expect(memo.name).to.equal('add')
      expect(memo.length).to.equal(2)
      const pending = memo(1, 2)
      expect(pending).to.be.instanceOf(Promise)
      expect(await pending).to.equal(3)
      expect(memo.cache).to.equal(cache)
    })

    it('computes once per arguments, then serves from L1', async () => {
      const fn = counted(async (id: string) => ({ id, at: new Date(0) }))
      const memo = memoize(fn, { cache, name: 'load' })
      const first = await memo('1')
      expect(await memo('1')).to.equal(first)
      expect(await memo('2')).to.deep.equal({ id: '2', at: new Date(0) })
      expect(fn.runs).to.equal(2)
      expect(cache.stats().l1.hits).to.equal(1)
    })

    it('passes the function’s own error through unchanged (same object) and caches nothing', async () => {
      const boom = new Error('boom')
      const fn = counted((_n: number): number => {
        throw boom
      })
      const memo = memoize(fn, { cache, name: 'fails' })
      expect(await settle(memo(1))).to.equal(boom)
      expect(await settle(memo(1))).to.equal(boom)
      expect(fn.runs).to.equal(2)
      expect(await memo.peek(1)).to.equal(undefined)
    })

    it('passes the call’s this to the function and to key, and binds it with memoized(object, name)', async () => {
      const service = {
        region: 'eu',
        find: memoize(
          async function find(this: { region: string }, id: string) {
            return `${this.region}/${id}`
          },
          { cache, key(this: { region: string }, id: string) { return [this.region, id] } },
        ),
      }
      expect(await service.find('1')).to.equal('eu/1')
      const bound = memoized(service, 'find')
      expect(bound.keyFor('1')).to.equal('m:default!find:v1:(s2:eus1:1)')
      expect(await bound.peek('1')).to.equal('eu/1')
      await bound.invalidate('1')
      expect(await bound.peek('1')).to.equal(undefined)
    })

    it('uses the shared L1-only default cache when none is given', async () => {
      const memo = memoize(async (n: number) => n * 2, { name: 'memoize.spec default' })
      expect(memo.cache).to.equal(defaultCache())
      expect(await memo(21)).to.equal(42)
      expect(memo.keyFor(21)).to.equal('memoredis:default!memoize.spec%20default:v1:d21;')
    })
  })

  describe('single-flight in one process', () => {
    it('runs the function once for 1,000 concurrent callers of a cold key', async () => {
      let release!: () => void
      const gate = new Promise<void>((resolve) => (release = resolve))
      const fn = counted(async (id: string) => {
        await gate
        return { id }
      })
      const memo = memoize(fn, { cache, name: 'cold' })
      const calls = Array.from({ length: 1000 }, () => memo('k'))
      release()
      const values = await Promise.all(calls)
      expect(fn.runs).to.equal(1)
      expect(new Set(values).size).to.equal(1)
      expect(values[999]).to.deep.equal({ id: 'k' })
    })

    it('gives all 1,000 callers the same error when the function throws, and caches nothing', async () => {
      const boom = new Error('down')
      const fn = counted(async (_id: string): Promise<string> => {
        await Promise.resolve()
        throw boom
      })
      const memo = memoize(fn, { cache, name: 'coldFails' })
      const errors = await Promise.all(Array.from({ length: 1000 }, () => settle(memo('k'))))
      expect(fn.runs).to.equal(1)
      expect(errors.every((e) => e === boom)).to.equal(true)
      expect(await memo.peek('k')).to.equal(undefined)
      expect(cache.stats().l1.size).to.equal(0)
    })
  })

  describe('arguments and keys', () => {
    const unkeyable: [string, unknown, string][] = [
      ['a function', () => 1, 'args[0]'],
      ['a symbol deep inside', { user: { tags: [Symbol('x')] } }, 'args[0].user.tags[0]'],
      ['a cycle', (() => { const o: Record<string, unknown> = {}; o.self = o; return o })(), 'args[0].self'],
      ['a WeakMap', new WeakMap(), 'args[0]'],
    ]
    for (const [what, arg, path] of unkeyable) {
      it(`rejects ${what} with UnkeyableArgumentError (ERR_UNKEYABLE_ARGUMENT) without running the function`, async () => {
        const fn = counted(async (_x: unknown) => 1)
        const memo = memoize(fn, { cache, name: 'unkeyable' })
        const error = await settle(memo(arg))
        expect(error).to.be.instanceOf(UnkeyableArgumentError)
        expect((error as UnkeyableArgumentError).code).to.equal('ERR_UNKEYABLE_ARGUMENT')
        expect((error as UnkeyableArgumentError).path).to.equal(path)
        expect(fn.runs).to.equal(0)
      })
    }

    it('keys by value: object key order does not matter; 1, "1", null and undefined differ', async () => {
      const fn = counted(async (x: unknown) => JSON.stringify(x) ?? 'undefined')
      const memo = memoize(fn, { cache, name: 'byValue' })
      await memo({ a: 1, b: [2] })
      await memo({ b: [2], a: 1 })
      expect(fn.runs).to.equal(1)
      expect(await Promise.all([memo(1), memo('1'), memo(null), memo(undefined)])).to.deep.equal(['1', '"1"', 'null', 'undefined'])
      expect(fn.runs).to.equal(5)
    })

    it('gives keys of the form prefix:namespace:name:vVersion:digest', () => {
      const memo = memoize(async (id: string, n: number) => id + n, { cache: cache.namespace('users'), name: 'get user', version: 4 })
      expect(memo.keyFor('42', 1)).to.equal('m:users!get%20user:v4:s2:42d1;')
      const long = memo.keyFor('x'.repeat(100), 1)
      expect(long).to.match(/^m:users!get%20user:v4:#[\w-]{43}$/)
    })

    it('keys by what `key` returns, called with the arguments', async () => {
      const fn = counted(async (user: { id: string; name: string }) => user.name)
      const memo = memoize(fn, { cache, name: 'byId', key: (user) => user.id })
      expect(await memo({ id: '1', name: 'Ann' })).to.equal('Ann')
      expect(await memo({ id: '1', name: 'Bob' })).to.equal('Ann')
      expect(fn.runs).to.equal(1)
      expect(memo.keyFor({ id: '1', name: 'x' })).to.equal('m:default!byId:v1:s1:1')
    })
  })

  describe('options', () => {
    it('needs a name for an anonymous function', () => {
      expect(() => memoize(async () => 1, { cache })).to.throw(InvalidOptionError, /name is required/)
    })

    it('refuses a second live memoized function of the same name in one cache (namespace), with DuplicateNameError', () => {
      const keep = memoize(async () => 1, { cache, name: 'dup' })
      expect(() => memoize(async () => 2, { cache, name: 'dup' })).to.throw(DuplicateNameError, /"dup"/)
      expect(() => memoize(async () => 2, { cache, name: 'dup', version: 2 }))
        .to.throw(DuplicateNameError)
        .with.property('code', 'ERR_DUPLICATE_NAME')
      expect(memoize(async () => 3, { cache: cache.namespace('other'), name: 'dup' })).to.be.a('function')
      expect(memoize(async () => 4, { cache: createCache(), name: 'dup' })).to.be.a('function')
      expect(keep).to.be.a('function')
    })

    const bad: [string, Record<string, unknown>, RegExp][] = [
      ['an unknown option', { tll: '5m' }, /memoize\(f\) has no option "tll"/],
      ['a negative ttl', { ttl: -5 }, /memoize\(f\): ttl must be a positive duration/],
      ['a fractional version', { version: 1.5 }, /memoize\(f\): version must be a whole number/],
      ['an empty name', { name: '' }, /memoize\(f\): name must be a non-empty string/],
      ['a key that is not a function', { key: 'id' }, /memoize\(f\): key must be a function/],
      ['tags of the wrong type', { tags: 'a' }, /memoize\(f\): tags must be an array of strings or a function/],
      ['tags holding a number', { tags: ['a', 1] }, /memoize\(f\): tags must be an array of strings or a function, got an array holding 1$/],
      ['a cache that is not a cache', { cache: {} }, /memoize\(f\): cache must be a cache made by createCache\(\), got an object$/],
      ['a look-alike of a cache', { cache: { getOrSetEntry: async () => undefined, invalidateTags: async () => undefined } }, /memoize\(f\): cache must be a cache made by createCache/],
    ]
    for (const [what, options, message] of bad) {
      it(`refuses ${what} with InvalidOptionError naming it`, () => {
        const f = async (): Promise<number> => 1
        expect(() => memoize(f, options as never)).to.throw(InvalidOptionError, message)
      })
    }

    it('keeps a value for ttl and no longer', async () => {
      const clock = sinon.useFakeTimers({ now: 1_000_000, toFake: ['Date'] })
      try {
        const fn = counted(async (n: number) => n)
        const memo = memoize(fn, { cache, name: 'ttl', ttl: '10s' })
        await memo(1)
        clock.tick(9_999)
        await memo(1)
        expect(fn.runs).to.equal(1)
        clock.tick(1)
        await memo(1)
        expect(fn.runs).to.equal(2)
      } finally {
        clock.restore()
      }
    })

    it('tags entries with a list, or with a function of the arguments and the result', async () => {
      // A value computed in the very millisecond of an invalidation counts as invalidated:
      // a fake clock keeps the recomputed values clear of that.
      const clock = sinon.useFakeTimers({ now: 1_000_000, toFake: ['Date'] })
      try {
        const fn = counted(async (id: string) => ({ id, team: `team-${id.length}` }))
        const memo = memoize(fn, { cache, name: 'tagged', tags: ([id], user) => [`user:${id}`, user.team] })
        const listed = counted(async (n: number) => n)
        const memoListed = memoize(listed, { cache, name: 'listed', tags: ['numbers'] })
        await Promise.all([memo('a'), memo('bb'), memoListed(1)])
        await cache.invalidateTags(['user:a'])
        clock.tick(1)
        await Promise.all([memo('a'), memo('bb'), memoListed(1)])
        expect(fn.runs).to.equal(3)
        await cache.invalidateTags(['team-2', 'numbers'])
        clock.tick(1)
        await Promise.all([memo('a'), memo('bb'), memoListed(1)])
        expect(fn.runs).to.equal(4)
        expect(listed.runs).to.equal(2)
      } finally {
        clock.restore()
      }
    })

    it('calls a tags function with the call’s arguments as one array and the result, also when an optional argument is left out', async () => {
      const seen: [unknown[], unknown][] = []
      const g = memoize(async (id: number, opts?: { full: boolean }) => ({ id, full: opts?.full ?? false }), {
        cache,
        name: 'g',
        tags: (args, result) => {
          seen.push([args, result])
          return [`g:${args[0]}`, `full:${result.full}`]
        },
      })
      await g(5)
      await g(6, { full: true })
      expect(seen).to.deep.equal([
        [[5], { id: 5, full: false }],
        [[6, { full: true }], { id: 6, full: true }],
      ])
      await cache.invalidateTags(['g:5'])
      expect(await g.peek(5)).to.equal(undefined)
      expect(await g.peek(6, { full: true })).to.deep.equal({ id: 6, full: true })
      await cache.invalidateTags(['full:true'])
      expect(await g.peek(6, { full: true })).to.equal(undefined)
    })

    it('hands back, but does not store, a value that shouldCache refuses', async () => {
      const fn = counted(async (n: number) => (n < 0 ? null : n))
      const memo = memoize(fn, { cache, name: 'maybe', shouldCache: (value) => value !== null })
      expect(await memo(-1)).to.equal(null)
      expect(await memo(-1)).to.equal(null)
      expect(await memo(1)).to.equal(1)
      expect(await memo(1)).to.equal(1)
      expect(fn.runs).to.equal(3)
    })
  })

  describe('invalidate, clear, peek and refresh in one process', () => {
    it('invalidates one entry, clears only this function, peeks without running, refreshes whatever is cached', async () => {
      let version = 0
      const fn = counted(async (id: string) => `${id}@${version}`)
      const other = counted(async (id: string) => id)
      const memo = memoize(fn, { cache, name: 'f' })
      const memoOther = memoize(other, { cache, name: 'g' })
      expect(await memo.peek('a')).to.equal(undefined)
      await Promise.all([memo('a'), memo('b'), memoOther('a')])
      expect(await memo.peek('a')).to.equal('a@0')
      version = 1
      await memo.invalidate('a')
      expect(await memo.peek('a')).to.equal(undefined)
      expect(await memo('a')).to.equal('a@1')
      expect(await memo('b')).to.equal('b@0')
      expect(await memo.refresh('b')).to.equal('b@1')
      expect(await memo('b')).to.equal('b@1')
      await memo.clear()
      expect(await memo.peek('a')).to.equal(undefined)
      expect(await memo.peek('b')).to.equal(undefined)
      expect(await memoOther.peek('a')).to.equal('a')
      expect(fn.runs).to.equal(4)
      expect(other.runs).to.equal(1)
    })
  })
})

describe('memoize with Redis', () => {
  eachTopology((t) => {
    const opened: Cache[] = []
    const open = (options: Parameters<typeof createCache>[0] = {}): Cache => {
      const cache = createCache({ redis: t.redis(), prefix: 'mr', ...options })
      opened.push(cache)
      return cache
    }
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((c) => c.close()))
    })

    it('runs the function once for 1,000 concurrent callers of a cold key, and stores it once', async () => {
      const cache = open()
      const fn = counted(async (id: string) => {
        await new Promise((resolve) => setImmediate(resolve))
        return { id, at: new Date(5) }
      })
      const memo = memoize(fn, { cache, name: 'cold' })
      const values = await Promise.all(Array.from({ length: 1000 }, () => memo('k')))
      expect(fn.runs).to.equal(1)
      expect(new Set(values).size).to.equal(1)
      expect(await t.client.exists(memo.keyFor('k'))).to.equal(1)
    })

    it('gives all 1,000 callers the same error when the function throws, and stores nothing in Redis', async () => {
      const cache = open()
      const boom = new Error('nope')
      const fn = counted(async (_id: string): Promise<number> => {
        await new Promise((resolve) => setImmediate(resolve))
        throw boom
      })
      const memo = memoize(fn, { cache, name: 'coldFails' })
      const errors = await Promise.all(Array.from({ length: 1000 }, () => settle(memo('k'))))
      expect(fn.runs).to.equal(1)
      expect(errors.every((e) => e === boom)).to.equal(true)
      expect(await t.client.exists(memo.keyFor('k'))).to.equal(0)
    })

    it('shares values between caches: rich values come back as the same types', async () => {
      const value = { price: new Money(10n ** 20n, 'EUR'), when: new Date(7), seen: new Set(['a']), by: new Map([[1, undefined]]) }
      const writer = counted(async (_sku: string) => value)
      const reader = counted(async (_sku: string) => value)
      const a = memoize(writer, { cache: open(), name: 'price' })
      const b = memoize(reader, { cache: open({ l1: false }), name: 'price' })
      await a('sku')
      const read = await b('sku')
      expect(reader.runs).to.equal(0)
      expect(read).to.deep.equal(value)
      expect(read.price).to.be.instanceOf(Money)
      expect(read.price.format()).to.equal('100000000000000000000 EUR')
    })

    it('invalidates an entry and clears a function for every cache sharing Redis', async () => {
      const fn = counted(async (id: string) => id.toUpperCase())
      const a = memoize(fn, { cache: open(), name: 'up' })
      const b = memoize(fn, { cache: open({ l1: false }), name: 'up' })
      await Promise.all([a('x'), a('y')])
      expect(await b.peek('x')).to.equal('X')
      await a.invalidate('x')
      expect(await b.peek('x')).to.equal(undefined)
      expect(await b.peek('y')).to.equal('Y')
      await a.clear()
      // b knows the function's stamp, and hears of its change just after a's answer.
      expect(await readWithinCoherence(() => b.peek('y'), (v) => v === undefined)).to.equal(undefined)
      await b('y')
      expect(fn.runs).to.equal(3)
    })

    it('refreshes an entry for every cache sharing Redis', async () => {
      let n = 0
      const fn = async (id: string): Promise<string> => `${id}${++n}`
      const a = memoize(fn, { cache: open(), name: 'r' })
      const b = memoize(fn, { cache: open({ l1: false }), name: 'r' })
      expect(await a('x')).to.equal('x1')
      expect(await b.refresh('x')).to.equal('x2')
      expect(await b('x')).to.equal('x2')
      // a's L1 copy goes within the coherence bound: Redis tells a just after answering b.
      expect(await readWithinCoherence(() => a.peek('x'), (v) => v === 'x2')).to.equal('x2')
    })

    it('drops old entries when version is bumped: they are no longer read, and keys carry the version', async () => {
      const v1 = counted(async (id: string) => `v1:${id}`)
      const v2 = counted(async (id: string) => `v2:${id}`)
      const old = memoize(v1, { cache: open(), name: 'shape', version: 1 })
      expect(await old('a')).to.equal('v1:a')
      const sameVersion = memoize(v1, { cache: open(), name: 'shape', version: 1 })
      expect(await sameVersion('a')).to.equal('v1:a')
      expect(v1.runs).to.equal(1)
      const bumped = memoize(v2, { cache: open(), name: 'shape', version: 2 })
      expect(bumped.keyFor('a')).to.equal('mr:default!shape:v2:s1:a')
      expect(old.keyFor('a')).to.equal('mr:default!shape:v1:s1:a')
      expect(await bumped('a')).to.equal('v2:a')
      expect(v2.runs).to.equal(1)
      expect(await t.client.exists('mr:default!shape:v1:s1:a')).to.equal(1)
      expect(await t.client.exists('mr:default!shape:v2:s1:a')).to.equal(1)
    })
  })
})
