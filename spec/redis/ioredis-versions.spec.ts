import { expect } from 'chai'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { createServer, type Server } from 'node:net'
import { Cluster as Cluster6, Redis as Redis6 } from 'ioredis'
import { Cluster as Cluster5, Redis as Redis5 } from 'ioredis5'
import { Cluster as ClusterValkey, Redis as RedisValkey } from 'iovalkey'
import { createCache, InvalidOptionError, memoize, type Cache, type CacheOptions } from 'memoredis'
import { classifyRedisSource, isCluster, isRedisClient } from '../../lib/redis/client.ts'
import { startupNodes, useCluster } from '../support/redis-cluster.ts'
import { useRedis } from '../support/redis.ts'

/**
 * The app's own ioredis or iovalkey: memoredis takes either as an optional peer and
 * recognises a client by its shape, so a `Redis` or `Cluster` from ioredis 5 (another
 * copy than the ioredis 6 memoredis would load here) or from iovalkey is used as given,
 * on a single node and on a 3-master cluster: never mistaken for options that connect to
 * 127.0.0.1:6379, and its connections made by the client's own library.
 */

const require = createRequire(import.meta.url)

interface Flavour {
  readonly name: string
  readonly version: string
  /** The major version its package must have. */
  readonly major: string
  /** A template (lazy, never connects itself) for a single node, its connections named `name`. */
  single(host: string, port: number, name: string): unknown
  /** A template for a cluster, its connections named `name`. */
  cluster(nodes: { host: string; port: number }[], name: string): unknown
}

const FLAVOURS: Flavour[] = [
  {
    name: 'ioredis 5',
    major: '5',
    version: (require('ioredis5/package.json') as { version: string }).version,
    single: (host, port, name) => new Redis5(port, host, { lazyConnect: true, connectionName: name }),
    cluster: (nodes, name) => new Cluster5(nodes, { lazyConnect: true, redisOptions: { connectionName: name } }),
  },
  {
    name: 'ioredis 6',
    major: '6',
    version: (require('ioredis/package.json') as { version: string }).version,
    single: (host, port, name) => new Redis6(port, host, { lazyConnect: true, connectionName: name }),
    cluster: (nodes, name) => new Cluster6(nodes, { lazyConnect: true, redisOptions: { connectionName: name } }),
  },
  {
    name: 'iovalkey',
    major: '0',
    version: (require('iovalkey/package.json') as { version: string }).version,
    single: (host, port, name) => new RedisValkey(port, host, { lazyConnect: true, connectionName: name }),
    cluster: (nodes, name) => new ClusterValkey(nodes, { lazyConnect: true, redisOptions: { connectionName: name } }),
  },
]

/**
 * Counts connections to 127.0.0.1:6379, the address a client mistaken for options would
 * connect to: listens there when the port is free, else (a system redis-server) reads how
 * many connections that server has received.
 */
interface DefaultPortProbe {
  connections(): Promise<number>
  close(): Promise<void>
}

async function probeDefaultPort(): Promise<DefaultPortProbe> {
  const server: Server = createServer((socket) => {
    count++
    socket.destroy()
  })
  let count = 0
  server.listen(6379, '127.0.0.1')
  const outcome = await Promise.race([
    once(server, 'listening').then(() => 'listening' as const),
    once(server, 'error').then(([error]) => error as NodeJS.ErrnoException),
  ])
  if (outcome === 'listening') {
    return {
      connections: () => Promise.resolve(count),
      close: async () => {
        server.close()
        await once(server, 'close')
      },
    }
  }
  if (outcome.code !== 'EADDRINUSE') throw outcome
  // Something runs there already (a system redis-server): count what it receives.
  const system = new Redis6(6379, '127.0.0.1', { maxRetriesPerRequest: 1 })
  const received = async (): Promise<number> => Number(/total_connections_received:(\d+)/.exec(await system.info('stats'))?.[1])
  const before = await received()
  return {
    connections: async () => (await received()) - before,
    close: async () => void system.disconnect(),
  }
}

