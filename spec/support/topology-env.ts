import type { Cluster, Redis } from 'ioredis'
import type { Cache, CacheOptions } from 'memoredis'

/**
 * The child-process side of `eachTopology` (see `topology.ts`): the `redis` option and a
 * raw client built from the environment that `t.env()` gave. Each client library is
 * imported only when the environment names it, so a child loads one of ioredis,
 * iovalkey and node-redis, not all three (node-redis alone costs about half a second of
 * CPU at start-up, and the fleet specs start hundreds of children).
 */

/** What `createCache({ redis })` takes. */
type RedisOption = NonNullable<CacheOptions['redis']>

/** Host and port of each `redis://` URL. */
const hostsOf = (urls: readonly string[]): { host: string; port: number }[] => urls.map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) }))

/** In a child process: the `redis` option for createCache from the env that `t.env()` gave. */
export async function redisFromEnv(): Promise<RedisOption> {
  const nodes = process.env.REDIS_NODES ?? ''
  const urls = nodes.split(',')
  const cluster = process.env.REDIS_TOPOLOGY === 'cluster'
  if (process.env.REDIS_CLIENT === 'node-redis') {
    const { createClient, createCluster } = await import('redis')
    if (cluster) return createCluster({ rootNodes: urls.map((url) => ({ url })) })
    return createClient({ url: nodes, RESP: process.env.REDIS_RESP === '2' ? 2 : 3 })
  }
  if (process.env.REDIS_CLIENT === 'iovalkey') {
    const { Cluster: ValkeyCluster, Redis: Valkey } = await import('iovalkey')
    return cluster ? new ValkeyCluster(hostsOf(urls), { lazyConnect: true }) : new Valkey(nodes, { lazyConnect: true })
  }
  if (!cluster) return nodes
  // A template: memoredis opens its own connections from it.
  const { Cluster: IoredisCluster } = await import('ioredis')
  return new IoredisCluster(hostsOf(urls), { lazyConnect: true })
}

/** In a child process: a raw client (Redis or Cluster) of the topology that `t.env()` gave, for the spec's own counters. */
export async function rawClientFromEnv(): Promise<Redis | Cluster> {
  const nodes = (process.env.REDIS_NODES ?? '').split(',')
  const { Cluster: IoredisCluster, Redis: Ioredis } = await import('ioredis')
  if (process.env.REDIS_TOPOLOGY !== 'cluster') return new Ioredis(nodes[0] ?? '', { maxRetriesPerRequest: 1 })
  return new IoredisCluster(hostsOf(nodes))
}

/**
 * In a child process: resolves once `cache` reports its Redis up, or after 10 s. Set-up,
 * not a spec's timing: a loaded machine can take longer than `connectWait` to connect a
 * child, and a child that serves before then computes without Redis.
 */
export async function untilRedisUp(cache: Cache): Promise<void> {
  for (let i = 0; i < 400 && (await cache.health()).l2 !== 'up'; i++) await new Promise((resolve) => setTimeout(resolve, 25))
}
