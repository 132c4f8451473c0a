import { expect } from 'chai'
import { Redis } from 'ioredis'
import { createCache, InvalidOptionError, memoize, ReplicationError, type Cache, type CacheOptions } from 'memoredis'
import { KeyLayout } from '../../lib/keys/layout.ts'
import { slotOf } from '../../lib/redis/slot.ts'
import { RedisServer } from '../support/redis-server.ts'
import { eachTopology, specClients } from '../support/topology.ts'

/**
 * `invalidation: { replicas, timeout }`: an invalidation resolves only once that many
 * replicas have it (Redis WAIT), so a master that dies right after acknowledging it
 * cannot take it along. Against a real master and replica (REPLICAOF), killed with
 * SIGKILL, the replica promoted with REPLICAOF NO ONE; a replica "lagging" is a replica
 * paused with SIGSTOP.
 */

const KINDS = ['tag', 'delete', 'fn', 'namespace', 'cache'] as const
type Kind = (typeof KINDS)[number]

/** Resolves once `node` reports `field` in INFO `section` matching `pattern` (bounded: set-up and kill, not a spec's timing). */
async function infoUntil(node: Redis, section: string, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!pattern.test(await node.info(section))) {
    if (Date.now() > deadline) throw new Error(`INFO ${section} never matched ${pattern}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

interface Pair {
  master: RedisServer
  replica: RedisServer
  /** Plain connections to each, for the spec's own commands. */
  admin: Redis
  replicaAdmin: Redis
  /** A cache, closed when the spec ends. */
  open(options: CacheOptions): Cache
}

/** Runs `work` with a master and its replica, linked; stops both (and the caches opened) after. */
async function withPair(work: (pair: Pair) => Promise<void>): Promise<void> {
  // Diskless full sync at once: the replica links up in milliseconds, not after the default 5 s delay.
  const master = await RedisServer.start({ args: ['--repl-diskless-sync-delay', '0'] })
  const replica = await RedisServer.start({ args: ['--replicaof', master.host, String(master.port)] })
  const admin = new Redis(master.port, master.host, { maxRetriesPerRequest: 0, retryStrategy: () => null })
  const replicaAdmin = new Redis(replica.port, replica.host)
  admin.on('error', () => {})
  const caches: Cache[] = []
  const open = (options: CacheOptions): Cache => {
    const cache = createCache({ prefix: 'rp', ...options })
    cache.on('error', () => {})
    caches.push(cache)
    return cache
  }
  try {
    await infoUntil(replicaAdmin, 'replication', /master_link_status:up/)
    await infoUntil(admin, 'replication', /connected_slaves:1/)
    await work({ master, replica, admin, replicaAdmin, open })
  } finally {
    replica.signal('SIGCONT')
    await Promise.all(caches.map((cache) => cache.close()))
    admin.disconnect()
    replicaAdmin.disconnect()
    await Promise.all([master.stop(), replica.stop()])
  }
}

/** One memoized function `f` (tag 't') and one getOrSet key in namespace 'ns' of `cache`; each value is `gen`. */
function fleet(cache: Cache, gen: { value: string }) {
  const ns = cache.namespace('ns')
  const f = memoize(async (_id: number) => gen.value, { cache: ns, name: 'f', tags: ['t'] })
  const k = () => ns.getOrSet('k', async () => gen.value)
  const invalidate = async (kind: Kind): Promise<void> => {
    if (kind === 'tag') await cache.invalidateTags(['t'])
    else if (kind === 'delete') await f.invalidate(1)
    else if (kind === 'fn') await f.clear()
    else if (kind === 'namespace') await ns.clear()
    else await cache.clear()
  }
  return { f, k, invalidate }
}

// The same cases on each client memoredis is handed: the failover is the server's, what the cache does after it is the client's.
for (const client of specClients({ iovalkey: true })) {
  describe(`invalidation: { replicas } — an acknowledged invalidation survives the master (${client.name})`, function () {
    this.timeout(30_000)

    for (const kind of KINDS) {
      it(`${kind}: resolves only once the replica has it, and a new cache on the promoted replica recomputes`, () =>
        withPair(async ({ master, replica, admin, replicaAdmin, open }) => {
          const gen = { value: 'old' }
          const { f, invalidate } = fleet(open({ redis: client.redis(master.url), invalidation: { replicas: 1, timeout: '5s' } }), gen)
          expect(await f(1)).to.equal('old')
          await admin.wait(1, 1000) // the value is on the replica
          // The replica lags: it gets nothing until resumed.
          replica.signal('SIGSTOP')
          const invalidating = invalidate(kind)
          const first = await Promise.race([
            invalidating.then(() => 'acknowledged'),
            infoUntil(admin, 'clients', /blocked_clients:[1-9]/).then(() => 'waiting'),
          ])
          // Acknowledged while the replica had none of it: the bug this option prevents.
          expect(first, 'the invalidation resolved before the replica had it').to.equal('waiting')
          replica.signal('SIGCONT')
          await invalidating
          // The master dies right after the acknowledgement; its replica takes over.
          await master.kill()
          await replicaAdmin.replicaof('NO', 'ONE')
          gen.value = 'new'
          expect(await fleet(open({ redis: client.redis(replica.url) }), gen).f(1)).to.equal('new')
        }))
    }

    it('rejects with ReplicationError (ERR_NOT_REPLICATED) when the replica does not confirm in time', () =>
      withPair(async ({ master, replica, open }) => {
        const cache = open({ redis: client.redis(master.url), invalidation: { replicas: 1, timeout: '100ms' } })
        const { f, k, invalidate } = fleet(cache, { value: 'v' })
        await f(1)
        await k()
        replica.signal('SIGSTOP')
        for (const kind of KINDS) {
          const started = performance.now()
          const error = await invalidate(kind).then(() => undefined, (e: unknown) => e)
          expect(error, kind).to.be.an.instanceOf(ReplicationError).with.property('code', 'ERR_NOT_REPLICATED')
          expect(error).to.include({ replicas: 1, confirmed: 0 })
          expect(performance.now() - started, kind).to.be.within(90, 1000)
        }
        // The master has it all the same: this process and others stop serving the values.
        expect(await cache.namespace('ns').get('k')).to.equal(undefined)
      }))
  })
}

describe('invalidation: { replicas } — its options', () => {
  it('refuses a bad replicas count or timeout', () => {
    expect(() => createCache({ invalidation: { replicas: -1 } })).to.throw(InvalidOptionError, /invalidation\.replicas/)
    expect(() => createCache({ invalidation: { timeout: 'soon' as '1s' } })).to.throw(InvalidOptionError, /invalidation\.timeout/)
    expect(() => createCache({ invalidation: { replica: 1 } as never })).to.throw(InvalidOptionError, /replicas, timeout/)
  })
})

eachTopology((t) => {
  describe('invalidation: { replicas } — WAIT goes to the master of the stamp or key', () => {
    it("sends WAIT to the node that owns the stamp's slot, and rejects when it has no replica", async () => {
      const cache = createCache({ redis: t.redis(), prefix: 'rw', invalidation: { replicas: 1, timeout: '50ms' } })
      try {
        await cache.invalidateTags(['warm']).catch(() => undefined) // connects every node
        const waits = async (): Promise<number[]> =>
          Promise.all(t.nodes.map(async (node) => Number(/cmdstat_wait:calls=(\d+)/.exec(await node.info('commandstats'))?.[1] ?? 0)))
        for (const tag of ['a', 'b', 'c', 'd']) {
          const before = await waits()
          const error = await cache.invalidateTags([tag]).then(() => undefined, (e: unknown) => e)
          expect(error).to.be.an.instanceOf(ReplicationError)
          const sent = (await waits()).map((n, i) => n - (before[i] as number))
          const owner = await ownerOf(t, new KeyLayout('rw').stampKey(`t:${tag}`))
          expect(sent, tag).to.deep.equal(t.nodes.map((_, i) => (i === owner ? 1 : 0)))
        }
      } finally {
        await cache.close()
      }
    })
  })
})

/** Which of the topology's nodes owns `key`'s slot. */
async function ownerOf(t: { name: string; nodes: readonly Redis[] }, key: string): Promise<number> {
  if (t.name === 'single') return 0
  const slot = slotOf(key)
  const ranges = (await t.nodes[0]?.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][]
  const port = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2][1]
  return t.nodes.findIndex((node) => node.options.port === port)
}
