import type { Cluster, Redis } from 'ioredis'
import { Cluster as ValkeyCluster, Redis as Valkey } from 'iovalkey'
import { createClient, createCluster } from 'redis'
import type { CacheOptions } from 'memoredis'
import { useCluster, type SuiteCluster } from './redis-cluster.ts'
import { useRedis } from './redis.ts'

/**
 * Runs a block of specs once per Redis topology and client: a single node and a local
 * 3-master cluster (see `redis-cluster.ts`), each through ioredis, node-redis (RESP3;
 * RESP2 too on a single node with `{ resp2: true }`) and iovalkey. `SPEC_CLIENTS=ioredis` (or `iovalkey`, `node-redis`, or several,
 * comma-separated) runs those clients only. Inside, `t.redis()` is what to pass as
 * `createCache({ redis })`, `t.client` a raw client for the spec's own checks, and
 * `t.env()` the environment for a child process that builds the same option with
 * {@link redisFromEnv} (`topology-env.ts`).
 *
 * @example
 * eachTopology((t) => {
 *   it('works', async () => { const cache = createCache({ redis: t.redis() }) ... })
 * })
 */
export interface TopologyHandle {
  readonly name: 'single' | 'cluster'
  /** The client library memoredis is handed (`redis()`); the raw `client` is ioredis whatever it is. */
  readonly library: 'ioredis' | 'iovalkey' | 'node-redis'
  /** node-redis on a single node: the RESP version its template speaks. */
  readonly resp?: 2 | 3
  /** A fresh `redis` option for createCache (a URL, a lazy Cluster, or a node-redis template never connected). */
  redis(): RedisOption
  /** A raw client (Redis or Cluster) for raw reads and writes in the spec. */
  readonly client: Redis | Cluster
  /** One plain connection per master (the single node, or each cluster master): INFO, CLIENT KILL, FLUSHALL. */
  readonly nodes: readonly Redis[]
  /** Environment for a child process to build the same `redis` option (see `redisFromEnv`). */
  env(): Record<string, string>
}

/** What `createCache({ redis })` takes. */
type RedisOption = NonNullable<CacheOptions['redis']>

type TopologySetup = (fn: (t: TopologyHandle) => void) => void

const setups: Record<string, TopologySetup> = {
  single(fn) {
    describe('on a single node', () => {
      const redis = useRedis()
      fn({
        name: 'single',
        library: 'ioredis',
        redis: () => redis.url,
        get client() {
          return redis.client
        },
        get nodes() {
          return [redis.client]
        },
        env: () => ({ REDIS_TOPOLOGY: 'single', REDIS_NODES: redis.url }),
      })
    })
  },
}

/** Registers another topology. */
export function addTopology(name: string, setup: TopologySetup): void {
  setups[name] = setup
}

addTopology('cluster', (fn) => {
  describe('on a 3-master cluster', () => {
    const cluster = useCluster()
    fn({
      name: 'cluster',
      library: 'ioredis',
      redis: () => cluster.template(),
      get client() {
        return cluster.client
      },
      get nodes() {
        return cluster.cluster.masters
      },
      env: () => ({ REDIS_TOPOLOGY: 'cluster', REDIS_NODES: cluster.nodes }),
    })
  })
})

/** The handle of a node-redis cluster topology. */
function nodeRedisCluster(cluster: SuiteCluster): TopologyHandle {
  return {
    name: 'cluster',
    library: 'node-redis',
    redis: () => createCluster({ rootNodes: cluster.cluster.urls.map((url) => ({ url })) }),
    get client() {
      return cluster.client
    },
    get nodes() {
      return cluster.cluster.masters
    },
    env: () => ({ REDIS_TOPOLOGY: 'cluster', REDIS_NODES: cluster.nodes, REDIS_CLIENT: 'node-redis' }),
  }
}

/** A single node through node-redis, speaking `resp`. */
function nodeRedisSingle(resp: 2 | 3): TopologySetup {
  return (fn) => {
    describe(`on a single node (node-redis, RESP${resp})`, () => {
      const redis = useRedis()
      fn({
        name: 'single',
        library: 'node-redis',
        resp,
        redis: () => createClient({ url: redis.url, RESP: resp }),
        get client() {
          return redis.client
        },
        get nodes() {
          return [redis.client]
        },
        env: () => ({ REDIS_TOPOLOGY: 'single', REDIS_NODES: redis.url, REDIS_CLIENT: 'node-redis', REDIS_RESP: String(resp) }),
      })
    })
  }
}

/** A single node and a cluster through iovalkey: the app's own lazy clients, as templates. */
function iovalkey(cluster: boolean): TopologySetup {
  return (fn) => {
    describe(`on ${cluster ? 'a 3-master cluster' : 'a single node'} (iovalkey)`, () => {
      const redis = cluster ? undefined : useRedis()
      const nodes = cluster ? useCluster() : undefined
      const startup = (): { host: string; port: number }[] => (nodes as SuiteCluster).cluster.urls.map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) }))
      fn({
        name: cluster ? 'cluster' : 'single',
        library: 'iovalkey',
        redis: () => (cluster ? new ValkeyCluster(startup(), { lazyConnect: true }) : new Valkey((redis as { url: string }).url, { lazyConnect: true })),
        get client() {
          return redis?.client ?? (nodes as SuiteCluster).client
        },
        get nodes() {
          return redis === undefined ? (nodes as SuiteCluster).cluster.masters : [redis.client]
        },
        env: () => ({ REDIS_TOPOLOGY: cluster ? 'cluster' : 'single', REDIS_NODES: redis?.url ?? (nodes as SuiteCluster).nodes, REDIS_CLIENT: 'iovalkey' }),
      })
    })
  }
}

