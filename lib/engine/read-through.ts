import type { DecodedEntry, Entry } from '../codec/envelope.ts'
import { compute, serveStale, storeValue, type Call } from './compute.ts'
import type { Core } from './core.ts'
import {
  contextOf, fail, finish, lockWaitChannel, readChannel, staleReasons, traceAsync, traceHit, traceOpen,
  type CallOrigin, type LockWaitContext, type ReadContext,
} from '../observe/diagnostics.ts'
import { CacheClosedError } from '../errors.ts'
import { HeldLock, lockToken } from './lock.ts'
import type { ResolvedEntryOptions } from '../options/resolve.ts'
import { isFresh, lockWaitLimit, shouldRefreshEarly, shouldServeStaleWhileRevalidating, waitSlice } from './policies.ts'
import { resultOf, type CacheResult } from './result.ts'
import type { L1Record } from '../memory/tier.ts'
import type { Watch } from './watches.ts'

/**
 * The read-through pipeline, one call from its key to its value:
 *
 *   L1 (fresh, tags unchanged) ─► value                                 no round trip
 *   single-flight(key) ─► GET ─► fresh value ─► L1 ─► value                  1 round trip
 *                       └► READ_OR_LOCK script ─► lock won ─► compute (compute.ts) ─► FILL script
 *                                              └► lock held ─► wait for the winner's write ─► GET
 *
 * What the calls share is the `Core`; the computation and its write are `compute.ts`;
 * the lock's renewal and release are `lock.ts`; the decisions are named in `policies.ts`.
 */

/** Where a fill starts from. */
interface FillFrom {
  stale: Entry | undefined
  /** L2 values created at or before this (server ms) do not count: a refresh. 0 for any. */
  newerThan: number
  detach?: () => void
}

/** What one read-or-lock found, decoded. */
type Found =
  | { kind: 'hit'; entry: Entry }
  | { kind: 'won'; stale: Entry | undefined; serverNow: number }
  | { kind: 'held'; stale: Entry | undefined; holderMs: number }
  /** Fresh by its header, but refused (tags, signature, corrupt): take the lock regardless. */
  | { kind: 'unusable' }
  | { kind: 'down' }

export class ReadThrough {
  private readonly core: Core

  constructor(core: Core) {
    this.core = core
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
      const entry = record === undefined ? undefined : this.checked(call.key, record)
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
    const core = this.core
    if (core.closed) throw new CacheClosedError()
    if (core.l1 !== undefined) {
      const record = core.l1.get(key, core.now())
      const entry = record === undefined ? undefined : await this.checked(key, record)
      const found = entry !== undefined && isFresh(entry, core.now())
      if (counted) this.countL1(key, found)
      if (found) return resultOf(entry, 'hit')
    }
    if (core.l2 === undefined) return undefined
    await core.l2.whenStarted()
    const looked = await this.lookup({ key, newerThan: 0, count: true }, asIs)
    return looked.kind === 'hit' ? resultOf(looked.entry, 'hit') : undefined
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
    this.background(call, (plain) => this.fill(plain, { stale: undefined, newerThan: current.created }))
  }

  /** Recomputes now, whatever is cached (memoized `refresh`); concurrent callers share the run. */
  async recompute<T>(call: Call<T>): Promise<T> {
    if (this.core.closed) throw new CacheClosedError()
    // Any value computed from now on will do, ours or another process's; never the value
    // we were asked to replace (clock offsets are estimates: its `created` may look later than our now).
    const since = Math.max(this.core.now() - 1, (await this.peek(call.key, false))?.created ?? 0)
    return (await this.fill(call, { stale: undefined, newerThan: since })).value
  }

  /** Stores the value `call.factory` returns under `call.key` (`cache.set`). */
  async write<T>(call: Call<T>): Promise<void> {
    if (this.core.closed) throw new CacheClosedError()
    await storeValue(this.core, call, await call.factory())
  }

