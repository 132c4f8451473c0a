import pLimit from 'p-limit'
import { ServerClock } from './clock.ts'
import { Envelope, superjsonCodec } from './codec.ts'
import { Coherence } from './coherence.ts'
import { BackgroundError, MemoredisError, RedisError, UnregisteredClassError } from './errors.ts'
import { Emitter, type Tier } from './events.ts'
import type { ResolvedCacheOptions } from './options.ts'
import { RememberedErrors, SingleFlight, Waiters } from './stampede.ts'
import { TagStamps } from './tags.ts'
import { MemoryTier } from './tiers/memory.ts'
import { RedisTier } from './tiers/redis.ts'

/**
 * What a cache and all its namespaces share: the tiers, the coherence connection and
 * what it keeps true (L1, tag stamps, lock waiters), the clock, the counters. The
 * read-through flow itself is `Cache`'s (`cache.ts`).
 */

/** What a read-through call found: the value, and whether it came fresh from a tier, fresh from the function, or stale. */
export interface CacheResult<T> {
  /** The value, as the function returned it (or as decoded from L2). */
  value: T
  /** `'hit'`: fresh from L1 or L2; `'miss'`: the function ran for this call; `'stale'`: past its ttl, within grace. */
  status: 'hit' | 'miss' | 'stale'
  /** When the value was computed, epoch ms (server clock). */
  created: number
}

/** An L2 read or write under way (see {@link Core.watch}). */
export interface Watch {
  dirty: boolean
}

export class Core {
  readonly options: ResolvedCacheOptions
  readonly events = new Emitter()
  readonly clock = new ServerClock()
  readonly l1: MemoryTier | undefined
  readonly l2: RedisTier | undefined
  readonly coherence: Coherence | undefined
  readonly tags: TagStamps
  readonly envelope: Envelope
  readonly flights = new SingleFlight<CacheResult<unknown>>()
  readonly waiters = new Waiters()
  readonly refreshing = new Set<string>()
  /** Errors kept in place of values (`errorTtl`, opt-in), this process only. */
  readonly remembered = new RememberedErrors()
  readonly limit: ReturnType<typeof pLimit>
  /** Live memoized functions by `${ns}:${name}`. */
  readonly names = new Map<string, WeakRef<object>>()
  /** L2 reads and writes under way, by key. */
  private readonly watches = new Map<string, Set<Watch>>()
  readonly stats = {
    l1Hits: 0, l1Misses: 0, l2Hits: 0, l2Misses: 0, l2Errors: 0,
    computations: 0, stale: 0, lockWaits: 0, lockTimeouts: 0,
  }
  closed = false
  private readonly lockPrefix: string

  constructor(options: ResolvedCacheOptions) {
    this.options = options
    this.lockPrefix = `${options.prefix}:!lock:`
    this.limit = pLimit(options.refreshConcurrency)
    this.tags = new TagStamps(this, options.prefix, options.tagTtl)
    this.l1 = options.l1 === false ? undefined : new MemoryTier(options.l1.max, options.l1.maxSize)
    this.envelope = new Envelope({
      codec: options.codec ?? superjsonCodec,
      signingKeys: options.signingKeys,
      maxValueSize: options.maxValueSize,
      compressThreshold: options.compressThreshold,
      maxDecompressedSize: options.maxDecompressedSize,
      strictClasses: options.strictClasses,
      onUnregisteredClass: (className) =>
        this.events.emit('warning', { error: new UnregisteredClassError(className) }),
    })
    if (options.redis === undefined) return
    const l2: RedisTier = new RedisTier(options.redis, {
      timeoutMs: options.redisTimeout,
      connectWaitMs: options.connectWait,
      circuitFailures: options.circuitFailures,
      circuitResetAfterMs: options.circuitResetAfter,
      events: {
        error: (error) => this.error(error, undefined, 'l2'),
        circuit: (state) => this.events.emit(state === 'open' ? 'circuit-open' : 'circuit-close', { tier: 'l2' }),
        ready: (): Promise<void> =>
          this.clock.sync(() => l2.time()).catch((error: unknown) => this.error(error, undefined, 'l2')),
        // Coherence follows the connection itself (a drop flushes L1 when it was tracked).
        close: () => {},
      },
    })
    this.l2 = l2
    this.coherence = new Coherence(options.redis, l2, options.prefix, options.coherence ?? 'tracking', {
      onKeys: (keys) => this.onForeignWrite(keys),
      onFlush: (reason) => this.flush(reason),
      onUnsettled: () => this.dirtyAll(),
      onError: (error) => this.error(error, undefined, 'l2'),
      onWarning: (error) => this.events.emit('warning', { error }),
    })
  }

