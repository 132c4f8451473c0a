import type { Entry } from './codec.ts'
import { Core, type CacheResult } from './core.ts'
import { CacheClosedError, EncodeError, FactoryTimeoutError, InvalidOptionError, MemoredisError } from './errors.ts'
import type { CacheEventName, CacheEvents, Tier } from './events.ts'
import { keySegment } from './key.ts'
import { memoize, type Memoized } from './memoize.ts'
import {
  resolveCacheOptions,
  resolveEntryOptions,
  type CacheOptions,
  type EntryOptions,
  type MemoizeOptions,
  type ResolvedEntryOptions,
} from './options.ts'
import { holdLock, lockToken } from './stampede.ts'
import type { RedisTier } from './tiers/redis.ts'

export type { CacheResult } from './core.ts'

/**
 * The tiered read-through engine. A call goes, top to bottom:
 *
 *   key ─► L1 (fresh, tags unchanged) ─► value
 *        └► single-flight ─► L2 GET ─► decode ─► tags valid ─► L1 ─► value
 *                          └► lock (SET NX PX) ─won─► function ─► encode ─► L2 SET ─► L1
 *                                              └lost─► wait for the winner's write
 *
 * What the calls share (tiers, coherence, tag stamps, clock, counters) is a `Core`
 * (`core.ts`); tags and `clear()` are invalidation stamps (`tags.ts`), and an L1 record
 * remembers the stamps' `epoch` at which its tags were found valid, so a hit costs one
 * integer compare while no tag changed.
 */

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
  /** Waits for another process's value that ran out (`lock.wait`). */
  lockTimeouts: number
}

/** Internal scope-tag ids; user tags are `t:` + tag. */
const ALL = '*'

/**
 * A memoredis cache: L1 in this process, L2 in Redis when configured. Create one with
 * {@link createCache}; `namespace(name)` gives a view whose keys live apart.
 */
export class Cache {
  /** @internal */
  readonly core: Core
  /** The namespace's escaped key segment. */
  private readonly ns: string
  private readonly root: boolean
  private readonly base: string
  private readonly scope: readonly string[]
  private readonly defaults: ResolvedEntryOptions

  /** @internal Use {@link createCache}. */
  constructor(core: Core, namespace: string, root = false) {
    this.core = core
    this.root = root
    this.ns = keySegment(namespace)
    this.base = `${core.options.prefix}:${this.ns}:`
    this.scope = [ALL, `n:${this.ns}`]
    this.defaults = core.options.entry
  }

  /** A view of this cache whose keys, `clear()` and memoized names are its own. */
  namespace(name: string): Cache {
    return new Cache(this.core, name)
  }

  /**
   * Returns the value under `key`, computing it with `factory` on a miss (once per key,
   * in this process and across processes).
   *
   * @example
   * const user = await cache.getOrSet(`user:${id}`, () => db.users.find(id), { ttl: '10m', tags: [`user:${id}`] })
   */
  async getOrSet<T>(key: string, factory: () => T | Promise<T>, options?: EntryOptions<T>): Promise<T> {
    return (await this.getOrSetEntry(key, factory, options)).value
  }

  /**
   * {@link getOrSet}, also saying whether the value was a hit, a miss or stale, and when
   * it was computed. A bad key or option rejects with `InvalidOptionError`.
   */
  async getOrSetEntry<T>(key: string, factory: () => T | Promise<T>, options?: EntryOptions<T>): Promise<CacheResult<T>> {
    return this.getOrSetResolved(key, factory, this.resolveOptions(options, 'getOrSet'))
  }

  /** The value under `key`, or undefined (never computes). */
  async get<T>(key: string): Promise<T | undefined> {
    return (await this.peekKey<T>(this.keyOf(key)))?.value
  }

  /** Stores `value` under `key` in every tier. */
  async set<T>(key: string, value: T, options?: Pick<EntryOptions<T>, 'ttl' | 'grace' | 'tags'>): Promise<void> {
    const o = resolveEntryOptions(this.defaults, options, 'set') as ResolvedEntryOptions<T>
    const now = this.core.now()
    await this.write(this.keyOf(key), now, value, o, this.scope, now)
  }

  /** Deletes `key` from every tier of every process. Rejects with `RedisError` if Redis could not be told. */
  delete(key: string): Promise<void> {
    return this.deleteKey(this.keyOf(key))
  }

