import { expect } from 'chai'
import type { EventEmitter } from 'node:events'
import type { Redis } from 'ioredis'
import { CacheClosedError, type Cache, type CacheEventName, type CacheOptions, type Memoized } from 'memoredis'
import { isCluster } from '../../lib/redis/client.ts'
import { deferred, next, openedCaches } from '../fixtures/stampede-helpers.ts'
import { coreOf, ioredisOf } from '../support/internals.ts'
import { eachTopology } from '../support/topology.ts'

/**
 * `close()`: the cache's listeners and the coherence listeners on its connections are
 * gone, every later call rejects with `CacheClosedError` (`ERR_CLOSED`), a computation
 * in flight does not put its value back into L1 nor leak a rejection, a caller waiting
 * for another process's lock stops waiting, and closing any namespace view closes the
 * cache for all of them.
 */

const EVENTS: CacheEventName[] = ['hit', 'miss', 'set', 'delete', 'invalidate', 'compute', 'error', 'warning', 'flush', 'stale', 'refresh']

/** The node's EventEmitter behind a cache's typed emitter (private to `lib/observe/events.ts`). */
const emitterOf = (cache: Cache): EventEmitter => (coreOf(cache).events as unknown as { emitter: EventEmitter }).emitter

/** Listener counts of `emitter` for `events`. */
const counts = (emitter: NodeJS.EventEmitter, events: readonly string[]): Record<string, number> =>
  Object.fromEntries(events.map((e) => [e, emitter.listenerCount(e)]))

/** Resolves once `check` holds, looking again every few ms (a state another connection brings about). */
async function eventually(check: () => boolean, what: string, withinMs = 2000): Promise<void> {
  const deadline = performance.now() + withinMs
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`not within ${withinMs} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Resolves with the error a promise rejects with; fails when it resolves. */
const rejection = (promise: Promise<unknown>): Promise<Error> =>
  promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`)
    },
    (error: unknown) => error as Error,
  )

/** Every public call of a cache, a namespace view and a memoized function, each started after close(). */
function everyCall(cache: Cache, fn: Memoized<[number], number>): Record<string, () => Promise<unknown>> {
  const view = cache.namespace('other')
  return {
    'getOrSet': () => cache.getOrSet('k', () => 1),
    'getOrSet of a key that was in L1': () => cache.getOrSet('warm', () => 1),
    'getOrSetEntry': () => cache.getOrSetEntry('k', () => 1),
    'get': () => cache.get('k'),
    'set': () => cache.set('k', 1),
    'delete': () => cache.delete('k'),
    'invalidateTags': () => cache.invalidateTags(['t']),
    'clear': () => cache.clear(),
    'a namespace view getOrSet': () => view.getOrSet('k', () => 1),
    'a namespace view clear': () => view.clear(),
    'a memoized call of arguments that were in L1': () => fn(1),
    'a memoized call': () => fn(2),
    'fn.peek': () => fn.peek(1),
    'fn.refresh': () => fn.refresh(1),
    'fn.invalidate': () => fn.invalidate(1),
    'fn.clear': () => fn.clear(),
  }
}

const memoizedOf = (cache: Cache): Memoized<[number], number> => cache.memoize(async (n: number) => n * 10, { name: 'tenfold' })

/** `cache` computing `key` (it holds the lock), until `release`; resolves once the function runs. */
async function computing(cache: Cache, key: string, value: string): Promise<{ running: Promise<string>; release(): void }> {
  const started = deferred<void>()
  const gate = deferred<void>()
  const running = cache.getOrSet(key, async () => {
    started.resolve()
    await gate.promise
    return value
  })
  await started.promise
  return { running, release: () => gate.resolve() }
}

