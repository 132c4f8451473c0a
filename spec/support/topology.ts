import type { Cluster, Redis } from 'ioredis'
import { useCluster } from './redis-cluster.ts'
import { useRedis } from './redis.ts'

/**
 * Runs a block of specs once per Redis topology: a single node and a local 3-master
 * cluster (see `redis-cluster.ts`). Inside, `t.redis()` is what to pass as
 * `createCache({ redis })`, `t.client` a raw client for the spec's own checks, and
 * `t.env()` the environment for a child process that builds the same option with
 * {@link redisFromEnv}.
 *
 * @example
 * eachTopology((t) => {
 *   it('works', async () => { const cache = createCache({ redis: t.redis() }) ... })
 * })
 */
export interface TopologyHandle {
  readonly name: 'single' | 'cluster'
  /** A fresh `redis` option for createCache (a URL, or a lazy Cluster used as a template). */
  redis(): string | Cluster
  /** A raw client (Redis or Cluster) for raw reads and writes in the spec. */
  readonly client: Redis | Cluster
  /** One plain connection per master (the single node, or each cluster master): INFO, CLIENT KILL, FLUSHALL. */
  readonly nodes: readonly Redis[]
  /** Environment for a child process to build the same `redis` option (see `redisFromEnv`). */
  env(): Record<string, string>
}

type TopologySetup = (fn: (t: TopologyHandle) => void) => void

const setups: Record<string, TopologySetup> = {
  single(fn) {
    describe('on a single node', () => {
      const redis = useRedis()
      fn({
        name: 'single',
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

export function eachTopology(fn: (t: TopologyHandle) => void): void {
  for (const setup of Object.values(setups)) setup(fn)
}

/** In a child process: the `redis` option for createCache from the env that `t.env()` gave. */
export async function redisFromEnv(): Promise<string | Cluster> {
  const nodes = process.env.REDIS_NODES ?? ''
  if (process.env.REDIS_TOPOLOGY !== 'cluster') return nodes
  const { Cluster } = await import('ioredis')
  const startup = nodes.split(',').map((url) => {
    const u = new URL(url)
    return { host: u.hostname, port: Number(u.port) }
  })
  // A template: memoredis opens its own connections from it.
  return new Cluster(startup, { lazyConnect: true })
}

/** In a child process: a raw client (Redis or Cluster) of the topology that `t.env()` gave, for the spec's own counters. */
export async function rawClientFromEnv(): Promise<Redis | Cluster> {
  const nodes = (process.env.REDIS_NODES ?? '').split(',')
  const { Cluster, Redis } = await import('ioredis')
  if (process.env.REDIS_TOPOLOGY !== 'cluster') return new Redis(nodes[0] ?? '', { maxRetriesPerRequest: 1 })
  return new Cluster(nodes.map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) })))
}
