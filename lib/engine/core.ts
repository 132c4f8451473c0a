import pLimit from 'p-limit'
import { ServerClock } from './clock.ts'
import { Envelope, superjsonCodec } from '../codec/envelope.ts'
import type { RedisCoherence } from '../redis/coherence-types.ts'
import { openRedis } from '../redis/open.ts'
import type { RedisStore } from '../redis/store.ts'
import { BackgroundError, CacheClosedError, MemoredisError, RedisError, ReplicationError, UnregisteredClassError } from '../errors.ts'
import { Emitter, type Tier } from '../observe/events.ts'
import { KeyLayout } from '../keys/layout.ts'
import { LostReleases, type HeldLock } from './lock.ts'
import { NameRegistry } from '../memoize/names.ts'
import type { ResolvedCacheOptions } from '../options/resolve.ts'
import { RememberedErrors } from './remembered-errors.ts'
import type { CacheResult } from './result.ts'
import { SingleFlight } from './single-flight.ts'
import { TagStamps } from './tags.ts'
import { MemoryTier } from '../memory/tier.ts'
import { Waiters } from './waiters.ts'
import { afterWrite, Watches, type Watch } from './watches.ts'

/** The watch of a value read while there is no L1: never registered, so never dirty. */
const UNWATCHED: Watch = Object.freeze({ dirty: false, echoes: 0 })

/**
 * What a cache and all its namespaces share: the tiers, the coherence connection and
 * what it keeps true (L1, tag stamps, lock waiters, reads under way), the clock, the
 * counters. The read path that uses them is `read-through.ts`.
 */
export class Core {
  readonly options: ResolvedCacheOptions
  readonly layout: KeyLayout
  readonly events = new Emitter()
  readonly clock = new ServerClock()
  readonly l1: MemoryTier | undefined
  readonly l2: RedisStore | undefined
  readonly coherence: RedisCoherence | undefined
  readonly tags: TagStamps
  readonly envelope: Envelope
  readonly flights = new SingleFlight<CacheResult<unknown>>()
  readonly waiters = new Waiters()
  readonly watches = new Watches()
  readonly refreshing = new Set<string>()
  /** Errors kept in place of values (`errorTtl`, opt-in), this process only. */
  readonly remembered = new RememberedErrors()
  /** Lock releases Redis did not get, retried on the next connection. */
  readonly lostReleases = new LostReleases()
  /** Locks this process holds now: `close()` releases them rather than leave them for their ttl. */
  readonly heldLocks = new Set<HeldLock>()
  /** Aborted by `close()`: the signal of every function's context (`FactoryContext.signal`) follows it. */
  readonly closing = new AbortController()
  readonly limit: ReturnType<typeof pLimit>
  /** Live memoized functions by `${ns}:${name}`. */
  readonly names = new NameRegistry()
  readonly stats = {
    l1Hits: 0, l1Misses: 0, l2Hits: 0, l2Misses: 0, l2Errors: 0,
    computations: 0, stale: 0, lockWaits: 0, lockTimeouts: 0,
    staleByReason: { revalidate: 0, error: 0, 'soft-timeout': 0, 'hard-timeout': 0, 'lock-timeout': 0 },
  }
  closed = false
  /** Set-ups of the stamp buckets' floors done (see {@link setFloors}), for specs that must let them finish first. */
  floorSetUps = 0

  constructor(options: ResolvedCacheOptions) {
    this.options = options
    this.layout = new KeyLayout(options.prefix)
    this.limit = pLimit(options.refreshConcurrency)
    this.tags = new TagStamps(this, this.layout)
    this.l1 = options.l1 === false ? undefined : new MemoryTier(options.l1.max, options.l1.maxSize, options.l1.freeze)
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
    const { store, coherence } = this.openRedis(options.redis)
    this.l2 = store
    this.coherence = coherence
  }

