import { expect } from 'chai'
import sinon from 'sinon'
import {
  createCache,
  InvalidOptionError,
  registerClass,
  type Cache,
  type CacheEvents,
} from '../lib/index.ts'
import { useRedis } from './support/redis.ts'
import { RedisServer } from './support/redis-server.ts'
import { nextReady } from './support/internals.ts'

class Point {
  constructor(
    public x: number,
    public y: number,
  ) {}
  norm(): number {
    return Math.hypot(this.x, this.y)
  }
}
registerClass(Point)

const rich = () => ({
  when: new Date('2024-02-29T12:00:00Z'),
  map: new Map<string, number>([['a', 1]]),
  set: new Set([1, 2, 3]),
  big: 2n ** 70n,
  missing: undefined,
  point: new Point(3, 4),
})

function errorsOf(cache: Cache): CacheEvents['error'][] {
  const seen: CacheEvents['error'][] = []
  cache.on('error', (e) => seen.push(e))
  return seen
}

describe('createCache options', () => {
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['a negative ttl', { ttl: -1 }, /ttl must be a positive duration like '5m' or 300000.*got -1/],
    ['an unknown duration unit', { ttl: '5w' }, /ttl must be a positive duration.*got "5w"/],
    ['an l1.max of 0', { l1: { max: 0 } }, /l1.max must be a whole number of at least 1, got 0/],
    ['a redis value of the wrong type', { redis: 42 }, /redis must be a URL string, ioredis options, a Redis or a Cluster, got 42/],
    ['a redis URL of another scheme', { redis: 'http://x' }, /redis URL must start with redis:\/\//],
    ['an unknown option', { tll: '5m' }, /no option "tll"/],
    ['a jitter above 1', { jitter: 2 }, /jitter must be a number from 0 to 1/],
    ['a prefix with a space', { prefix: 'a b' }, /prefix must be/],
    ['a short signing key', { signingKey: 'short' }, /signingKey must be a string or Buffer of at least 16 bytes/],
    // A wrong value is told by its kind, never by its contents (an object's fields here).
    // (A function is a ttl of the value: see factory-context-local.spec.ts.)
    ['a ttl that is an object', { ttl: { minutes: 5 } as never }, /^createCache: ttl must be a positive duration .*, got an object$/],
    [
      'a codec whose name an envelope cannot carry',
      { codec: { name: 'my codec', encode: (v: unknown) => JSON.stringify(v), decode: (b: Buffer) => JSON.parse(b.toString()) } },
      /^createCache: codec\.name must be 1 to 64 printable ASCII characters without spaces, got "my codec"$/,
    ],
  ]
  for (const [what, options, message] of bad) {
    it(`refuses ${what} with InvalidOptionError naming the option`, () => {
      expect(() => createCache(options)).to.throw(InvalidOptionError, message)
      try {
        createCache(options)
      } catch (error) {
        expect((error as InvalidOptionError).code).to.equal('ERR_INVALID_OPTION')
      }
    })
  }

  it('accepts every duration unit', async () => {
    const cache = createCache({ ttl: '250ms', grace: '1s', lock: { ttl: '2m', wait: '1h', lease: '1d', staleWait: '100ms' } })
    await cache.close()
  })
})

