import { expect } from 'chai'
import { Redis } from 'ioredis'
import { setTimeout as sleep } from 'node:timers/promises'
import sinon from 'sinon'
import { createCache, FactoryTimeoutError, InvalidOptionError, memoize, type Cache, type CacheOptions } from '../../lib/index.ts'
import { next, record, useCaches } from '../fixtures/stampede-helpers.ts'
import { Child } from '../support/child.ts'
import { RedisServer } from '../support/redis-server.ts'
import { coreOf, nextReady } from '../support/internals.ts'
import { specClients, type SpecClient } from '../support/topology.ts'

/**
 * Redis as an accelerator, never a dependency: the server is killed by PID mid-load,
 * paused with SIGSTOP, or made to refuse GET with an ACL, and every call still gets the
 * right value, on every client (`specClients`; the fleet's children on the same one). Each
 * of those blocks runs its own server, since it breaks it. Last, a
 * failing function: errors are cached only when a caller opts in (`errorTtl`).
 */

const WORKER = new URL('../fixtures/stampede-worker.ts', import.meta.url)
const valueOf = (key: string): string => `value of ${key}`

/** One field of `INFO commandstats` for a command. */
async function commandStat(client: Redis, command: string, field: 'calls' | 'rejected_calls' | 'failed_calls'): Promise<number> {
  const info = await client.info('commandstats')
  const line = info.split('\n').find((l) => l.startsWith(`cmdstat_${command}:`)) ?? ''
  return Number(new RegExp(`${field}=(\\d+)`).exec(line)?.[1] ?? 0)
}

/** The killed server's fleet mixes the clients: this process on the first, each child on another (the same when `SPEC_CLIENTS` names one). */
const mixed = specClients({ iovalkey: true })
const fleetOn = [0, 1, 2].map((i) => mixed[i % mixed.length] as SpecClient)
const [parent, ...children] = fleetOn as [SpecClient, SpecClient, SpecClient]

describe(`when the Redis process is killed mid-load (a fleet on ${fleetOn.map((c) => c.name).join(', ')})`, () => {
  let server: RedisServer
  const caches: Cache[] = []
  const fleet: Child[] = []
  const options: CacheOptions = { prefix: 'spec', redisTimeout: '200ms', circuit: { resetAfter: '200ms' } }
  before(async function () {
    this.timeout(30_000)
    server = await RedisServer.start()
    fleet.push(...(await Promise.all(children.map((client) => Child.start(WORKER, client.env(server.url))))))
    await Promise.all(fleet.map((child) => child.call('open', options)))
  })
  after(async () => {
    await Promise.all(fleet.splice(0).map((child) => child.stop()))
    await Promise.all(caches.splice(0).map((c) => c.close()))
    await server.stop()
  })

  it('fails no call and answers every one correctly, then uses the new server on the same port', async function () {
    this.timeout(30_000)
    const cache = createCache({ ...options, redis: parent.redis(server.url) })
    caches.push(cache)
    const errors = record(cache, 'error')
    let answered = 0
    let midLoad!: () => void
    const killedMidLoad = new Promise<void>((resolve) => (midLoad = resolve))
    // 1,000 calls here and 1,500 in each child, over 300 keys shared by the fleet, started over one second.
    const local = Promise.all(
      Array.from({ length: 1_000 }, async (_, i) => {
        const key = `load:${i % 300}`
        await sleep(i)
        const value = await cache.getOrSet(key, () => sleep(20).then(() => valueOf(key)))
        if (++answered === 300) midLoad()
        return value === valueOf(key)
      }),
    )
    const remote = fleet.map((child) => child.call<{ failed: number; wrong: number }>('load', 'load:', 300, 1_500, 20, 1_000))
    await killedMidLoad
    await server.kill()
    const right = await local
    expect(right.filter((ok) => !ok)).to.have.length(0)
    for (const outcome of await Promise.all(remote)) expect(outcome).to.deep.equal({ failed: 0, wrong: 0 })
    expect(errors.length).to.be.greaterThan(0)

    const ready = nextReady(cache)
    await server.restart()
    await ready
    await Promise.all(fleet.map((child) => child.call('reconnected')))
    await cache.getOrSet('after:parent', () => valueOf('after:parent'))
    await Promise.all(fleet.map((child, i) => child.call('store', `after:child${i}`)))
    // In the new server, for every process: a fresh cache (empty L1) reads them from it.
    const check = createCache({ redis: server.url, prefix: 'spec' })
    caches.push(check)
    for (const key of ['after:parent', 'after:child0', 'after:child1']) expect(await check.get(key), key).to.equal(valueOf(key))
  })
})

