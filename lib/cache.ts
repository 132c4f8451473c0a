import type { FactoryContext } from './engine/factory-context.ts'
import type { Cache, CacheHealth, CacheStats, Memoized, MemoizeOptions } from './cache-types.ts'
import { Core } from './engine/core.ts'
import { setDefaultCacheFactory } from './memoize/default-cache.ts'
import { InvalidOptionError } from './errors.ts'
import { circuitOf, coherenceOf, healthOf } from './observe/health.ts'
import type { CacheEventName, CacheEvents } from './observe/events.ts'
import { memoize } from './memoize/memoize.ts'
import { bind, Namespace } from './engine/namespace.ts'
import { refuseUnknownOptions } from './options/known.ts'
import { describeValue } from './options/checks.ts'
import { isSoft, resolveCacheOptions, SET_OPTIONS, type ResolvedEntryOptions } from './options/resolve.ts'
import type { CacheOptions, EntryOptions, InvalidationOptions } from './options/types.ts'
import type { BatchOptions, BatchResult, SetManyOptions } from './options/batch-types.ts'
import { deleteMany, getMany, getOrSetMany, setMany } from './engine/batch.ts'
import { valueOf, type CacheResult } from './engine/result.ts'
import { tagId } from './engine/tags.ts'

/** The factory of `getOrSet` and `getOrSetEntry` (`where`): a function. */
function checkFactory(factory: unknown, where: string): void {
  if (typeof factory !== 'function') throw new InvalidOptionError(`${where} expects a function to compute the value, got ${describeValue(factory)}`)
}

/**
 * A factory as the engine holds it. `S` (the stale value's type) is only a typing aid, `T`
 * when the caller gives `T`: the context a factory gets holds values of the key's type.
 */
function asFactory<T, S>(factory: (ctx: FactoryContext<S>) => T | Promise<T>): (ctx: FactoryContext<T>) => T | Promise<T> {
  return factory as unknown as (ctx: FactoryContext<T>) => T | Promise<T>
}

/** The `redis` and `staleByReason` parts of `stats()`: copies, so that a caller's snapshot stays put. */
function trafficOf(core: Core): Pick<CacheStats, 'redis' | 'staleByReason'> {
  const counts = core.l2?.counts
  return {
    redis: { bytesRead: counts?.bytesRead ?? 0, bytesWritten: counts?.bytesWritten ?? 0, errors: { ...counts?.errors } },
    staleByReason: { ...core.stats.staleByReason },
  }
}

export type { Cache, CacheHealth, CacheResult, CacheStats } from './cache-types.ts'

/**
 * The public face of a cache: argument checks and the public API, each a line or two
 * over its namespace (`namespace.ts`), whose read path is `read-through.ts`.
 */
class CacheFacade implements Cache {
  readonly #ns: Namespace

  constructor(ns: Namespace) {
    this.#ns = ns
    bind(this, ns)
  }