describe('Cache on L1 only', () => {
  let cache: Cache
  let clock: sinon.SinonFakeTimers | undefined
  beforeEach(() => {
    cache = createCache({ ttl: '1m' })
  })
  afterEach(async () => {
    clock?.restore()
    clock = undefined
    await cache.close()
  })

  it('computes a value once, then serves it from L1', async () => {
    const factory = sinon.stub().resolves({ n: 1 })
    expect(await cache.getOrSet('k', factory)).to.deep.equal({ n: 1 })
    expect(await cache.getOrSet('k', factory)).to.deep.equal({ n: 1 })
    expect(factory.callCount).to.equal(1)
    expect(cache.stats()).to.deep.include({ computations: 1 })
    expect(cache.stats().l1).to.deep.include({ hits: 1, misses: 1, size: 1 })
  })

  it('says whether a value was a hit or a miss and when it was computed', async () => {
    const first = await cache.getOrSetEntry('k', () => 1)
    const second = await cache.getOrSetEntry('k', () => 2)
    expect(first.status).to.equal('miss')
    expect(second).to.deep.equal({ value: 1, status: 'hit', created: first.created })
  })

  it('names getOrSetEntry, not getOrSet, in the errors of getOrSetEntry', async () => {
    const reasons = await Promise.all([
      cache.getOrSetEntry('k', 42 as never),
      cache.getOrSetEntry('k', () => 1, { tll: '5m' } as never),
      cache.getOrSetEntry('k', () => 1, { ttl: -1 }),
    ].map((call) => call.then(() => undefined, (e: unknown) => (e as InvalidOptionError).message)))
    expect(reasons[0]).to.equal('getOrSetEntry expects a function to compute the value, got 42')
    expect(reasons[1]).to.match(/^getOrSetEntry has no option "tll"/)
    expect(reasons[2]).to.match(/^getOrSetEntry: ttl must be a positive duration/)
  })

  it('never serves a value past its ttl, and honours a per-call ttl', async () => {
    clock = sinon.useFakeTimers({ now: 1_000_000, toFake: ['Date'] })
    let n = 0
    const next = () => ++n
    expect(await cache.getOrSet('k', next, { ttl: '10s' })).to.equal(1)
    clock.tick(9_999)
    expect(await cache.getOrSet('k', next, { ttl: '10s' })).to.equal(1)
    clock.tick(1)
    expect(await cache.getOrSet('k', next, { ttl: '10s' })).to.equal(2)
    // The entry keeps the ttl it was stored with, whatever a later call asks for.
    clock.tick(9_999)
    expect(await cache.getOrSet('k', next)).to.equal(2)
    clock.tick(1)
    expect(await cache.getOrSet('k', next)).to.equal(3)
  })

  it('keeps keys of different namespaces apart', async () => {
    const a = cache.namespace('a')
    const b = cache.namespace('b')
    await a.set('k', 'from a')
    expect(await b.get('k')).to.equal(undefined)
    expect(await a.get('k')).to.equal('from a')
    expect(await cache.get('k')).to.equal(undefined)
  })

  it('deletes a key', async () => {
    await cache.set('k', 1)
    await cache.delete('k')
    expect(await cache.get('k')).to.equal(undefined)
  })

  it('invalidates by tag and clears a namespace or everything', async () => {
    await cache.set('a', 1, { tags: ['t'] })
    await cache.set('b', 2)
    await cache.namespace('n').set('c', 3)
    await cache.invalidateTags(['t'])
    expect(await cache.get('a')).to.equal(undefined)
    expect(await cache.get('b')).to.equal(2)
    await cache.namespace('n').clear()
    expect(await cache.namespace('n').get('c')).to.equal(undefined)
    expect(await cache.get('b')).to.equal(2)
    await cache.clear()
    expect(await cache.get('b')).to.equal(undefined)
  })

  it('does not store a value that shouldCache refuses, but returns it', async () => {
    let n = 0
    const options = { shouldCache: (v: number) => v > 1 }
    expect(await cache.getOrSet('k', () => ++n, options)).to.equal(1)
    expect(await cache.getOrSet('k', () => ++n, options)).to.equal(2)
    expect(await cache.getOrSet('k', () => ++n, options)).to.equal(2)
  })

  it('passes the function’s own error through, unchanged, and caches nothing', async () => {
    const boom = new Error('boom')
    const error = await cache.getOrSet('k', () => Promise.reject(boom)).catch((e: unknown) => e)
    expect(error).to.equal(boom)
    expect(await cache.getOrSet('k', () => 'ok')).to.equal('ok')
  })

  it('rejects, never throws, on a bad key, bad per-call options or bad tags', async () => {
    const outcomes = [
      () => cache.getOrSetEntry('', () => 1),
      () => cache.getOrSet('k', () => 1, { ttl: -5 }),
      () => cache.invalidateTags('t' as unknown as string[]),
      // Two lone surrogates would both reach Redis as U+FFFD: one key for two.
      () => cache.getOrSet('user:\ud800', () => 1),
      () => cache.get('user:\udc00'),
      () => cache.getOrSet(42 as unknown as string, () => 1),
    ].map((call) => {
      let promise: Promise<unknown> | undefined
      expect(() => (promise = call())).to.not.throw()
      return (promise as Promise<unknown>).then(() => undefined, (e: unknown) => e)
    })
    const errors = (await Promise.all(outcomes)) as InvalidOptionError[]
    expect(errors.map((e) => e.code)).to.deep.equal(Array.from({ length: 6 }, () => 'ERR_INVALID_OPTION'))
    expect(errors[3]?.message).to.match(/well-formed/)
    expect(errors[1]?.message).to.match(/getOrSet: ttl must be a positive duration/)
  })

  it('rejects calls after close with ERR_CLOSED', async () => {
    await cache.close()
    const error = await cache.getOrSet('k', () => 1).catch((e: unknown) => e)
    expect(error).to.have.property('code', 'ERR_CLOSED')
  })
})

