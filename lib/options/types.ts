import type { IoredisLikeClient, IoredisLikeOptions, NodeRedisClient, NodeRedisCluster } from './redis-source.ts'
import type { Codec } from '../codec/types.ts'
import type { Duration } from './duration-type.ts'
import type { LockOptions, TimeoutOptions } from './limits.ts'

export type { Duration } from './duration-type.ts'
export type { LockOptions, TimeoutOptions } from './limits.ts'

/**
 * The option types of a cache and of one read-through call, each with its unit and its
 * `@default`. Their validation, and the same options with every default applied, live
 * in `resolve.ts`.
 */


/**
 * What one read-through call may say about the value it caches. An option left out takes
 * the value the cache was given (`createCache`'s option of the same name), whose default
 * each `@default` here states.
 */
export interface EntryOptions<T = unknown> {
  /**
   * How long a value stays fresh. Milliseconds or a {@link Duration} string, or a
   * function of the value that returns one (called when the value is stored; a bad
   * duration fails the call with `InvalidOptionError` and stores nothing). The
   * function's context (`setTtl`) wins over it.
   * @default '1m' // or the cache's ttl
   * @example
   * ttl: (token) => token.expiresAt - Date.now() - 5_000 // until its own expiry
   */
  ttl?: Duration | ((value: T) => Duration)
  /**
   * How long past freshness a value is kept to fall back on (when the function throws or
   * times out, or Redis is down) and, with `staleWhileRevalidate`, to serve at once while
   * it is refreshed. Milliseconds or a {@link Duration} string, or a function of the
   * value that returns one (as for `ttl`); 0: no stale values.
   * @default 0 // or the cache's grace
   */
  grace?: Duration | ((value: T) => Duration)
  /**
   * Within grace, serve the stale value at once and refresh it in the background
   * (one refresh per key, at most `refreshConcurrency` at a time). When false, a stale
   * value is only a fallback.
   * @default false // or the cache's staleWhileRevalidate
   */
  staleWhileRevalidate?: boolean
  /**
   * Refresh in the background when a hit finds less than this fraction of the ttl left
   * (a threshold ratio, 0 to 1; 0.2 = refresh in the last 20% of freshness; 0: off).
   * @default 0 // or the cache's earlyRefresh
   */
  earlyRefresh?: number
  /**
   * Tags to invalidate the value by: a list, or a function of the value.
   * @default undefined // no tags
   */
  tags?: readonly string[] | ((value: T) => readonly string[])
  /**
   * Return false to hand the value to the caller(s) without storing it.
   * @default undefined // every value is stored
   */
  shouldCache?: (value: T) => boolean
  /**
   * Time limits for the function.
   * @default {} // no time limits, or the cache's timeout
   */
  timeout?: TimeoutOptions
  /**
   * The cross-process lock.
   * @default { ttl: '10s', wait: '5s', lease: '30s', staleWait: '250ms' } // or the cache's lock
   */
  lock?: LockOptions
  /**
   * Negative caching, opt-in: when the function throws (or passes its hard timeout) and
   * there is no stale value to fall back on, remember the error for this long and throw
   * the very same error object to every call of this key in this process, without
   * running the function again (a value another process stores in L2 still wins).
   * Forgotten by `delete`/`invalidate`, `clear()`, and invalidating a tag given as a list
   * (tags given as a function of the value are unknown for an error). Never stored in
   * Redis. Milliseconds or a {@link Duration} string; 0: errors are never cached.
   * @default 0 // or the cache's errorTtl
   */
  errorTtl?: Duration
}

/**
 * Options of an invalidation: `delete`, `invalidateTags` and `clear` of a cache or a
 * namespace, `clear` of a memoized function, and `InvalidateTags`.
 */
export interface InvalidationOptions {
  /**
   * Soft: the entries are stale at once, in every process (no caller gets them as fresh
   * again), but kept as the grace fallback: served when the recomputation throws or times
   * out, or Redis is unreachable, and with `staleWhileRevalidate` while one refresh runs.
   * An entry softly invalidated is a fallback for its grace counted from the invalidation
   * (never longer than it had); with `grace: 0` there is nothing to fall back on, and soft
   * is the same as hard. A soft stamp evicted from Redis still counts as soft (its
   * bucket's floor keeps it); with the floor evicted too, as hard.
   * @default false // a hard invalidation: the entries are gone
   */
  soft?: boolean
}

