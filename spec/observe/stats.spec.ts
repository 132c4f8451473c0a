import { expect } from 'chai'
import { createCache, superjsonCodec, type Cache } from '../../lib/index.ts'
import { useCaches } from '../fixtures/stampede-helpers.ts'
import { RedisServer } from '../support/redis-server.ts'

/**
 * The counters `stats()` gives beside hits and misses: the bytes of values to and from
 * Redis, Redis failures by code, and stale values served by reason. Against real Redis
 * (a server of its own where the spec breaks it).
 */

describe('stats(): Redis traffic', () => {
  const { redis, make } = useCaches()

  it('counts the bytes of a value written by a fill and read back by an L2 hit, as Redis stores them', async () => {
    const a = make()
    const b = make()
    const value = { text: 'x'.repeat(1000) }
    await a.getOrSet('k', () => value)
    const stored = await redis.client.strlen('spec:default:k')
    expect(stored).to.be.greaterThan(1000)
    expect(a.stats().redis).to.deep.equal({ bytesRead: 0, bytesWritten: stored, errors: {} })
    expect(await b.getOrSet('k', () => ({ text: 'other' }))).to.deep.equal(value)
    expect(b.stats().redis).to.deep.equal({ bytesRead: stored, bytesWritten: 0, errors: {} })
    // An L1 hit reads nothing from Redis.
    await b.getOrSet('k', () => ({ text: 'other' }))
    expect(b.stats().redis.bytesRead).to.equal(stored)
  })

  it('counts the bytes of set() as written, and of get() as read', async () => {
    const a = make()
    await a.set('s', 'hello')
    const stored = await redis.client.strlen('spec:default:s')
    expect(a.stats().redis.bytesWritten).to.equal(stored)
    const b = make()
    expect(await b.get('s')).to.equal('hello')
    expect(b.stats().redis).to.deep.include({ bytesRead: stored, bytesWritten: 0 })
  })

  it('is zero, with no errors, for a cache without Redis; a snapshot does not move with later counts', async () => {
    const cache = createCache({ ttl: '1m' })
    try {
      await cache.getOrSet('k', () => 1)
      expect(cache.stats().redis).to.deep.equal({ bytesRead: 0, bytesWritten: 0, errors: {} })
    } finally {
      await cache.close()
    }
    const a = make()
    const before = a.stats()
    await a.getOrSet('k', () => 1)
    expect(before.redis.bytesWritten).to.equal(0)
    expect(a.stats().redis.bytesWritten).to.be.greaterThan(0)
  })
})

describe('stats(): L1 bytes with compression', () => {
  const { redis, make } = useCaches()
  // 40,000 characters that deflate to a few hundred bytes.
  const big = (n: number) => ({ n, text: `${n}:`.padEnd(40_000, 'x') })
  const payload = Buffer.byteLength(superjsonCodec.encode(big(0)) as string)

  it('counts the uncompressed payload of a compressed value, in the writer and in a reader', async () => {
    const a = make({ compressThreshold: 1024 })
    const b = make({ compressThreshold: 1024 })
    await a.getOrSet('k', () => big(0))
    const stored = await redis.client.strlen('spec:default:k')
    expect(stored).to.be.lessThan(1000)
    expect(a.stats().l1.bytes).to.be.within(payload, payload + 200)
    expect(await b.getOrSet('k', () => big(1))).to.deep.equal(big(0))
    expect(b.stats().l1.bytes).to.be.within(payload, payload + 200)
  })

  it('evicts once what L1 holds passes l1.maxSize, however well the values compress', async () => {
    const a = make({ compressThreshold: 1024, l1: { maxSize: 100_000 } })
    for (let n = 0; n < 10; n++) await a.getOrSet(`k${n}`, () => big(n))
    // Two values of 40 KB fit in 100 KB; ten compressed ones (under 1 KB each) did before.
    expect(a.stats().l1.size).to.equal(2)
    expect(a.stats().l1.bytes).to.be.at.most(100_000)
  })
})

describe('stats(): stale values by reason', () => {
  const { make, fakeDate } = useCaches()

  it('counts each stale serve under its reason, adding up to stale', async () => {
    const clock = fakeDate()
    const a = make({ grace: '1m' })
    const swr = make({ grace: '1m', staleWhileRevalidate: true })
    await a.getOrSet('k', () => 'v1')
    clock.tick(10_500)
    expect(await a.getOrSet('k', () => Promise.reject(new Error('down')))).to.equal('v1')
    expect(await swr.getOrSetEntry('k', () => 'v2')).to.deep.include({ value: 'v1', status: 'stale' })
    expect(a.stats().staleByReason).to.deep.equal({ revalidate: 0, error: 1, 'soft-timeout': 0, 'hard-timeout': 0, 'lock-timeout': 0 })
    expect(swr.stats().staleByReason).to.deep.include({ revalidate: 1, error: 0 })
    expect(a.stats().stale + swr.stats().stale).to.equal(2)
  })
})

describe('stats(): Redis errors by code', () => {
  let server: RedisServer
  let cache: Cache | undefined
  before(async () => {
    server = await RedisServer.start()
  })
  after(async () => {
    await cache?.close()
    await server.stop()
  })

  it('counts the refused connection by its system code, and the commands the open circuit refused', async function () {
    this.timeout(20_000)
    cache = createCache({ redis: server.url, prefix: 'spec', redisTimeout: '200ms', circuit: { failures: 1, resetAfter: '10s' } })
    await cache.getOrSet('k', () => 1)
    expect(cache.stats().redis.errors).to.deep.equal({})
    const refused = new Promise<void>((resolve) =>
      cache?.on('error', ({ error }) => {
        // The command connection's (the subscriber's own are not Redis commands).
        if (error.message.startsWith('redis: connect ECONNREFUSED')) resolve()
      }),
    )
    await server.kill()
    await refused
    // Each call still answers (from the function), while the failures are counted.
    for (let i = 0; i < 3; i++) expect(await cache.getOrSet(`other:${i}`, () => i)).to.equal(i)
    const { errors } = cache.stats().redis
    expect(errors.ECONNREFUSED, JSON.stringify(errors)).to.be.greaterThan(0)
    expect(errors.ERR_CIRCUIT_OPEN, JSON.stringify(errors)).to.be.greaterThan(0)
    for (const code of Object.keys(errors)) expect(code).to.match(/^[A-Z][A-Z0-9_]+$/)
  })
})

describe('stats(): reads that do not compute', () => {
  it('counts get() and a memoized peek() that look in L1 as L1 hits and misses, like getOrSet', async () => {
    const cache = createCache()
    try {
      await cache.set('here', 1)
      expect(await cache.get('here')).to.equal(1)
      expect(await cache.get('absent')).to.equal(undefined)
      const square = cache.memoize(async (n: number) => n * n, { name: 'square' })
      expect(await square.peek(3)).to.equal(undefined)
      await square(3)
      expect(await square.peek(3)).to.equal(9)
      // get('here') and peek(3) after the call found L1; get('absent'), peek(3) before it and the call's own look did not.
      expect(cache.stats().l1).to.include({ hits: 2, misses: 3 })
    } finally {
      await cache.close()
    }
  })
})
