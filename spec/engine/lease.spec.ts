import { expect } from 'chai'
import { FactoryTimeoutError, type Cache, type EntryOptions } from '../../lib/index.ts'
import { cachesOn, deferred, heldRun, next, record, sleep } from '../fixtures/stampede-helpers.ts'
import { Child } from '../support/child.ts'
import { commandConnections, coreOf } from '../support/internals.ts'
import { eachTopology } from '../support/topology.ts'

/**
 * How long a lock is held and how long anyone waits for it: a function that hangs past
 * its soft and hard timeouts, or with no timeout past its lease; a waiter with a stale
 * value; a waiter whose wake-up notice went missing. Caches on one Redis stand for
 * processes, and a real child process takes over a hung computation. Time that decides
 * freshness is faked (`Date` only); timeouts, leases and Redis keep real time.
 */

const WORKER = new URL('../fixtures/stampede-worker.ts', import.meta.url)
const valueOf = (key: string): string => `value of ${key}`
/** Room for a loaded 2-core machine on top of what the engine is allowed. */
const SLACK = 400
const KEY = 'spec:default:k'

/** A function that never settles, counting its runs and telling when it started. */
function hanging(): { fn: () => Promise<string>; running: Promise<void>; runs(): number } {
  const running = deferred<void>()
  let runs = 0
  return {
    fn: () => {
      runs++
      running.resolve()
      return new Promise<string>(() => {})
    },
    running: running.promise,
    runs: () => runs,
  }
}

/** `promise`, or a rejection saying `what` did not happen within `ms`: a broken engine fails fast and says why. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms}ms`)), ms)))
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

/** The next `error` event carrying a FactoryTimeoutError. */
function nextTimeout(cache: Cache): Promise<FactoryTimeoutError> {
  return new Promise((resolve) => {
    cache.on('error', ({ error }) => {
      if (error instanceof FactoryTimeoutError) resolve(error)
    })
  })
}