describe('Cache with Redis', () => {
  const redis = useRedis()
  const caches: Cache[] = []
  const make = (options: Parameters<typeof createCache>[0] = {}): Cache => {
    const cache = createCache({ redis: redis.url, prefix: 'spec', ...options })
    caches.push(cache)
    return cache
  }
  afterEach(async () => {
    await Promise.all(caches.splice(0).map((c) => c.close()))
  })

  it('shares a computed value with another cache through L2', async () => {
    const a = make()
    const b = make()
    expect(await a.getOrSet('k', () => 'computed by a')).to.equal('computed by a')
    expect(await b.getOrSet('k', () => 'computed by b')).to.equal('computed by a')
    expect(b.stats().l2.hits).to.equal(1)
  })

  it('brings rich values back as the same types through L1 and L2', async () => {
    const a = make()
    const b = make()
    const value = await a.getOrSet('rich', rich)
    const copy = await b.getOrSet('rich', () => ({}) as ReturnType<typeof rich>)
    for (const v of [value, copy]) {
      expect(v.when).to.be.instanceOf(Date)
      expect(v.when.toISOString()).to.equal('2024-02-29T12:00:00.000Z')
      expect(v.map.get('a')).to.equal(1)
      expect([...v.set]).to.deep.equal([1, 2, 3])
      expect(v.big).to.equal(2n ** 70n)
      expect(v).to.have.property('missing', undefined)
      expect(v.point).to.be.instanceOf(Point)
      expect(v.point.norm()).to.equal(5)
    }
  })

  it('keeps the key in Redis for ttl + grace', async () => {
    const cache = make({ ttl: '10s', grace: '5s' })
    await cache.set('k', 1)
    const pttl = await redis.client.pttl('spec:default:k')
    expect(pttl).to.be.within(14_000, 15_000)
  })

  it('stores freshUntil and staleUntil as whole milliseconds, fresh for no less than the ttl', async () => {
    const cache = make({ ttl: '10s', grace: '5s' })
    const before = Date.now()
    await cache.getOrSet('whole', () => 1)
    const header = ((await redis.client.getBuffer('spec:default:whole')) as Buffer).toString('latin1').split('\n')[0] as string
    const [, , , created, freshUntil, staleUntil] = header.split(' ').map(Number) as number[]
    expect(Number.isInteger(freshUntil) && Number.isInteger(staleUntil), header).to.equal(true)
    expect(freshUntil).to.be.at.least((created as number) + 10_000 - 50).and.at.least(before + 10_000 - 1)
    expect(staleUntil).to.equal((freshUntil as number) + 5_000)
  })

  it('shares a value that shouldCache refuses only with the calls that joined its computation, not with one made while its lock is being released', async () => {
    const cache = make()
    let runs = 0
    let later: Promise<number> | undefined
    const refuse = (): boolean => {
      // Called once the function has returned, just before the lock's release goes to Redis;
      // this call is made before that release is answered.
      if (later === undefined) process.nextTick(() => (later = cache.getOrSet('refused', async () => ++runs, { shouldCache: refuse })))
      return false
    }
    const first = cache.getOrSet('refused', async () => ++runs, { shouldCache: refuse })
    const joined = cache.getOrSet('refused', async () => ++runs, { shouldCache: refuse })
    expect([await first, await joined]).to.deep.equal([1, 1])
    expect([await later, runs]).to.deep.equal([2, 2])
  })

  it('spreads expiries with jitter, never past the ttl', async () => {
    const cache = make({ ttl: '100s', jitter: 0.5 })
    const ttls: number[] = []
    for (let i = 0; i < 20; i++) {
      await cache.set(`k${i}`, i)
      ttls.push(await redis.client.pttl(`spec:default:k${i}`))
    }
    expect(Math.max(...ttls)).to.be.at.most(100_000)
    expect(Math.min(...ttls)).to.be.at.least(49_000)
    expect(new Set(ttls.map((t) => Math.round(t / 1000))).size).to.be.greaterThan(3)
  })

  describe('a value in Redis that fails to decode', () => {
    const hostile: [string, Buffer][] = [
      ['random bytes', Buffer.from([0x00, 0xff, 0x13, 0x37, 0x42, 0x99])],
      ['a truncated envelope', Buffer.alloc(0)],
      ['hostile superjson', Buffer.from(JSON.stringify({ json: { a: 1 }, meta: { values: { '__proto__.polluted': ['Date'] } } }))],
      ['a __proto__ payload', Buffer.from('{"json":{"__proto__":{"polluted":true}},"meta":{"values":{"constructor.prototype.polluted":["set"]}}}')],
    ]
    for (const [what, bytes] of hostile) {
      it(`is a miss when it is ${what}: deleted, an error event, a fresh value, prototypes untouched`, async () => {
        const cache = make()
        const errors = errorsOf(cache)
        await redis.client.set('spec:default:k', bytes)
        expect(await cache.getOrSet('k', () => 'fresh')).to.equal('fresh')
        expect(errors.map((e) => e.error.code)).to.include.oneOf(['ERR_DECODE', 'ERR_BAD_SIGNATURE'])
        expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).to.equal(false)
        expect(({} as Record<string, unknown>).polluted).to.equal(undefined)
        // The hostile bytes are gone: what is there now is the fresh value.
        const other = make()
        expect(await other.getOrSet('k', () => 'again')).to.equal('fresh')
      })
    }
  })

  it('works when Redis is unreachable from the start, with error events and no rejection', async () => {
    const cache = createCache({ redis: 'redis://127.0.0.1:1', connectWait: '50ms', redisTimeout: '100ms' })
    caches.push(cache)
    const errors = errorsOf(cache)
    let n = 0
    expect(await cache.getOrSet('k', () => ++n)).to.equal(1)
    expect(await cache.getOrSet('k', () => ++n)).to.equal(1)
    expect(errors.length).to.be.greaterThan(0)
    expect(errors.every((e) => e.error.code.startsWith('ERR_REDIS') || e.error.code === 'ERR_CIRCUIT_OPEN')).to.equal(true)
  })
})

describe('Cache when its Redis dies and comes back', () => {
  let server: RedisServer
  let cache: Cache
  before(async () => {
    server = await RedisServer.start()
  })
  after(async () => {
    await cache.close()
    await server.stop()
  })

  it('answers every call correctly while Redis is gone, then uses Redis again', async () => {
    cache = createCache({ redis: server.url, prefix: 'spec', redisTimeout: '200ms', circuit: { resetAfter: '100ms' } })
    const errors = errorsOf(cache)
    const square = (n: number) => cache.getOrSet(`sq:${n}`, () => n * n, { ttl: '1m' })
    for (let i = 0; i < 50; i++) expect(await square(i)).to.equal(i * i)

    await server.kill()
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => square(i)))
    expect(results).to.deep.equal(Array.from({ length: 200 }, (_, i) => i * i))
    expect(errors.length).to.be.greaterThan(0)

    const ready = nextReady(cache)
    await server.restart()
    await ready
    const computed = cache.stats().computations
    await cache.getOrSet('after', () => 'stored in the new server')
    expect(cache.stats().computations).to.equal(computed + 1)
    const check = createCache({ redis: server.url, prefix: 'spec' })
    expect(await check.get('after')).to.equal('stored in the new server')
    await check.close()
  })
})