/** Resolves once `check` holds, trying every few ms (a change another connection reports). */
async function eventually(check: () => Promise<boolean>, what: string, withinMs = 2000): Promise<void> {
  const deadline = Date.now() + withinMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${withinMs} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** The names of the connections a server has, one entry per connection. */
async function connectionNames(node: Redis6): Promise<string[]> {
  const list = (await node.client('LIST')) as string
  return list
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '')
}

/** The keys under `prefix` on every node. */
async function keysOn(nodes: readonly Redis6[], prefix: string): Promise<string[][]> {
  return Promise.all(nodes.map((node) => node.keys(`${prefix}:*`)))
}

interface Topology {
  readonly name: string
  template(flavour: Flavour, connectionName: string): unknown
  readonly nodes: readonly Redis6[]
}

function specsFor(topology: () => Topology): void {
  for (const flavour of FLAVOURS) {
    describe(`with a client from ${flavour.name}`, () => {
      let templates: { disconnect(): void }[] = []
      let caches: Cache[] = []
      let probe: DefaultPortProbe
      beforeEach(async () => {
        probe = await probeDefaultPort()
      })
      afterEach(async () => {
        await Promise.all(caches.map((c) => c.close()))
        for (const t of templates) t.disconnect()
        caches = []
        templates = []
        await probe.close()
      })
      const cacheOn = (name: string): Cache => {
        const template = topology().template(flavour, name) as { disconnect(): void }
        templates.push(template)
        const cache = createCache({ redis: template as CacheOptions['redis'], prefix: 'iov' })
        caches.push(cache)
        return cache
      }

      it(`is that major version (${flavour.version}), recognised as a client`, () => {
        expect(flavour.version.split('.')[0]).to.equal(flavour.major)
        const template = topology().template(flavour, 'shape')
        templates.push(template as { disconnect(): void })
        const cluster = topology().name === 'cluster'
        expect(isCluster(template)).to.equal(cluster)
        expect(isRedisClient(template)).to.equal(!cluster)
        expect(classifyRedisSource(template).kind).to.equal(cluster ? 'cluster' : 'redis')
      })

      it('shares values between two caches (computed once) and each sees the other invalidate a tag', async () => {
        const a = cacheOn('iov-a')
        const b = cacheOn('iov-b')
        let runs = 0
        const square = async (n: number): Promise<{ n: number; run: number }> => ({ n: n * n, run: ++runs })
        const options = { name: 'square', tags: ([n]: [number]) => [`n:${n}`] }
        const onA = memoize(square, { ...options, cache: a })
        const onB = memoize(square, { ...options, cache: b })
        expect(await onA(7)).to.deep.equal({ n: 49, run: 1 })
        expect(await onB(7)).to.deep.equal({ n: 49, run: 1 })
        expect(await onA(7)).to.deep.equal({ n: 49, run: 1 })
        expect(runs).to.equal(1)
        await a.invalidateTags(['n:7'])
        // b hears of it a moment later, on its own subscriber connection.
        await eventually(async () => (await onB.peek(7)) === undefined, 'b hearing of the invalidation')
        expect(await onB(7)).to.deep.equal({ n: 49, run: 2 })
        expect(await onA(7)).to.deep.equal({ n: 49, run: 2 })
        await b.invalidateTags(['n:7'])
        await eventually(async () => (await onA.peek(7)) === undefined, 'a hearing of the invalidation')
        expect(await onA(7)).to.deep.equal({ n: 49, run: 3 })
        expect(await onB(7)).to.deep.equal({ n: 49, run: 3 })
        expect(runs).to.equal(3)
      })

      it('talks to exactly the server(s) it was given: its keys and connections are there, none at 127.0.0.1:6379', async () => {
        const cache = cacheOn('iov-given')
        expect(await cache.getOrSet('here', () => 'value')).to.equal('value')
        const { nodes } = topology()
        const keys = (await keysOn(nodes, 'iov')).flat()
        expect(keys).to.include('iov:default:here')
        const names = await Promise.all(nodes.map(connectionNames))
        // A command connection and a subscriber on the single node; on a cluster, the
        // Cluster's connection to each master and a subscriber for each (tracking).
        for (const onNode of names) expect(onNode.filter((n) => n === 'iov-given').length).to.be.at.least(nodes.length === 1 ? 2 : 1)
        expect(await probe.connections()).to.equal(0)
      })
    })
  }
}

