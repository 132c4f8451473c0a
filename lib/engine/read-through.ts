import type { Entry } from '../codec/envelope.ts'
import { compute, serveStale, storeValue, type Call } from './compute.ts'
import type { Core } from './core.ts'
import { contextOf, readChannel, staleReasons, traceAsync, traceHit, type CallOrigin, type ReadContext } from '../observe/diagnostics.ts'
import { CacheClosedError } from '../errors.ts'
import type { FillFrom } from './lock-wait.ts'
import type { ResolvedEntryOptions } from '../options/resolve.ts'
import { expiredAt, isFresh, shouldRefreshEarly, shouldServeStaleWhileRevalidating } from './policies.ts'
import { resultOf, type CacheResult } from './result.ts'
import type { L1Record } from '../memory/tier.ts'
import type { RedisStore } from '../redis/store.ts'
import { TwoTier } from './two-tier.ts'

/**
 * The read-through pipeline, one call from its key to its value:
 *
 *   L1 (fresh, tags unchanged) ─► value                                 no round trip
 *   single-flight(key) ─► GET ─► fresh value ─► L1 ─► value                  1 round trip
 *                       └► READ_OR_LOCK script ─► lock won ─► compute (compute.ts) ─► FILL script
 *                                              └► lock held ─► wait for the winner's write ─► GET
 *
 * This module is L1 and the flight; with Redis, the fill goes on in `two-tier.ts` (the
 * GET, values accepted in `redis-reads.ts`, the lock in `lock-wait.ts` and `lock.ts`);
 * without it, straight to the function. What the calls share is the `Core`; the
 * computation and its write are `compute.ts`; the decisions are named in `policies.ts`.
 */

export class ReadThrough {
  private readonly core: Core
  /** The path through Redis; undefined for a cache on L1 alone. */
  private readonly twoTier: TwoTier | undefined

  /** `l2`: the store its Redis commands go through (a batch's sends them together; see `batch.ts`). */
  constructor(core: Core, l2: RedisStore | undefined = core.l2) {
    this.core = core
    this.twoTier = l2 === undefined ? undefined : new TwoTier(core, l2, this)
  }

  /**
   * The hot path: a fresh L1 entry whose tags are unchanged, not due for an early
   * refresh; else undefined (and nothing traced: the caller goes on to {@link read}).
   */
  hot(key: string, options: ResolvedEntryOptions<never>, origin: CallOrigin): Entry | undefined {
    const core = this.core
    if (core.l1 === undefined) return undefined
    const now = core.clock.coarseNow()
    const record = core.l1.get(key, now)
    if (record === undefined || record.epoch !== core.tags.epoch) return undefined
    const entry = record.entry
    if (!isFresh(entry, now) || shouldRefreshEarly(entry, now, options)) return undefined
    core.stats.l1Hits++
    if (core.events.hot.hit) core.events.emit('hit', { key, tier: 'l1' })
    if (readChannel.hasSubscribers) traceHit(origin, key, entry.value)
    return entry
  }

  /** The read-through call, traced on `memoredis:read` when someone listens. */
  read<T>(call: Call<T>): Promise<CacheResult<T>> {
    if (!readChannel.hasSubscribers) return this.readThrough(call, undefined)
    const context: ReadContext = contextOf(call.origin, call.key)
    return traceAsync(readChannel, context, () => this.readThrough(call, context), settleRead)
  }

