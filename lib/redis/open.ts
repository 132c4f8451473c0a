import { classifyRedisSource, type RedisSource } from './client.ts'
import { library } from './library.ts'
import type { RedisTierOptions } from './breaker.ts'
import { Coherence } from './coherence.ts'
import type { CoherenceHandlers, CoherenceMode, RedisCoherence } from './coherence-types.ts'
import { NodeRedisCoherence } from './node-redis/coherence.ts'
import { NodeRedisStore } from './node-redis/store.ts'
import type { RedisStore } from './store.ts'
import { RedisTier } from './tier.ts'

/**
 * The one place that picks the client behind the engine: from the `redis` option's kind
 * (`classifyRedisSource`), memoredis's own command connection as a `RedisStore`, and the
 * coherence that goes with it as a `RedisCoherence`. Nothing above this module knows
 * which client is behind them.
 */

/** What the store and the coherence are opened with. */
export interface RedisOpening {
  tier: RedisTierOptions
  prefix: string
  mode: CoherenceMode
  handlers: CoherenceHandlers
}

/** Opens the store and the coherence for a `redis` option checked already (`checkRedisSource`). */
export function openRedis(source: unknown, opening: RedisOpening): { store: RedisStore; coherence: RedisCoherence } {
  const { tier, prefix, mode, handlers } = opening
  const kind = classifyRedisSource(urlTemplate(source))
  if (kind.kind === 'node-redis' || kind.kind === 'node-redis-cluster') {
    const store = new NodeRedisStore(kind.client, { ...tier, tracking: mode === 'tracking' })
    return { store, coherence: new NodeRedisCoherence({ template: kind.client, store, prefix, mode, handlers }) }
  }
  const store = new RedisTier(source as RedisSource, tier)
  return { store, coherence: new Coherence(source as RedisSource, store, prefix, mode, handlers) }
}

/** A URL when node-redis is the library it loads: a node-redis client of it (a template, never connected); else as given. */
function urlTemplate(source: unknown): unknown {
  if (typeof source !== 'string') return source
  const loaded = library()
  return loaded.name === 'redis' ? loaded.createClient({ url: source }) : source
}
