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
  const only = process.env.SPEC_CLIENTS
  const wanted = (library: string): boolean => only === undefined || only === '' || only.split(',').includes(library)
  for (const [name, setup] of Object.entries(setups)) if (wanted(libraryOf(name))) setup(fn)
  if (options.resp2 === true && wanted('node-redis')) nodeRedisSingle(2)(fn)
}

// The child-process side lives in its own module, so that a child loads only the client it uses.
export { rawClientFromEnv, redisFromEnv } from './topology-env.ts'
