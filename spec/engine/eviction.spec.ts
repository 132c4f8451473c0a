import { expect } from 'chai'
import type { Cluster, Redis } from 'ioredis'
import { createCache, type CacheHealth } from 'memoredis'
import { Child } from '../support/child.ts'
import { RedisServer } from '../support/redis-server.ts'
import { eachTopology, type TopologyHandle } from '../support/topology.ts'

/**
 * An acknowledged invalidation stays done whatever Redis evicts. Redis with `maxmemory`
 * evicts the coldest keys first, and invalidation stamps are the coldest of all (every
 * process keeps the ones it read): a stamp that came back as "never invalidated" made
 * every value written before it valid again. Processes are real children: one that wrote
 * the values (and holds them in L1), one that invalidates, and a new one that reads.
 *
 * Eviction is made deterministic by deleting what the policy may evict (`DEL`, which
 * Redis reports to tracking clients exactly as it reports an eviction); one spec per
 * policy really fills a small `maxmemory` until the stamps are gone.
 */

const WORKER = new URL('../fixtures/eviction-worker.ts', import.meta.url)
const N = 20
const KINDS = ['tag', 'delete', 'fn', 'namespace', 'cache'] as const
type Kind = (typeof KINDS)[number]
/** Which of the fleet's entries each kind invalidates: the function's (tag 't') and the plain keys (no tag). */
const COVERS: Record<Kind, { f: boolean; k: boolean }> = {
  tag: { f: true, k: false },
  delete: { f: true, k: true },
  fn: { f: true, k: false },
  namespace: { f: true, k: true },
  cache: { f: true, k: true },
}
const POLICIES = ['allkeys-lru', 'allkeys-lfu', 'volatile-lru', 'noeviction'] as const
type Policy = (typeof POLICIES)[number]
/** What `cache.health()` says each policy may evict of memoredis's keys. */
const EVICTS: Record<Policy, CacheHealth['eviction']['evicts']> = {
  'allkeys-lru': 'everything',
  'allkeys-lfu': 'everything',
  'volatile-lru': 'values',
  noeviction: 'nothing',
}

type Values = { f: number[]; k: number[] }

/** Every key of `pattern` on every node. */
async function keysOf(nodes: readonly Redis[], pattern: string): Promise<string[]> {
  const found: string[] = []
  for (const node of nodes) {
    let cursor = '0'
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      found.push(...keys)
      cursor = next
    } while (cursor !== '0')
  }
  return found
}

/**
 * What `policy` may take from the keys under `prefix`: everything, the coldest first —
 * the stamps — under allkeys-*; only keys with a ttl (values and locks, never a stamp)
 * under volatile-*; nothing under noeviction.
 */
async function evict(t: TopologyHandle, prefix: string, policy: Policy): Promise<number> {
  if (policy === 'noeviction') return 0
  const pattern = policy.startsWith('allkeys') ? `${prefix}:!*` : `${prefix}:*`
  const keys: string[] = []
  for (const key of await keysOf(t.nodes, pattern)) {
    if (policy.startsWith('allkeys') || (await t.client.pttl(key)) > 0) keys.push(key)
  }
  // Half the values under volatile-*: what is left must still read right.
  const taken = policy.startsWith('volatile') ? keys.filter((_, i) => i % 2 === 0) : keys
  for (const key of taken) await t.client.del(key)
  return taken.length
}

/** Resolves once Redis's LRU clock counts `key` idle (its next tick, within a second): a condition polled, not a sleep. */
async function untilIdle(client: Redis, key: string): Promise<void> {
  while (Number(await client.object('IDLETIME', key)) < 1) await new Promise((resolve) => setTimeout(resolve, 10))
}

function stale(values: Values, covers: { f: boolean; k: boolean }, old: number): number {
  const count = (list: number[]): number => list.filter((v) => v === old).length
  return (covers.f ? count(values.f) : 0) + (covers.k ? count(values.k) : 0)
}

eachTopology((t) => {
  describe('no invalidation comes undone by what Redis evicts', function () {
    this.timeout(60_000)
    let writer: Child
    let invalidator: Child
    before(async () => {
      ;[writer, invalidator] = await Promise.all([Child.start(WORKER, t.env()), Child.start(WORKER, t.env())])
    })
    after(async () => {
      await Promise.all([writer.stop(), invalidator.stop()])
      await Promise.all(t.nodes.map((node) => node.config('SET', 'maxmemory-policy', 'noeviction', 'maxmemory', '0')))
    })

    for (const policy of POLICIES) {
      it(`under ${policy}: a tag, a delete, fn.clear(), a namespace's and the cache's clear() all hold, in the writer and in a new process`, async () => {
        await Promise.all(t.nodes.map((node) => node.config('SET', 'maxmemory-policy', policy, 'maxmemory', '256mb')))
        const health = await writer.call<CacheHealth>('health', `ev-${policy}-tag`)
        expect(health.eviction).to.deep.equal({ policy, evicts: EVICTS[policy] })
        for (const kind of KINDS) {
          const prefix = `ev-${policy}-${kind}`
          expect(stale(await writer.call<Values>('read', prefix, N, 1), COVERS[kind], 2)).to.equal(0)
          await invalidator.call('invalidate', prefix, kind, N)
          await evict(t, prefix, policy)
          // The writer held every value in L1 and had read every stamp.
          expect(stale(await writer.call<Values>('read', prefix, N, 2), COVERS[kind], 1), `${kind}: the writer`).to.equal(0)
        }
        const reader = await Child.start(WORKER, t.env())
        try {
          for (const kind of KINDS) {
            const prefix = `ev-${policy}-${kind}`
            // The writer's recomputed values may have been evicted too: a third generation is fine, the first is not.
            const values = await reader.call<Values>('read', prefix, N, 3)
            expect(stale(values, COVERS[kind], 1), `${kind}: a new process`).to.equal(0)
          }
        } finally {
          await reader.stop()
        }
      })
    }
  })
})