for (const client of specClients({ iovalkey: true })) {
  // iovalkey runs the ioredis code: its pause is health.spec's, and its failover the killed fleet's.
  if (client.library !== 'iovalkey') describe(`when the Redis process is paused (SIGSTOP), on ${client.name}`, () => {
    let server: RedisServer
    let cache: Cache | undefined
    before(async () => {
      server = await RedisServer.start()
    })
    after(async () => {
      server.signal('SIGCONT')
      await cache?.close()
      await server.stop()
    })

    it('answers within the Redis timeout + function time, and goes back to L2 hits after SIGCONT', async function () {
      this.timeout(20_000)
      // No L1: every call needs Redis, or the function.
      const c = (cache = createCache({ redis: client.redis(server.url), prefix: 'spec', l1: false, redisTimeout: '200ms' }))
      const slow = (key: string) => () => sleep(100).then(() => valueOf(key))
      const warm = Array.from({ length: 10 }, (_, i) => `warm:${i}`)
      for (const key of warm) await c.getOrSet(key, slow(key))
      const timed = async (key: string): Promise<{ value: string; ms: number }> => {
        const started = performance.now()
        const value = await c.getOrSet(key, slow(key))
        return { value, ms: performance.now() - started }
      }

      server.signal('SIGSTOP')
      try {
        // Alone first: one timeout, then straight to the function (no lock, no write to wait for).
        const alone = await timed('alone')
        const keys = [...warm, ...Array.from({ length: 10 }, (_, i) => `cold:${i}`)]
        const together = await Promise.all(keys.map(timed))
        // One by one too: once the circuit is open, a call does not even wait for the timeout.
        const sequence = [...keys.slice(0, 4), ...keys.slice(-4)]
        const oneByOne: { value: string; ms: number }[] = []
        for (const key of sequence) oneByOne.push(await timed(key))
        const expected = ['alone', ...keys, ...sequence].map(valueOf)
        for (const [i, { value, ms }] of [alone, ...together, ...oneByOne].entries()) {
          expect(value).to.equal(expected[i])
          // The Redis timeout (200ms) + the function (100ms), with room for a slow machine
          // (but not for a second timeout).
          expect(ms, `call ${i}`).to.be.below(200 + 100 + 300)
        }
      } finally {
        server.signal('SIGCONT')
      }

      // The server answers the commands it was sent while paused: the circuit closes again.
      if (coreOf(c).l2?.circuit !== 'closed') await next(c, 'circuit-close')
      const { hits } = c.stats().l2
      const computations = c.stats().computations
      for (const key of warm) expect(await c.getOrSet(key, () => 'recomputed')).to.equal(valueOf(key))
      expect(c.stats().l2.hits).to.equal(hits + warm.length)
      expect(c.stats().computations).to.equal(computations)
    })
  })

  describe(`the Redis circuit breaker, on ${client.name}`, () => {
    let server: RedisServer
    let admin: Redis
    let cache: Cache | undefined
    let clock: sinon.SinonFakeTimers | undefined
    before(async () => {
      server = await RedisServer.start()
      admin = new Redis(server.url)
    })
    after(async () => {
      clock?.restore()
      await cache?.close()
      admin.disconnect()
      await server.stop()
    })

    it('opens after `failures` failed commands, sends none for `resetAfter`, then probes and closes', async () => {
      // GET is made to fail on a healthy connection: the cache connects as a user the ACL can change.
      await admin.call('ACL', 'SETUSER', 'app', 'on', '>secret', '~*', '&*', '+@all')
      const c = (cache = createCache({
        redis: client.redis({ host: server.host, port: server.port, username: 'app', password: 'secret' }),
        prefix: 'spec',
        l1: false,
        circuit: { failures: 3, resetAfter: '1s' },
      }))
      expect(await c.getOrSet('warm', () => 'from Redis')).to.equal('from Redis')
      const opened = record(c, 'circuit-open')
      const closed = record(c, 'circuit-close')
      clock = sinon.useFakeTimers({ now: Date.now(), toFake: ['Date'] })
      await admin.config('RESETSTAT')
      await admin.call('ACL', 'SETUSER', 'app', '-get')

      // Every call is answered by the function; only the first three GETs reach the server.
      for (let i = 0; i < 10; i++) expect(await c.getOrSet(`k${i}`, () => i)).to.equal(i)
      expect(await c.getOrSet('warm', () => 'from the function')).to.equal('from the function')
      expect(opened).to.deep.equal([{ tier: 'l2' }])
      expect(await commandStat(admin, 'get', 'rejected_calls')).to.equal(3)
      expect(coreOf(c).l2?.circuit).to.equal('open')

      // Still open just before resetAfter: nothing sent.
      clock.tick(999)
      await c.getOrSet('k0', () => 0)
      expect(await commandStat(admin, 'get', 'rejected_calls')).to.equal(3)

      // After resetAfter, one call probes; Redis answers again, the circuit closes.
      await admin.call('ACL', 'SETUSER', 'app', '+get')
      const hitsBefore = c.stats().l2.hits
      clock.tick(1)
      expect(await c.getOrSet('warm', () => 'from the function')).to.equal('from Redis')
      expect(closed).to.deep.equal([{ tier: 'l2' }])
      expect(coreOf(c).l2?.circuit).to.equal('closed')
      expect(c.stats().l2.hits).to.equal(hitsBefore + 1)
    })

    it('stays open when the probe fails, without a second circuit-open event', async () => {
      await cache?.close()
      const c = (cache = createCache({
        redis: client.redis({ host: server.host, port: server.port, username: 'app', password: 'secret' }),
        prefix: 'spec',
        l1: false,
        circuit: { failures: 2, resetAfter: '500ms' },
      }))
      await c.getOrSet('warm', () => 'from Redis')
      const opened = record(c, 'circuit-open')
      clock?.restore()
      clock = sinon.useFakeTimers({ now: Date.now(), toFake: ['Date'] })
      await admin.config('RESETSTAT')
      await admin.call('ACL', 'SETUSER', 'app', '-get')
      for (let i = 0; i < 4; i++) expect(await c.getOrSet(`k${i}`, () => i)).to.equal(i)
      expect(await commandStat(admin, 'get', 'rejected_calls')).to.equal(2)
      clock.tick(500)
      // The probe: one GET, refused again; the circuit stays open for another resetAfter.
      expect(await c.getOrSet('k0', () => 0)).to.equal(0)
      expect(await commandStat(admin, 'get', 'rejected_calls')).to.equal(3)
      expect(coreOf(c).l2?.circuit).to.equal('open')
      expect(await c.getOrSet('k1', () => 1)).to.equal(1)
      expect(await commandStat(admin, 'get', 'rejected_calls')).to.equal(3)
      expect(opened).to.have.length(1)
    })
  })
}

