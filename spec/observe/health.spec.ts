import { expect } from 'chai'
import { createCache, type Cache, type CacheHealth, type CacheOptions } from '../../lib/index.ts'
import { sleep } from '../fixtures/stampede-helpers.ts'
import { nextReady, nextDrop } from '../support/internals.ts'
import { RedisServer } from '../support/redis-server.ts'
import { specClients } from '../support/topology.ts'

/**
 * `cache.health()` and the states `cache.stats()` reports without I/O, with no Redis,
 * with Redis up, killed, paused (SIGSTOP) and back, and in bus mode. Each block that
 * breaks its server runs its own; those run on every client (`specClients`).
 */

const REDIS_TIMEOUT = 300
/** Room for a loaded 2-core machine. */
const SLACK = 250

/** Polls `cache.health()` until `check` holds (at most 5 s); returns the report that passed. */
async function healthWhen(cache: Cache, check: (h: CacheHealth) => boolean, what: string): Promise<CacheHealth> {
  let last: CacheHealth | undefined
  for (let i = 0; i < 100; i++) {
    last = await cache.health()
    if (check(last)) return last
    await sleep(50)
  }
  throw new Error(`health never became ${what}; last: ${JSON.stringify(last)}`)
}

describe('cache.health()', () => {
  const caches: Cache[] = []
  const open = (options: CacheOptions): Cache => {
    const cache = createCache({ prefix: 'spec', ttl: '1m', ...options })
    caches.push(cache)
    return cache
  }
  afterEach(async () => {
    await Promise.all(caches.splice(0).map((c) => c.close()))
  })

  it('reports an L1-only cache: no Redis, no coherence, its entries and bytes', async () => {
    const cache = open({})
    await cache.getOrSet('a', () => 'x'.repeat(100))
    const health = await cache.health()
    expect(health).to.deep.include({ l2: 'none', roundTripMs: undefined, coherence: 'none', closed: false })
    expect(health.l1.entries).to.equal(1)
    expect(health.l1.bytes).to.be.greaterThan(100)
    expect(cache.stats()).to.deep.include({ circuit: 'closed', coherence: { state: 'none', notices: 0 } })
    expect(cache.stats().l1.bytes).to.equal(health.l1.bytes)
  })

  it('resolves for a closed cache, never rejecting: closed, with nothing up', async () => {
    const cache = open({})
    await cache.getOrSet('a', () => 1)
    await cache.close()
    expect(await cache.health()).to.deep.equal({
      l2: 'none', roundTripMs: undefined, coherence: 'none', l1: { entries: 0, bytes: 0 }, closed: true, eviction: { policy: 'none', evicts: 'nothing' },
    })
  })

  for (const client of specClients({ resp2: true, iovalkey: true })) {
    /** node-redis on RESP2 runs what is about tracking (its set-up again after a restart) only. */
    const everything = client.resp !== 2
    describe(`on ${client.name}`, () => {
      if (everything) {
        describe('with Redis', () => {
          let server: RedisServer
          before(async () => {
            server = await RedisServer.start()
          })
          after(async () => {
            await server.stop()
          })

          it('reports Redis up, its round trip, and tracking', async () => {
            const cache = open({ redis: client.redis(server.url), redisTimeout: REDIS_TIMEOUT })
            const health = await healthWhen(cache, (h) => h.coherence === 'tracking', 'tracking')
            expect(health).to.deep.include({ l2: 'up', closed: false })
            expect(health.roundTripMs).to.be.a('number').within(0, REDIS_TIMEOUT)
            expect(cache.stats()).to.include({ circuit: 'closed' })
            expect(cache.stats().coherence.state).to.equal('tracking')
          })

          it('reports the bus in bus mode', async () => {
            const cache = open({ redis: client.redis(server.url), redisTimeout: REDIS_TIMEOUT, coherence: 'bus' })
            const health = await healthWhen(cache, (h) => h.coherence === 'bus', 'bus')
            expect(health.l2).to.equal('up')
          })

          it('reports no coherence with coherence off', async () => {
            const cache = open({ redis: client.redis(server.url), redisTimeout: REDIS_TIMEOUT, coherence: 'off' })
            const health = await healthWhen(cache, (h) => h.l2 === 'up', 'up')
            expect(health.coherence).to.equal('none')
          })
        })
      }

      describe('when the Redis process is killed, then restarted', () => {
        let server: RedisServer
        before(async () => {
          server = await RedisServer.start()
        })
        after(async () => {
          await server.stop()
        })

        it('reports down and degraded without ever opening the circuit, circuit-open once reads opened it, then up again', async function () {
          this.timeout(20_000)
          const cache = open({ redis: client.redis(server.url), redisTimeout: REDIS_TIMEOUT, circuit: { failures: 3, resetAfter: '1m' } })
          await healthWhen(cache, (h) => h.l2 === 'up' && h.coherence === 'tracking', 'up and tracking')
          let opened = 0
          cache.on('circuit-open', () => opened++)
          const closed = nextDrop(cache)
          await server.kill()
          await closed
          const started = performance.now()
          const first = await cache.health()
          expect(performance.now() - started).to.be.below(REDIS_TIMEOUT + SLACK)
          expect(first).to.deep.include({ l2: 'down', roundTripMs: undefined, coherence: 'degraded' })
          // A readiness probe never moves the read path's breaker: more probes than circuit.failures.
          for (let i = 0; i < 5; i++) expect((await cache.health()).l2).to.equal('down')
          expect(cache.stats()).to.include({ circuit: 'closed' })
          expect(opened).to.equal(0)

          // Reads that fail open it; health then says so at once, sending nothing.
          for (let i = 0; i < 3; i++) await cache.getOrSet(`k${i}`, () => i)
          expect(cache.stats()).to.include({ circuit: 'open' })
          expect(opened).to.equal(1)
          const whileOpen = performance.now()
          expect((await cache.health()).l2).to.equal('circuit-open')
          expect(performance.now() - whileOpen).to.be.below(SLACK)
          expect(cache.stats().coherence.state).to.equal('degraded')

          const ready = nextReady(cache)
          await server.restart()
          await ready
          const back = await healthWhen(cache, (h) => h.l2 === 'up' && h.coherence === 'tracking', 'up and tracking')
          expect(back.roundTripMs).to.be.a('number')
          expect(cache.stats().circuit).to.equal('closed')
        })
      })

      if (!everything) return

      describe('when the Redis server is paused (SIGSTOP)', () => {
        let server: RedisServer
        before(async () => {
          server = await RedisServer.start()
        })
        after(async () => {
          server.signal('SIGCONT')
          await server.stop()
        })

        it('resolves within redisTimeout and reports down, then up once resumed', async function () {
          this.timeout(20_000)
          const cache = open({ redis: client.redis(server.url), redisTimeout: REDIS_TIMEOUT, circuit: { failures: 5 } })
          await healthWhen(cache, (h) => h.l2 === 'up' && h.coherence === 'tracking', 'up and tracking')
          server.signal('SIGSTOP')
          try {
            const started = performance.now()
            const health = await cache.health()
            const ms = performance.now() - started
            expect(ms).to.be.at.least(REDIS_TIMEOUT - 5)
            expect(ms).to.be.below(REDIS_TIMEOUT + SLACK)
            expect(health).to.deep.include({ l2: 'down', roundTripMs: undefined })
          } finally {
            server.signal('SIGCONT')
          }
          await healthWhen(cache, (h) => h.l2 === 'up', 'up')
        })
      })
    })
  }
})