  /** Milliseconds on the Redis server's clock (see {@link ServerClock.now}). */
  now(): number {
    return this.clock.now()
  }

  /** True when nobody tells this process of others' writes (`coherence: 'off'`). */
  get untold(): boolean {
    return this.coherence?.mode === 'off'
  }

  /** Reports trouble as an `error` event; a non-memoredis error is the user's function failing in the background. */
  error(error: unknown, key?: string, tier?: Tier): void {
    if (tier === 'l2') this.stats.l2Errors++
    const wrapped = error instanceof MemoredisError ? error : new BackgroundError(key, error)
    this.events.emit('error', { error: wrapped, key, tier })
  }

  // ── Coherence ────────────────────────────────────────────────────────────

  private onForeignWrite(keys: string[]): void {
    const keepL1 = this.untold
    const stampPrefix = this.tags.prefix
    for (const key of keys) {
      if (key.startsWith(stampPrefix)) {
        if (keepL1) continue
        this.tags.changed(key.slice(stampPrefix.length))
        this.touch(key)
      } else if (key.startsWith(this.lockPrefix)) {
        this.waiters.wake(`${this.options.prefix}:${key.slice(this.lockPrefix.length)}`)
      } else {
        if (!keepL1) this.touch(key)
        this.waiters.wake(key)
      }
    }
  }

  /** Invalidations may have been missed: drop L1 and the stamps, wake every waiter. */
  flush(reason: string): void {
    if (!this.untold) {
      this.l1?.clear()
      this.tags.forgetAll()
      this.dirtyAll()
    }
    this.waiters.wakeAll()
    this.events.emit('flush', { reason })
  }

  /** Drops `key` from L1, and from what reads and writes under way may put there. */
  touch(key: string): void {
    this.l1?.delete(key)
    const set = this.watches.get(key)
    if (set !== undefined) for (const watch of set) watch.dirty = true
  }

  /**
   * Watches `key` while an L2 read or write is under way: a write by another client
   * (or a flush) reported before the reply is handled marks it dirty, and a dirty
   * result must not go into L1 — the notice that would evict it has already come.
   */
  watch(key: string): Watch {
    // While coherence is not settled a change could go unheard: nothing fills L1.
    const watch = { dirty: this.coherence !== undefined && !this.coherence.settled }
    let set = this.watches.get(key)
    if (set === undefined) this.watches.set(key, (set = new Set()))
    set.add(watch)
    return watch
  }

  unwatch(key: string, watch: Watch): void {
    const set = this.watches.get(key)
    if (set === undefined) return
    set.delete(watch)
    if (set.size === 0) this.watches.delete(key)
  }

  /** Marks every read and write under way dirty. */
  private dirtyAll(): void {
    for (const set of this.watches.values()) for (const watch of set) watch.dirty = true
  }

  lockKey(key: string): string {
    return this.lockPrefix + key.slice(this.options.prefix.length + 1)
  }

  // ── Invalidation ─────────────────────────────────────────────────────────

  /**
   * Invalidates tag ids (user tags `t:<tag>`, or a scope for `clear()`) in every process.
   * Rejects with `RedisError` when Redis could not be told (this process is invalidated all the same).
   */
  async invalidate(ids: string[], tags: string[]): Promise<void> {
    // A cache created a moment ago waits (bounded) for its first connection, as reads do.
    await this.l2?.whenStarted()
    const failures = await this.tags.stamp(ids)
    await this.announce(ids.map((id) => this.tags.prefix + id))
    this.events.emit('invalidate', { tags })
    if (failures.length > 0) {
      // The other processes were not told: say so to the caller who asked for it.
      throw new RedisError(`redis: invalidating ${tags.join(', ')} reached this process only`, { cause: failures[0] })
    }
  }

  /** Tells other processes that `keys` changed (bus mode; tracking needs nothing). */
  async announce(keys: string[]): Promise<void> {
    try {
      await this.coherence?.announce(keys)
    } catch (error) {
      this.error(error, keys[0], 'l2')
    }
  }
}