describe("cache.health(): the server's eviction policy", () => {
  let server: RedisServer
  before(async () => {
    server = await RedisServer.start({ args: ['--maxmemory-policy', 'allkeys-lru'] })
  })
  after(() => server.stop())

  it('says nothing is evicted without maxmemory, whatever the policy', async () => {
    const cache = createCache({ redis: server.url, prefix: 'hp' })
    try {
      expect((await cache.health()).eviction).to.deep.equal({ policy: 'allkeys-lru', evicts: 'nothing' })
    } finally {
      await cache.close()
    }
  })

  it("reports 'unknown' when an ACL refuses INFO, with Redis up and the circuit closed", async () => {
    const { Redis } = await import('ioredis')
    const admin = new Redis(server.port, server.host)
    await admin.call('ACL', 'SETUSER', 'noinfo', 'on', '>secret-secret', '~*', '&*', '+@all', '-info')
    admin.disconnect()
    const cache = createCache({ redis: `redis://noinfo:secret-secret@${server.host}:${server.port}`, prefix: 'hp', circuit: { failures: 1 } })
    try {
      for (let i = 0; i < 3; i++) {
        const health = await cache.health()
        expect(health).to.deep.include({ l2: 'up', eviction: { policy: 'unknown', evicts: 'unknown' } })
      }
      expect(cache.stats().circuit).to.equal('closed')
    } finally {
      await cache.close()
    }
  })
})

describe('no invalidation comes undone when Redis really runs out of memory', function () {
  this.timeout(60_000)

  for (const policy of ['allkeys-lru', 'allkeys-lfu'] as const) {
    it(`under ${policy}: invalidated values stay invalid in a new process after other traffic fills maxmemory`, async () => {
      // lfu-log-factor 0: every access counts, so "read often" is exact, not a probability.
      // 64 samples (the most): eviction follows the policy, not the luck of which keys a
      // few samples among hundreds of filler keys happen to include.
      const server = await RedisServer.start({ args: ['--maxmemory-policy', policy, '--maxmemory-samples', '64', '--lfu-log-factor', '0'] })
      const { Redis } = await import('ioredis')
      const client = new Redis(server.port, server.host)
      const env = { REDIS_TOPOLOGY: 'single', REDIS_NODES: server.url }
      const [writer, invalidator] = await Promise.all([Child.start(WORKER, env), Child.start(WORKER, env)])
      try {
        const kinds = ['tag', 'fn', 'cache'] as const
        for (const kind of kinds) await writer.call('read', `mem-${kind}`, 300, 1)
        for (const kind of kinds) await invalidator.call('invalidate', `mem-${kind}`, kind, 300)
        // Redis's LRU clock ticks once a second: until it has, the stamps and the values read
        // next would be equally recent, and LRU would evict at random among them.
        if (policy === 'allkeys-lru') await untilIdle(client, (await keysOf([client], 'mem-*:!tag:*'))[0] ?? '')
        // The values are read often (by an app that has no L1 of them): to LRU and LFU, hotter than the stamps.
        const values = [...(await keysOf([client], 'mem-*:ns:k*')), ...(await keysOf([client], 'mem-*:ns!*'))]
        for (let round = 0; round < 20; round++) await pipelined(client, values.map((k) => ['get', k]))
        const used = Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1])
        await client.config('SET', 'maxmemory', String(used + 1024 * 1024))
        const stamps = await keysOf([client], 'mem-*:!tag:*')
        expect(stamps.length).to.be.greaterThan(0)
        await fillUntilGone(client, stamps, values)
        // Values are left to come back, if the stamps' loss made them valid again.
        expect((await keysOf([client], 'mem-*:ns!*')).length, 'values left').to.be.greaterThan(100)
        const reader = await Child.start(WORKER, env)
        try {
          for (const kind of kinds) {
            const read = await reader.call<Values>('read', `mem-${kind}`, 300, 2)
            expect(stale(read, COVERS[kind], 1), kind).to.equal(0)
          }
        } finally {
          await reader.stop()
        }
      } finally {
        await Promise.all([writer.stop(), invalidator.stop()])
        client.disconnect()
        await server.stop()
      }
    })
  }
})

async function pipelined(client: Redis | Cluster, commands: string[][]): Promise<void> {
  for (let from = 0; from < commands.length; from += 500) await client.pipeline(commands.slice(from, from + 500)).exec()
}

/**
 * Unrelated traffic, written and read often (hotter than the stamps to LRU and LFU), with
 * the keys `hot` read in each batch, until Redis has evicted every one of `stamps` (bounded).
 */
async function fillUntilGone(client: Redis, stamps: string[], hot: string[]): Promise<void> {
  const junk = 'x'.repeat(4096)
  for (let batch = 0; batch < 200; batch++) {
    // Each key read right after its write: only the key being written is ever colder than the stamps.
    const commands = Array.from({ length: 50 }, (_, i) => `junk:${batch}:${i}`).flatMap((k) => [['set', k, junk], ...Array.from({ length: 8 }, () => ['get', k])])
    // The values stay as hot as the traffic, however long the fill takes (LRU's clock ticks each second).
    await pipelined(client, [...hot.map((k) => ['get', k]), ...commands])
    if ((await client.exists(...stamps)) === 0) return
  }
  throw new Error('the stamps were never evicted')
}