  /**
   * The L2 store and the coherence that goes with it (`redis/open.ts` picks them by the
   * client), their events wired to this cache's.
   */
  private openRedis(redis: unknown): { store: RedisStore; coherence: RedisCoherence } {
    const options = this.options
    // Events come once the connection is up, after the store is made.
    const l2 = (): RedisStore => this.l2 as RedisStore
    return openRedis(redis, {
      tier: {
        timeoutMs: options.redisTimeout,
        connectWaitMs: options.connectWait,
        circuitFailures: options.circuitFailures,
        circuitResetAfterMs: options.circuitResetAfter,
        events: {
          error: (error) => this.error(error, undefined, 'l2'),
          circuit: (state) => {
            this.events.emit(state === 'open' ? 'circuit-open' : 'circuit-close', { tier: 'l2' })
            // Redis answers again, on a connection that never dropped (a paused server):
            // the releases refused while the circuit was open go out now, not at a reconnect.
            if (state === 'close') void this.lostReleases.retry(l2(), (error, key) => this.error(error, key, 'l2'))
          },
          ready: (): Promise<void> => this.onConnected(l2()),
          // Coherence follows the connection itself (a drop flushes L1 when it was tracked).
          close: () => {},
        },
      },
      prefix: options.prefix,
      mode: options.coherence ?? 'tracking',
      handlers: {
        onKeys: (keys) => this.onForeignWrite(keys),
        onFlush: (reason) => this.flush(reason),
        // Set again at once, so that values computed from now on are not dated before them.
        onDatabaseFlushed: () => void this.setFloors(l2()),
        onUnsettled: () => this.watches.dirtyAll(),
        onError: (error) => this.error(error, undefined, 'l2'),
        onWarning: (error) => this.events.emit('warning', { error }),
      },
    })
  }

  /** A (re)connection: measure the clock, retry lost lock releases, and have every waiter look again. */
  private async onConnected(l2: RedisStore): Promise<void> {
    // Sent first, before anything a caller sends once the connection is up: on this
    // connection Redis runs them first, so no value computed from now on is dated before
    // a floor (a restarted, empty server has none).
    const floors = this.setFloors(l2)
    // A wake-up notice may have been lost while the connection was down.
    this.waiters.wakeAll()
    await this.clock.sync(() => l2.time()).catch((error: unknown) => this.error(error, undefined, 'l2'))
    await floors
    void this.lostReleases.retry(l2, (error, key) => this.error(error, key, 'l2'))
  }

  /**
   * Sets every stamp bucket's floor that is missing (on each connection, and after the
   * database was flushed), and takes the floors as server times seen: no value this
   * process computes is dated before them (see `TagStamps`). Never rejects.
   */
  private async setFloors(l2: RedisStore): Promise<void> {
    try {
      for (const time of await l2.setFloors(this.layout.floorKeys())) this.clock.saw(time)
    } catch (error) {
      this.error(error, undefined, 'l2')
    }
    this.floorSetUps++
  }

  /** Milliseconds on the Redis server's clock (see {@link ServerClock.now}). */
  now(): number {
    return this.clock.now()
  }

  /** True when nobody tells this process of others' writes (`coherence: 'off'`). */
  get uninformed(): boolean {
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
    const keepL1 = this.uninformed
    for (const key of keys) {
      const stamped = this.layout.stampIdOf(key)
      if (stamped !== undefined) {
        if (keepL1) continue
        this.tags.changed(stamped)
        this.watches.hear(key)
        continue
      }
      const guarded = this.layout.valueKeyOfLock(key)
      if (guarded !== undefined) {
        this.waiters.wake(guarded)
        continue
      }
      if (!keepL1) {
        this.l1?.hear(key)
        this.watches.hear(key)
      }
      this.waiters.wake(key)
    }
  }

  /** Invalidations may have been missed: drop L1 and the stamps, wake every waiter. */
  flush(reason: string): void {
    if (!this.uninformed) {
      this.l1?.clear()
      this.tags.forgetAll()
      this.watches.dirtyAll()
    }
    this.waiters.wakeAll()
    this.events.emit('flush', { reason })
  }

  /** Drops `key` from L1, and from what reads, writes and computations under way may put there. */
  touch(key: string): void {
    this.l1?.delete(key)
    this.watches.touch(key)
  }

  /** Watches `key` while an L2 read, a write or a computation is under way (see `watches.ts`). */
  watch(key: string): Watch {
    // While coherence is not settled a change could go unheard: nothing fills L1.
    return this.watches.watch(key, this.coherence !== undefined && !this.coherence.settled)
  }

