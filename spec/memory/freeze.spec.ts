import { expect } from 'chai'
import { createCache, InvalidOptionError, memoize, registerClass, type Cache } from 'memoredis'
import { deepFreeze } from '../../lib/memory/freeze.ts'
import { useRedis } from '../support/redis.ts'

/**
 * `l1: { freeze: true }`: values are deep-frozen as they enter L1, so that one caller's
 * mutation throws instead of changing what every later caller gets. Without it, L1
 * hands every caller the same object: the documented trade-off of a fast hit.
 *
 * Spec modules are ES modules, so strict-mode code: assigning to a frozen property throws.
 */

class Account {
  constructor(
    public id: number,
    public meta: { visits: number },
  ) {}
}
registerClass(Account)

/** A value with every kind of plain data freezing covers, and some it leaves alone. */
const sample = (): {
  user: { name: string; roles: string[] }
  scores: Map<string, { best: number }>
  seen: Set<string>
  at: Date
  account: Account
} => ({
  user: { name: 'Ada', roles: ['admin'] },
  scores: new Map([['chess', { best: 3 }]]),
  seen: new Set(['a']),
  at: new Date(0),
  account: new Account(1, { visits: 0 }),
})
type Sample = ReturnType<typeof sample>

/** Every mutation a careless caller might make to a hit; each must throw a TypeError. */
const mutations: [string, (v: Sample) => unknown][] = [
  ['a property of a nested object', (v) => ((v.user as { name: string }).name = 'Eve')],
  ['a new property', (v) => ((v as unknown as Record<string, unknown>).extra = 1)],
  ['an array push', (v) => v.user.roles.push('root')],
  ['an array element', (v) => (v.user.roles[0] = 'root')],
  ['Map.set', (v) => v.scores.set('go', { best: 1 })],
  ['Map.delete', (v) => v.scores.delete('chess')],
  ['Map.clear', (v) => v.scores.clear()],
  ['an object inside a Map', (v) => ((v.scores.get('chess') as { best: number }).best = 99)],
  ['Set.add', (v) => v.seen.add('b')],
  ['Set.delete', (v) => v.seen.delete('a')],
  ['Set.clear', (v) => v.seen.clear()],
]

/** The value as the function made it, to compare what a later caller sees. */
const original = sample()