  /**
   * The read-through call; `traced` learns that a hit came from L1. Not an async function:
   * one that returns the flight's promise would cost two more turns of the microtask queue.
   */
  private readThrough<T>(call: Call<T>, traced: ReadContext | undefined): Promise<CacheResult<T>> {
    const core = this.core
    if (core.closed) return Promise.reject(new CacheClosedError())
    try {
      // Without L1 the clock is not read here: the L2 reply is judged on its own reading.
      if (core.l1 === undefined) return this.afterL1(call, undefined, 0, traced)
      const now = core.now()
      const record = core.l1.get(call.key, now)
      const entry = record === undefined ? undefined : this.checked(call.key, record, now)
      if (entry instanceof Promise) return entry.then((checked) => this.afterL1(call, checked, now, traced))
      return this.afterL1(call, entry, now, traced)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** What follows the L1 lookup: its fresh value, a stale one being revalidated, or the flight. */
  private afterL1<T>(call: Call<T>, entry: Entry | undefined, now: number, traced: ReadContext | undefined): Promise<CacheResult<T>> {
    const core = this.core
    const { key, options } = call
    let stale: Entry | undefined
    if (entry !== undefined) {
      if (isFresh(entry, now)) {
        this.countL1(key, true)
        if (shouldRefreshEarly(entry, now, options)) this.refreshInBackground(call, entry)
        if (traced !== undefined) traced.status = 'hit-l1'
        return Promise.resolve(resultOf(entry, 'hit'))
      }
      stale = entry
    }
    this.countL1(key, false)
    if (shouldServeStaleWhileRevalidating(stale, options)) {
      this.refreshInBackground(call, stale)
      return Promise.resolve(serveStale(core, key, stale, 'revalidate'))
    }
    return core.flights.run(key, (detach) => this.fill(call, { stale, newerThan: 0, detach })) as Promise<CacheResult<T>>
  }

  /** A value without computing: L1, then one GET. */
  async peek<T>(key: string, counted = true): Promise<CacheResult<T> | undefined> {
    if (this.core.closed) throw new CacheClosedError()
    const entry = await this.freshInL1(key, counted)
    if (entry !== undefined) return resultOf(entry, 'hit')
    return this.twoTier?.peek<T>(key)
  }

  /** {@link peek} for many keys, in order: L1 first, then one MGET for the rest (per hash slot on a Cluster). */
  async peekMany<T>(keys: readonly string[]): Promise<(CacheResult<T> | undefined)[]> {
    if (this.core.closed) throw new CacheClosedError()
    const found: (CacheResult<T> | undefined)[] = new Array(keys.length)
    const rest: string[] = []
    const at: number[] = []
    for (const [i, key] of keys.entries()) {
      let entry = this.freshInL1(key, true)
      if (entry instanceof Promise) entry = await entry
      if (entry !== undefined) found[i] = resultOf(entry, 'hit')
      else {
        rest.push(key)
        at.push(i)
      }
    }
    if (rest.length > 0 && this.twoTier !== undefined) {
      const looked = await this.twoTier.peekMany<T>(rest)
      looked.forEach((result, j) => (found[at[j] as number] = result))
    }
    return found
  }

  /** The fresh L1 entry of `key` whose tags are valid, or undefined; `counted` in the stats and events. */
  private freshInL1(key: string, counted: boolean): Entry | undefined | Promise<Entry | undefined> {
    const core = this.core
    if (core.l1 === undefined) return undefined
    const now = core.now()
    const record = core.l1.get(key, now)
    const entry = record === undefined ? undefined : this.checked(key, record, now)
    // No closure on the hit's own path: only a tag stamp still to read makes it wait.
    return entry instanceof Promise ? entry.then((checked) => this.ifFresh(key, checked, counted)) : this.ifFresh(key, entry, counted)
  }

  /** `entry` if still fresh, else undefined; `counted` in the stats and events. */
  private ifFresh(key: string, entry: Entry | undefined, counted: boolean): Entry | undefined {
    const found = entry !== undefined && isFresh(entry, this.core.now())
    if (counted) this.countL1(key, found)
    return found ? entry : undefined
  }

  /** A user's read that looked in L1 (`get`, memoized `peek`), in `stats()` and the `hit`/`miss` events. */
  private countL1(key: string, found: boolean): void {
    const core = this.core
    if (found) {
      core.stats.l1Hits++
      if (core.events.hot.hit) core.events.emit('hit', { key, tier: 'l1' })
      return
    }
    core.stats.l1Misses++
    if (core.events.hot.miss) core.events.emit('miss', { key, tier: 'l1' })
  }

  /** Refreshes `key` in the background, once per key, at most `refreshConcurrency` at a time. */
  refreshInBackground<T>(call: Call<T>, current: Entry): void {
    // Not through `flights`: started from inside a flight, it would join that very flight
    // and refresh nothing; a foreground flight of the same key meets it at the lock instead.
    // The function sees the entry it replaces (`FactoryContext.stale`), not as a fallback.
    this.background(call, (plain) => this.fill({ ...plain, previous: current }, { stale: undefined, newerThan: current.created }))
  }

  /** Recomputes now, whatever is cached (memoized `refresh`); concurrent callers share the run. */
  async recompute<T>(call: Call<T>): Promise<T> {
    if (this.core.closed) throw new CacheClosedError()
    // Any value computed from now on will do, ours or another process's; never the value
    // we were asked to replace (clock offsets are estimates: its `created` may look later than our now).
    const since = Math.max(this.core.now() - 1, (await this.peek(call.key, false))?.created ?? 0)
    return (await this.fill(call, { stale: undefined, newerThan: since })).value
  }

  /** Stores the value `call.factory` returns under `call.key` (`cache.set`; the factory takes no context). */
  async write<T>(call: Call<T>): Promise<void> {
    if (this.core.closed) throw new CacheClosedError()
    await storeValue(this.core, call, await (call.factory as () => T | Promise<T>)())
  }

  /**
   * Deletes a full key everywhere, with its lock: a computation in flight, here or
   * elsewhere, stores nothing. `soft`: the value stays, stale, as a fallback within its
   * grace from now (`expiredAt`).
   */
  async delete(key: string, soft = false): Promise<void> {
    const core = this.core
    if (core.closed) throw new CacheClosedError()
    if (soft) this.expire(key)
    else core.touch(key)
    core.remembered.delete(key)
    // Callers from now on start afresh rather than join a computation the delete made stale.
    core.flights.forget(key)
    core.events.emit('delete', { key, soft })
    await this.twoTier?.delete(key, soft)
  }

  /** Makes the L1 copy of `key` stale (or drops it: no grace), and keeps reads and computations under way out of L1. */
  private expire(key: string): void {
    const core = this.core
    const now = core.now()
    const record = core.l1?.get(key, now)
    const stale = record === undefined ? undefined : expiredAt(record.entry, now, now)
    if (record !== undefined && stale !== undefined) record.entry = stale
    else core.l1?.delete(key)
    core.watches.touch(key)
  }

  /**
   * The L1 record's entry if its tags are still valid (checked once per stamp epoch); the
   * record made stale when a soft invalidation covers it; else dropped.
   */
  private checked(key: string, record: L1Record, now: number): Entry | undefined | Promise<Entry | undefined> {
    const tags = this.core.tags
    const epoch = tags.epoch
    if (record.epoch === epoch) return record.entry
    const keep = (entry: Entry | undefined): Entry | undefined => {
      if (entry !== undefined) {
        record.entry = entry
        record.epoch = epoch
        return entry
      }
      this.core.l1?.delete(key)
      return undefined
    }
    const entry = tags.check(record.entry, now)
    return entry instanceof Promise ? entry.then(keep) : keep(entry)
  }

  /**
   * Runs `work` in the background, once per key, at most `refreshConcurrency` at a time,
   * with the call's options made plain: no stale fallback (a failure is an `error` event,
   * not a value) and no soft timeout. False when one already runs for the key.
   */
  background<T>(call: Call<T>, work: (plain: Call<T>) => Promise<unknown>): boolean {
    const core = this.core
    const key = call.key
    if (core.refreshing.has(key) || core.closed) return false
    core.refreshing.add(key)
    const started = performance.now()
    const plain = { ...call, background: true, options: { ...call.options, staleWhileRevalidate: false, softTimeout: 0 } }
    core
      .limit(() => work(plain))
      .then(
        () => core.events.emit('refresh', { key, durationMs: Math.round(performance.now() - started) }),
        (error: unknown) => {
          if (!core.closed) core.error(error, key)
        },
      )
      .finally(() => core.refreshing.delete(key))
    return true
  }

  /** With Redis, its path (`two-tier.ts`); on L1 alone, the function, unless it failed a moment ago (`errorTtl`). */
  private fill<T>(call: Call<T>, from: FillFrom): Promise<CacheResult<T>> {
    if (this.twoTier !== undefined) return this.twoTier.fill(call, from)
    const core = this.core
    const remembered = from.newerThan === 0 ? core.remembered.get(call.key, core.tags.epoch) : undefined
    if (remembered !== undefined) return Promise.reject(remembered.error)
    return compute(core, call, { stale: from.stale, detach: from.detach })
  }
}

/** Fills a read's context from its outcome: a hit not from L1 came from L2 (the flight reads no L1). */
function settleRead(context: ReadContext, outcome: { value: CacheResult<unknown> } | { error: unknown }): void {
  if (!('value' in outcome)) {
    context.status ??= 'miss'
    return
  }
  const result = outcome.value
  context.result = result.value
  if (result.status === 'stale') {
    context.status = 'stale'
    context.staleReason = staleReasons.get(result)
  } else context.status ??= result.status === 'hit' ? 'hit-l2' : 'miss'
}

