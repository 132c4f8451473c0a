import type { Cache } from '../../lib/cache-types.ts'
import type { Core } from '../../lib/engine/core.ts'
import { namespaceOf } from '../../lib/engine/namespace.ts'

/** The shared internals behind a cache (its tiers, coherence, counters), for specs that watch or break them. */
export function coreOf(cache: Cache): Core {
  const ns = namespaceOf(cache)
  if (ns === undefined) throw new Error('not a cache made by createCache')
  return ns.core
}

/**
 * Resolves on the cache's next Redis `ready`. Not `events.once`: that rejects on the
 * `error` events a reconnecting client emits meanwhile (ECONNREFUSED), which are expected here.
 */
export function nextReady(cache: Cache): Promise<void> {
  const client = coreOf(cache).l2?.client
  if (client === undefined) throw new Error('the cache has no Redis')
  return new Promise((resolve) => client.once('ready', () => resolve()))
}
