import { expect } from 'chai'
import { Redis } from 'ioredis'
import { once } from 'node:events'
import { createCache, type Cache, type CacheOptions } from '../../lib/index.ts'
import { deferred, heldRun, next, sleep } from '../fixtures/stampede-helpers.ts'
import { coreOf, nextReady, nextDrop } from '../support/internals.ts'
import { RedisServer } from '../support/redis-server.ts'

/**
 * A Redis server paused with SIGSTOP and resumed with SIGCONT, or killed and restarted:
 * how long calls take during the fault and after it, and the locks it leaves behind.
 * Each block runs its own server, since it breaks it.
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
  /** During the fault (a pause, the server down), or after it. */
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

describe('16 concurrent callers, while the Redis server is paused or down and after', () => {
  let server: RedisServer
  let admin: Redis
  const caches: Cache[] = []
  const escaped: unknown[] = []
  const onUnhandled = (reason: unknown): void => void escaped.push(reason)
  before(async () => {
    server = await RedisServer.start()
    admin = new Redis(server.url, { maxRetriesPerRequest: 1 })
    // It sees the server killed too: it reconnects on its own, quietly.
    admin.on('error', () => {})
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
   * 2s of a fault and 5s after it ends; every call's duration and value.
   */
  async function faultUnderLoad(cache: Cache, fault: { begin(): Promise<void> | void; end(): Promise<void> | void }): Promise<Timed[]> {
    const keys = ['a', 'b', 'c', 'd']
    const fn = (key: string) => () => sleep(FUNCTION_MS).then(() => valueOf(key))
    for (const key of keys) await cache.getOrSet(key, fn(key))
    let phase: Timed['phase'] = 'paused'
    // The values are stale (ttl 100ms) by the time the fault begins.
    await sleep(150)
    await fault.begin()
    const loops = callInLoops({ callers: 16, keys, read: (key) => cache.getOrSet(key, fn(key)), phase: () => phase })
    try {
      await sleep(2_000)
    } finally {
      await fault.end()
    }
    phase = 'after'
    await sleep(5_000)
    return loops.stop()
  }

  const pause = { begin: () => server.signal('SIGSTOP'), end: () => server.signal('SIGCONT') }

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
    const calls = await faultUnderLoad(cache, pause)
    expectBounded(calls)
  })

  it('leaves no orphan lock behind (no grace): calls after SIGCONT never wait lock.wait for a lock nobody holds', async function () {
    this.timeout(30_000)
    const cache = make({ ttl: '100ms', grace: 0, staleWhileRevalidate: false })
    const calls = await faultUnderLoad(cache, pause)
    expectBounded(calls)
    // Nothing left locked either, once every call is in.
    expect(await admin.keys('spec:!lock:*')).to.deep.equal([])
  })

  it('answers every call within the bound while the server is down (killed), and after it is restarted on its port', async function () {
    this.timeout(30_000)
    const cache = make({ ttl: '100ms', grace: '1m', staleWhileRevalidate: false })
    const ready = nextReady(cache)
    const calls = await faultUnderLoad(cache, { begin: () => server.kill(), end: () => server.restart() })
    expectBounded(calls)
    // And it is back on Redis: a value written after the restart is there.
    await ready
    if (admin.status !== 'ready') await once(admin, 'ready')
    expect(await admin.exists('spec:default:a')).to.equal(1)
  })
})

describe('a lock release that could not reach Redis', () => {
  let server: RedisServer
  /** Writes every command to its append-only file before answering: keys (a lock) survive SIGKILL. */
  let durable: RedisServer
  let admin: Redis
  let durableAdmin: Redis
  const caches: Cache[] = []
  before(async () => {
    server = await RedisServer.start()
    durable = await RedisServer.start({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] })
    admin = new Redis(server.url, { maxRetriesPerRequest: 1 })
    durableAdmin = new Redis(durable.url, { maxRetriesPerRequest: 1 })
    durableAdmin.on('error', () => {})
  })
  after(async () => {
    server.signal('SIGCONT')
    await Promise.all(caches.splice(0).map((c) => c.close()))
    admin.disconnect()
    durableAdmin.disconnect()
    await server.stop()
    await durable.stop()
  })

  /** A cache whose computation of `k` holds the lock (lock.ttl 30s) until `gate` settles. */
  async function holding(url: string, circuit: CacheOptions['circuit']): Promise<{ cache: Cache; lockKey: string; gate: ReturnType<typeof deferred<string>>; call: Promise<string> }> {
    const cache = createCache({ redis: url, prefix: 'spec', redisTimeout: REDIS_TIMEOUT, circuit, lock: { ttl: '30s' } })
    caches.push(cache)
    await cache.getOrSet('warm', () => 1)
    const { result: call, gate } = await heldRun((fn: () => Promise<string>) => cache.getOrSet('k', fn))
    return { cache, lockKey: coreOf(cache).layout.lockKey('spec:default:k'), gate, call }
  }

  /** Resolves when `lockKey` is gone, or after `ms`; true when it is gone. */
  async function goneWithin(client: Redis, lockKey: string, ms: number): Promise<boolean> {
    const started = performance.now()
    while ((await client.exists(lockKey)) === 1 && performance.now() - started < ms) await sleep(20)
    return (await client.exists(lockKey)) === 0
  }

  it('is retried once Redis answers again on the same connection (a pause), long before lock.ttl (30s)', async function () {
    this.timeout(20_000)
    // One failure opens the circuit: the release is refused, never sent to the paused server.
    const h = await holding(server.url, { failures: 1, resetAfter: '10s' })
    expect(await admin.pttl(h.lockKey), 'the lock, held').to.be.above(20_000)
    server.signal('SIGSTOP')
    try {
      const opened = next(h.cache, 'circuit-open')
      // Another key's read times out and opens the circuit.
      await h.cache.getOrSet('other', () => 'computed without Redis')
      await opened
      const boom = new Error('the function failed')
      h.gate.reject(boom)
      expect(await h.call.catch((e: unknown) => e)).to.equal(boom)
    } finally {
      server.signal('SIGCONT')
    }
    // The late answers close the circuit; the release it refused goes out then.
    if (coreOf(h.cache).l2?.circuit !== 'closed') await next(h.cache, 'circuit-close')
    expect(await goneWithin(admin, h.lockKey, 3_000), 'the lock gone 3s after Redis answered again').to.equal(true)
  })

  it('is retried on the next connection when the server went away (killed, restarted with its data), long before lock.ttl', async function () {
    this.timeout(20_000)
    const h = await holding(durable.url, undefined)
    expect(await durableAdmin.pttl(h.lockKey), 'the lock, held').to.be.above(20_000)
    const closed = nextDrop(h.cache)
    await durable.kill()
    await closed
    // Not connected: the release is refused, and kept.
    const boom = new Error('the function failed')
    h.gate.reject(boom)
    expect(await h.call.catch((e: unknown) => e)).to.equal(boom)
    const ready = nextReady(h.cache)
    await durable.restart()
    await ready
    if (durableAdmin.status !== 'ready') await once(durableAdmin, 'ready')
    // The restarted server has its data back (the lock would have lived its 30s) ...
    expect(await durableAdmin.exists('spec:default:warm'), 'data kept across the restart').to.equal(1)
    // ... and the release that was kept went out on the new connection.
    expect(await goneWithin(durableAdmin, h.lockKey, 3_000), 'the lock gone 3s after the reconnect').to.equal(true)
  })
})
