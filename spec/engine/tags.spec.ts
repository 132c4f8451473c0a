import { expect } from 'chai'
import type { Redis } from 'ioredis'
import { createCache, memoize, type Cache } from 'memoredis'
import { KeyLayout } from '../../lib/keys/layout.ts'
import { eachTopology } from '../support/topology.ts'

/** Calls per command, summed over `nodes` (INFO commandstats). */
async function commandCalls(nodes: readonly Redis[]): Promise<Map<string, number>> {
  const totals = new Map<string, number>()
  for (const node of nodes) {
    const info = await node.info('commandstats')
    for (const [, name, calls] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      totals.set(name as string, (totals.get(name as string) ?? 0) + Number(calls))
    }
  }
  return totals
}

/**
 * Commands sent while `work` ran, by name. Left out: the spec's own INFO, and what
 * connections send for themselves (the Cluster's slot refreshes, a reconnection's HELLO,
 * CLIENT and PING), which no cache operation causes.
 */
async function commandsDuring(nodes: readonly Redis[], work: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = await commandCalls(nodes)
  await work()
  const after = await commandCalls(nodes)
  const sent: Record<string, number> = {}
  for (const [name, calls] of after) {
    const n = calls - (before.get(name) ?? 0)
    if (n > 0 && !/^(info|cluster|hello|client|ping|select|readonly|auth)/.test(name)) sent[name] = n
  }
  return sent
}

const total = (sent: Record<string, number>): number => Object.values(sent).reduce((a, b) => a + b, 0)

/** A counter to compute values with: each call returns the next number. */
function counter(): (() => number) & { runs: number } {
  const next = Object.assign(() => ++next.runs, { runs: 0 })
  return next
}

