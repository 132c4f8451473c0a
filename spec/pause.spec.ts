import { expect } from 'chai'
import { Redis } from 'ioredis'
import { createCache, type Cache, type CacheOptions } from '../lib/index.ts'
import { deferred, next, sleep } from './fixtures/stampede-helpers.ts'
import { coreOf } from './support/internals.ts'
import { RedisServer } from './support/redis-server.ts'

/**
 * A Redis server paused with SIGSTOP, then resumed with SIGCONT: how long calls take
 * while it is paused and after, and the locks the pause leaves behind. Each block runs
 * its own server, since it breaks it.
 */

const valueOf = (key: string): string => `value of ${key}`
/** Room for a loaded 2-core machine, on top of what the engine is allowed. */
const SLACK = 250
const REDIS_TIMEOUT = 300
const FUNCTION_MS = 20

interface Timed {
  key: string
  value: unknown
  ms: number
  /** During the pause, or after SIGCONT. */
  phase: 'paused' | 'after'
}

/** Calls `read` in `callers` loops until `stop` is set; every call's duration and value. */
function callInLoops(o: { callers: number; keys: readonly string[]; read: (key: string) => Promise<unknown>; phase: () => Timed['phase'] }): {
  stop(): Promise<Timed[]>
} {
  const calls: Timed[] = []
  let running = true
  const loops = Array.from({ length: o.callers }, async (_, i) => {
    for (let n = 0; running; n++) {
      const key = o.keys[(i + n) % o.keys.length] as string
      const phase = o.phase()
      const started = performance.now()
      const value = await o.read(key)
      calls.push({ key, value, ms: performance.now() - started, phase })
      // A hit answers without a timer tick: let timers (and the other loops) run.
      await sleep(5)
    }
  })
  return {
    async stop() {
      running = false
      await Promise.all(loops)
      return calls
    },
  }
}

describe('when the Redis server is paused (SIGSTOP) under concurrent callers, and resumed', () => {
  let server: RedisServer
  let admin: Redis
  const caches: Cache[] = []
  const escaped: unknown[] = []
  const onUnhandled = (reason: unknown): void => void escaped.push(reason)
  before(async () => {
    server = await RedisServer.start()
    admin = new Redis(server.url, { maxRetriesPerRequest: 1 })
    process.on('unhandledRejection', onUnhandled)
  })
  afterEach(async () => {
    server.signal('SIGCONT')
    await Promise.all(caches.splice(0).map((c) => c.close()))
    await admin.flushall()
  })
  after(async () => {
    process.off('unhandledRejection', onUnhandled)
    admin.disconnect()
    await server.stop()
  })

  const make = (options: CacheOptions): Cache => {
    const cache = createCache({ redis: server.url, prefix: 'spec', redisTimeout: REDIS_TIMEOUT, ...options })
    caches.push(cache)
    return cache
  }

  /**
   * 16 callers over 4 keys whose values are cached (and, after `ttl`, stale) loop through
   * a 2s pause and 5s after SIGCONT; every call's duration and value.
   */
  async function pauseUnderLoad(cache: Cache): Promise<Timed[]> {
    const keys = ['a', 'b', 'c', 'd']
    const fn = (key: string) => () => sleep(FUNCTION_MS).then(() => valueOf(key))
    for (const key of keys) await cache.getOrSet(key, fn(key))
    let phase: Timed['phase'] = 'paused'
    // The values are stale (ttl 100ms) by the time the server stops.
    await sleep(150)
    server.signal('SIGSTOP')
    const loops = callInLoops({ callers: 16, keys, read: (key) => cache.getOrSet(key, fn(key)), phase: () => phase })
    try {
      await sleep(2_000)
    } finally {
      server.signal('SIGCONT')
    }
    phase = 'after'
    await sleep(5_000)
    return loops.stop()
  }

  /** What every call must satisfy: the right value, within two Redis timeouts + the function + slack. */
  function expectBounded(calls: Timed[]): void {
    const bound = 2 * REDIS_TIMEOUT + FUNCTION_MS + SLACK
    for (const phase of ['paused', 'after'] as const) {
      const these = calls.filter((c) => c.phase === phase)
      const slowest = these.reduce((a, b) => (b.ms > a.ms ? b : a), { ms: 0, key: 'none' })
      expect(slowest.ms, `the slowest call started ${phase} (${slowest.key})`).to.be.below(bound)
      // Every loop went round more than once in each phase: none was stuck.
      expect(these.length, `calls started ${phase}`).to.be.above(16)
    }
    for (const call of calls) expect(call.value, call.key).to.equal(valueOf(call.key))
    expect(escaped).to.deep.equal([])
  }

  it('answers every call with its value (fresh or stale within grace) within 2 × redisTimeout + the function, during the pause and after', async function () {
    this.timeout(30_000)
    const cache = make({ ttl: '100ms', grace: '1m', staleWhileRevalidate: false })
    const calls = await pauseUnderLoad(cache)
    expectBounded(calls)
  })

  it('leaves no orphan lock behind (no grace): calls after SIGCONT never wait lock.wait for a lock nobody holds', async function () {
    this.timeout(30_000)
    const cache = make({ ttl: '100ms', grace: 0, staleWhileRevalidate: false })
    const calls = await pauseUnderLoad(cache)
    expectBounded(calls)
    // Nothing left locked either, once every call is in.
    expect(await admin.keys('spec:!lock:*')).to.deep.equal([])
  })
})

describe('a lock release that could not reach Redis', () => {
  let server: RedisServer
  let admin: Redis
  let cache: Cache | undefined
  before(async () => {
    server = await RedisServer.start()
    admin = new Redis(server.url, { maxRetriesPerRequest: 1 })
  })
  after(async () => {
    server.signal('SIGCONT')
    await cache?.close()
    admin.disconnect()
    await server.stop()
  })

  it('is retried once Redis answers again, long before the lock would expire (lock.ttl 30s)', async function () {
    this.timeout(20_000)
    // One failure opens the circuit: the release is refused, never sent to the paused server.
    const c = (cache = createCache({
      redis: server.url,
      prefix: 'spec',
      redisTimeout: REDIS_TIMEOUT,
      circuit: { failures: 1, resetAfter: '10s' },
      lock: { ttl: '30s' },
    }))
    await c.getOrSet('warm', () => 1)
    const lockKey = coreOf(c).layout.lockKey('spec:default:k')
    const running = deferred<void>()
    const gate = deferred<string>()
    const failing = c.getOrSet('k', () => {
      running.resolve()
      return gate.promise
    })
    await running.promise
    expect(await admin.pttl(lockKey), 'the lock, held').to.be.above(20_000)

    server.signal('SIGSTOP')
    try {
      const opened = next(c, 'circuit-open')
      // Another key's read times out and opens the circuit.
      await c.getOrSet('other', () => 'computed without Redis')
      await opened
      const boom = new Error('the function failed')
      gate.reject(boom)
      expect(await failing.catch((e: unknown) => e)).to.equal(boom)
    } finally {
      server.signal('SIGCONT')
    }
    // The late answers close the circuit; the release it refused goes out then.
    if (coreOf(c).l2?.circuit !== 'closed') await next(c, 'circuit-close')
    const started = performance.now()
    while ((await admin.exists(lockKey)) === 1 && performance.now() - started < 5_000) await sleep(20)
    expect(await admin.exists(lockKey), 'the lock 5s after Redis answered again').to.equal(0)
  })
})