  namespace(name: string, ...rest: unknown[]): Cache {
    // It takes a name only: options meant for it (a ttl, say) would be dropped without a word.
    if (rest.length > 0) throw new InvalidOptionError(`namespace takes only a name, got ${rest.length + 1} arguments; options go to getOrSet, memoize or createCache`)
    return new CacheFacade(new Namespace(this.#ns.core, name, false))
  }

  getOrSet<T, S = T>(key: string, factory: (ctx: FactoryContext<S>) => T | Promise<T>, options?: EntryOptions<T>): Promise<T> {
    const ns = this.#ns
    let full: string
    let resolved: ResolvedEntryOptions<T>
    try {
      full = ns.keyOf(key)
      resolved = ns.resolveOptions(options, 'getOrSet')
      checkFactory(factory, 'getOrSet')
    } catch (error) {
      return Promise.reject(error)
    }
    // The hot path, as for a memoized function: one L1 lookup, no allocation, no await.
    const hit = ns.engine.hot(full, resolved, ns.origin)
    if (hit !== undefined) return Promise.resolve(hit.value as T)
    return ns.engine.read(ns.call(full, asFactory(factory), resolved)).then(valueOf)
  }

  async getOrSetEntry<T, S = T>(key: string, factory: (ctx: FactoryContext<S>) => T | Promise<T>, options?: EntryOptions<T>): Promise<CacheResult<T>> {
    const ns = this.#ns
    const resolved = ns.resolveOptions(options, 'getOrSetEntry')
    checkFactory(factory, 'getOrSetEntry')
    return ns.getOrSet(key, asFactory(factory), resolved)
  }

  async get<T>(key: string): Promise<T | undefined> {
    return (await this.#ns.engine.peek<T>(this.#ns.keyOf(key)))?.value
  }

  async getMany<T>(keys: readonly string[]): Promise<(T | undefined)[]> {
    return getMany<T>(this.#ns, keys)
  }

  async getOrSetMany<T>(keys: readonly string[], factory: (missingKeys: string[]) => BatchResult<T> | Promise<BatchResult<T>>, options?: BatchOptions<string, T>): Promise<(T | undefined)[]> {
    return getOrSetMany(this.#ns, keys, factory, options)
  }

  async setMany<T>(entries: Iterable<readonly [string, T]>, options?: SetManyOptions<T>): Promise<void> {
    return setMany(this.#ns, entries, options)
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    return deleteMany(this.#ns, keys)
  }

  async set<T>(key: string, value: T, options?: Pick<EntryOptions<T>, 'ttl' | 'grace' | 'tags'>): Promise<void> {
    if (options !== undefined && options !== null && typeof options === 'object') refuseUnknownOptions(options, SET_OPTIONS, 'set')
    const ns = this.#ns
    await ns.engine.write(ns.call(ns.keyOf(key), () => value, ns.resolveOptions(options, 'set')))
  }

  async delete(key: string, options?: InvalidationOptions): Promise<void> {
    return this.#ns.engine.delete(this.#ns.keyOf(key), isSoft(options, 'delete'))
  }

  async invalidateTags(tags: readonly string[], options?: InvalidationOptions): Promise<void> {
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) {
      throw new InvalidOptionError(`invalidateTags expects an array of strings, got ${JSON.stringify(tags)}`)
    }
    return this.#ns.core.invalidate(tags.map(tagId), [...tags], isSoft(options, 'invalidateTags'))
  }

  async clear(options?: InvalidationOptions): Promise<void> {
    return this.#ns.clearScope(this.#ns.clearId, isSoft(options, 'clear'))
  }

  memoize<A extends unknown[], R>(fn: (...args: A) => R, options: Omit<MemoizeOptions<A, Awaited<R>>, 'cache'> = {}): Memoized<A, R> {
    return memoize(fn, { ...options, cache: this })
  }

  stats(): CacheStats {
    const core = this.#ns.core
    const s = core.stats
    return {
      l1: { hits: s.l1Hits, misses: s.l1Misses, size: core.l1?.size ?? 0, bytes: core.l1?.bytes ?? 0 },
      l2: { hits: s.l2Hits, misses: s.l2Misses, errors: s.l2Errors },
      computations: s.computations,
      stale: s.stale,
      lockWaits: s.lockWaits,
      lockTimeouts: s.lockTimeouts,
      circuit: circuitOf(core),
      coherence: { state: coherenceOf(core), notices: core.coherence?.notices ?? 0 },
      ...trafficOf(core),
    }
  }

  health(): Promise<CacheHealth> {
    return healthOf(this.#ns.core)
  }

  on<E extends CacheEventName>(event: E, listener: (payload: CacheEvents[E]) => void): this {
    this.#ns.core.events.on(event, listener)
    return this
  }

  off<E extends CacheEventName>(event: E, listener: (payload: CacheEvents[E]) => void): this {
    this.#ns.core.events.off(event, listener)
    return this
  }

  close(): Promise<void> {
    return this.#ns.core.close()
  }
}

/**
 * Creates a cache: L1 in this process and, with `redis`, L2 shared by every process.
 * Options are validated here; a wrong one throws `InvalidOptionError` naming it.
 *
 * @example
 * const cache = createCache({ redis: process.env.REDIS_URL, prefix: 'app', ttl: '5m' })
 * const user = await cache.getOrSet('user:42', () => db.users.find('42'))
 */
export function createCache(options: CacheOptions = {}): Cache {
  return new CacheFacade(new Namespace(new Core(resolveCacheOptions(options)), 'default', true))
}

setDefaultCacheFactory(createCache)
