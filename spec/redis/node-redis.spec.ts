import { expect } from 'chai'
import { Cluster, Redis } from 'ioredis'
import { createClient, createCluster } from 'redis'
import sinon from 'sinon'
import { createCache, type Cache, type CacheHealth } from '../../lib/index.ts'
import { classifyRedisSource } from '../../lib/redis/client.ts'
import { isNodeRedisClient, isNodeRedisCluster } from '../../lib/redis/node-redis/shape.ts'
import { sleep } from '../fixtures/stampede-helpers.ts'
import { coreOf } from '../support/internals.ts'
import { useRedis } from '../support/redis.ts'

/*
 * What is node-redis's own: its clients and clusters told apart from ioredis's by shape,
 * the app's client used as a template only, `health()` and the round-trip observer on
 * both protocols, and a fleet that mixes node-redis and ioredis on one prefix. The
 * engine's behaviour on node-redis is the topology specs' (`eachTopology`).
 */

/** Polls `cache.health()` until `check` holds (at most 5 s). */
async function healthWhen(cache: Cache, check: (h: CacheHealth) => boolean): Promise<CacheHealth> {
  let last: CacheHealth | undefined
  for (let i = 0; i < 100; i++) {
    last = await cache.health()
    if (check(last)) return last
    await sleep(50)
  }
  throw new Error(`health never held; last: ${JSON.stringify(last)}`)
}

/** How many clients the server has now (CLIENT LIST), this one included. */
const clientCount = async (admin: Redis): Promise<number> => String(await admin.client('LIST')).trim().split('\n').length

