import type { FactoryContext } from './engine/factory-context.ts'
import type { CacheEventName, CacheEvents } from './observe/events.ts'
import type { EntryOptions, InvalidationOptions } from './options/types.ts'
import type { BatchOptions, BatchResult, SetManyOptions } from './options/batch-types.ts'
import type { CacheResult } from './engine/result.ts'

/**
 * The public shapes of a cache and of a memoized function. They refer to each other
 * (`cache.memoize()` returns a `Memoized`, whose `cache` is a `Cache`), so they live
 * together here, apart from the code that implements them.
 */

export type { CacheResult } from './engine/result.ts'

/** Counters since the cache was created. */
export interface CacheStats {
  /** The in-process LRU. */
  l1: {
    /** Fresh values found in L1. */
    hits: number
    /** Reads that found no fresh value in L1. */
    misses: number
    /** Entries held now. */
    size: number
    /** Bytes held now: the sum of the entries' encoded sizes, as counted against `l1.maxSize`. */
    bytes: number
  }
  /** Redis. */
  l2: {
    /** Fresh values found in Redis. */
    hits: number
    /** Reads that found no fresh value in Redis. */
    misses: number
    /** `error` events about Redis (`tier: 'l2'`): failed, timed-out or unsent commands, and refused stored values. */
    errors: number
  }
  /** Times the function ran. */
  computations: number
  /** Stale values served (revalidating or as fallbacks). */
  stale: number
  /** Waits for another process's value (its lock was held). */
  lockWaits: number
  /** Waits for another process's value that ran out (`lock.wait`, or `lock.staleWait` with a stale value). */
  lockTimeouts: number
  /** Redis traffic and failures, as the L2 tier counts them (all zero without Redis). */
  redis: {
    /** Bytes of stored values received: hits, and the value a miss's read-or-lock returned. */
    bytesRead: number
    /** Bytes of values Redis stored: fills, writes without the lock, `set`. */
    bytesWritten: number
    /**
     * Failed and refused commands and connection errors, by code: the system or ioredis
     * code behind the failure when there is one (`ECONNREFUSED`, `ECONNRESET`), else the
     * `RedisError`'s (`ERR_REDIS_TIMEOUT`, `ERR_CIRCUIT_OPEN`, `ERR_REDIS`). A code appears once it happened.
     */
    errors: Record<string, number>
  }
  /** Stale values served, by the `reason` of their `stale` event; they add up to `stale`. */
  staleByReason: Record<CacheEvents['stale']['reason'], number>
  /**
   * The circuit breaker guarding Redis, now: `'closed'` (commands are sent; also without
   * Redis), `'open'` (none is sent for `circuit.resetAfter`), `'half-open'` (one probe decides).
   */
  circuit: 'closed' | 'open' | 'half-open'
  /** What keeps L1 true across processes (`coherence`). */
  coherence: {
    /** Whether L1 is kept coherent now, as in {@link CacheHealth.coherence}. */
    state: CacheHealth['coherence']
    /**
     * Change notices received: one per key reported changed, by client tracking or the
     * bus (a flush of the whole database counts one). With `'tracking'` a process hears
     * only of keys it has read (held in L1, or read while waiting for a lock), each of
     * its own writes of them once, and nothing of the rest of the fleet's keys. 0
     * without Redis.
     */
    notices: number
  }
}

/** What `cache.health()` reports: whether Redis answers, and whether L1 is kept coherent. */
export interface CacheHealth {
  /**
   * Redis: `'up'` (it answered the probe, a TIME, within `redisTimeout`), `'down'` (not
   * connected, no answer in time, or the probe refused), `'circuit-open'` (after
   * `circuit.failures` failed reads or writes in a row, no command is sent for
   * `circuit.resetAfter`), or `'none'` (no Redis configured, or the cache is closed).
   * Whatever it is, calls are answered: from L1 and the function while Redis is away.
   */
  l2: 'up' | 'down' | 'circuit-open' | 'none'
  /** The probe's round trip, ms; undefined when it got no answer (or there is no Redis). */
  roundTripMs: number | undefined
  /**
   * How L1 is kept true: `'tracking'` (client tracking), `'bus'` (the publish channel),
   * `'degraded'` (one of those is wanted, but a subscriber or a tracked connection is down
   * or reconnecting: changes made elsewhere may go unheard now, and values read from Redis
   * are not kept in L1 meanwhile), or `'none'` (L1 only, `coherence: 'off'`, or closed).
   */
  coherence: 'tracking' | 'bus' | 'degraded' | 'none'
  /** L1 now. */
  l1: {
    /** Entries held. */
    entries: number
    /** Bytes held (encoded sizes, as counted against `l1.maxSize`). */
    bytes: number
  }
  /** True once `close()` was called: then `l2` and `coherence` are `'none'` and L1 is empty. */
  closed: boolean
  /** What Redis may evict of memoredis's keys (see docs/eviction.md). */
  eviction: {
    /**
     * The server's `maxmemory-policy` (several, comma-separated, when a Cluster's masters
     * differ); `'unknown'` when `INFO memory` was refused (an ACL without it) or not
     * answered within `redisTimeout`; `'none'` without Redis.
     */
    policy: string
    /**
     * `'nothing'` (`noeviction`, or no `maxmemory`), `'values'` (a `volatile-*` policy:
     * values and locks, which have a ttl, never a tag stamp), `'everything'` (an
     * `allkeys-*` policy: stamps too, each loss costing recomputations, never a wrong
     * value), or `'unknown'`.
     */
    evicts: 'nothing' | 'values' | 'everything' | 'unknown'
  }
}

