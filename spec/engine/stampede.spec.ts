import { expect } from 'chai'
import type { Redis } from 'ioredis'
import { createCache, type Cache } from '../../lib/index.ts'
import { Child } from '../support/child.ts'
import { eachTopology, type TopologyHandle } from '../support/topology.ts'
import { coreOf } from '../support/internals.ts'
import { sleep } from '../fixtures/stampede-helpers.ts'

/**
 * Stampede protection across real processes: four child processes share one Redis
 * (a single node, then the 3-master cluster), and the function counts its runs with a
 * Redis INCR, so that "once" means once in the whole fleet.
 */

const WORKER = new URL('../fixtures/stampede-worker.ts', import.meta.url)
const valueOf = (key: string): string => `value of ${key}`

interface Burst {
  values: string[]
  started: number
  ended: number
  ms: number
}
interface Stats {
  computations: number
  lockWaits: number
  lockTimeouts: number
  events: Record<string, number | undefined>
}

async function runs(t: TopologyHandle, key: string): Promise<number> {
  return Number((await t.client.get(`runs:${key}`)) ?? 0)
}

/** Calls of one Redis command on every master since the last CONFIG RESETSTAT. */
async function commandCalls(nodes: readonly Redis[], command: string): Promise<number> {
  let total = 0
  for (const node of nodes) {
    const info = await node.info('commandstats')
    const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)
    total += Number(match?.[1] ?? 0)
  }
  return total
}