eachTopology((t) => {
  const { make, fakeDate } = cachesOn(() => t.redis())
  const lockExists = async (cache: Cache): Promise<boolean> => (await t.client.exists(coreOf(cache).layout.lockKey(KEY))) === 1

  describe('a function that hangs past timeout { soft, hard }, with a stale value', () => {
    const entry: EntryOptions<string> = { timeout: { soft: '100ms', hard: '600ms' }, lock: { ttl: '10s' } }

    it('serves stale at the soft timeout, still fires the hard timeout and releases the lock there', async () => {
      const clock = fakeDate()
      const a = make({ grace: '1m' })
      await a.getOrSet('k', () => 'v1')
      clock.tick(10_500)
      const hung = hanging()
      const timedOut = nextTimeout(a)
      const started = performance.now()
      const served = await a.getOrSetEntry('k', hung.fn, entry)
      expect(served).to.deep.include({ value: 'v1', status: 'stale' })
      expect(performance.now() - started, 'stale served after').to.be.below(100 + SLACK)
      // The hung run still holds the lock (and renews it) until its hard timeout.
      expect(await lockExists(a), 'lock held after the soft timeout').to.equal(true)
      expect((await within(timedOut, 3_000, 'the hard timeout')).timeoutMs).to.equal(600)
      expect(performance.now() - started, 'hard timeout after').to.be.within(590, 600 + SLACK)
      // Released at the hard timeout, not left to its 10s ttl (nor renewed for ever).
      expect(await lockExists(a), 'lock after the hard timeout').to.equal(false)
      expect(hung.runs()).to.equal(1)
    })

    it('lets a later call, in another cache and in this one, run the function again', async () => {
      const clock = fakeDate()
      const a = make({ grace: '1m' })
      const b = make({ grace: '1m' })
      // b measures the server's clock when it connects: done before the tick, or its offset
      // would absorb the tick and v1 would look fresh to it.
      await coreOf(b).l2?.whenStarted()
      await a.getOrSet('k', () => 'v1')
      clock.tick(10_500)
      const timedOut = nextTimeout(a)
      await a.getOrSet('k', hanging().fn, entry)
      await within(timedOut, 3_000, 'the hard timeout')
      expect(await b.getOrSetEntry('k', () => 'from b', entry)).to.deep.include({ value: 'from b', status: 'miss' })
      clock.tick(10_500)
      expect(await a.getOrSetEntry('k', () => 'from a', entry)).to.deep.include({ value: 'from a', status: 'miss' })
    })
  })

  describe('a function that hangs with no timeout: its lease', () => {
    let child: Child | undefined
    afterEach(async () => {
      await child?.stop()
      child = undefined
    })

    it('ends: the lock goes, another process takes over, new callers here start afresh, and the late value is not stored', async function () {
      this.timeout(30_000)
      const c = (child = await Child.start(WORKER, t.env()))
      await c.call('open', { prefix: 'spec', ttl: '1m' })
      const a = make({ ttl: '1m', lock: { ttl: '10s', lease: '500ms' } })
      const { result: hung, gate: late } = await heldRun((fn: () => Promise<string>) => a.getOrSetEntry('k', fn))
      const leased = performance.now()
      expect(await lockExists(a), 'lock held by the hung run').to.equal(true)

      // The other process waits for the lock (lock.wait 5s, the lock lives 10s), then computes.
      const burst = await c.call<{ values: string[] }>('burst', 'k', 4, 50, Date.now(), { lock: { ttl: '10s' } })
      expect(burst.values).to.deep.equal(Array.from({ length: 4 }, () => valueOf('k')))
      expect(performance.now() - leased, 'taken over after').to.be.below(500 + 50 + SLACK)
      expect(Number(await t.client.get('runs:k'))).to.equal(1)
      const stats = await c.call<{ lockTimeouts: number; computations: number }>('stats')
      expect(stats).to.include({ lockTimeouts: 0, computations: 1 })

      // A new caller here does not join the hung flight: it reads the other process's value.
      const again = a.getOrSetEntry('k', () => 'from a')
      expect(await within(again, 2_000, 'a new caller after the lease')).to.deep.include({ value: valueOf('k'), status: 'hit' })

      // What the hung function returns at last goes to its own caller, and nowhere else.
      late.resolve('late value')
      expect(await hung).to.deep.include({ value: 'late value' })
      expect(await a.get('k')).to.equal(valueOf('k'))
      const fresh = make()
      expect(await fresh.get('k')).to.equal(valueOf('k'))
    })
  })

  describe('a waiter that holds a stale value in grace (staleWhileRevalidate off)', () => {
    /** `b` has a stale value while `a` computes slowly with the lock; `b`'s call, timed. */
    async function waitBehindHolder(entry: EntryOptions<string>): Promise<{ result: unknown; ms: number; stale: unknown[]; settle(): void }> {
      const clock = fakeDate()
      const a = make({ grace: '1m' })
      const b = make({ grace: '1m' })
      await a.getOrSet('k', () => 'v1')
      // b measures the server's clock when it connects: done before the tick, or its offset
      // would absorb the tick and v1 would look fresh to it.
      await coreOf(b).l2?.whenStarted()
      clock.tick(10_500)
      const { result: holding, gate } = await heldRun((fn: () => Promise<string>) => a.getOrSet('k', fn, { lock: { ttl: '10s', wait: '10s' } }))
      const stale = record(b, 'stale')
      let ran = false
      const started = performance.now()
      const result = await b.getOrSetEntry('k', () => {
        ran = true
        return 'from b'
      }, entry)
      const ms = performance.now() - started
      expect(ran, 'the waiter ran the function').to.equal(false)
      return {
        result,
        ms,
        stale,
        settle: () => {
          gate.resolve('v2')
          void holding
        },
      }
    }

    it('serves it after lock.staleWait (250ms by default), not lock.wait', async () => {
      const w = await waitBehindHolder({ lock: { wait: '5s' } })
      w.settle()
      expect(w.result).to.deep.include({ value: 'v1', status: 'stale' })
      expect(w.ms).to.be.within(240, 250 + SLACK)
      expect(w.stale).to.deep.equal([{ key: KEY, reason: 'lock-timeout' }])
    })

    it('serves it after the soft timeout when there is one, whatever lock.staleWait says', async () => {
      const w = await waitBehindHolder({ timeout: { soft: '100ms' }, lock: { wait: '5s', staleWait: '5s' } })
      w.settle()
      expect(w.result).to.deep.include({ value: 'v1', status: 'stale' })
      expect(w.ms).to.be.within(90, 100 + SLACK)
      expect(w.stale).to.deep.equal([{ key: KEY, reason: 'soft-timeout' }])
    })
  })

  describe('a waiter whose wake-up notice is lost (its subscriber connection killed)', () => {
    /**
     * Kills the connection the waiter's tracking notices go to: its subscriber (the
     * redirect of its command connection); on the bus (and an ioredis Cluster), every
     * subscriber on every node.
     */
    async function killSubscribers(waiter: Cache, coherence: 'tracking' | 'bus'): Promise<void> {
      if (coherence === 'bus' || (t.name === 'cluster' && t.library !== 'node-redis')) {
        await Promise.all(t.nodes.map((node) => node.call('CLIENT', 'KILL', 'TYPE', 'pubsub')))
        return
      }
      for (const { port, id } of await commandConnections(waiter)) {
        const node = t.nodes.find((n) => n.options.port === port)
        if (node === undefined) throw new Error(`no node on port ${port}`)
        const list = String(await node.call('CLIENT', 'LIST', 'ID', id))
        const redirect = /\bredir=([1-9]\d*)/.exec(list)?.[1]
        if (redirect === undefined) throw new Error(`no tracking redirect in ${list}`)
        await node.call('CLIENT', 'KILL', 'ID', redirect)
      }
    }

    // With node-redis on RESP3 (and on a cluster) notices come on the command connection
    // itself: none is lost while commands still go through, so there is no such waiter.
    const pushes = t.library === 'node-redis' && (t.name === 'cluster' || t.resp !== 2)
    for (const coherence of pushes ? (['bus'] as const) : (['tracking', 'bus'] as const)) {
      it(`looks again and returns the holder's value promptly, not after lock.wait (${coherence})`, async function () {
        this.timeout(15_000)
        const lock = { ttl: '10s', wait: '5s' } as const
        const holder = make({ coherence })
        const waiter = make({ coherence })
        await Promise.all([holder.get('warm'), waiter.get('warm')])
        const { result: holding, gate } = await heldRun((fn: () => Promise<string>) => holder.getOrSet('k', fn, { lock }))
        const waiting = next(waiter, 'lock-wait')
        let ran = false
        const result = waiter.getOrSetEntry('k', () => {
          ran = true
          return 'from the waiter'
        }, { lock })
        await waiting
        // The notice of the holder's lock may reach the waiter just after it armed, and wake
        // it for one more look: let that pass, so that it sleeps (until lock.wait) when its
        // subscriber goes. No event says that it sleeps; nothing else here is timed by a sleep.
        await sleep(200)
        // The waiter's subscriber goes; the holder writes before it is back.
        const lost = next(waiter, 'flush')
        await killSubscribers(waiter, coherence)
        await lost
        const written = performance.now()
        gate.resolve('from the holder')
        expect(await holding).to.equal('from the holder')
        expect(await within(result, 6_000, 'the waiter')).to.deep.include({ value: 'from the holder', status: 'hit' })
        expect(performance.now() - written, 'answered after the write').to.be.below(1_000)
        expect(ran).to.equal(false)
      })
    }
  })
})
