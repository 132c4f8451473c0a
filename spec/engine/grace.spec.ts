import { expect } from 'chai'
import { FactoryTimeoutError, memoize } from '../../lib/index.ts'
import { deferred, heldRun, next, record, sleep, useCaches } from '../fixtures/stampede-helpers.ts'
import { readWithinCoherence } from '../support/coherence.ts'

/**
 * Grace, stale-while-revalidate, early refresh, fail-safe and timeouts. Each test has
 * caches on one Redis, standing for processes. Time that decides freshness is faked
 * (`Date` only: Redis round trips and the function's own timers stay real). Negative
 * caching (`errorTtl`) is in faults.spec.ts.
 */

describe('resilience of one key', () => {
  const { make, fakeDate } = useCaches()

  describe('grace: a stale value as a fallback when the function fails', () => {
    const boom = new Error('the database is down')
    const failing = (): Promise<string> => Promise.reject(boom)

    it('serves the stale value within grace, with a stale event (reason error) and the error as an error event', async () => {
      const clock = fakeDate()
      const a = make({ grace: '1m' })
      const b = make({ grace: '1m' })
      await a.getOrSet('k', () => 'v1')
      clock.tick(10_500)
      const stale = record(a, 'stale')
      const errors = record(a, 'error')
      expect(await a.getOrSetEntry('k', failing)).to.deep.include({ value: 'v1', status: 'stale' })
      expect(stale).to.deep.equal([{ key: 'spec:default:k', reason: 'error' }])
      expect(errors.map((e) => [e.error.code, e.error.cause])).to.deep.equal([['ERR_BACKGROUND', boom]])
      // Another process, with nothing in L1, falls back on the stale copy in L2.
      expect(await b.getOrSet('k', failing)).to.equal('v1')
    })

    it('throws the function’s own error past grace', async () => {
      const clock = fakeDate()
      const a = make({ grace: '1m' })
      await a.getOrSet('k', () => 'v1')
      clock.tick(10_000 + 60_000 + 500)
      expect(await a.getOrSet('k', failing).catch((e: unknown) => e)).to.equal(boom)
    })

    it('gives every concurrent caller the same error, from one run, when there is no stale value', async () => {
      const a = make({ grace: '1m' })
      let runs = 0
      const fail = async (): Promise<string> => {
        runs++
        await sleep(20)
        throw boom
      }
      const outcomes = await Promise.all(Array.from({ length: 20 }, () => a.getOrSet('k', fail).catch((e: unknown) => e)))
      expect(runs).to.equal(1)
      expect(outcomes.every((e) => e === boom)).to.equal(true)
    })
  })

  describe('staleWhileRevalidate', () => {
    it('serves the stale value at once to 100 callers while exactly one background refresh runs', async () => {
      const clock = fakeDate()
      const a = make({ grace: '1m', staleWhileRevalidate: true })
      await a.getOrSet('k', () => 'v1')
      clock.tick(10_500)
      const running = deferred<void>()
      const gate = deferred<string>()
      let runs = 0
      const refresh = (): Promise<string> => {
        runs++
        running.resolve()
        return gate.promise
      }
      const served = await Promise.all(Array.from({ length: 100 }, () => a.getOrSetEntry('k', refresh)))
      expect(served.every((r) => r.value === 'v1' && r.status === 'stale')).to.equal(true)
      await running.promise
      // More callers while the refresh runs: stale too, and no second refresh.
      expect(await a.getOrSet('k', refresh)).to.equal('v1')
      const refreshed = next(a, 'refresh')
      gate.resolve('v2')
      await refreshed
      expect(await a.getOrSetEntry('k', refresh)).to.deep.include({ value: 'v2', status: 'hit' })
      expect(runs).to.equal(1)
    })

    it('refreshes once across processes that both find the value stale, even with nothing in L1', async () => {
      const clock = fakeDate()
      const a = make({ grace: '1m', staleWhileRevalidate: true })
      const b = make({ grace: '1m', staleWhileRevalidate: true })
      await a.getOrSet('k', () => 'v1')
      clock.tick(10_500)
      let runs = 0
      const refresh = async (): Promise<string> => {
        runs++
        await sleep(100)
        return 'v2'
      }
      const refreshed = [next(a, 'refresh'), next(b, 'refresh')]
      expect(await a.getOrSet('k', refresh)).to.equal('v1')
      expect(await b.getOrSet('k', refresh)).to.equal('v1')
      await Promise.all(refreshed)
      expect(runs).to.equal(1)
      expect(await a.getOrSet('k', refresh)).to.equal('v2')
      expect(await b.getOrSet('k', refresh)).to.equal('v2')
    })

    it('refreshes a stale value found in L2 only (nothing in L1), and the other processes see the new one', async () => {
      const clock = fakeDate()
      const a = make({ grace: '1m', staleWhileRevalidate: true })
      const b = make({ grace: '1m', staleWhileRevalidate: true })
      await a.getOrSet('k', () => 'v1')
      clock.tick(10_500)
      let runs = 0
      const refresh = async (): Promise<string> => `v${++runs + 1}`
      const refreshed = next(b, 'refresh')
      expect(await b.getOrSetEntry('k', refresh)).to.deep.include({ value: 'v1', status: 'stale' })
      await refreshed
      expect(runs).to.equal(1)
      expect(await b.getOrSetEntry('k', refresh)).to.deep.include({ value: 'v2', status: 'hit' })
      // b's write drops a's stale L1 copy within the coherence bound (Redis tells a just
      // after it answers b): a then reads the new value from L2. Until then a serves its
      // stale copy, and its own refresh finds b's value rather than running the function.
      const seen = await readWithinCoherence(() => a.getOrSetEntry('k', refresh), (r) => r.value === 'v2')
      expect(seen).to.deep.include({ value: 'v2', status: 'hit' })
      expect(runs).to.equal(1)
    })

    it('runs at most refreshConcurrency background refreshes at a time', async () => {
      const clock = fakeDate()
      const a = make({ grace: '1m', staleWhileRevalidate: true, refreshConcurrency: 2 })
      const keys = Array.from({ length: 8 }, (_, i) => `k${i}`)
      for (const key of keys) await a.getOrSet(key, () => 'v1')
      clock.tick(10_500)
      let running = 0
      let most = 0
      const refresh = async (): Promise<string> => {
        most = Math.max(most, ++running)
        await sleep(30)
        running--
        return 'v2'
      }
      const refreshes = record(a, 'refresh')
      const done = new Promise<void>((resolve) => a.on('refresh', () => refreshes.length === keys.length && resolve()))
      for (const key of keys) expect(await a.getOrSet(key, refresh)).to.equal('v1')
      await done
      expect(most).to.equal(2)
      for (const key of keys) expect(await a.getOrSet(key, refresh)).to.equal('v2')
    })

    it('reports a failed background refresh as an error event and keeps serving the stale value', async () => {
      const clock = fakeDate()
      const a = make({ grace: '1m', staleWhileRevalidate: true })
      await a.getOrSet('k', () => 'v1')
      clock.tick(10_500)
      const boom = new Error('refresh failed')
      const failed = next(a, 'error')
      expect(await a.getOrSet('k', () => Promise.reject(boom))).to.equal('v1')
      const { error } = await failed
      expect(error.code).to.equal('ERR_BACKGROUND')
      expect(error.cause).to.equal(boom)
      expect(await a.getOrSet('k', () => Promise.reject(boom))).to.equal('v1')
    })
  })

  describe('earlyRefresh', () => {
    it('refreshes in the background once a hit finds less than the threshold of the ttl left', async () => {
      const clock = fakeDate()
      const a = make({ earlyRefresh: 0.2 })
      let n = 0
      const count = async (): Promise<number> => ++n
      expect(await a.getOrSet('k', count)).to.equal(1)
      clock.tick(7_900)
      expect(await a.getOrSet('k', count)).to.equal(1)
      expect(n).to.equal(1)
      clock.tick(200)
      const refreshed = next(a, 'refresh')
      // Still the current value, at once; the refresh runs behind it.
      expect(await a.getOrSet('k', count)).to.equal(1)
      await refreshed
      expect(n).to.equal(2)
      expect(await a.getOrSetEntry('k', count)).to.deep.include({ value: 2, status: 'hit' })
    })

    it('does the same for a memoized function, from its hot path', async () => {
      const clock = fakeDate()
      const a = make()
      let n = 0
      const counter = memoize(async (id: string) => `${id}:${++n}`, { cache: a, name: 'counter', ttl: '10s', earlyRefresh: 0.5 })
      expect(await counter('x')).to.equal('x:1')
      clock.tick(4_000)
      expect(await counter('x')).to.equal('x:1')
      clock.tick(1_500)
      const refreshed = next(a, 'refresh')
      expect(await counter('x')).to.equal('x:1')
      await refreshed
      expect(await counter('x')).to.equal('x:2')
    })
  })

  describe('timeouts', () => {
    it('serves the stale value after the soft timeout, then the computation lands in the cache', async () => {
      const clock = fakeDate()
      const a = make({ grace: '1m', timeout: { soft: '100ms' } })
      await a.getOrSet('k', () => 'v1')
      clock.tick(10_500)
      const slow = async (): Promise<string> => {
        await sleep(600)
        return 'v2'
      }
      const stale = record(a, 'stale')
      const started = performance.now()
      expect(await a.getOrSetEntry('k', slow)).to.deep.include({ value: 'v1', status: 'stale' })
      // About the soft time: well before the 600ms the function takes.
      expect(performance.now() - started).to.be.below(400)
      expect(stale).to.deep.equal([{ key: 'spec:default:k', reason: 'soft-timeout' }])
      await next(a, 'set')
      expect(await a.getOrSetEntry('k', slow)).to.deep.include({ value: 'v2', status: 'hit' })
      // In Redis too, for every other process.
      expect(await make().get('k')).to.equal('v2')
    })

    it('serves the stale value after the soft timeout to a process waiting on another’s lock', async () => {
      const clock = fakeDate()
      const a = make({ grace: '1m' })
      const b = make({ grace: '1m', timeout: { soft: '100ms' } })
      await a.getOrSet('k', () => 'v1')
      clock.tick(10_500)
      const { result: computing, gate } = await heldRun((fn: () => Promise<string>) => a.getOrSet('k', fn))
      // b finds a's lock and waits for no longer than its soft timeout.
      const waited = record(b, 'lock-wait')
      const started = performance.now()
      expect(await b.getOrSetEntry('k', () => 'b computed')).to.deep.include({ value: 'v1', status: 'stale' })
      expect(performance.now() - started).to.be.below(400)
      expect(waited).to.have.length(1)
      gate.resolve('v2')
      expect(await computing).to.equal('v2')
    })

    it('waits for the function past the soft timeout when there is no stale value', async () => {
      const a = make({ timeout: { soft: '20ms' } })
      expect(await a.getOrSet('k', () => sleep(100).then(() => 'v1'))).to.equal('v1')
    })

    it('rejects every caller with FactoryTimeoutError (ERR_FACTORY_TIMEOUT) after the hard timeout, and frees the lock', async () => {
      const a = make({ timeout: { hard: '100ms' } })
      const b = make()
      const hung = (): Promise<string> => new Promise(() => {})
      const outcomes = await Promise.all(Array.from({ length: 5 }, () => a.getOrSet('k', hung).catch((e: unknown) => e)))
      const [first] = outcomes
      expect(first).to.be.instanceOf(FactoryTimeoutError)
      expect(first).to.have.property('code', 'ERR_FACTORY_TIMEOUT')
      expect(first).to.have.property('timeoutMs', 100)
      expect(outcomes.every((e) => e === first)).to.equal(true)
      // The hung function does not keep the lock: another process computes at once, not after lock.wait (5s).
      const started = performance.now()
      expect(await b.getOrSet('k', () => 'from b')).to.equal('from b')
      expect(performance.now() - started).to.be.below(2_000)
    })

    it('serves the stale value after the hard timeout, and the late value still lands', async () => {
      const clock = fakeDate()
      const a = make({ grace: '1m', timeout: { hard: '100ms' } })
      await a.getOrSet('k', () => 'v1')
      clock.tick(10_500)
      const stale = record(a, 'stale')
      const errors = record(a, 'error')
      const late = async (): Promise<string> => {
        await sleep(300)
        return 'v2'
      }
      expect(await a.getOrSet('k', late)).to.equal('v1')
      expect(stale.map((s) => s.reason)).to.deep.equal(['hard-timeout'])
      expect(errors.map((e) => e.error.code)).to.deep.equal(['ERR_FACTORY_TIMEOUT'])
      await next(a, 'set')
      expect(await a.getOrSet('k', late)).to.equal('v2')
    })
  })
})