  /**
   * Invalidates every entry carrying any of `tags`, in every process: O(1) per tag,
   * whatever the number of entries. Rejects with `RedisError` if Redis could not be told
   * (this process's L1 is invalidated all the same).
   */
  invalidateTags(tags: readonly string[]): Promise<void> {
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) {
      return Promise.reject(new InvalidOptionError(`invalidateTags expects an array of strings, got ${JSON.stringify(tags)}`))
    }
    return this.core.invalidate(tags.map((t) => `t:${t}`), [...tags])
  }

  /** Drops every entry of this cache (the root: every namespace) in O(1). */
  clear(): Promise<void> {
    return this.core.invalidate([this.root ? ALL : `n:${this.ns}`], [])
  }

  /**
   * Memoizes `fn` in this cache (same as `memoize(fn, { ...options, cache: this })`).
   * @example
   * const getUser = cache.memoize(fetchUser, { ttl: '10m' })
   */
  memoize<A extends unknown[], R>(fn: (...args: A) => R, options: Omit<MemoizeOptions<A, Awaited<R>>, 'cache'> = {}): Memoized<A, R> {
    return memoize(fn, { ...options, cache: this })
  }

  /** Counters since the cache was created. */
  stats(): CacheStats {
    const s = this.core.stats
    return {
      l1: { hits: s.l1Hits, misses: s.l1Misses, size: this.core.l1?.size ?? 0 },
      l2: { hits: s.l2Hits, misses: s.l2Misses, errors: s.l2Errors },
      computations: s.computations,
      stale: s.stale,
      lockWaits: s.lockWaits,
      lockTimeouts: s.lockTimeouts,
    }
  }

  /** Listens to an event (see the README for each event's payload). */
  on<E extends CacheEventName>(event: E, listener: (payload: CacheEvents[E]) => void): this {
    this.core.events.on(event, listener)
    return this
  }

  /** Stops listening. */
  off<E extends CacheEventName>(event: E, listener: (payload: CacheEvents[E]) => void): this {
    this.core.events.off(event, listener)
    return this
  }

  /** Closes the Redis connections; later calls reject with `CacheClosedError`. */
  async close(): Promise<void> {
    const core = this.core
    if (core.closed) return
    core.closed = true
    core.waiters.wakeAll()
    core.coherence?.close()
    await core.l2?.close()
    core.l1?.clear()
  }

  // ── Internal API for memoize() and the middleware ───────────────────────

  /** @internal Validates entry options against this cache's defaults, once, for a caller that reuses them. */
  resolveOptions<T>(options: EntryOptions<T> | undefined, where: string): ResolvedEntryOptions<T> {
    return options === undefined ? (this.defaults as ResolvedEntryOptions<T>) : resolveEntryOptions(this.defaults, options, where)
  }

  /** @internal {@link getOrSetEntry} with options from {@link resolveOptions}. */
  getOrSetResolved<T>(key: string, factory: () => T | Promise<T>, o: ResolvedEntryOptions<T>): Promise<CacheResult<T>> {
    return this.read(this.keyOf(key), this.scope, factory, o)
  }

  /** @internal Full Redis key for a user key. */
  keyOf(key: string): string {
    return this.base + keySegment(key)
  }

  /** @internal Key prefix and scope tags for a memoized function. */
  scopeFor(name: string, version: number): { base: string; scope: readonly string[]; id: string } {
    const segment = keySegment(name)
    const id = `f:${this.ns}:${segment}`
    return { base: `${this.base}${segment}:v${version}:`, scope: [...this.scope, id], id }
  }

  /** @internal Claims `name` for a live memoized function in this namespace. */
  claimName(name: string, owner: object): boolean {
    const id = `${this.ns}:${name}`
    const holder = this.core.names.get(id)?.deref()
    if (holder !== undefined && holder !== owner) return false
    this.core.names.set(id, new WeakRef(owner))
    return true
  }

  /**
   * @internal The hot path: a fresh L1 entry whose tags are unchanged, not due for an
   * early refresh; else undefined.
   */
  fresh(key: string, o: ResolvedEntryOptions<never>): Entry | undefined {
    const core = this.core
    if (core.l1 === undefined) return undefined
    const now = core.now()
    const record = core.l1.get(key, now)
    if (record === undefined || record.epoch !== core.tags.epoch) return undefined
    const entry = record.entry
    if (entry.freshUntil - now <= o.earlyRefresh * o.ttl) return undefined
    core.stats.l1Hits++
    if (core.events.hot.hit) core.events.emit('hit', { key, tier: 'l1' })
    return entry
  }

  /** @internal The read-through call for a full key. */
  async read<T>(key: string, scope: readonly string[], factory: () => T | Promise<T>, o: ResolvedEntryOptions<T>): Promise<CacheResult<T>> {
    const core = this.core
    if (core.closed) throw new CacheClosedError()
    const now = core.now()
    let stale: Entry | undefined
    const record = core.l1?.get(key, now)
    if (record !== undefined) {
      const epoch = core.tags.epoch
      if (record.epoch === epoch || (await core.tags.valid(record.entry))) {
        record.epoch = epoch
        const entry = record.entry
        if (entry.freshUntil > now) {
          core.stats.l1Hits++
          if (core.events.hot.hit) core.events.emit('hit', { key, tier: 'l1' })
          if (entry.freshUntil - now <= o.earlyRefresh * o.ttl) this.refreshInBackground(key, scope, factory, o, entry)
          return result(entry, 'hit')
        }
        stale = entry
      } else {
        core.l1?.delete(key)
      }
    }
    core.stats.l1Misses++
    if (core.events.hot.miss) core.events.emit('miss', { key, tier: 'l1' })
    if (stale !== undefined && o.staleWhileRevalidate) {
      this.refreshInBackground(key, scope, factory, o, stale)
      return this.served(key, stale, 'revalidate')
    }
    return core.flights.run(key, () => this.fill(key, scope, factory, o, stale, 0)) as Promise<CacheResult<T>>
  }

  /** L2, then the lock, then the function. `newerThan` refuses L2 entries created before it (refreshes). */
  private async fill<T>(
    key: string,
    scope: readonly string[],
    factory: () => T | Promise<T>,
    o: ResolvedEntryOptions<T>,
    stale: Entry | undefined,
    newerThan: number,
  ): Promise<CacheResult<T>> {
    const core = this.core
    const l2 = core.l2
    if (l2 !== undefined) {
      // Only a cache created a moment ago waits; afterwards this costs no tick.
      const starting = l2.whenStarted()
      if (starting !== undefined) await starting
      const found = await this.readL2(key, newerThan, false)
      if (found !== undefined) {
        if (found.freshUntil > core.now()) return result(found, 'hit') as CacheResult<T>
        if (stale === undefined || found.created > stale.created) stale = found
        if (o.staleWhileRevalidate && newerThan === 0) {
          this.refreshInBackground(key, scope, factory, o, found)
          return this.served(key, found, 'revalidate')
        }
      }
    }
    // Negative caching (opt-in): the same error again, without running the function.
    const remembered = newerThan === 0 ? core.remembered.get(key) : undefined
    if (remembered !== undefined) throw remembered.error
    // No Redis, or it just failed: straight to the function, not through more timeouts.
    if (l2 === undefined || !l2.available) return this.compute(key, scope, factory, o, stale)

    // One computation across processes: take the lock, or wait for whoever has it.
    const lockKey = core.lockKey(key)
    const token = lockToken()
    // Durations on the monotonic clock: the wall clock may jump.
    const started = performance.now()
    // With a stale value to fall back on, waiting is a slow computation: the soft timeout bounds it too.
    const soft = stale !== undefined && o.softTimeout > 0 && o.softTimeout < o.lockWait
    const deadline = started + (soft ? o.softTimeout : o.lockWait)
    let waited = false
    for (;;) {
      // Armed before trying, so that the winner's write cannot slip between the two.
      const armed = core.waiters.arm(key)
      let holderMs: number
      let serverNow: number
      try {
        ;({ holderMs, serverNow } = await l2.acquireLock(lockKey, token, o.lockTtl))
      } catch (error) {
        armed.cancel()
        core.error(error, key, 'l2')
        return this.compute(key, scope, factory, o, stale)
      }
      if (holderMs === -1) {
        armed.cancel()
        // Released after the write. Waiters elsewhere hear of it on the channel (the bus
        // needs the lock key announced); waiters in this process are woken here.
        const lock = holdLock(l2, lockKey, token, o.lockTtl, (error) => core.error(error, lockKey, 'l2'), async () => {
          await core.announce([lockKey])
          core.waiters.wake(key)
        })
        // The holder before us may have written and released between our read and our lock.
        const written = await this.readL2(key, newerThan, true)
        if (written !== undefined && written.freshUntil > core.now()) {
          await lock.release()
          return result(written, 'hit') as CacheResult<T>
        }
        return this.compute(key, scope, factory, o, stale, lock.release, serverNow)
      }
      if (!waited) {
        waited = true
        core.stats.lockWaits++
        core.events.emit('lock-wait', { key })
      }
      const remaining = deadline - performance.now()
      if (remaining <= 0) {
        armed.cancel()
        // The holder goes on and fills the cache; this caller takes the stale value now.
        if (soft) return this.served(key, stale as Entry, 'soft-timeout')
        core.stats.lockTimeouts++
        core.events.emit('lock-timeout', { key, durationMs: Math.round(performance.now() - started) })
        if (stale !== undefined) return this.served(key, stale, 'lock-timeout')
        return this.compute(key, scope, factory, o, stale)
      }
      // Lost the lock: wait for the winner's write (or its lock's end) instead of polling.
      // The timer is a backstop for a holder that died: its lock's remaining time; and,
      // until this process's channel listens (it just started), a short one.
      const backstop = holderMs > 0 ? holderMs + 10 : holderMs === -2 ? 0 : 20
      await armed.wait(Math.min(remaining, core.coherence === undefined || core.coherence.settled ? backstop : 50))
      if (core.closed) throw new CacheClosedError()
      const written = await this.readL2(key, newerThan, true)
      if (written !== undefined && written.freshUntil > core.now()) return result(written, 'hit') as CacheResult<T>
    }
  }

  /**
   * Reads, decodes and validates an L2 entry; anything wrong is a miss and an event.
   * `again` marks a second look in one call (after a lock wait): its miss is not counted twice.
   */
  private async readL2(key: string, newerThan: number, again: boolean): Promise<Entry | undefined> {
    const core = this.core
    const l2 = core.l2 as RedisTier
    let bytes: Buffer | null
    // Watched until the value is in L1: a write reported before then keeps it out (see Core.watch).
    const watch = core.watch(key)
    try {
      bytes = await l2.get(key)
    } catch (error) {
      core.unwatch(key, watch)
      core.error(error, key, 'l2')
      return undefined
    }
    let entry: Entry | undefined
    if (bytes !== null) {
      try {
        entry = core.envelope.decode(bytes, key)
      } catch (error) {
        // Corrupt or tampered: never served, deleted so the next writer starts clean.
        core.error(error, key, 'l2')
        l2.del(key).catch((e: unknown) => core.error(e, key, 'l2'))
      }
    }
    // The epoch before the tag check: an invalidation landing during it leaves the L1 copy unchecked.
    const epoch = core.tags.epoch
    let valid = entry === undefined || entry.staleUntil <= core.now() || entry.created <= newerThan ? false : core.tags.valid(entry)
    if (typeof valid !== 'boolean') valid = await valid
    if (entry === undefined || !valid) {
      core.unwatch(key, watch)
      if (again) return undefined
      core.stats.l2Misses++
      if (core.events.hot.miss) core.events.emit('miss', { key, tier: 'l2' })
      return undefined
    }
    core.unwatch(key, watch)
    if (entry.freshUntil > core.now()) {
      core.stats.l2Hits++
      if (core.events.hot.hit) core.events.emit('hit', { key, tier: 'l2' })
      if (!watch.dirty) core.l1?.set(key, entry, bytes?.length ?? 1, epoch)
    }
    return entry
  }

  /** Runs the function under its time limits, stores the value, falls back to stale. */
  private async compute<T>(
    key: string,
    scope: readonly string[],
    factory: () => T | Promise<T>,
    o: ResolvedEntryOptions<T>,
    stale: Entry | undefined,
    release?: () => Promise<void>,
    serverNow?: number,
  ): Promise<CacheResult<T>> {
    const core = this.core
    core.stats.computations++
    // When the computation started, on the server's clock, for tags: exact when the lock
    // script told us; else our estimate less its error bound, so that a value computed
    // across an invalidation is never taken as made after it (at worst, one more miss).
    // Freshness runs on this process's clock, from the same moment.
    const created = serverNow ?? core.clock.startedAt()
    const started = core.now()
    const startedAt = performance.now()
    const work = (async () => {
      try {
        const value = await factory()
        core.events.emit('compute', { key, durationMs: Math.round(performance.now() - startedAt) })
        return await this.write(key, created, value, o, scope, started)
      } finally {
        await release?.()
      }
    })()
    if (o.softTimeout === 0 && o.hardTimeout === 0) {
      try {
        return await work
      } catch (error) {
        // Fail-safe: a stale value within grace rather than the error.
        if (stale !== undefined) return this.served(key, stale, 'error', error)
        if (o.errorTtl > 0) this.core.remembered.set(key, error, o.errorTtl)
        throw error
      }
    }
    return this.race(key, work, o, stale, release)
  }

  /** Races the work against the soft and hard timeouts. */
  private race<T>(
    key: string,
    work: Promise<CacheResult<T>>,
    o: ResolvedEntryOptions<T>,
    stale: Entry | undefined,
    release: (() => Promise<void>) | undefined,
  ): Promise<CacheResult<T>> {
    return new Promise<CacheResult<T>>((resolve, reject) => {
      let settled = false
      const timers: NodeJS.Timeout[] = []
      const finish = (outcome: () => void): void => {
        if (settled) return
        settled = true
        for (const timer of timers) clearTimeout(timer)
        outcome()
      }
      const fallBack = (reason: 'error' | 'hard-timeout', error: unknown): void =>
        finish(() => {
          if (stale !== undefined) return resolve(this.served(key, stale, reason, error))
          if (o.errorTtl > 0) this.core.remembered.set(key, error, o.errorTtl)
          reject(error)
        })
      if (o.softTimeout > 0 && stale !== undefined) {
        // Serve stale now; the work goes on and fills the cache when it lands.
        timers.push(setTimeout(() => finish(() => resolve(this.served(key, stale, 'soft-timeout'))), o.softTimeout))
      }
      if (o.hardTimeout > 0) {
        timers.push(
          setTimeout(() => {
            // A hung function must not keep the lock (and its renewals) forever.
            void release?.()
            fallBack('hard-timeout', new FactoryTimeoutError(key, o.hardTimeout))
          }, o.hardTimeout),
        )
      }
      work.then(
        (value) => finish(() => resolve(value)),
        (error: unknown) => {
          if (settled) this.core.error(error, key)
          else fallBack('error', error)
        },
      )
    })
  }

  /**
   * Encodes and stores a computed value (unless `shouldCache` says no); returns it.
   * `created` is for tags (server clock); `started` starts the ttl (this process's clock).
   */
  private async write<T>(
    key: string,
    created: number,
    value: T,
    o: ResolvedEntryOptions<T>,
    scope: readonly string[],
    started: number,
  ): Promise<CacheResult<T>> {
    const core = this.core
    const jitter = core.options.jitter
    const ttl = jitter > 0 ? Math.round(o.ttl * (1 - Math.random() * jitter)) : o.ttl
    const tags = o.tags === undefined ? scope : [...scope, ...(typeof o.tags === 'function' ? o.tags(value) : o.tags).map((t) => `t:${t}`)]
    const fresh = Math.max(created, started + ttl)
    const entry: Entry<T> = { value, created, freshUntil: fresh, staleUntil: fresh + o.grace, tags }
    if (o.shouldCache !== undefined && !o.shouldCache(value)) return result(entry, 'miss')
    let bytes: Buffer
    try {
      bytes = core.envelope.encode(entry, key)
    } catch (error) {
      const reported =
        error instanceof MemoredisError
          ? error
          : new EncodeError(`the value for ${key} could not be encoded: ${String(error)}`, { cause: error })
      core.error(reported, key)
      return result(entry, 'miss')
    }
    let tier: Tier = 'l1'
    const watch = core.watch(key)
    await core.l2?.whenStarted()
    if (core.l2 !== undefined && core.l2.available) {
      try {
        await core.l2.set(key, bytes, entry.staleUntil - core.now())
        tier = 'l2'
        await core.announce([key])
      } catch (error) {
        core.error(error, key, 'l2')
      }
    }
    // Not if a tag was invalidated while we computed: the value is already out of date.
    const epoch = core.tags.epoch
    const valid = await core.tags.valid(entry)
    core.unwatch(key, watch)
    // Not if another client wrote the key meanwhile; and reads of the older value still
    // under way in this process must not put it back over ours.
    if (valid && !watch.dirty) {
      core.touch(key)
      core.l1?.set(key, entry, bytes.length, epoch)
    }
    core.events.emit('set', { key, tier })
    return result(entry, 'miss')
  }

  /** Serves a stale value. `error` is the function's, which no caller sees: it becomes an `error` event. */
  private served<T>(key: string, entry: Entry, reason: CacheEvents['stale']['reason'], error?: unknown): CacheResult<T> {
    this.core.stats.stale++
    this.core.events.emit('stale', { key, reason })
    if (error !== undefined) this.core.error(error, key)
    return { value: entry.value as T, status: 'stale', created: entry.created }
  }

  /** Refreshes `key` in the background, once per key, at most `refreshConcurrency` at a time. */
  refreshInBackground<T>(key: string, scope: readonly string[], factory: () => T | Promise<T>, o: ResolvedEntryOptions<T>, current: Entry): void {
    const core = this.core
    if (core.refreshing.has(key) || core.closed) return
    core.refreshing.add(key)
    const started = performance.now()
    const plain = { ...o, staleWhileRevalidate: false, softTimeout: 0 }
    // Not through `flights`: started from inside a flight, it would join that very
    // flight and refresh nothing; a foreground flight of the same key meets it at the
    // lock instead. No stale fallback: a failure is an `error` event, not a value.
    core
      .limit(() => this.fill(key, scope, factory, plain, undefined, current.created))
      .then(
        () => core.events.emit('refresh', { key, durationMs: Math.round(performance.now() - started) }),
        (error: unknown) => {
          if (!core.closed) core.error(error, key)
        },
      )
      .finally(() => core.refreshing.delete(key))
  }

  /** @internal Recomputes now, whatever is cached (memoized `refresh`). */
  async recompute<T>(key: string, scope: readonly string[], factory: () => T | Promise<T>, o: ResolvedEntryOptions<T>): Promise<T> {
    if (this.core.closed) throw new CacheClosedError()
    // Any value computed from now on will do, ours or another process's. Not by joining
    // a flight under way: it may bring back an older value.
    // Never the value we were asked to replace, though: clock offsets between processes
    // are estimates (± half a round trip), so its `created` may look later than our now.
    const since = Math.max(this.core.now() - 1, (await this.peekKey(key))?.created ?? 0)
    return (await this.fill(key, scope, factory, o, undefined, since)).value
  }

  /** @internal A value without computing: L1, then L2. */
  async peekKey<T>(key: string): Promise<CacheResult<T> | undefined> {
    const core = this.core
    if (core.closed) throw new CacheClosedError()
    const record = core.l1?.get(key, core.now())
    if (record !== undefined && record.entry.freshUntil > core.now() && (await core.tags.valid(record.entry))) {
      return result(record.entry, 'hit') as CacheResult<T>
    }
    if (core.l2 === undefined) return undefined
    await core.l2.whenStarted()
    const found = await this.readL2(key, 0, false)
    return found !== undefined && found.freshUntil > core.now() ? (result(found, 'hit') as CacheResult<T>) : undefined
  }

  /** @internal Deletes a full key everywhere. */
  async deleteKey(key: string): Promise<void> {
    const core = this.core
    if (core.closed) throw new CacheClosedError()
    core.touch(key)
    core.remembered.delete(key)
    core.events.emit('delete', { key })
    if (core.l2 === undefined) return
    await core.l2.whenStarted()
    await core.l2.del(key)
    // A read of this process that sent its GET before the DEL must not keep the old value.
    core.touch(key)
    await core.announce([key])
  }

  /** @internal Invalidates a memoized function's scope (its `clear()`). */
  clearScope(id: string): Promise<void> {
    return this.core.invalidate([id], [])
  }
}

function result<T>(entry: Entry, status: CacheResult<T>['status']): CacheResult<T> {
  return { value: entry.value as T, status, created: entry.created }
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
  return new Cache(new Core(resolveCacheOptions(options)), 'default', true)
}