describe('l1.freeze', () => {
  describe('deepFreeze', () => {
    it('freezes plain objects, arrays, Maps (keys and values) and Sets, however deep, in place', () => {
      const key = { k: 1 }
      const value = { list: [{ a: 1 }], map: new Map([[key, [2]]]), set: new Set([{ s: 1 }]), [Symbol.for('x')]: { y: 1 } }
      expect(deepFreeze(value)).to.equal(value)
      const frozen = [value, value.list, value.list[0], value.map, key, value.map.get(key), value.set, ...value.set, value[Symbol.for('x')]]
      for (const part of frozen) expect(Object.isFrozen(part), JSON.stringify(part)).to.equal(true)
    })

    it('leaves Dates, class instances and what they hold, Buffers and subclasses of Map alone', () => {
      class Registry extends Map<string, number> {}
      const value = { at: new Date(0), account: new Account(1, { visits: 0 }), bytes: Buffer.from('ab'), registry: new Registry() }
      deepFreeze(value)
      expect(Object.isFrozen(value)).to.equal(true)
      value.at.setTime(5)
      value.account.meta.visits++
      value.account.id = 2
      value.bytes[0] = 0
      value.registry.set('a', 1)
      expect([value.at.getTime(), value.account.id, value.account.meta.visits, value.bytes[0], value.registry.size]).to.deep.equal([5, 2, 1, 0, 1])
    })

    it('ends on cycles and values deeper than the call stack', () => {
      const cyclic: Record<string, unknown> = { name: 'loop' }
      const map = new Map<string, unknown>([['self', cyclic]])
      cyclic.self = cyclic
      cyclic.map = map
      map.set('map', map)
      deepFreeze(cyclic)
      expect(Object.isFrozen(cyclic) && Object.isFrozen(map)).to.equal(true)
      let deep: unknown[] = []
      const root = deep
      for (let i = 0; i < 200_000; i++) deep = (deep[0] = []) as unknown[]
      deepFreeze(root)
      expect(Object.isFrozen(deep)).to.equal(true)
    })

    it('never calls a getter, and keeps a Map frozen elsewhere before as it is', () => {
      let calls = 0
      const value = {
        get computed(): number {
          return ++calls
        },
        map: Object.freeze(new Map([['a', 1]])),
      }
      deepFreeze(value)
      expect(calls).to.equal(0)
      expect(Object.isFrozen(value)).to.equal(true)
      expect(() => value.map.get('a')).not.to.throw()
    })
  })

  describe('a memoized function on a cache with l1: { freeze: true }', () => {
    let cache: Cache
    let runs: number
    let get: () => Promise<Sample>
    beforeEach(() => {
      cache = createCache({ prefix: 'freeze', l1: { freeze: true } })
      runs = 0
      get = memoize(async () => (runs++, sample()), { cache, name: 'sample' })
    })
    afterEach(() => cache.close())

    for (const [what, mutate] of mutations) {
      it(`throws a TypeError on ${what} of a hit, and the next caller sees the original`, async () => {
        await get()
        const hit = await get()
        expect(() => mutate(hit)).to.throw(TypeError)
        expect(await get()).to.deep.equal(original)
        expect(runs).to.equal(1)
      })
    }

    it('freezes the value the computing caller gets too (it is the object L1 keeps)', async () => {
      const first = await get()
      expect(Object.isFrozen(first.user)).to.equal(true)
      expect(await get()).to.equal(first)
    })

    it('leaves a Date and a class instance in the value as they are', async () => {
      const hit = await get()
      hit.account.meta.visits++
      hit.at.setTime(1)
      expect((await get()).account.meta.visits).to.equal(1)
      expect((await get()).at.getTime()).to.equal(1)
    })
  })

  describe('with Redis', () => {
    const redis = useRedis()

    it('freezes a value read from Redis as it enters L1', async () => {
      const writer = createCache({ redis: redis.url, prefix: 'freeze', coherence: 'off' })
      const reader = createCache({ redis: redis.url, prefix: 'freeze', coherence: 'off', l1: { freeze: true } })
      try {
        let runs = 0
        const make = async (): Promise<Sample> => (runs++, sample())
        const written = await memoize(make, { cache: writer, name: 'sample' })()
        expect(Object.isFrozen(written.user)).to.equal(false)
        const read = memoize(make, { cache: reader, name: 'sample' })
        const fromRedis = await read()
        expect(runs).to.equal(1)
        expect(reader.stats().l2.hits).to.equal(1)
        expect(() => fromRedis.user.roles.push('root')).to.throw(TypeError)
        expect(() => fromRedis.scores.set('go', { best: 1 })).to.throw(TypeError)
        expect(await read()).to.equal(fromRedis)
        expect(await read()).to.deep.equal(original)
      } finally {
        await Promise.all([writer.close(), reader.close()])
      }
    })
  })

  describe('without freeze (the default)', () => {
    it('hands every caller the same object, so one caller’s mutation is what the next one gets: the documented trade-off', async () => {
      const cache = createCache({ prefix: 'shared' })
      try {
        const get = memoize(async () => sample(), { cache, name: 'sample' })
        const first = await get()
        first.user.roles.push('root')
        first.scores.set('go', { best: 1 })
        const next = await get()
        expect(next).to.equal(first)
        expect(next.user.roles).to.deep.equal(['admin', 'root'])
        expect(next.scores.has('go')).to.equal(true)
        expect(Object.isFrozen(next)).to.equal(false)
      } finally {
        await cache.close()
      }
    })
  })

  it('refuses an l1.freeze that is not a boolean, with InvalidOptionError', () => {
    expect(() => createCache({ l1: { freeze: 'yes' as unknown as boolean } })).to.throw(
      InvalidOptionError,
      /createCache: l1.freeze must be true or false, got "yes"/,
    )
  })
})