describe('negative caching of a failing function (errorTtl)', () => {
  const { redis, make, fakeDate } = useCaches()

  it('is off by default: the function runs again on the next call', async () => {
    const a = make()
    let runs = 0
    const fail = async (): Promise<string> => {
      runs++
      throw new Error(`failure ${runs}`)
    }
    for (let i = 1; i <= 3; i++) {
      const error = await a.getOrSet('k', fail).catch((e: unknown) => e)
      expect(error).to.have.property('message', `failure ${i}`)
    }
    expect(runs).to.equal(3)
  })

  it('rethrows the same error object for errorTtl without running the function, then runs it again', async () => {
    const fake = fakeDate()
    const a = make()
    let runs = 0
    const fail = async (): Promise<string> => {
      runs++
      throw new Error(`failure ${runs}`)
    }
    const first = await a.getOrSet('k', fail, { errorTtl: '5s' }).catch((e: unknown) => e)
    fake.tick(4_999)
    for (let i = 0; i < 3; i++) expect(await a.getOrSet('k', fail, { errorTtl: '5s' }).catch((e: unknown) => e)).to.equal(first)
    expect(runs).to.equal(1)
    fake.tick(1)
    expect(await a.getOrSet('k', () => 'recovered', { errorTtl: '5s' })).to.equal('recovered')
  })

  it('keeps the error in this process only, and a value another process stores wins over it', async () => {
    const a = make()
    const b = make()
    const boom = new Error('boom')
    expect(await a.getOrSet('k', () => Promise.reject(boom), { errorTtl: '1m' }).catch((e: unknown) => e)).to.equal(boom)
    expect(await redis.client.exists('spec:default:k')).to.equal(0)
    expect(await b.getOrSet('k', () => 'from b', { errorTtl: '1m' })).to.equal('from b')
    expect(await a.getOrSet('k', () => Promise.reject(boom), { errorTtl: '1m' })).to.equal('from b')
  })

  it('forgets the error when the key is deleted', async () => {
    const a = make()
    const boom = new Error('boom')
    await a.getOrSet('k', () => Promise.reject(boom), { errorTtl: '1m' }).catch(() => undefined)
    await a.delete('k')
    expect(await a.getOrSet('k', () => 'again', { errorTtl: '1m' })).to.equal('again')
  })

  it('remembers a hard timeout too, for memoized functions as well', async () => {
    const a = make()
    let runs = 0
    const hung = memoize(
      (_id: string) => {
        runs++
        return new Promise<string>(() => {})
      },
      { cache: a, name: 'hung', timeout: { hard: '50ms' }, errorTtl: '1m' },
    )
    const first = await hung('x').catch((e: unknown) => e)
    expect(first).to.be.instanceOf(FactoryTimeoutError)
    expect(await hung('x').catch((e: unknown) => e)).to.equal(first)
    expect(runs).to.equal(1)
  })

  it('takes errorTtl from the cache as a default, and a call may turn it off', async () => {
    const a = make({ errorTtl: '1m' })
    const boom = new Error('boom')
    expect(await a.getOrSet('k', () => Promise.reject(boom)).catch((e: unknown) => e)).to.equal(boom)
    expect(await a.getOrSet('k', () => 'ran').catch((e: unknown) => e)).to.equal(boom)
    expect(await a.getOrSet('other', () => Promise.reject(boom), { errorTtl: 0 }).catch((e: unknown) => e)).to.equal(boom)
    expect(await a.getOrSet('other', () => 'ran', { errorTtl: 0 })).to.equal('ran')
  })

  it('refuses an errorTtl that is not a duration', async () => {
    const error = await make().getOrSet('k', () => 1, { errorTtl: -1 as never }).catch((e: unknown) => e)
    expect(error).to.be.instanceOf(InvalidOptionError)
    expect(error).to.have.property('message').match(/errorTtl must be a duration/)
  })
})
