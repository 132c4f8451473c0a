import type { Cluster, Redis } from 'ioredis'
import { useRedis } from './redis.ts'

/**
 * Runs a block of specs once per Redis topology: a single node and (see
 * `redis-cluster.ts`) a local 3-master cluster. Inside, `t.redis()` is what to pass as
 * `createCache({ redis })`, `t.client` a raw client for the spec's own checks, and
 * `t.url` the single node's URL (or a cluster node's, for child processes that build
 * their own `createCache` from `REDIS_TOPOLOGY` + `REDIS_NODES`).
 *
 * @example
 * eachTopology((t) => {
 *   it('works', async () => { const cache = createCache({ redis: t.redis() }) ... })
 * })
 */
export interface TopologyHandle {
  readonly name: 'single' | 'cluster'
  /** A fresh `redis` option for createCache. */
  redis(): string | Cluster
  /** A raw client (Redis or Cluster) for raw reads and writes in the spec. */
  readonly client: Redis | Cluster
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
        env: () => ({ REDIS_TOPOLOGY: 'single', REDIS_NODES: redis.url }),
      })
    })
  },
}

/** Registers another topology (the cluster support does). */
export function addTopology(name: string, setup: TopologySetup): void {
  setups[name] = setup
}

export function eachTopology(fn: (t: TopologyHandle) => void): void {
  for (const setup of Object.values(setups)) setup(fn)
}

/** In a child process: the `redis` option for createCache from the env that `t.env()` gave. */
export async function redisFromEnv(): Promise<string | Cluster> {
  const nodes = process.env.REDIS_NODES ?? ''
  if (process.env.REDIS_TOPOLOGY !== 'cluster') return nodes
  const { Cluster } = await import('ioredis')
  return new Cluster(nodes.split(',').map((url) => { const u = new URL(url); return { host: u.hostname, port: Number(u.port) } }))
}
