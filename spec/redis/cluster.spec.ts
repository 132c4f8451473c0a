import { expect } from 'chai'
import { Cluster, type Redis } from 'ioredis'
import { Cluster as ValkeyCluster } from 'iovalkey'
import { createCluster } from 'redis'
import { createCache, memoize, type Cache, type CacheOptions } from 'memoredis'
import { record } from '../fixtures/stampede-helpers.ts'
import { slotOf } from '../../lib/redis/slot.ts'
import { readWithinCoherence } from '../support/coherence.ts'
import { coreOf } from '../support/internals.ts'
import { moveSlot, ownerOf, startupNodes, useCluster, type LocalCluster } from '../support/redis-cluster.ts'
import { eachTopology, type TopologyHandle } from '../support/topology.ts'

/**
 * What is special about a Redis Cluster (3 masters, real processes): keys of one cache
 * spread over every master, no command ever spans slots, and L1 coherence follows each
 * node, the bus's subscriber its channel's slot. The cache suites (memoize, tags,
 * stampede, coherence) also run here through `eachTopology`.
 */

const errorsOf = (cache: Cache): string[] => {
  const seen: string[] = []
  cache.on('error', ({ error }) => seen.push(`${error.code}: ${error.message} ${String(error.cause ?? '')}`))
  return seen
}

/** Resolves once `check` holds, trying every few ms (a condition another process brings about). */
async function eventually(check: () => Promise<boolean>, what: string, withinMs = 2000): Promise<void> {
  const deadline = Date.now() + withinMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${withinMs} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

async function keysPerNode(masters: readonly Redis[], prefix: string): Promise<number[]> {
  return Promise.all(
    masters.map(async (m) => ((await m.call('KEYS', `${prefix}:*`)) as string[]).filter((k) => !k.includes(':!')).length),
  )
}

/** The tracking connections of memoredis on every master (CLIENT LIST: `redir=` set). */
async function trackingConnections(masters: readonly Redis[]): Promise<{ node: Redis; id: string }[]> {
  const found: { node: Redis; id: string }[] = []
  for (const node of masters) {
    for (const line of ((await node.client('LIST')) as string).split('\n')) {
      const redirect = /redir=(-?\d+)/.exec(line)?.[1]
      if (redirect !== undefined && Number(redirect) > 0) found.push({ node, id: /id=(\d+)/.exec(line)?.[1] as string })
    }
  }
  return found
}

describe('on a 3-master cluster', () => {
  const cluster = useCluster()
  let a: Cache
  let b: Cache
  let errors: string[]
  beforeEach(() => {
    a = createCache({ redis: cluster.template(), prefix: 'cc' })
    b = createCache({ redis: cluster.template(), prefix: 'cc' })
    errors = [...errorsOf(a), ...errorsOf(b)]
  })
  afterEach(async () => {
    await Promise.all([a.close(), b.close()])
    expect(errors.filter((e) => /CROSSSLOT|MOVED|ASK/.test(e))).to.deep.equal([])
  })

  it('memoizes across processes with entries on every master, one computation per key, tags and clear', async () => {
    let runs = 0
    const fetchA = memoize(async (id: number) => ({ id, runs: ++runs }), { cache: a, name: 'fetch', tags: ([id]) => [`id:${id % 2}`] })
    const fetchB = memoize(async (id: number) => ({ id, runs: ++runs }), { cache: b, name: 'fetch', tags: ([id]) => [`id:${id % 2}`] })
    const ids = Array.from({ length: 30 }, (_, i) => i)
    // Both caches, ten concurrent callers per id: the lock lets one computation through per id.
    await Promise.all(ids.flatMap((id) => Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? fetchA(id) : fetchB(id)))))
    expect(runs).to.equal(30)
    expect((await keysPerNode(cluster.cluster.masters, 'cc')).every((n) => n > 0)).to.equal(true)
    // b hears of a's changes a moment later (another connection), then recomputes exactly what they cover.
    await a.invalidateTags(['id:1'])
    await eventually(async () => (await fetchB.peek(1)) === undefined, 'b hearing of the invalidation')
    await Promise.all(ids.map((id) => fetchB(id)))
    expect(runs).to.equal(45)
    await fetchA.clear()
    await eventually(async () => (await fetchB.peek(0)) === undefined, 'b hearing of the clear')
    await Promise.all(ids.map((id) => fetchB(id)))
    expect(runs).to.equal(75)
    await b.clear()
    // a hears of b's clear just after Redis answers b: within the coherence bound.
    expect(await readWithinCoherence(() => fetchA.peek(3), (v) => v === undefined)).to.equal(undefined)
  })

  it('evicts from L1 a key on any master that another client writes (tracking on every node)', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`)
    await Promise.all(keys.map((k) => a.set(k, 'cached')))
    // L1 of b filled (once its coherence is in place on every node it reads from).
    await eventually(async () => {
      await Promise.all(keys.map((k) => b.get(k)))
      return b.stats().l1.size === keys.length
    }, 'b serving every key from L1')
    await Promise.all(keys.map((k) => cluster.client.del(`cc:default:${k}`)))
    await eventually(async () => (await Promise.all(keys.map((k) => b.get(k)))).every((v) => v === undefined), 'b seeing every DEL')
    expect(b.stats().l1.size).to.equal(0)
  })

  it("flushes L1 when the Cluster's connection to a node is killed, and tracks that node again", async () => {
    const flushes: string[] = []
    b.on('flush', ({ reason }) => flushes.push(reason))
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`)
    await Promise.all(keys.map((k) => a.set(k, 'first')))
    await eventually(async () => {
      await Promise.all(keys.map((k) => b.get(k)))
      return b.stats().l1.size === keys.length
    }, 'b serving every key from L1')
    const tracked = await trackingConnections(cluster.cluster.masters)
    expect(tracked.length).to.equal(6) // a and b, on each of 3 masters
    for (const { node, id } of tracked) await node.client('KILL', 'ID', id)
    await eventually(async () => flushes.includes('command connection lost'), 'a flush')
    expect(b.stats().l1.size).to.equal(0)
    // Back: reads reconnect, tracking is turned on again, L1 fills, and writes are heard.
    await eventually(async () => {
      await Promise.all(keys.map((k) => b.get(k)))
      return b.stats().l1.size === keys.length
    }, 'b serving every key from L1 again')
    await Promise.all(keys.map((k) => a.set(k, 'second')))
    await eventually(async () => (await Promise.all(keys.map((k) => b.get(k)))).every((v) => v === 'second'), 'b seeing every new value')
  })
})