eachTopology((t) => {
  describe('stampede protection across processes', () => {
    const fleet: Child[] = []
    before(async function () {
      this.timeout(60_000)
      const started = await Promise.all([0, 1, 2, 3].map(() => Child.start(WORKER, t.env())))
      fleet.push(...started)
      await Promise.all(fleet.map((child) => child.call('open', { prefix: 'spec', ttl: '1m' })))
    })
    after(async () => {
      await Promise.all(fleet.splice(0).map((child) => child.stop()))
    })
    /** Each process's floor set-ups before the next test's flush. */
    let setUps: number[] = []
    const floorSetUps = (): Promise<number[]> => Promise.all(fleet.map((child) => child.call<number>('floorSetUps')))
    afterEach(async () => {
      setUps = await floorSetUps()
    })

    /** 50 concurrent calls of `key` in each of the four processes, starting together. */
    const stampede = (key: string, fnMs: number, entry: Record<string, unknown> = {}): Promise<Burst[]> => {
      const startAt = Date.now() + 30
      return Promise.all(fleet.map((child) => child.call<Burst>('burst', key, 50, fnMs, startAt, entry)))
    }

    // Ten rounds: each is the same race on a fresh cold key, on every topology and client.
    const ROUNDS = 10
    it(`runs the function once for 4 processes × 50 concurrent callers of a cold key, ${ROUNDS} times in a row`, async function () {
      this.timeout(60_000)
      for (let round = 0; round < ROUNDS; round++) {
        const key = `cold:${round}`
        const bursts = await stampede(key, 200)
        const values = bursts.flatMap((b) => b.values)
        expect(values, `round ${round}`).to.have.length(200)
        expect(new Set(values), `round ${round}`).to.deep.equal(new Set([valueOf(key)]))
        expect(await runs(t, key), `runs in round ${round}`).to.equal(1)
      }
      const stats = await Promise.all(fleet.map((child) => child.call<Stats>('stats')))
      expect(stats.reduce((sum, s) => sum + s.computations, 0)).to.equal(ROUNDS)
      // Each round, the three processes that lost the lock waited for the winner.
      expect(stats.reduce((sum, s) => sum + s.lockWaits, 0)).to.be.at.least(ROUNDS * 3 - ROUNDS)
    })

    it('wakes the waiting processes when the value is written, without polling and long before the lock ends', async () => {
      // Every process sets the stamp floors up again when it hears the flush before this
      // test (once per node): set-up, not what is counted here.
      for (let i = 0; i < 500 && (await floorSetUps()).some((n, at) => n < (setUps[at] ?? 0) + t.nodes.length); i++) await sleep(10)
      await Promise.all(t.nodes.map((node) => node.config('RESETSTAT')))
      // The lock lives 10s and the waiters would give up after 5s: only a wake-up explains a quick answer.
      const bursts = await stampede('woken', 600, { lock: { ttl: '10s', wait: '5s' } })
      expect(bursts.flatMap((b) => b.values)).to.deep.equal(Array.from({ length: 200 }, () => valueOf('woken')))
      expect(Math.max(...bursts.map((b) => b.ms))).to.be.below(2_500)
      // A handful of reads (the value, tag stamps) and lock attempts per process over the
      // 600ms: not one per caller, nor one per tick of a timer. Redis counts the GETs the
      // scripts make too: per process the first GET, the read-or-lock's, the fill's check of
      // its lock, the GET after the wake-up, and the tag stamps the first read needs (after
      // the flush they are missing: the script that reads them as their floor GETs the stamp
      // and the floor too).
      const gets = await commandCalls(t.nodes, 'get')
      const locks = (await commandCalls(t.nodes, 'evalsha')) + (await commandCalls(t.nodes, 'eval'))
      expect(gets, 'GET commands').to.be.at.most(4 * 11)
      expect(locks, 'lock script calls').to.be.at.most(4 * 4)
      expect(await runs(t, 'woken')).to.equal(1)
    })

    it('gives every process the value within lock TTL + function time when the lock holder is killed mid-computation', async function () {
      this.timeout(30_000)
      const holder = await Child.start(WORKER, t.env())
      await holder.call('open', { prefix: 'spec', ttl: '1m' })
      const lock = { ttl: '1s', wait: '10s' }
      await holder.call('hold', 'orphaned', { lock })
      const waiting = stampede('orphaned', 200, { lock })
      await holder.kill('SIGKILL')
      const bursts = await waiting
      expect(bursts.flatMap((b) => b.values)).to.deep.equal(Array.from({ length: 200 }, () => valueOf('orphaned')))
      // At most the rest of the dead holder's lock (1s) + the function (200ms), with room for a slow machine.
      for (const burst of bursts) expect(burst.ms).to.be.below(1_000 + 200 + 1_500)
      // The dead holder's run, then exactly one more.
      expect(await runs(t, 'orphaned')).to.equal(2)
    })

    it('lets a waiting process compute itself once lock.wait runs out, rather than hang', async function () {
      this.timeout(30_000)
      const holder = await Child.start(WORKER, t.env())
      try {
        await holder.call('open', { prefix: 'spec', ttl: '1m' })
        await holder.call('hold', 'hung', { lock: { ttl: '300ms' } })
        const before = await Promise.all(fleet.map((child) => child.call<Stats>('stats')))
        const bursts = await stampede('hung', 100, { lock: { ttl: '300ms', wait: '300ms' } })
        expect(bursts.flatMap((b) => b.values)).to.deep.equal(Array.from({ length: 200 }, () => valueOf('hung')))
        for (const burst of bursts) expect(burst.ms).to.be.below(300 + 100 + 1_500)
        const after = await Promise.all(fleet.map((child) => child.call<Stats>('stats')))
        const timeouts = after.reduce((sum, s, i) => sum + s.lockTimeouts - (before[i]?.lockTimeouts ?? 0), 0)
        expect(timeouts).to.be.within(1, 4)
        // The hung holder never finished; the processes that timed out ran it themselves (the
        // first to finish wakes those still waiting, so between one and four of them).
        expect(await runs(t, 'hung')).to.be.within(2, 5)
      } finally {
        await holder.kill('SIGKILL')
      }
    })

    it('renews the lock while a computation runs longer than the lock TTL, so no other process takes over', async () => {
      // The lock lives 300ms; the function takes 1s: three renewals keep it.
      const bursts = await stampede('long', 1_000, { lock: { ttl: '300ms', wait: '5s' } })
      expect(bursts.flatMap((b) => b.values)).to.deep.equal(Array.from({ length: 200 }, () => valueOf('long')))
      expect(await runs(t, 'long')).to.equal(1)
    })
  })

  describe('the lock', () => {
    let cache: Cache
    beforeEach(() => {
      cache = createCache({ redis: t.redis(), prefix: 'spec' })
    })
    afterEach(async () => {
      await cache.close()
    })

    it('is taken with the read (SET NX PX), renewed and released only by the token that holds it', async () => {
      await cache.getOrSet('warm', () => 1)
      const core = coreOf(cache)
      const tier = core.l2
      if (tier === undefined) throw new Error('no L2')
      const valueKey = 'spec:default:k'
      const lockKey = core.layout.lockKey(valueKey)
      const attempt = { key: valueKey, lockKey, lockTtlMs: 5_000, newerThan: 0, skipValue: false, now: Date.now() }
      const won = await tier.readOrLock({ ...attempt, token: 'mine' })
      if (won.kind !== 'won') throw new Error(`expected the lock, got ${won.kind}`)
      // The server's clock comes back with the answer (the winner's `created`).
      const [seconds] = await t.client.time()
      expect(won.serverNow).to.be.closeTo(Number(seconds) * 1000, 2_000)
      const lost = await tier.readOrLock({ ...attempt, token: 'theirs' })
      if (lost.kind !== 'held') throw new Error(`expected the lock held, got ${lost.kind}`)
      expect(lost.holderMs).to.be.within(1, 5_000)
      expect(await tier.extendLock(lockKey, 'theirs', 60_000)).to.equal(false)
      await tier.releaseLock(lockKey, 'theirs')
      expect(await t.client.get(lockKey)).to.equal('mine')
      expect(await tier.extendLock(lockKey, 'mine', 60_000)).to.equal(true)
      expect(await t.client.pttl(lockKey)).to.be.above(5_000)
      await tier.releaseLock(lockKey, 'mine')
      expect(await t.client.exists(lockKey)).to.equal(0)
    })

    it('is gone once the value is written, and the value outlives it', async () => {
      expect(await cache.getOrSet('k', () => 'v')).to.equal('v')
      expect(await t.client.exists(coreOf(cache).layout.lockKey('spec:default:k'))).to.equal(0)
      expect(await t.client.exists('spec:default:k')).to.equal(1)
    })

    it('runs the function once for 1,000 concurrent callers in one process', async () => {
      let n = 0
      const values = await Promise.all(
        Array.from({ length: 1_000 }, () =>
          cache.getOrSet('many', async () => {
            n++
            await new Promise((resolve) => setTimeout(resolve, 20))
            return 'once'
          }),
        ),
      )
      expect(n).to.equal(1)
      expect(new Set(values)).to.deep.equal(new Set(['once']))
    })
  })
})