  /** Deletes a full key everywhere, with its lock: a computation in flight, here or elsewhere, stores nothing. */
  async delete(key: string): Promise<void> {
    const core = this.core
    if (core.closed) throw new CacheClosedError()
    core.touch(key)
    core.remembered.delete(key)
    // Callers from now on start afresh rather than join a computation the delete made stale.
    core.flights.forget(key)
    core.events.emit('delete', { key })
    if (core.l2 === undefined) return
    await core.l2.whenStarted()
    await core.l2.del(key, core.layout.lockKey(key))
    // A read of this process that sent its GET before the DEL must not keep the old value.
    core.touch(key)
    const announced = core.announce([key])
    if (announced !== undefined) await announced
  }

  /** The L1 record's entry if its tags are still valid (checked once per stamp epoch); else dropped. */
  private checked(key: string, record: L1Record): Entry | undefined | Promise<Entry | undefined> {
    const tags = this.core.tags
    const epoch = tags.epoch
    if (record.epoch === epoch) return record.entry
    const keep = (valid: boolean): Entry | undefined => {
      if (valid) {
        record.epoch = epoch
        return record.entry
      }
      this.core.l1?.delete(key)
      return undefined
    }
    const valid = tags.valid(record.entry)
    return typeof valid === 'boolean' ? keep(valid) : valid.then(keep)
  }