/** Options of `createCache`. */
export interface CacheOptions {
  /**
   * Where L2 lives: a URL (`redis://` or `rediss://`), ioredis options (a plain object
   * whose keys are all ioredis connection options: host, port, path, username, password,
   * db, tls, ...), or the app's own client: an ioredis 5 or 6 or iovalkey `Redis` or
   * `Cluster`, or a node-redis (`redis` 6) client made by `createClient` (RESP2 or RESP3)
   * or cluster made by `createCluster`, each recognised by its shape so that the app's own
   * copy of its library works (used as a template: memoredis opens its own connections
   * with the same settings, through that copy, and closes them on `close()`). A URL or
   * options load the first installed of ioredis, iovalkey and node-redis (options: of
   * ioredis or iovalkey; see docs/clients.md); with none installed, `createCache` throws
   * `NoRedisClientError`. Anything else is refused with `InvalidOptionError`. An empty or
   * blank string (`REDIS_URL=` in a `.env` file) is the same as omitting it.
   * @default undefined // an L1-only cache
   */
  redis?: string | IoredisLikeOptions | IoredisLikeClient | NodeRedisClient | NodeRedisCluster
  /**
   * Every Redis key and channel starts with `${prefix}:`. Letters, digits, `_ - .`; no `:`
   * (so that no prefix nests inside another's keys: `team.app`, not `team:app`).
   * @default 'memoredis'
   */
  prefix?: string
  /**
   * How long a value stays fresh. Milliseconds or a {@link Duration} string ('30s', '5m', '2h'),
   * or a function of the value that returns one (see {@link EntryOptions.ttl}).
   * @default '1m'
   */
  ttl?: Duration | ((value: unknown) => Duration)
  /**
   * How long past freshness a value is kept as a fallback (see {@link EntryOptions.grace}).
   * Milliseconds or a {@link Duration} string, or a function of the value that returns one.
   * @default 0
   */
  grace?: Duration | ((value: unknown) => Duration)
  /**
   * Serve stale within grace while refreshing in the background.
   * @default false
   */
  staleWhileRevalidate?: boolean
  /**
   * Early refresh threshold ratio, 0 to 1 (see {@link EntryOptions.earlyRefresh}); 0: off.
   * @default 0
   */
  earlyRefresh?: number
  /**
   * Spread expiries: each ttl is shortened by a random fraction up to this ratio (0 to 1).
   * @default 0
   */
  jitter?: number
  /**
   * The in-process LRU: at most `max` entries and `maxSize` bytes (of encoded values).
   * `false` turns L1 off.
   *
   * An L1 hit hands every caller the very object L1 holds (that is why it is fast): a
   * caller that mutates it changes what every later caller in this process gets.
   * `freeze: true` deep-freezes plain objects, arrays, Maps and Sets as a value enters
   * L1 (computed here or read from Redis), so that a mutation throws a TypeError instead
   * (assignments throw in strict-mode code, which ES modules and classes are; a frozen
   * Map or Set refuses `set`/`add`, `delete` and `clear` everywhere). The value is frozen
   * in place, not copied. Dates, class instances, Buffers and typed arrays, and whatever
   * they hold, are left as they are.
   * @default { max: 10_000, maxSize: 64 * 1024 * 1024, freeze: false }
   */
  l1?:
    | {
        /**
         * Most entries held. A whole number.
         * @default 10_000
         */
        max?: number
        /**
         * Most bytes of values held, each counted as its envelope before compression (what
         * the decoded value's size follows).
         * @default 64 * 1024 * 1024 // 64 MiB
         */
        maxSize?: number
        /**
         * Deep-freeze plain objects, arrays, Maps and Sets as they enter L1, so that a mutation throws.
         * @default false
         */
        freeze?: boolean
      }
    | false
  /**
   * Longest wait for one Redis command before it counts as failed. Milliseconds or a
   * {@link Duration} string.
   * @default '500ms'
   */
  redisTimeout?: Duration
  /**
   * How long calls on a new cache wait for the first Redis connection (and the
   * measurement of the server's clock) before going on without it. Milliseconds or a
   * {@link Duration} string; 0: never wait.
   * @default '1s'
   */
  connectWait?: Duration
  /**
   * The cross-process lock.
   * @default { ttl: '10s', wait: '5s', lease: '30s', staleWait: '250ms' }
   */
  lock?: LockOptions
  /**
   * Time limits for the function.
   * @default {} // no time limits
   */
  timeout?: TimeoutOptions
  /**
   * Negative caching, opt-in (see {@link EntryOptions.errorTtl}). Milliseconds or a
   * {@link Duration} string; 0: errors are never cached.
   * @default 0
   */
  errorTtl?: Duration
  /**
   * How many background refreshes may run at once. A whole number.
   * @default 4
   */
  refreshConcurrency?: number
  /**
   * The Redis circuit breaker: after `failures` failed commands in a row, no command is
   * sent for `resetAfter`; then one probe decides whether it closes.
   * @default { failures: 5, resetAfter: '2s' }
   */
  circuit?: {
    /**
     * Failed Redis commands in a row that open the circuit. A whole number.
     * @default 5
     */
    failures?: number
    /**
     * How long an open circuit sends nothing before one call probes. Milliseconds or a
     * {@link Duration} string.
     * @default '2s'
     */
    resetAfter?: Duration
  }
  /**
   * How every process's L1 stays true: `'tracking'` (Redis client-side caching in its
   * default mode: each process is told only of changes to keys it has read, by any
   * client; one subscriber per node), `'bus'` (memoredis publishes its own writes),
   * `'off'` (L1 copies live out their ttl). Every process sharing a prefix should use the
   * same mode. `'tracking'` works on a single node and on a Cluster; a server (or an ACL
   * user) that refuses CLIENT TRACKING or the `__redis__:invalidate` channel falls back
   * to `'bus'` with a `warning` event.
   * @default 'tracking'
   */
  coherence?: 'tracking' | 'bus' | 'off'
  /**
   * How values become bytes.
   * @default superjsonCodec // rich types, registered classes
   */
  codec?: Codec
  /**
   * HMAC-SHA256 key(s) of at least 16 bytes: values are signed with the first and
   * verified with any; a value without a valid signature is never decoded. `false` (or
   * leaving the option out) runs unsigned. Given but `undefined` or empty, as when the
   * variable that should hold it is unset, it is refused with `InvalidOptionError`
   * rather than silently running unsigned.
   * @default false // values are unsigned
   */
  signingKey?: string | Buffer | readonly (string | Buffer)[] | false
  /**
   * Largest value stored or read, in bytes of the encoded envelope.
   * @default 8 * 1024 * 1024 // 8 MiB
   */
  maxValueSize?: number
  /**
   * Compress payloads of at least this many bytes (zlib); false never compresses.
   * @default false
   */
  compressThreshold?: number | false
  /**
   * Largest size a compressed value may expand to, in bytes.
   * @default 4 * maxValueSize
   */
  maxDecompressedSize?: number
  /**
   * Refuse to store values holding instances of unregistered classes (instead of warning once).
   * @default false
   */
  strictClasses?: boolean
  /**
   * Durability of invalidations across a failover. With `replicas` > 0, `invalidateTags`,
   * `delete` and every `clear()` resolve only once that many replicas of each master
   * involved have the change (Redis `WAIT`, on the master that owns the stamp's or key's
   * slot), and reject with `ReplicationError` (`ERR_NOT_REPLICATED`) when they do not
   * confirm within `timeout`: an invalidation only the master had is lost if it dies
   * before replicating it.
   * @default { replicas: 0, timeout: '500ms' } // no wait
   */
  invalidation?: {
    /**
     * Replicas that must confirm each invalidation. A whole number.
     * @default 0 // none: no WAIT
     */
    replicas?: number
    /**
     * The longest wait for them, per invalidation. Milliseconds or a {@link Duration}.
     * @default '500ms'
     */
    timeout?: Duration
  }
}