/**
 * A memoredis cache: L1 in this process, L2 in Redis when configured. Create one with
 * `createCache`; `namespace(name)` gives a view whose keys live apart.
 */
export interface Cache {
  /** A view of this cache whose keys, `clear()` and memoized names are its own. Closing any view closes the cache. */
  namespace(name: string): Cache
  /**
   * Returns the value under `key`, computing it with `factory` on a miss (once per key,
   * in this process and across processes). `key` is stored raw: `user:42` is
   * `${prefix}:${namespace}:user:42` in Redis. A bad key or option rejects with `InvalidOptionError`.
   * `factory` gets the computation's {@link FactoryContext} (the stale entry it replaces;
   * ttl, grace, tags and validator from the value; `skip`, `fail`, `notModified`; an
   * abort signal), which it may ignore. `S`, the stale value's type, is `T` when `T` is
   * given: give it (`getOrSet<Config>(...)`) when the factory reads `ctx.stale` or returns
   * `ctx.notModified()`, which TypeScript cannot infer `T` through.
   *
   * @example
   * const user = await cache.getOrSet(`user:${id}`, () => db.users.find(id), { ttl: '10m', tags: [`user:${id}`] })
   */
  getOrSet<T, S = T>(key: string, factory: (ctx: FactoryContext<S>) => T | Promise<T>, options?: EntryOptions<T>): Promise<T>
  /** {@link getOrSet}, also saying whether the value was a hit, a miss or stale, and when it was computed. */
  getOrSetEntry<T, S = T>(key: string, factory: (ctx: FactoryContext<S>) => T | Promise<T>, options?: EntryOptions<T>): Promise<CacheResult<T>>
  /** The fresh value under `key`, or undefined (never computes). */
  get<T>(key: string): Promise<T | undefined>
  /**
   * The fresh value of each key, in order (undefined for none); never computes. L1 first,
   * then one round trip for the rest (one `MGET`; on a Cluster one per hash slot, together).
   */
  getMany<T>(keys: readonly string[]): Promise<(T | undefined)[]>
  /**
   * {@link getOrSet} for many keys, in order: L1 first, one round trip for the rest, the
   * locks of the misses taken in one more, and `factory` called once with the keys this
   * process computes (those another process computes are awaited). Each key is computed
   * once across the fleet, with its own ttl, grace, tags and errors. `factory` returns the
   * values in the order of the keys it is given, or a Map; a key it leaves out resolves
   * to undefined (or rejects: `missing: 'error'`) and nothing is stored for it.
   *
   * @example
   * const products = await cache.getOrSetMany(ids.map((id) => `product:${id}`), (keys) => db.products.byKeys(keys), { ttl: '10m' })
   */
  getOrSetMany<T>(keys: readonly string[], factory: (missingKeys: string[]) => BatchResult<T> | Promise<BatchResult<T>>, options?: BatchOptions<string, T>): Promise<(T | undefined)[]>
  /** Stores each `[key, value]` in every tier, the writes sent together. */
  setMany<T>(entries: Iterable<readonly [string, T]>, options?: SetManyOptions<T>): Promise<void>
  /** {@link delete} for each key, the deletes sent together. */
  deleteMany(keys: readonly string[]): Promise<void>
  /** Stores `value` under `key` in every tier. */
  set<T>(key: string, value: T, options?: Pick<EntryOptions<T>, 'ttl' | 'grace' | 'tags'>): Promise<void>
  /**
   * Deletes `key` from every tier of every process, with its lock: a computation of it
   * already running, here or elsewhere, does not store its value. Rejects with `RedisError` if Redis could not be told.
   * With `{ soft: true }` the value stays as a stale fallback (see {@link InvalidationOptions.soft}).
   */
  delete(key: string, options?: InvalidationOptions): Promise<void>
  /**
   * Invalidates every entry carrying any of `tags`, in every process: O(1) per tag,
   * whatever the number of entries. Rejects with `RedisError` if Redis could not be told
   * (this process's L1 is invalidated all the same). With `{ soft: true }` the entries
   * stay as stale fallbacks (see {@link InvalidationOptions.soft}).
   */
  invalidateTags(tags: readonly string[], options?: InvalidationOptions): Promise<void>
  /** Drops every entry of this cache (the root: every namespace) in O(1); with `{ soft: true }` they stay as stale fallbacks. */
  clear(options?: InvalidationOptions): Promise<void>
  /**
   * Memoizes `fn` in this cache (same as `memoize(fn, { ...options, cache: this })`).
   * @example
   * const getUser = cache.memoize(fetchUser, { ttl: '10m' })
   */
  memoize<A extends unknown[], R>(fn: (...args: A) => R, options?: Omit<MemoizeOptions<A, Awaited<R>>, 'cache'>): Memoized<A, R>
  /** Counters since the cache was created, and the circuit's and coherence's state now (no I/O). */
  stats(): CacheStats
  /**
   * Checks the cache now: one probe of Redis (a TIME, outside the circuit breaker, which
   * it never opens or closes; a refusal is an `error` event), bounded by `redisTimeout`. Resolves within
   * `redisTimeout` (a little more on a loaded machine) and never rejects, also once the
   * cache is closed (`closed: true`). See `docs/observability.md` for a readiness probe.
   *
   * @example
   * const { l2, coherence } = await cache.health() // { l2: 'up', coherence: 'tracking', ... }
   */
  health(): Promise<CacheHealth>
  /** Listens to an event (see the events reference for each payload). */
  on<E extends CacheEventName>(event: E, listener: (payload: CacheEvents[E]) => void): this
  /** Stops listening. */
  off<E extends CacheEventName>(event: E, listener: (payload: CacheEvents[E]) => void): this
  /**
   * Closes the Redis connections and drops every listener; later calls reject with
   * `CacheClosedError`. A computation still running gives its caller its value, but keeps
   * it out of L1, and its lock is released first so that other processes do not wait for
   * it. The namespaces of a cache share it: closing any view closes them all.
   */
  close(): Promise<void>
}