/** The subscribers of `channel` at each master (PUBSUB NUMSUB counts a node's own). */
const subscribersAt = (cluster: LocalCluster, channel: string): Promise<number[]> =>
  Promise.all(cluster.masters.map(async (m) => Number(((await m.call('PUBSUB', 'NUMSUB', channel)) as [string, number])[1])))

describe("the bus's subscriber on a cluster", () => {
  eachTopology(
    (t) => {
      if (t.name !== 'cluster') return
      const cluster = useCluster()
      it("follows the bus channel's slot to its new master when the slot moves, and the caches still hear each other", async () => {
        const channel = 'mv:!bus'
        const slot = slotOf(channel)
        const [a, b] = [createCache({ redis: t.redis(), prefix: 'mv', coherence: 'bus' }), createCache({ redis: t.redis(), prefix: 'mv', coherence: 'bus' })]
        const from = await ownerOf(cluster.cluster, slot)
        const to = (from + 1) % 3
        try {
          await eventually(async () => [a, b].every((c) => coreOf(c).coherence?.settled === true), 'both caches subscribed', 5000)
          expect((await subscribersAt(cluster.cluster, channel))[from]).to.equal(2)
          await moveSlot(cluster.cluster, slot, to)
          // A key in the channel's slot: each cache's write of it meets MOVED, and its client learns of the move.
          const name = Array.from({ length: 100_000 }, (_, i) => `n${i}`).find((n) => slotOf(`mv:default:${n}`) === slot) as string
          for (const cache of [a, b]) await cache.set(name, 'moved')
          await eventually(async () => {
            const at = await subscribersAt(cluster.cluster, channel)
            return at[to] === 2 && at[from] === 0
          }, "both subscribers at the slot's new master", 5000)
          await eventually(async () => [a, b].every((c) => coreOf(c).coherence?.settled === true), 'both caches subscribed again', 5000)
          await a.set('k', 'first')
          expect(await b.get('k')).to.equal('first')
          await a.set('k', 'second')
          await eventually(async () => (await b.get('k')) === 'second', "b hearing of a's write")
        } finally {
          await Promise.all([a.close(), b.close()])
          await moveSlot(cluster.cluster, slot, from)
        }
      })

      it('falls back to the bus, with one warning and no error, for a user the masters refuse CLIENT TRACKING', async () => {
        const masters = cluster.cluster.masters
        await Promise.all(masters.map((m) => m.call('ACL', 'SETUSER', 'notrack', 'on', '>pw', '~*', '&*', '+@all', '-client|tracking')))
        const cache = createCache({ redis: asUser(t, cluster.cluster, { username: 'notrack', password: 'pw' }), prefix: 'nt' })
        const [warnings, errors] = [record(cache, 'warning'), errorsOf(cache)]
        try {
          await eventually(async () => coreOf(cache).coherence?.mode === 'bus' && coreOf(cache).coherence?.settled === true, 'the bus', 5000)
          expect(await cache.getOrSet('k', () => 'v')).to.equal('v')
          expect(await cache.health()).to.deep.include({ l2: 'up', coherence: 'bus' })
          expect(warnings.map(({ error }) => error.message)).to.have.length(1)
          expect(warnings[0]?.error.message).to.match(/client tracking unavailable .*NOPERM.*falls back to the bus/)
          expect(errors).to.deep.equal([])
        } finally {
          await cache.close()
          await Promise.all(masters.map((m) => m.call('ACL', 'DELUSER', 'notrack')))
        }
      })
    },
  )
})

/** The topology's cluster template, logged in as another user. */
function asUser(t: TopologyHandle, cluster: LocalCluster, login: { username: string; password: string }): NonNullable<CacheOptions['redis']> {
  const startup = startupNodes(cluster)
  if (t.library === 'node-redis') return createCluster({ rootNodes: cluster.urls.map((url) => ({ url })), defaults: login })
  if (t.library === 'iovalkey') return new ValkeyCluster(startup, { lazyConnect: true, redisOptions: login })
  return new Cluster(startup, { lazyConnect: true, redisOptions: login })
}
