/**
 * node-redis (the `redis` package 6, `@redis/client`) clients recognised by their
 * shape, as ioredis's are: the app's client may come from another copy of the package,
 * and memoredis never imports node-redis to look (`import 'memoredis'` loads no client).
 * A client (`createClient`) has `duplicate`, `connect`, `sendCommand` and the booleans
 * `isOpen` and `isReady`, and no `isCluster` (ioredis and iovalkey set it on every client);
 * a cluster (`createCluster`) has the same, and `masters`, `nodeClient` and `getSlotMaster`.
 */

import type { NodeRedisClient, NodeRedisCluster } from '../../options/redis-source.ts'

export type { NodeRedisClient, NodeRedisCluster } from '../../options/redis-source.ts'

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null

/** True for what every node-redis client and cluster has, and no ioredis client has. */
function nodeRedisShaped(x: Record<string, unknown>): boolean {
  return (
    !('isCluster' in x) &&
    typeof x.duplicate === 'function' &&
    typeof x.connect === 'function' &&
    typeof x.sendCommand === 'function' &&
    typeof x.isOpen === 'boolean' &&
    typeof x.isReady === 'boolean' &&
    typeof x.on === 'function'
  )
}

/** True when `x` is a node-redis cluster (`createCluster`), from any copy of the package. */
export function isNodeRedisCluster(x: unknown): x is NodeRedisCluster {
  return isObject(x) && nodeRedisShaped(x) && Array.isArray(x.masters) && typeof x.nodeClient === 'function' && typeof x.getSlotMaster === 'function'
}

/** True when `x` is a node-redis client (`createClient`), from any copy of the package. */
export function isNodeRedisClient(x: unknown): x is NodeRedisClient {
  return isObject(x) && nodeRedisShaped(x) && !('masters' in x) && isObject(x.options)
}
