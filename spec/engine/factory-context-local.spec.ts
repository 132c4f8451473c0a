import { expect } from 'chai'
import { once } from 'node:events'
import {
  CacheClosedError, createCache, factoryContext, FactoryTimeoutError, InvalidOptionError, Memoize, memoize, type FactoryContext,
} from '../../lib/index.ts'
import { next, useCaches } from '../fixtures/stampede-helpers.ts'

/**
 * The function's context in one process (each cache stands for a process): how a
 * memoized function or method reaches it, its abort signal, the stale entry a refresh
 * sees, "not modified" on L1 alone and with signed values, and ttl and grace as
 * functions of the value in every place that takes them. Across real processes:
 * factory-context.spec.ts.
 */

describe('the function’s context in one process', () => {
  const { make, fakeDate, redis } = useCaches()

  describe('reaching it', () => {
    it('is the getOrSet factory’s argument, and what factoryContext() answers in the function’s synchronous part', async () => {
      const cache = make()
      let given: FactoryContext<string> | undefined
      let asked: FactoryContext<string> | undefined
      await cache.getOrSet<string>('k', (ctx) => {
        given = ctx
        asked = factoryContext<string>()
        return 'v'
      })
      expect(given).to.not.equal(undefined)
      expect(asked).to.equal(given)
      expect(given?.key).to.equal('spec:default:k')
    })

    it('reaches a memoized function through factoryContext(), and refuses a call outside one or after its first await', async () => {
      const cache = make()
      const late: unknown[] = []
      const getUser = memoize(async (id: string) => {
        factoryContext<string>().setTtl('2h')
        await Promise.resolve()
        try {
          factoryContext()
        } catch (error) {
          late.push(error)
        }
        return `user ${id}`
      }, { cache, name: 'ctxGetUser' })
      expect(await getUser('1')).to.equal('user 1')
      expect(late[0]).to.be.instanceOf(InvalidOptionError)
      expect(() => factoryContext()).to.throw(InvalidOptionError, /synchronous part of a function memoredis runs/)
      expect(await redis.client.pttl(getUser.keyFor('1'))).to.be.within(2 * 3_600_000 - 60_000, 2 * 3_600_000 + 1_000)
    })

    it('reaches a method decorated with @Memoize', async () => {
      const cache = make()
      class Users {
        @Memoize({ cache, name: 'CtxUsers.find' })
        async find(id: string): Promise<string> {
          const ctx = factoryContext<string>()
          ctx.setTags([`user:${id}`])
          return `user ${id} (${ctx.stale === undefined ? 'cold' : 'stale'})`
        }
      }
      const users = new Users()
      expect(await users.find('1')).to.equal('user 1 (cold)')
      let runs = 0
      cache.on('compute', () => runs++)
      await cache.invalidateTags(['user:1'])
      expect(await users.find('1')).to.equal('user 1 (cold)')
      expect(runs).to.equal(1)
    })
  })

  describe('its signal', () => {
    it('aborts at the hard timeout with the FactoryTimeoutError', async () => {
      const cache = make()
      let reason: unknown
      const error = await cache.getOrSet('k', async (ctx) => {
        await once(ctx.signal, 'abort')
        reason = ctx.signal.reason
        return 'late'
      }, { timeout: { hard: 30 } }).catch((e: unknown) => e)
      expect(error).to.be.instanceOf(FactoryTimeoutError)
      expect(reason).to.equal(error)
    })

    it('aborts when the cache closes, with a CacheClosedError', async () => {
      const cache = createCache({ redis: redis.url, prefix: 'spec' })
      let running: (() => void) | undefined
      const started = new Promise<void>((resolve) => (running = resolve))
      const reasons: unknown[] = []
      const call = cache.getOrSet('k', async (ctx) => {
        running?.()
        await once(ctx.signal, 'abort')
        reasons.push(ctx.signal.reason)
        return 'v'
      }).catch((e: unknown) => e)
      await started
      await cache.close()
      await call
      expect(reasons[0]).to.be.instanceOf(CacheClosedError)
    })
  })

  describe('what a refresh sees', () => {
    it('a background refresh (stale-while-revalidate) sees the entry it replaces, and "not modified" keeps its created', async () => {
      const clock = fakeDate()
      const cache = make({ grace: '1h', staleWhileRevalidate: true })
      const first = await cache.getOrSetEntry('k', (ctx) => {
        ctx.setValidator('v1')
        return 'one'
      })
      clock.tick(10_500)
      const seen: unknown[] = []
      const refreshed = next(cache, 'refresh')
      expect(await cache.getOrSetEntry('k', (ctx) => {
        seen.push(ctx.stale)
        return ctx.stale?.validator === 'v1' ? ctx.notModified() : 'two'
      })).to.deep.include({ value: 'one', status: 'stale' })
      await refreshed
      expect(seen).to.have.length(1)
      expect(seen[0]).to.deep.include({ value: 'one', created: first.created, tags: [], validator: 'v1' })
      expect(await cache.getOrSetEntry('k', () => 'three')).to.deep.include({ value: 'one', status: 'hit', created: first.created })
    })

    it('"not modified" without a stale entry fails with InvalidOptionError and stores nothing', async () => {
      const cache = make()
      const error = await cache.getOrSet('k', (ctx) => ctx.notModified()).catch((e: unknown) => e)
      expect(error).to.be.instanceOf(InvalidOptionError)
      expect(await redis.client.exists('spec:default:k')).to.equal(0)
    })

    it('"not modified" on L1 alone extends the entry in L1', async () => {
      const clock = fakeDate()
      const cache = createCache({ prefix: 'spec', ttl: '10s', grace: '1h' })
      try {
        await cache.getOrSet('k', () => 'one')
        clock.tick(10_500)
        expect(await cache.getOrSetEntry('k', (ctx) => ctx.notModified(), { timeout: { soft: '1h' } })).to.deep.include({ value: 'one', status: 'miss' })
        clock.tick(9_000)
        expect(await cache.getOrSetEntry('k', () => 'two')).to.deep.include({ value: 'one', status: 'hit' })
      } finally {
        await cache.close()
      }
    })

    it('"not modified" with signed values writes the value again, signed, and other caches read it fresh', async () => {
      const signingKey = 'a signing key of 32 bytes, more!'
      const a = make({ signingKey, grace: '1h' })
      const b = make({ signingKey, grace: '1h' })
      await a.getOrSet('k', (ctx) => {
        ctx.setTtl(1)
        ctx.setValidator('v1')
        return 'one'
      })
      const before = await redis.client.getBuffer('spec:default:k')
      const fresh = Number(before?.toString('latin1', 0, 80).split(' ')[4])
      while (Date.now() <= fresh) await new Promise((resolve) => setImmediate(resolve))
      expect(await a.getOrSetEntry('k', (ctx) => (ctx.stale?.validator === 'v1' ? ctx.notModified() : 'two'))).to.deep.include({ value: 'one', status: 'miss' })
      expect(a.stats().redis.bytesWritten).to.be.greaterThan(before?.length ?? 0)
      expect(await b.getOrSetEntry('k', () => 'three')).to.deep.include({ value: 'one', status: 'hit' })
    })
  })

  describe('ttl and grace as functions of the value', () => {
    it('are taken by createCache, getOrSet, memoize and set; a duration given per call wins over the cache’s function', async () => {
      const cache = make({ ttl: (v) => ((v as { ttl: number }).ttl), grace: (v) => ((v as { grace: number }).grace) })
      const pttl = (key: string): Promise<number> => redis.client.pttl(key)
      await cache.getOrSet('cache', () => ({ ttl: 3_600_000, grace: 3_600_000 }))
      expect(await pttl('spec:default:cache')).to.be.within(2 * 3_600_000 - 60_000, 2 * 3_600_000 + 1_000)
      await cache.getOrSet('call', () => ({ ttl: 1, grace: 1 }), { ttl: '3h', grace: 0 })
      expect(await pttl('spec:default:call')).to.be.within(3 * 3_600_000 - 60_000, 3 * 3_600_000 + 1_000)
      await cache.set('set', { h: 4 }, { ttl: (v) => v.h * 3_600_000, grace: () => '1h' })
      expect(await pttl('spec:default:set')).to.be.within(5 * 3_600_000 - 60_000, 5 * 3_600_000 + 1_000)
      const fn = memoize(async (h: number) => ({ h }), { cache, name: 'ctxHours', ttl: (v) => `${v.h}h`, grace: 0 })
      await fn(6)
      expect(await pttl(fn.keyFor(6))).to.be.within(6 * 3_600_000 - 60_000, 6 * 3_600_000 + 1_000)
    })

    it('a grace function returning a bad duration fails the call with InvalidOptionError and stores nothing', async () => {
      const cache = make()
      const error = await cache.getOrSet('k', () => 'v', { grace: () => 'soon' }).catch((e: unknown) => e)
      expect(error).to.be.instanceOf(InvalidOptionError)
      expect((error as Error).message).to.match(/grace \(a function of the value\) must be a duration/)
      expect(await redis.client.exists('spec:default:k')).to.equal(0)
    })

    it('setTtl wins over the ttl function; a bad setTtl fails the call and stores nothing', async () => {
      const cache = make()
      await cache.getOrSet('k', (ctx) => {
        ctx.setTtl('7h')
        return 'v'
      }, { ttl: () => '1h' })
      expect(await redis.client.pttl('spec:default:k')).to.be.within(7 * 3_600_000 - 60_000, 7 * 3_600_000 + 1_000)
      const error = await cache.getOrSet('bad', (ctx) => {
        ctx.setTtl(-1)
        return 'v'
      }).catch((e: unknown) => e)
      expect(error).to.include({ code: 'ERR_INVALID_OPTION' })
      expect(await redis.client.exists('spec:default:bad')).to.equal(0)
    })
  })

  it('skip() gives every caller sharing the run the value, and the next call runs the function again', async () => {
    const cache = make()
    let runs = 0
    const fn = async (ctx: FactoryContext<number>): Promise<number> => {
      ctx.skip()
      await new Promise((resolve) => setImmediate(resolve))
      return ++runs
    }
    expect(await Promise.all([cache.getOrSet('k', fn), cache.getOrSet('k', fn)])).to.deep.equal([1, 1])
    expect(await cache.getOrSet('k', fn)).to.equal(2)
  })
})