addTopology('single (node-redis)', nodeRedisSingle(3))
addTopology('cluster (node-redis)', (fn) => {
  describe('on a 3-master cluster (node-redis)', () => fn(nodeRedisCluster(useCluster())))
})
addTopology('single (iovalkey)', iovalkey(false))
addTopology('cluster (iovalkey)', iovalkey(true))

/** The client a setup runs on, by its name. */
const libraryOf = (name: string): string => /\((node-redis|iovalkey)\)/.exec(name)?.[1] ?? 'ioredis'

/**
 * Runs `fn` on every topology and client (see {@link TopologyHandle}): a single node and a
 * cluster through each of ioredis, node-redis and iovalkey. `resp2` adds a single node
 * through node-redis on RESP2.
 */
export function eachTopology(fn: (t: TopologyHandle) => void, options: { resp2?: boolean } = {}): void {
  for (const [name, setup] of Object.entries(setups)) if (wanted(libraryOf(name))) setup(fn)
  if (options.resp2 === true && wanted('node-redis')) nodeRedisSingle(2)(fn)
}

/** True when `SPEC_CLIENTS` (unset: every client) asks for `library`. */
function wanted(library: string): boolean {
  const only = process.env.SPEC_CLIENTS
  return only === undefined || only === '' || only.split(',').includes(library)
}

/** A server a spec runs itself (to kill, pause or secure it): where it is, and how to log in. */
export interface ServerAddress {
  host: string
  port: number
  /** TLS: the CA, and the client's certificate and key. */
  tls?: { ca: string | Buffer; cert: string | Buffer; key: string | Buffer }
  username?: string
  password?: string
}

/**
 * A client library memoredis may be handed, for a spec that runs its own server instead of
 * {@link eachTopology}'s shared ones: the same clients, as {@link specClients} lists them.
 */
export interface SpecClient {
  /** For a test's title: `ioredis`, `node-redis RESP3`, `node-redis RESP2`, `iovalkey`. */
  readonly name: string
  readonly library: TopologyHandle['library']
  readonly resp?: 2 | 3
  /** The `redis` option for createCache on `server` (a URL stands for its host and port). */
  redis(server: ServerAddress | string): RedisOption
  /** Environment for a child process to build the same option on `url` (see {@link redisFromEnv}). */
  env(url: string): Record<string, string>
}

const addressOf = (server: ServerAddress | string): ServerAddress => {
  if (typeof server !== 'string') return server
  const url = new URL(server)
  return { host: url.hostname, port: Number(url.port) }
}

/** ioredis (and iovalkey) options for a server. */
const ioOptions = ({ host, port, tls, username, password }: ServerAddress): Record<string, unknown> => ({ host, port, ...(tls === undefined ? {} : { tls }), ...(username === undefined ? {} : { username, password }) })

/** A node-redis client for a server, never connected. */
function nodeRedisClient(server: ServerAddress, RESP: 2 | 3): RedisOption {
  const login = server.username === undefined ? '' : `${encodeURIComponent(server.username)}:${encodeURIComponent(server.password ?? '')}@`
  const url = `redis${server.tls === undefined ? '' : 's'}://${login}${server.host}:${server.port}`
  return createClient({ url, RESP, ...(server.tls === undefined ? {} : { socket: { tls: true, ...server.tls } }) })
}

/**
 * The clients (see {@link SpecClient}) that `SPEC_CLIENTS` asks for: ioredis and node-redis
 * on RESP3; node-redis on RESP2 with `{ resp2: true }` (for what differs by protocol:
 * tracking, redirected or pushed), iovalkey with `{ iovalkey: true }`.
 *
 * @example
 * for (const client of specClients({ iovalkey: true })) {
 *   it(`works on ${client.name}`, async () => { const cache = createCache({ redis: client.redis(server.url) }) ... })
 * }
 */
export function specClients(options: { resp2?: boolean; iovalkey?: boolean } = {}): SpecClient[] {
  const url = (resp?: 2 | 3) => (u: string) => ({ REDIS_TOPOLOGY: 'single', REDIS_NODES: u, ...(resp === undefined ? {} : { REDIS_CLIENT: 'node-redis', REDIS_RESP: String(resp) }) })
  const clients: SpecClient[] = [
    { name: 'ioredis', library: 'ioredis', redis: (s) => ioOptions(addressOf(s)), env: url() },
    { name: 'node-redis RESP3', library: 'node-redis', resp: 3, redis: (s) => nodeRedisClient(addressOf(s), 3), env: url(3) },
  ]
  if (options.resp2 === true) clients.push({ name: 'node-redis RESP2', library: 'node-redis', resp: 2, redis: (s) => nodeRedisClient(addressOf(s), 2), env: url(2) })
  if (options.iovalkey === true) {
    const env = (u: string): Record<string, string> => ({ ...url()(u), REDIS_CLIENT: 'iovalkey' })
    clients.push({ name: 'iovalkey', library: 'iovalkey', redis: (s) => new Valkey({ ...ioOptions(addressOf(s)), lazyConnect: true }), env })
  }
  return clients.filter((client) => wanted(client.library))
}

// The child-process side lives in its own module, so that a child loads only the client it uses.
export { rawClientFromEnv, redisFromEnv } from './topology-env.ts'
