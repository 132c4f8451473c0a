import { expect } from 'chai'
import { createCache, type Cache, type CacheStats } from 'memoredis'
import { Child } from '../support/child.ts'
import { CEILING_MS, COHERENCE_MS, expectPrompt } from '../support/coherence.ts'
import { coreOf } from '../support/internals.ts'
import { RedisServer } from '../support/redis-server.ts'
import { eachTopology, type TopologyHandle } from '../support/topology.ts'

/**
 * Client tracking in its default mode: a process is told of a key only while it holds it
 * (read it into L1, or waits on its lock), so the notices a process gets do not grow with
 * the rest of the fleet's traffic. Real processes (a child with L1 on) and a real Redis,
 * a single node and a 3-master cluster.
 */

const WORKER = new URL('../fixtures/coherence-worker.ts', import.meta.url)

const wallClock = (): number => performance.timeOrigin + performance.now()

/** Resolves once `check` holds, looking every few ms (a condition another process brings about); rejects after `withinMs`. */
async function eventually(check: () => Promise<boolean> | boolean, what: string, withinMs = 5000): Promise<void> {
  const deadline = Date.now() + withinMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${withinMs} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const notices = async (child: Child): Promise<number> => (await child.call<CacheStats>('stats')).coherence.notices

eachTopology((t: TopologyHandle) => {
  describe("targeted invalidation (coherence: 'tracking')", function () {
    this.timeout(30_000)
    let idle: Child
    let writer: Cache
    let n = 0
    let prefix = ''
    beforeEach(async () => {
      prefix = `tt${++n}`
      idle = await Child.start(WORKER, { ...t.env(), COHERENCE: 'tracking', PREFIX: prefix })
      writer = createCache({ redis: t.redis(), prefix, ttl: '1m' })
    })
    afterEach(async () => {
      await Promise.all([idle.stop(), writer.close()])
    })

    it('tells an idle process nothing of the cold misses, locks and writes of keys it never read', async () => {
      // Keys of its own, on every master, held in its L1 (read, not written: no echoes of its own to come).
      const own = Array.from({ length: 30 }, (_, i) => `own${i}`)
      await Promise.all(own.map((key) => writer.set(key, 'first')))
      for (const key of own) await idle.call('waitForL1', key)
      const before = await notices(idle)
      // 200 cold misses in another process: each a lock taken, a value written, the lock released.
      for (let i = 0; i < 200; i++) await writer.getOrSet(`miss${i}`, () => i)
      await Promise.all(Array.from({ length: 20 }, (_, i) => writer.set(`other${i}`, i)))
      await writer.delete('miss0')
      // A barrier on every master: the idle process's own keys, changed. Notices of one
      // node come in order, so anything the misses sent would have come before these.
      await Promise.all(own.map((key) => writer.set(key, 'changed')))
      await eventually(async () => (await notices(idle)) >= before + own.length, 'the idle process hearing of its own keys')
      expect((await notices(idle)) - before, 'notices: its 30 keys, and nothing of the 200 misses').to.equal(own.length)
      for (const key of own) expect(await idle.call('get', key)).to.equal('changed')
    })

    it(`tells a process that read a key within ${COHERENCE_MS} ms of another process changing it`, async () => {
      const lags: number[] = []
      for (let round = 0; round < 20; round++) {
        await idle.call('waitForL1', 'held')
        const before = await idle.call<{ created: number }>('read', 'held')
        await idle.call('watch', 'held', [], before.created)
        await writer.set('held', `round ${round}`)
        const done = wallClock()
        lags.push((await idle.call<number>('changed')) - done)
      }
      expectPrompt(lags)
    })
  })

  describe('lock traffic', function () {
    this.timeout(30_000)
    it('reaches the process waiting on the key (woken at once by a release without a value), and no other', async () => {
      const options = { redis: t.redis(), prefix: 'locks', ttl: '1m', lock: { ttl: '10s', wait: '10s' } } as const
      const [holder, waiter, bystander] = [createCache(options), createCache(options), createCache(options)]
      try {
        // Coherence in place in all three (each an L1 hit on a key of its own, read, not
        // written by them: no echoes of their own to come).
        await Promise.all([0, 1, 2].map((i) => holder.set(`own${i}`, i)))
        for (const [i, cache] of [holder, waiter, bystander].entries()) {
          await eventually(async () => {
            await cache.getOrSet(`own${i}`, () => i)
            const hits = cache.stats().l1.hits
            await cache.getOrSet(`own${i}`, () => i)
            return cache.stats().l1.hits > hits
          }, 'coherence in place')
        }
        const heard = (cache: Cache): number => cache.stats().coherence.notices
        const before = { waiter: heard(waiter), bystander: heard(bystander) }
        let fail: (error: Error) => void = () => undefined
        const computed = holder.stats().computations
        const failing = holder.getOrSet('contended', () => new Promise<number>((_, reject) => (fail = reject)))
        await eventually(() => holder.stats().computations > computed, 'the holder computing')
        const waited = waiter.getOrSet('contended', () => 42)
        await eventually(() => waiter.stats().lockWaits === 1, 'the waiter waiting on the lock')
        const released = Date.now()
        fail(new Error('no value'))
        await failing.catch(() => undefined)
        // The lock lives 10 s and the wait may last 10 s: only the release's notice explains a quick answer.
        expect(await waited).to.equal(42)
        expect(Date.now() - released).to.be.below(500)
        expect(heard(waiter) - before.waiter, 'notices to the waiter').to.be.at.least(1)
        expect(heard(bystander) - before.bystander, 'notices to a process that never read the key').to.equal(0)
      } finally {
        await Promise.all([holder.close(), waiter.close(), bystander.close()])
      }
    })
  })

  describe('a server tracking table far too small for the keys read (tracking-table-max-keys 4)', function () {
    this.timeout(30_000)
    before(async () => {
      for (const node of t.nodes) await node.config('SET', 'tracking-table-max-keys', '4')
    })
    after(async () => {
      for (const node of t.nodes) await node.config('SET', 'tracking-table-max-keys', '1000000')
    })

    it('never serves a stale value: the keys it evicts are told, so only the L1 hit rate drops', async () => {
      const a = createCache({ redis: t.redis(), prefix: 'small', ttl: '1m' })
      const b = createCache({ redis: t.redis(), prefix: 'small', ttl: '1m' })
      const keys = Array.from({ length: 40 }, (_, i) => `k${i}`)
      try {
        await Promise.all(keys.map((key) => a.set(key, -1)))
        for (let round = 0; round < 5; round++) {
          // b reads every key (into its L1, or not for long: the server evicts from its table and tells b).
          for (const key of keys) await b.get(key)
          await Promise.all(keys.map((key) => a.set(key, round)))
          const done = Date.now()
          for (const key of keys) {
            while ((await b.get(key)) !== round) {
              // 40 keys read one after another: the last may come late on a busy machine, but a lost notice never does.
              expect(Date.now() - done, `b still served an old value of ${key} in round ${round}`).to.be.below(CEILING_MS)
              await new Promise((resolve) => setImmediate(resolve))
            }
          }
        }
        // The hit rate dropped: of 40 keys just read, b keeps at most what the servers track (4 keys each).
        for (const key of keys) await b.get(key)
        const tracked = 4 * t.nodes.length
        await eventually(() => b.stats().l1.size <= tracked, `b's L1 shrinking to the ${tracked} keys the servers track`)
      } finally {
        await Promise.all([a.close(), b.close()])
      }
    })
  })
}, { resp2: true })

describe('a server started with a tiny tracking table (--tracking-table-max-keys 4)', function () {
  this.timeout(30_000)
  let small: RedisServer
  let roomy: RedisServer
  before(async () => {
    ;[small, roomy] = await Promise.all([RedisServer.start({ args: ['--tracking-table-max-keys', '4'] }), RedisServer.start()])
  })
  after(async () => {
    await Promise.all([small.stop(), roomy.stop()])
  })

  /** The share of a reader's second reads of 40 keys that L1 answered. */
  async function hitRate(url: string): Promise<number> {
    const writer = createCache({ redis: url, prefix: 'rate' })
    const reader = createCache({ redis: url, prefix: 'rate' })
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`)
    try {
      await Promise.all(keys.map((key) => writer.set(key, key)))
      // L1 is filled once the reader's tracking is in place.
      await eventually(() => coreOf(reader).coherence?.settled === true, "the reader's tracking in place")
      for (const key of keys) expect(await reader.get(key)).to.equal(key)
      // What L1 did not answer went to Redis (get() counts a read it answers from L1 as no tier's hit).
      const before = reader.stats().l2.hits
      for (const key of keys) expect(await reader.get(key)).to.equal(key)
      return 1 - (reader.stats().l2.hits - before) / keys.length
    } finally {
      await Promise.all([writer.close(), reader.close()])
    }
  }

  it('serves the right values with a lower L1 hit rate than a server whose table holds every key', async () => {
    const [tiny, roomyRate] = [await hitRate(small.url), await hitRate(roomy.url)]
    expect(roomyRate, 'hit rate with room for every key').to.equal(1)
    expect(tiny, 'hit rate with a table of 4 keys').to.be.below(roomyRate)
  })
})
