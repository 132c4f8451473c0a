import type { Cache } from '../../lib/cache-types.ts'
import type { Core } from '../../lib/engine/core.ts'
import { namespaceOf } from '../../lib/engine/namespace.ts'
import type { Client } from '../../lib/redis/client.ts'
import { RedisTier } from '../../lib/redis/tier.ts'
import { NodeRedisStore } from '../../lib/redis/node-redis/store.ts'

/** The shared internals behind a cache (its tiers, coherence, counters), for specs that watch or break them. */
export function coreOf(cache: Cache): Core {
  const ns = namespaceOf(cache)
  if (ns === undefined) throw new Error('not a cache made by createCache')
  return ns.core
}

/** The cache's own ioredis command connection (a spec of ioredis's internals); throws on another client. */
export function ioredisOf(cache: Cache): Client {
  const l2 = coreOf(cache).l2
  if (!(l2 instanceof RedisTier)) throw new Error('the cache has no ioredis connection')
  return l2.client
}

/** The cache's own command connection, as an event emitter: ioredis's or node-redis's. */
function emitterOf(cache: Cache): { emitter: NodeJS.EventEmitter; kind: 'ioredis' | 'node-redis' } {
  const l2 = coreOf(cache).l2
  if (l2 instanceof RedisTier) return { emitter: l2.client as unknown as NodeJS.EventEmitter, kind: 'ioredis' }
  if (l2 instanceof NodeRedisStore) return { emitter: l2.client as unknown as NodeJS.EventEmitter, kind: 'node-redis' }
  throw new Error('the cache has no Redis')
}

/** True while the cache's command connection is up (whichever client). */
export function isConnected(cache: Cache): boolean {
  const l2 = coreOf(cache).l2
  if (l2 instanceof RedisTier) return l2.client.status === 'ready'
  return l2 instanceof NodeRedisStore && l2.client.isReady
}

/**
 * Resolves on the cache's next Redis `ready` (a node-redis cluster: a node's). Not
 * `events.once`: that rejects on the `error` events a reconnecting client emits
 * meanwhile (ECONNREFUSED), which are expected here.
 */
export function nextReady(cache: Cache): Promise<void> {
  const { emitter } = emitterOf(cache)
  const l2 = coreOf(cache).l2
  const event = l2 instanceof NodeRedisStore && l2.cluster !== undefined ? 'node-ready' : 'ready'
  return new Promise((resolve) => emitter.once(event, () => resolve()))
}

/** Resolves when the cache's command connection drops (whichever client). */
export function nextDrop(cache: Cache): Promise<void> {
  const { emitter, kind } = emitterOf(cache)
  const event = kind === 'ioredis' ? 'close' : 'reconnecting'
  return new Promise((resolve) => emitter.once(event, () => resolve()))
}

/**
 * The cache's command connections, one per master (a single node: one), by the port of
 * the node each is on and its CLIENT ID there: to find, and kill, the connections its
 * tracking notices go to.
 */
export async function commandConnections(cache: Cache): Promise<{ port: number; id: string }[]> {
  const l2 = coreOf(cache).l2
  if (l2 instanceof NodeRedisStore) {
    return Promise.all(
      (await l2.masters()).map(async (client) => ({
        port: Number((client.options?.socket as { port?: number } | undefined)?.port ?? 6379),
        id: String(await client.sendCommand(['CLIENT', 'ID'])),
      })),
    )
  }
  const client = ioredisOf(cache)
  if ('nodes' in client) throw new Error('commandConnections: an ioredis Cluster has one per node; use its nodes')
  return [{ port: client.options.port ?? 6379, id: String(await client.call('CLIENT', 'ID')) }]
}