  /**
   * Watches an L2 read of a value, as {@link watch}; without L1 nothing is watched (a
   * watch only keeps a value out of L1), and a shared, never-dirty watch is returned.
   */
  watchValue(key: string): Watch {
    return this.l1 === undefined ? UNWATCHED : this.watch(key)
  }

  unwatch(key: string, watch: Watch): void {
    if (watch !== UNWATCHED) this.watches.unwatch(key, watch)
  }

  /**
   * Watches this process's write of `key`, taking over `since` (a computation's watch,
   * ended here): in tracking mode the write's own echo is expected (see `watches.ts`).
   */
  watchWrite(key: string, since?: Watch): Watch {
    const echoes = this.coherence?.mode === 'tracking' ? 1 : 0
    const watch = this.watches.watch(key, since?.dirty === true || (this.coherence !== undefined && !this.coherence.settled), echoes)
    if (since !== undefined) this.watches.unwatch(key, since)
    return watch
  }

  /**
   * Ends a write's watch: undefined when its value must stay out of L1, else the echoes
   * its L1 copy must still absorb. `reached`: Redis took the write.
   */
  endWrite(key: string, watch: Watch, reached: boolean): number | undefined {
    this.watches.unwatch(key, watch)
    return afterWrite(watch, this.coherence?.mode === 'tracking' ? 1 : 0, reached)
  }

  // ── Invalidation ─────────────────────────────────────────────────────────

  /**
   * Invalidates tag ids (user tags `t:<tag>`, or a scope for `clear()`) in every process;
   * `soft`: the entries stay as stale fallbacks (see `TagStamps.check`). Rejects with `RedisError` when Redis could not be told (this process is invalidated
   * all the same), and with `CacheClosedError` once the cache is closed.
   */
  async invalidate(ids: string[], tags: string[], soft: boolean): Promise<void> {
    if (this.closed) throw new CacheClosedError()
    // A cache created a moment ago waits (bounded) for its first connection, as reads do.
    await this.l2?.whenStarted()
    const failures = await this.tags.stamp(ids, soft)
    const keys = ids.map((id) => this.layout.stampKey(id))
    await this.announce(keys)
    this.events.emit('invalidate', { tags, soft })
    if (failures.length > 0) {
      // The other processes were not told: say so to the caller who asked for it.
      throw new RedisError(`redis: invalidating ${tags.join(', ')} reached this process only`, { cause: failures[0] })
    }
    await this.replicated(keys, tags.length > 0 ? `invalidating ${tags.join(', ')}` : 'clear()')
  }

  /**
   * With `invalidation.replicas`, waits until that many replicas of the masters of `keys`
   * have the writes just made to them (`WAIT`); rejects with `ReplicationError` when they
   * do not confirm within `invalidation.timeout`. `what` names the invalidation.
   */
  async replicated(keys: readonly string[], what: string): Promise<void> {
    const { invalidationReplicas: replicas, invalidationTimeout: timeoutMs } = this.options
    if (replicas === 0 || this.l2 === undefined) return
    const confirmed = await this.l2.waitForReplicas(keys, replicas, timeoutMs)
    if (confirmed < replicas) throw new ReplicationError(what, replicas, confirmed, timeoutMs)
  }

  /**
   * Tells other processes that `keys` changed (bus mode); undefined when nothing is sent
   * (tracking needs nothing, and a miss then costs no promise for it).
   */
  announce(keys: string[]): Promise<void> | undefined {
    const coherence = this.coherence
    if (coherence === undefined || coherence.mode === 'tracking') return undefined
    return coherence.announce(keys).catch((error: unknown) => this.error(error, keys[0], 'l2'))
  }

  /** Closes the connections and drops every listener; calls under way find `closed` and stop. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.closing.abort(new CacheClosedError())
    this.waiters.wakeAll()
    this.coherence?.close()
    // Other processes would wait up to lock.wait for a computation here that will store nothing.
    await Promise.all([...this.heldLocks].map((lock) => lock.release()))
    await this.l2?.close()
    this.l1?.clear()
    this.events.removeAll()
  }
}