eachTopology((t) => {
  describe('tags', () => {
    let cache: Cache
    let other: Cache
    beforeEach(() => {
      cache = createCache({ redis: t.redis(), prefix: 'tg' })
      other = createCache({ redis: t.redis(), prefix: 'tg' })
    })
    afterEach(async () => {
      await Promise.all([cache.close(), other.close()])
    })

    it('invalidates every entry carrying a tag, in L1 and L2, and no other', async () => {
      const next = counter()
      await cache.getOrSet('a', next, { tags: ['red'] })
      await cache.getOrSet('b', next, { tags: ['red', 'blue'] })
      await cache.getOrSet('c', next, { tags: ['blue'] })
      await cache.set('d', 'set with a tag', { tags: ['red'] })
      await cache.getOrSet('e', next)
      expect(next.runs).to.equal(4)
      await cache.invalidateTags(['red'])
      for (const c of [cache, other]) {
        expect(await c.get('a')).to.equal(undefined)
        expect(await c.get('b')).to.equal(undefined)
        expect(await c.get('d')).to.equal(undefined)
        expect(await c.get('c')).to.equal(3)
        expect(await c.get('e')).to.equal(4)
      }
      expect(await cache.getOrSet('a', next, { tags: ['red'] })).to.equal(5)
      expect(await other.getOrSet('a', next, { tags: ['red'] })).to.equal(5)
    })

    it('takes tags from a function of the value (getOrSet) or of the arguments and the result (memoize)', async () => {
      const user = await cache.getOrSet('u', () => ({ id: 7, team: 'core' }), { tags: (u) => [`user:${u.id}`, `team:${u.team}`] })
      const fetchPost = memoize(async (id: number) => ({ id, author: id * 10 }), {
        cache,
        name: 'fetchPost',
        tags: ([id], post) => [`post:${id}`, `user:${post.author}`],
      })
      await fetchPost(1)
      await fetchPost(2)
      await cache.invalidateTags(['team:core', 'user:20'])
      expect(await cache.get('u')).to.equal(undefined)
      expect(await fetchPost.peek(1)).to.deep.equal({ id: 1, author: 10 })
      expect(await fetchPost.peek(2)).to.equal(undefined)
      expect(user.id).to.equal(7)
    })

    it('drops the old value from the L1 of another cache that had read it', async () => {
      const next = counter()
      await cache.getOrSet('k', next, { tags: ['t'] })
      expect(await other.getOrSet('k', next, { tags: ['t'] })).to.equal(1)
      await cache.invalidateTags(['t'])
      // The notice reaches the other cache's own connection a moment later: read until it has.
      const deadline = Date.now() + 1000
      while ((await other.getOrSet('k', next, { tags: ['t'] })) !== 2) {
        expect(Date.now()).to.be.below(deadline)
        await new Promise((resolve) => setImmediate(resolve))
      }
      expect(await cache.getOrSet('k', next, { tags: ['t'] })).to.equal(2)
      expect(next.runs).to.equal(2)
    })

    it('serves a tagged L2 hit in one round trip once the tag stamps are known', async () => {
      const reader = createCache({ redis: t.redis(), prefix: 'tg', l1: false })
      for (let i = 0; i < 100; i++) await cache.set(`k${i}`, i, { tags: ['t'] })
      // A first pass learns the stamps (of 't', the namespace and the cache) and connects to every node.
      for (let i = 0; i < 100; i++) await reader.get(`k${i}`)
      const sent = await commandsDuring(t.nodes, async () => {
        for (let i = 0; i < 100; i++) expect(await reader.get(`k${i}`)).to.equal(i)
      })
      expect(sent).to.deep.equal({ get: 100 })
      await reader.close()
    })

    it('invalidates 100,000 entries in the same few commands as 10, and every one recomputes', async function () {
      this.timeout(60_000)
      const reader = createCache({ redis: t.redis(), prefix: 'tg', l1: false })
      // Each tag invalidated once before: the stamp script is loaded on its node.
      await cache.invalidateTags(['big', 'small'])
      // One real entry, then its bytes copied under 100,000 keys (raw SETs: fast).
      await cache.set('proto', 'tagged', { tags: ['big'] })
      await cache.set('small', 'tagged', { tags: ['small'] })
      const bytes = (await t.client.getBuffer('tg:default:proto')) as Buffer
      const N = 100_000
      for (let from = 0; from < N; from += 5000) {
        await Promise.all(Array.from({ length: 5000 }, (_, i) => t.client.set(`tg:default:e${from + i}`, bytes, 'PX', 60_000)))
      }
      const all = Array.from({ length: N }, (_, i) => `e${i}`)
      const values = async (keys: string[]): Promise<unknown[]> => {
        const found: unknown[] = []
        for (let from = 0; from < keys.length; from += 2000) {
          found.push(...(await Promise.all(keys.slice(from, from + 2000).map((k) => reader.get(k)))))
        }
        return found
      }
      expect(new Set(await values(all.filter((_, i) => i % 100 === 0)))).to.deep.equal(new Set(['tagged']))

      const small = await commandsDuring(t.nodes, () => cache.invalidateTags(['small']))
      const big = await commandsDuring(t.nodes, () => cache.invalidateTags(['big']))
      // One EVALSHA of the stamp script (whose TIME, GET, SET, the floor's GET and SET, and PTTL count too), whatever the count.
      expect(big, JSON.stringify(small)).to.deep.equal(small)
      expect(big.evalsha).to.equal(1)
      expect(total(big)).to.be.at.most(7)
      for (const command of ['keys', 'scan', 'del', 'unlink']) expect(big).to.not.have.property(command)

      expect(new Set(await values(all))).to.deep.equal(new Set([undefined]))
      const next = counter()
      for (const key of all.slice(0, 100)) await reader.getOrSet(key, next, { tags: ['big'] })
      expect(next.runs).to.equal(100)
      await reader.close()
    })

    it('keeps a tag stamp with no expiry: a few bytes that entries of any ttl may still read', async () => {
      await cache.invalidateTags(['t'])
      const stamp = new KeyLayout('tg').stampKey('t:t')
      expect(await t.client.pttl(stamp)).to.equal(-1)
      expect(Number(await t.client.get(stamp))).to.be.above(0)
    })

    it('accepts any ttl + grace, tags or not, and invalidates a 30-day entry by its tag', async () => {
      const long = createCache({ redis: t.redis(), prefix: 'tg', ttl: '30d', grace: '30d' })
      let runs = 0
      const load = (): Promise<string> => long.getOrSet('flags', async () => `v${++runs}`, { ttl: '30d', tags: ['flags'] })
      expect(await load()).to.equal('v1')
      expect(await t.client.pttl('tg:default:flags')).to.be.above(59 * 86_400_000)
      expect(await load()).to.equal('v1')
      await long.invalidateTags(['flags'])
      expect(await load()).to.equal('v2')
      expect(memoize(() => 1, { cache: long, name: 'year', ttl: '365d' })).to.be.a('function')
      await long.close()
    })
  })

  describe('clear', () => {
    let cache: Cache
    beforeEach(() => {
      cache = createCache({ redis: t.redis(), prefix: 'cl' })
    })
    afterEach(() => cache.close())

    it("drops every entry of a memoized function with its clear(), and no other function's", async () => {
      const next = counter()
      const square = memoize((n: number) => n * n + next() * 0, { cache, name: 'square' })
      const cube = memoize((n: number) => n ** 3 + next() * 0, { cache, name: 'cube' })
      for (let i = 0; i < 20; i++) await Promise.all([square(i), cube(i)])
      expect(next.runs).to.equal(40)
      await square.clear()
      expect(await square.peek(3)).to.equal(undefined)
      expect(await cube.peek(3)).to.equal(27)
      const reader = createCache({ redis: t.redis(), prefix: 'cl' })
      const readerSquare = memoize((n: number) => n * n, { cache: reader, name: 'square' })
      expect(await readerSquare.peek(4)).to.equal(undefined)
      expect(await square(4)).to.equal(16)
      expect(next.runs).to.equal(41)
      await reader.close()
    })

    it('drops a namespace with namespace(n).clear(), and everything with cache.clear()', async () => {
      const billing = cache.namespace('billing')
      const users = cache.namespace('users')
      await Promise.all([billing.set('x', 1), users.set('x', 2), cache.set('x', 3)])
      await billing.clear()
      expect([await billing.get('x'), await users.get('x'), await cache.get('x')]).to.deep.equal([undefined, 2, 3])
      await cache.clear()
      expect([await users.get('x'), await cache.get('x')]).to.deep.equal([undefined, undefined])
      await users.set('x', 4)
      expect(await users.get('x')).to.equal(4)
    })

    it('clears 10 entries or 5,000 in the same few commands, never KEYS or SCAN', async () => {
      const few = cache.namespace('few')
      const many = cache.namespace('many')
      await Promise.all([few.clear(), many.clear(), cache.clear()]) // the stamp script loaded on every node it needs
      await Promise.all(Array.from({ length: 10 }, (_, i) => few.set(`k${i}`, i)))
      for (let from = 0; from < 5000; from += 1000) {
        await Promise.all(Array.from({ length: 1000 }, (_, i) => many.set(`k${from + i}`, i)))
      }
      const small = await commandsDuring(t.nodes, () => few.clear())
      const big = await commandsDuring(t.nodes, () => many.clear())
      const everything = await commandsDuring(t.nodes, () => cache.clear())
      expect(big).to.deep.equal(small)
      for (const sent of [big, everything]) {
        expect(sent.evalsha).to.equal(1)
        expect(total(sent)).to.be.at.most(7)
      }
      for (const sent of [small, big, everything]) {
        for (const command of ['keys', 'scan', 'del', 'unlink']) expect(sent).to.not.have.property(command)
      }
      expect(await many.get('k4999')).to.equal(undefined)
    })
  })
})