describe('close()', () => {
  const open = openedCaches()

  /** The specs that hold with and without Redis. */
  function common(options: () => CacheOptions): void {
    it('drops every cache.on listener: none is called again', async () => {
      const cache = open(options())
      const heard: string[] = []
      for (const event of EVENTS) cache.on(event, () => heard.push(event))
      await cache.getOrSet('k', () => 1)
      expect(heard, 'listeners work before close').to.include.members(['miss', 'compute', 'set'])
      await cache.close()
      heard.length = 0
      expect(emitterOf(cache).eventNames(), 'events with listeners').to.deep.equal([])
      expect(coreOf(cache).events.hot, 'the hot path flags').to.deep.equal({ hit: false, miss: false })
      // Whatever the internals still emit (a computation landing late) reaches nobody.
      for (const event of EVENTS) coreOf(cache).events.emit(event, {} as never)
      expect(heard).to.deep.equal([])
    })

    it('makes every later call reject with CacheClosedError (ERR_CLOSED)', async () => {
      const cache = open(options())
      const fn = memoizedOf(cache)
      expect(await cache.getOrSet('warm', () => 1)).to.equal(1)
      expect(await fn(1)).to.equal(10)
      await cache.close()
      expect(coreOf(cache).l1?.size ?? 0, 'L1 after close').to.equal(0)
      for (const [name, call] of Object.entries(everyCall(cache, fn))) {
        const error = await rejection(call()).catch((e: Error) => new Error(`${name}: ${e.message}`))
        expect(error, name).to.be.instanceOf(CacheClosedError)
        expect((error as CacheClosedError).code, name).to.equal('ERR_CLOSED')
      }
    })

    it('is idempotent: a second close() resolves', async () => {
      const cache = open(options())
      await cache.getOrSet('k', () => 1)
      await Promise.all([cache.close(), cache.close()])
      await cache.close()
    })

    it('keeps the value of a computation in flight out of L1, and leaks no rejection', async () => {
      const cache = open(options())
      const heard: string[] = []
      for (const event of EVENTS) cache.on(event, () => heard.push(event))
      const started = deferred<void>()
      const release = deferred<void>()
      const inFlight = cache.getOrSet('k', async () => {
        started.resolve()
        await release.promise
        return 'late'
      })
      // Settled either way; a rejection here is handled, and must be CacheClosedError.
      const outcome = inFlight.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      )
      await started.promise
      await cache.close()
      heard.length = 0
      release.resolve()
      const settled = await outcome
      if ('error' in settled) expect(settled.error, 'the in-flight caller').to.be.instanceOf(CacheClosedError)
      else expect(settled.value, 'the in-flight caller').to.equal('late')
      // The caller is answered after L1 was (or was not) filled; one turn of the event loop
      // lets a rejection nobody handled surface (the root hook fails the test on one).
      await new Promise((resolve) => setImmediate(resolve))
      const l1 = coreOf(cache).l1
      expect(l1?.get('memoredis:default:k', coreOf(cache).now()), 'the key in L1').to.equal(undefined)
      expect(l1?.size ?? 0, 'L1 size').to.equal(0)
      expect(heard, 'events after close').to.deep.equal([])
    })

    it('closing a namespace view closes the cache for every view', async () => {
      const root = open(options())
      const users = root.namespace('users')
      const orders = root.namespace('orders')
      await Promise.all([root.getOrSet('k', () => 1), users.getOrSet('k', () => 2), orders.getOrSet('k', () => 3)])
      await users.close()
      expect(coreOf(root).closed, 'the shared core').to.equal(true)
      for (const [name, view] of Object.entries({ root, users, orders, 'a view made after': root.namespace('later') })) {
        expect(await rejection(view.getOrSet('k', () => 0)), name).to.be.instanceOf(CacheClosedError)
      }
    })

    it('closing the cache closes its namespace views', async () => {
      const root = open(options())
      const users = root.namespace('users')
      await users.getOrSet('k', () => 2)
      await root.close()
      expect(await rejection(users.getOrSet('k', () => 0))).to.be.instanceOf(CacheClosedError)
      expect(await rejection(users.get('k'))).to.be.instanceOf(CacheClosedError)
    })
  }

  describe('without Redis (L1 only)', () => {
    common(() => ({}))
  })

  eachTopology((t) => {
    common(() => ({ redis: t.redis() }))

    // ioredis's own events; node-redis's connections are closed with the cache.
    if (t.library !== 'node-redis') {
      it('removes the coherence listeners from its command connections', async () => {
        const cache = open({ redis: t.redis() })
        await cache.getOrSet('k', () => 1)
        const client = ioredisOf(cache)
        const events = ['connect', 'ready', 'close']
        // The connections coherence follows: the client itself, or every node of the Cluster.
        const nodes: Redis[] = isCluster(client) ? client.nodes('all') : [client]
        expect(nodes.length, 'connections followed').to.be.greaterThan(0)
        const before = nodes.map((node) => counts(node, events))
        const clusterBefore = isCluster(client) ? counts(client, ['+node', 'refresh']) : undefined
        for (const c of before) expect(c.connect, 'a coherence listener on connect, before').to.be.greaterThan(0)
        await cache.close()
        nodes.forEach((node, i) => {
          const was = before[i] as Record<string, number>
          // Exactly one of each was coherence's.
          expect(counts(node, events), `node ${i}`).to.deep.equal({ connect: (was.connect ?? 0) - 1, ready: (was.ready ?? 0) - 1, close: (was.close ?? 0) - 1 })
        })
        if (clusterBefore !== undefined) {
          expect(clusterBefore['+node'], '+node listeners before').to.be.greaterThan(0)
          expect(counts(client, ['+node', 'refresh']), 'Cluster listeners after').to.deep.equal({ '+node': 0, refresh: 0 })
        }
      })
    }

    it('stops a caller waiting for another process\'s lock: it rejects with CacheClosedError', async () => {
      const holder = open({ redis: t.redis(), prefix: 'wait' })
      const waiter = open({ redis: t.redis(), prefix: 'wait', lock: { wait: '10s' } })
      // Settled (tracking on): the waiter then sleeps until the holder's lock would expire (10 s), not in 50 ms slices.
      await waiter.getOrSet('warm', () => 1)
      await eventually(() => coreOf(waiter).coherence?.settled === true, 'the waiter\'s coherence settling')
      const { running: held, release } = await computing(holder, 'k', 'holder')
      const waiting = next(waiter, 'lock-wait')
      const waited = rejection(waiter.getOrSet('k', () => 'waiter'))
      await waiting
      await waiter.close()
      // At once, not when the holder's lock would have expired (10 s).
      const timeout = deferred<Error>()
      const timer = setTimeout(() => timeout.resolve(new Error('still waiting 1 s after close()')), 1000)
      const error = await Promise.race([waited, timeout.promise])
      clearTimeout(timer)
      expect(error).to.be.instanceOf(CacheClosedError)
      release()
      expect(await held).to.equal('holder')
    })

    it('releases the locks of its computations in flight, so that another process need not wait for them', async () => {
      const closing = open({ redis: t.redis(), prefix: 'held', lock: { ttl: '30s' } })
      const other = open({ redis: t.redis(), prefix: 'held', lock: { wait: '10s' } })
      await closing.getOrSet('warm', () => 1)
      const { running: inFlight, release } = await computing(closing, 'k', 'closing')
      const lockKey = coreOf(closing).layout.lockKey('held:default:k')
      const admin = t.client
      expect(await admin.exists(lockKey), 'the lock, while computing').to.equal(1)
      await closing.close()
      expect(await admin.exists(lockKey), 'the lock, after close()').to.equal(0)
      // Another process computes at once, rather than after the lock's 30 s or its own 10 s wait.
      const begun = performance.now()
      expect(await other.getOrSet('k', () => 'other')).to.equal('other')
      expect(performance.now() - begun).to.be.below(1_000)
      release()
      expect(await inFlight).to.equal('closing')
    })
  })
})