  /**
   * Runs `work` in the background, once per key, at most `refreshConcurrency` at a time,
   * with the call's options made plain: no stale fallback (a failure is an `error` event,
   * not a value) and no soft timeout. False when one already runs for the key.
   */
  private background<T>(call: Call<T>, work: (plain: Call<T>) => Promise<unknown>): boolean {
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

  /**
   * L2, then the lock, then the function. Not an async function, and the GET's reply is
   * decided on in one callback (see {@link lookup}): an L2 hit settles the flight in the
   * microtask turn after the tier's answer, not two turns after it.
   */
  private fill<T>(call: Call<T>, from: FillFrom): Promise<CacheResult<T>> {
    // Only a cache created a moment ago waits; afterwards this costs no tick.
    const starting = this.core.l2?.whenStarted()
    if (starting !== undefined) return starting.then(() => this.fillStarted(call, from))
    return this.fillStarted(call, from)
  }

  private fillStarted<T>(call: Call<T>, from: FillFrom): Promise<CacheResult<T>> {
    const core = this.core
    const { key } = call
    // Negative caching (opt-in): the same error again, unless another process stored a value meanwhile.
    const remembered = from.newerThan === 0 ? core.remembered.get(key, core.tags.epoch) : undefined
    if (remembered !== undefined) return this.rememberedUnlessStored<T>(key, remembered.error)
    if (core.l2 === undefined) return compute(core, call, { stale: from.stale, detach: from.detach })
    // An L2 hit is one GET; only a miss, or a stale value, goes on to the lock.
    return this.lookup({ key, newerThan: from.newerThan, count: true }, (looked) => {
      if (looked.kind === 'hit') return resultOf<T>(looked.entry, 'hit')
      // Redis just failed: straight to the function, not through more timeouts.
      if (looked.kind === 'down') return compute(core, call, { stale: from.stale, detach: from.detach })
      return this.lockOrWait(call, { ...from, stale: newer(from.stale, looked.stale) })
    })
  }

  /** A remembered error, thrown again, unless another process has stored a value since. */
  private async rememberedUnlessStored<T>(key: string, error: unknown): Promise<CacheResult<T>> {
    const looked = this.core.l2 === undefined ? undefined : await this.lookup({ key, newerThan: 0, count: true }, asIs)
    if (looked?.kind === 'hit') return resultOf(looked.entry, 'hit')
    throw error
  }

  /** One computation across processes: take the lock with the read, or wait for whoever has it (traced on `memoredis:lock-wait`). */
  private lockOrWait<T>(call: Call<T>, from: FillFrom): Promise<CacheResult<T>> {
    if (!lockWaitChannel.hasSubscribers) return this.lockOrWaitFor(call, from, undefined)
    const wait: WaitTrace = { context: undefined }
    // What the loop throws while a wait is open (the cache closed) ends the wait with it.
    return this.lockOrWaitFor(call, from, wait).catch((error: unknown) => {
      endWait(wait, 'error', error)
      throw error
    })
  }

  private async lockOrWaitFor<T>(call: Call<T>, from: FillFrom, wait: WaitTrace | undefined): Promise<CacheResult<T>> {
    const core = this.core
    const { key, options } = call
    const lockKey = core.layout.lockKey(key)
    const token = lockToken()
    // Durations on the monotonic clock: the wall clock may jump.
    const started = performance.now()
    let stale = from.stale
    let skipValue = false
    let waited = false
    for (;;) {
      // Armed before the read, so that the winner's write cannot slip between the two.
      const armed = core.waiters.arm(key)
      const found = await this.readOrLock(call, { lockKey, token, newerThan: from.newerThan, skipValue })
      if (found.kind !== 'held') armed.cancel()
      switch (found.kind) {
        case 'hit':
          endWait(wait, 'value')
          return resultOf(found.entry, 'hit')
        case 'unusable':
          skipValue = true
          continue
        case 'down':
          // No Redis, or it just failed: straight to the function, not through more timeouts.
          endWait(wait, 'error')
          return compute(core, call, { stale, detach: from.detach })
        case 'won':
          // After a wait: the lock went away without a value.
          endWait(wait, 'error')
          return this.won(call, { stale: newer(stale, found.stale), lock: this.hold(key, lockKey, token, options.lockTtl), serverNow: found.serverNow, from })
      }
      stale = newer(stale, found.stale)
      // Someone refreshes it: within grace, serve the stale value at once; the background
      // refresh waits for that holder's value.
      if (from.newerThan === 0 && shouldServeStaleWhileRevalidating(stale, options)) {
        armed.cancel()
        endWait(wait, 'stale')
        this.refreshInBackground(call, stale)
        return serveStale(core, key, stale, 'revalidate')
      }
      if (!waited) {
        waited = true
        core.stats.lockWaits++
        core.events.emit('lock-wait', { key })
        if (wait !== undefined) openWait(wait, call)
      }
      const limit = lockWaitLimit(stale !== undefined, options)
      const remaining = started + limit - performance.now()
      if (remaining <= 0) {
        armed.cancel()
        endWait(wait, stale === undefined ? 'timeout' : 'stale')
        return this.gaveUp(call, stale, started)
      }
      // Lost the lock: wait for the winner's write (or its lock's end) instead of polling.
      // Until this process's channel listens (it just started), look again soon.
      const settled = core.coherence === undefined || core.coherence.settled
      await armed.wait(settled ? waitSlice(found.holderMs, remaining) : Math.min(50, remaining))
      if (core.closed) throw new CacheClosedError()
      const written = await this.lookup({ key, newerThan: from.newerThan, count: false }, asIs)
      if (written.kind === 'hit') {
        endWait(wait, 'value')
        return resultOf(written.entry, 'hit')
      }
    }
  }

  /** Won the lock: compute (with stale-while-revalidate, in the background, serving stale now). */
  private won<T>(call: Call<T>, w: { stale: Entry | undefined; lock: HeldLock; serverNow: number; from: FillFrom }): Promise<CacheResult<T>> {
    const core = this.core
    const revalidating =
      w.from.newerThan === 0 &&
      shouldServeStaleWhileRevalidating(w.stale, call.options) &&
      this.background(call, (plain) => compute(core, plain, { stale: undefined, lock: w.lock, serverNow: w.serverNow }))
    if (revalidating) return Promise.resolve(serveStale(core, call.key, w.stale as Entry, 'revalidate'))
    return compute(core, call, { stale: w.stale, lock: w.lock, serverNow: w.serverNow, detach: w.from.detach })
  }

  /** The wait ran out: the stale value if there is one, else compute without the lock. */
  private gaveUp<T>(call: Call<T>, stale: Entry | undefined, started: number): Promise<CacheResult<T>> | CacheResult<T> {
    const core = this.core
    const { key, options } = call
    // The holder goes on and fills the cache; this caller takes the stale value now.
    if (stale !== undefined && options.softTimeout > 0) return serveStale(core, key, stale, 'soft-timeout')
    core.stats.lockTimeouts++
    core.events.emit('lock-timeout', { key, durationMs: Math.round(performance.now() - started) })
    if (stale !== undefined) return serveStale(core, key, stale, 'lock-timeout')
    return compute(core, call, { stale })
  }

  /** The read of a miss, decoded: a fresh value, the lock, or who holds it. */
  private async readOrLock<T>(call: Call<T>, a: Attempt): Promise<Found> {
    const core = this.core
    const l2 = core.l2 as NonNullable<Core['l2']>
    const { key, options } = call
    // Watched until the value is in L1: a write reported before then keeps it out.
    const watch = core.watchValue(key)
    let reply
    try {
      reply = await l2.readOrLock({ key, lockKey: a.lockKey, token: a.token, lockTtlMs: options.lockTtl, newerThan: a.newerThan, skipValue: a.skipValue, now: core.now() })
    } catch (error) {
      core.unwatch(key, watch)
      core.error(error, key, 'l2')
      return { kind: 'down' }
    }
    if (reply.kind === 'fresh') {
      const accepted = await this.accept({ key, bytes: reply.bytes, newerThan: a.newerThan, watch })
      if (accepted !== undefined && accepted.fresh) return { kind: 'hit', entry: accepted.entry }
      return { kind: 'unusable' }
    }
    const stale = reply.bytes === null ? undefined : (await this.accept({ key, bytes: reply.bytes, newerThan: a.newerThan, watch }))?.entry
    if (reply.bytes === null) core.unwatch(key, watch)
    if (reply.kind === 'won') return { kind: 'won', stale, serverNow: reply.serverNow }
    return { kind: 'held', stale, holderMs: reply.holderMs }
  }

  /**
   * One GET, then `next` with what it found: a fresh value, a stale one within grace (see
   * {@link accept}), nothing, or Redis failing. Continuation-passing, so that `next` runs in
   * the callback of the GET's reply itself (pass {@link asIs} for the finding).
   */
  private lookup<R>(at: Lookup, next: (looked: Looked) => R | Promise<R>): Promise<R> {
    const core = this.core
    const { key } = at
    const watch = core.watchValue(key)
    return (core.l2 as NonNullable<Core['l2']>).get(key).then(
      (bytes) => {
        if (bytes === null) {
          core.unwatch(key, watch)
          return next(this.missed(key, undefined, at.count))
        }
        // Awaited only when a tag's stamp had to be read: a hit costs no extra turn.
        const checking = this.accept({ key, bytes, newerThan: at.newerThan, watch })
        if (checking instanceof Promise) return checking.then((accepted) => next(this.looked(key, accepted, at.count)))
        return next(this.looked(key, checking, at.count))
      },
      (error: unknown) => {
        core.unwatch(key, watch)
        core.error(error, key, 'l2')
        return next(DOWN)
      },
    )
  }

  /** What an accepted (or refused: undefined) value makes of a lookup. */
  private looked(key: string, accepted: Accepted | undefined, count: boolean): Looked {
    if (accepted?.fresh === true) return { kind: 'hit', entry: accepted.entry }
    return this.missed(key, accepted?.entry, count)
  }

  /** A lookup that found no fresh value; `stale`: one within grace. */
  private missed(key: string, stale: Entry | undefined, count: boolean): Looked {
    if (count) this.countMiss(key)
    return { kind: 'miss', stale }
  }

  /**
   * Decodes and checks an L2 value; ends `watch`. Undefined when it is corrupt or
   * tampered (deleted, an `error` event), past grace, not newer than `newerThan`, or
   * invalidated by a tag. A fresh one is counted as a hit and kept in L1. A promise only
   * when a tag's stamp must be read first.
   */
  private accept(read: ValueRead): Accepted | undefined | Promise<Accepted | undefined> {
    const core = this.core
    const { key, bytes, newerThan } = read
    let entry: DecodedEntry | undefined
    try {
      entry = core.envelope.decode(bytes, key)
    } catch (error) {
      // Corrupt or tampered: never served, deleted so the next writer starts clean.
      core.error(error, key, 'l2')
      core.l2?.del(key).catch((e: unknown) => core.error(e, key, 'l2'))
    }
    // The epoch before the tag check: an invalidation landing during it leaves the L1 copy unchecked.
    const epoch = core.tags.epoch
    // The clock is read once for both checks, unless a tag's stamp must be read in between.
    const now = core.now()
    const valid = entry === undefined || entry.staleUntil <= now || entry.created <= newerThan ? false : core.tags.valid(entry)
    const decoded: Decoded = { key, bytes, newerThan, watch: read.watch, entry, epoch }
    if (typeof valid === 'boolean') return this.accepted(decoded, valid, now)
    return valid.then((checked) => this.accepted(decoded, checked, core.now()))
  }

  /** The end of {@link accept}, once the tags are checked, at `now` (the cache's clock, ms). */
  private accepted(decoded: Decoded, valid: boolean, now: number): Accepted | undefined {
    const core = this.core
    const { key, entry, watch, epoch } = decoded
    core.unwatch(key, watch)
    if (entry === undefined || !valid) return undefined
    const fresh = isFresh(entry, now)
    if (fresh) {
      core.stats.l2Hits++
      if (core.events.hot.hit) core.events.emit('hit', { key, tier: 'l2' })
      if (!watch.dirty) core.l1?.set(key, entry, entry.size, epoch)
    }
    return { entry, fresh }
  }

  private countMiss(key: string): void {
    this.core.stats.l2Misses++
    if (this.core.events.hot.miss) this.core.events.emit('miss', { key, tier: 'l2' })
  }

  private hold(key: string, lockKey: string, token: string, ttlMs: number): HeldLock {
    const core = this.core
    const held: HeldLock = new HeldLock({
      tier: core.l2 as NonNullable<Core['l2']>,
      lockKey,
      token,
      ttlMs,
      lost: core.lostReleases,
      onError: (error, at) => core.error(error, at, 'l2'),
      afterRelease: (announce) => {
        core.heldLocks.delete(held)
        // Waiters elsewhere hear of a release on the channel (the bus needs it announced);
        // after a write they hear of the value itself. Waiters here are woken now.
        const announced = announce ? core.announce([lockKey]) : undefined
        if (announced === undefined) return core.waiters.wake(key)
        return announced.then(() => core.waiters.wake(key))
      },
    })
    core.heldLocks.add(held)
    return held
  }
}

interface Attempt {
  lockKey: string
  token: string
  newerThan: number
  skipValue: boolean
}

/** A value {@link ReadThrough.accept} took, and whether it was fresh when it did. */
interface Accepted {
  entry: Entry
  fresh: boolean
}

/** A value read from Redis, to check (see `accept`); `watch` ends with the check. */
interface ValueRead {
  key: string
  bytes: Buffer
  /** A value created at or before this (server ms) is not accepted. */
  newerThan: number
  watch: Watch
}

/** A value read and decoded (undefined when it could not be), with the tag epoch before its check. */
interface Decoded extends ValueRead {
  entry: DecodedEntry | undefined
  epoch: number
}

/** What one GET found. */
type Looked = { kind: 'hit'; entry: Entry } | { kind: 'miss'; stale: Entry | undefined } | { kind: 'down' }

const DOWN: Looked = { kind: 'down' }

/** A lookup's finding, as it is (the `next` of a caller that awaits it). */
const asIs = (looked: Looked): Looked => looked

/** One GET of a value (see `lookup`). */
interface Lookup {
  key: string
  /** A value created at or before this (server ms) does not count. */
  newerThan: number
  /** Count a miss in the stats and the `miss` event. */
  count: boolean
}

/** A wait for another process's computation, traced from its start until {@link endWait}. */
interface WaitTrace {
  context: LockWaitContext | undefined
}

function openWait<T>(wait: WaitTrace, call: Call<T>): void {
  wait.context = contextOf(call.origin, call.key)
  traceOpen(lockWaitChannel, wait.context)
}

/** Ends an open wait (once) with its outcome; nothing when none is open. */
function endWait(wait: WaitTrace | undefined, outcome: NonNullable<LockWaitContext['outcome']>, error?: unknown): void {
  const context = wait?.context
  if (context === undefined) return
  ;(wait as WaitTrace).context = undefined
  context.outcome = outcome
  if (error === undefined) finish(lockWaitChannel, context)
  else fail(lockWaitChannel, context, error)
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

function newer(a: Entry | undefined, b: Entry | undefined): Entry | undefined {
  if (a === undefined) return b
  return b !== undefined && b.created > a.created ? b : a
}