describe('the app’s ioredis (5 or 6) or iovalkey, recognised by shape', () => {
  describe('on a single node', () => {
    const redis = useRedis()
    specsFor(() => {
      const url = new URL(redis.url)
      return {
        name: 'single',
        template: (flavour, name) => flavour.single(url.hostname, Number(url.port), name),
        nodes: [redis.client],
      }
    })
  })

  describe('on a 3-master cluster', () => {
    const cluster = useCluster()
    specsFor(() => ({
      name: 'cluster',
      template: (flavour, name) => flavour.cluster(startupNodes(cluster.cluster), name),
      nodes: cluster.cluster.masters,
    }))
  })
})

describe('the redis option', () => {
  class NotAClient {
    host = '127.0.0.1'
  }
  const refused: [string, unknown, RegExp][] = [
    ['a plain object with a key ioredis does not know (a typo)', { hots: '10.0.0.1', port: 6380 }, /'hots', which ioredis does not know/],
    [
      'a client-like plain object (a typo’d or hand-made client)',
      { duplicate: () => undefined, status: 'ready', options: {} },
      /'duplicate', 'status', 'options', which ioredis does not know/,
    ],
    ['an instance of some other class', new NotAClient(), /got a NotAClient, which is neither an ioredis 5 or 6 or iovalkey client nor plain options/],
    ['a Map', new Map([['host', 'x']]), /got a Map/],
    ['an array', ['redis://127.0.0.1'], /got an array/],
    ['null', null, /got null/],
  ]
  for (const [what, redis, message] of refused) {
    it(`refuses ${what} with InvalidOptionError (ERR_INVALID_OPTION)`, () => {
      let caught: unknown
      try {
        createCache({ redis: redis as CacheOptions['redis'] })
      } catch (error) {
        caught = error
      }
      expect(caught).to.be.instanceOf(InvalidOptionError)
      expect((caught as InvalidOptionError).code).to.equal('ERR_INVALID_OPTION')
      expect((caught as Error).message).to.match(/^createCache: redis must be a URL string, ioredis options, a Redis or a Cluster/)
      expect((caught as Error).message).to.match(message)
    })
  }

  it('takes a plain object of ioredis connection options (host, port, db, username, password, tls, ...) as options', () => {
    const options = { host: '127.0.0.1', port: 6390, db: 2, username: 'u', password: 'p', tls: {}, keyPrefix: 'x', lazyConnect: true }
    expect(classifyRedisSource(options)).to.deep.equal({ kind: 'options', options })
    expect(classifyRedisSource(Object.assign(Object.create(null) as object, { port: 1 })).kind).to.equal('options')
    expect(classifyRedisSource('rediss://h:1').kind).to.equal('url')
    expect(classifyRedisSource('http://h:1')).to.deep.equal({ kind: 'invalid', reason: 'URL must start with redis:// or rediss://, got "http://h:1"' })
  })

  it('does not take a client for options when it is only shaped like one in part', () => {
    const half = { isCluster: true, duplicate: () => undefined, status: 'ready', options: {}, on: () => undefined, disconnect: () => undefined }
    expect(isCluster(half)).to.equal(false) // no nodes()
    expect(isRedisClient(half)).to.equal(false)
    expect(classifyRedisSource(half).kind).to.equal('invalid')
  })
})