/** Options of `memoize()` and `Memoize()`, on top of {@link EntryOptions}. */
export interface MemoizeOptions<A extends unknown[] = unknown[], T = unknown> extends Omit<EntryOptions<T>, 'tags'> {
  /**
   * The cache to use: one made by `createCache`.
   * @default defaultCache() // a shared L1-only cache
   */
  cache?: Cache
  /**
   * The function's name in keys; required when `fn.name` is empty.
   * @default fn.name
   */
  name?: string
  /**
   * Builds the key from the arguments (any keyable value).
   * @default undefined // the key is all the arguments
   */
  key?: (...args: A) => unknown
  /**
   * Tags: a list, or a function of the call's arguments, as one array, and the result
   * (an optional argument the caller left out is not in `args`).
   * @default undefined // no tags
   * @example
   * tags: ([id], user) => [`user:${id}`, `team:${user.team}`]
   */
  tags?: readonly string[] | ((args: A, result: T) => readonly string[])
  /**
   * Bump to drop every entry written by older code. A whole number.
   * @default 1
   */
  version?: number
}

/** A memoized function: `fn`'s signature (always async), plus ways to manage its entries. */
export type Memoized<A extends unknown[], R> = ((...args: A) => Promise<Awaited<R>>) & {
  /** Drops the entry for these arguments, in every process (a computation of it under way stores nothing). */
  invalidate(...args: A): Promise<void>
  /**
   * Drops every entry of this function (this name and version), in every process, in
   * O(1); with `{ soft: true }` they stay as stale fallbacks (see {@link InvalidationOptions.soft}).
   */
  clear(options?: InvalidationOptions): Promise<void>
  /** The fresh cached value for these arguments (L1, then L2), or undefined; never runs the function. */
  peek(...args: A): Promise<Awaited<R> | undefined>
  /** Runs the function now and stores the result, whatever is cached; concurrent callers share the run. */
  refresh(...args: A): Promise<Awaited<R>>
  /** The Redis key these arguments map to: `${prefix}:${namespace}!${name}:v${version}:${digest}`. */
  keyFor(...args: A): string
  /** The cache the entries live in. */
  readonly cache: Cache
}

/** Options of `memoizeBatch()`, on top of {@link BatchOptions} (tags and `missing` per id). */
export interface MemoizeBatchOptions<I, V> extends BatchOptions<I, V> {
  /**
   * The cache to use: one made by `createCache`.
   * @default defaultCache() // a shared L1-only cache
   */
  cache?: Cache
  /**
   * The function's name in keys; required when `fn.name` is empty.
   * @default fn.name
   */
  name?: string
  /**
   * Builds the key from an id (any keyable value); a Map result may be keyed by it too.
   * @default undefined // the key is the id
   */
  key?: (id: I) => unknown
  /**
   * Bump to drop every entry written by older code. A whole number.
   * @default 1
   */
  version?: number
  /**
   * The most ids in one call of the function; more go to several calls, together.
   * @default Infinity
   */
  maxBatchSize?: number
}

/** A function of one id whose calls in the same tick are batched (see `memoizeBatch`), plus ways to manage its entries. */
export type MemoizedBatch<I, V> = ((id: I) => Promise<V | undefined>) & {
  /** The value of each id, in order (one batch for the misses). */
  many(ids: readonly I[]): Promise<(V | undefined)[]>
  /** Drops the entry of `id`, in every process (a computation of it under way stores nothing). */
  invalidate(id: I): Promise<void>
  /** Drops every entry of this function (this name and version), in every process, in O(1). */
  clear(): Promise<void>
  /** The Redis key of `id`: `${prefix}:${namespace}!${name}:v${version}:${digest}`. */
  keyFor(id: I): string
  /** The cache the entries live in. */
  readonly cache: Cache
}