describe('node-redis', function () {
  this.timeout(20_000)
  const redis = useRedis()
  const caches: Cache[] = []
  const open = (...args: Parameters<typeof createCache>): Cache => {
    const cache = createCache(...args)
    caches.push(cache)
    return cache
  }
  afterEach(async () => {
    await Promise.all(caches.splice(0).map((cache) => cache.close()))
  })

  it('tells node-redis clients and clusters from ioredis ones by their shape', () => {
    const client = createClient({ url: redis.url })
    const cluster = createCluster({ rootNodes: [{ url: redis.url }] })
    const ioredis = new Redis(redis.url, { lazyConnect: true })
    const ioCluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true })
    expect([isNodeRedisClient(client), isNodeRedisCluster(client)]).to.deep.equal([true, false])
    expect([isNodeRedisClient(cluster), isNodeRedisCluster(cluster)]).to.deep.equal([false, true])
    for (const other of [ioredis, ioCluster, { url: redis.url }, redis.url]) {
      expect([isNodeRedisClient(other), isNodeRedisCluster(other)]).to.deep.equal([false, false])
    }
    expect(classifyRedisSource(client).kind).to.equal('node-redis')
    expect(classifyRedisSource(cluster).kind).to.equal('node-redis-cluster')
    expect(classifyRedisSource(ioredis).kind).to.equal('redis')
    ioredis.disconnect()
    ioCluster.disconnect()
  })

  it("uses the app's client as a template: never connects or closes it, and closes only its own connections", async () => {
    const before = await clientCount(redis.client)
    const unconnected = createClient({ url: redis.url })
    const connected = createClient({ url: redis.url })
    await connected.connect()
    for (const template of [unconnected, connected]) {
      const cache = createCache({ redis: template, prefix: 'tpl' })
      expect(await cache.getOrSet('k', () => 'v')).to.equal('v')
      await cache.close()
    }
    expect(unconnected.isOpen, 'the unconnected template').to.equal(false)
    expect(connected.isReady, 'the connected template').to.equal(true)
    expect(String(await connected.get('tpl:default:k')), "the app's client still works").to.include('v')
    await connected.close()
    expect(await clientCount(redis.client), 'clients left on the server').to.equal(before)
  })

  it("keeps Redis Enterprise maintenance notifications off on its own connections unless the app's client enabled them", async () => {
    // node-redis hands every RESP3 push (each tracking invalidation) to their handler first;
    // with REDIS_DEBUG_MAINTENANCE set, that handler logs each push it sees, and its handshake.
    const logged: string[] = []
    const log = sinon.stub(console, 'log').callsFake((...args: unknown[]) => {
      if (args.includes('[MNT]')) logged.push(args.map(String).join(' '))
    })
    process.env.REDIS_DEBUG_MAINTENANCE = '1'
    try {
      const cache = open({ redis: createClient({ url: redis.url, RESP: 3 }), prefix: 'maint' })
      await healthWhen(cache, (h) => h.l2 === 'up' && h.coherence === 'tracking')
      // Pushed to its command connection: the invalidation of a key it read, written elsewhere.
      await cache.set('k', 'old')
      while ((await cache.get('k'), cache.stats().l1.size) === 0) await sleep(5)
      await redis.client.del('maint:default:k')
      while ((await cache.get('k')) !== undefined) await sleep(5)
      expect(logged, 'by default').to.deep.equal([])
      // Asked for: its connections ask the server too (Redis itself refuses, as the handler logs).
      open({ redis: createClient({ url: redis.url, RESP: 3, maintNotifications: 'enabled' }), prefix: 'maint-on' })
      const refused = (): boolean => logged.some((line) => /handshake failed/.test(line))
      for (let i = 0; i < 250 && !refused(); i++) await sleep(20)
      expect(logged.join('\n'), 'when the app enabled them').to.match(/handshake failed/)
    } finally {
      delete process.env.REDIS_DEBUG_MAINTENANCE
      log.restore()
    }
  })

  for (const RESP of [2, 3] as const) {
    it(`reports health and tells each round trip on RESP${RESP}`, async () => {
      const cache = open({ redis: createClient({ url: redis.url, RESP }), prefix: `rt${RESP}` })
      const health = await healthWhen(cache, (h) => h.l2 === 'up' && h.coherence === 'tracking')
      expect(health.roundTripMs).to.be.a('number')
      expect(health.eviction.policy).to.equal('noeviction')
      const seen: string[] = []
      const l2 = coreOf(cache).l2
      if (l2 === undefined) throw new Error('no L2')
      l2.onRoundTrip = (command, seconds) => {
        expect(seconds).to.be.above(0)
        seen.push(command)
      }
      await cache.getOrSet('k', () => 1)
      // The miss, the lock and the write; and the scope tags' stamps, read once.
      expect(seen.slice(0, 3)).to.deep.equal(['GET', 'READ OR LOCK', 'FILL'])
      expect(new Set(seen.slice(3))).to.satisfy((rest: Set<string>) => [...rest].every((c) => c === 'GET' || c === 'TAG STAMP OR FLOOR'))
    })
  }

  it('shares a prefix with ioredis processes: each hears the writes of the other', async () => {
    const viaNodeRedis = open({ redis: createClient({ url: redis.url }), prefix: 'mixed' })
    const viaIoredis = open({ redis: redis.url, prefix: 'mixed' })
    for (const cache of [viaNodeRedis, viaIoredis]) await healthWhen(cache, (h) => h.coherence === 'tracking')
    let runs = 0
    const compute = (): number | string => ++runs
    expect(await viaNodeRedis.getOrSet('k', compute)).to.equal(1)
    expect(await viaIoredis.getOrSet('k', compute), 'an L2 hit of the value node-redis wrote').to.equal(1)
    for (const [writer, reader] of [[viaNodeRedis, viaIoredis], [viaIoredis, viaNodeRedis]] as const) {
      const value = `from ${writer === viaNodeRedis ? 'node-redis' : 'ioredis'}`
      await writer.set('k', value)
      for (let i = 0; i < 100 && (await reader.getOrSet('k', compute)) !== value; i++) await sleep(20)
      expect(await reader.getOrSet('k', compute), 'the L1 copy dropped when the other wrote').to.equal(value)
    }
    expect(runs).to.equal(1)
  })
})
