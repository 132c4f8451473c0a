import type { Entry } from '../codec/envelope.ts'
import { CacheClosedError } from '../errors.ts'
import { contextOf, fail, finish, lockWaitChannel, traceOpen, type LockWaitContext } from '../observe/diagnostics.ts'
import type { RedisStore } from '../redis/store.ts'
import { compute, serveStale, type Call } from './compute.ts'
import type { Core } from './core.ts'
import { holdLock, lockToken } from './lock.ts'
import { lockWaitLimit, shouldServeStaleWhileRevalidating, waitSlice } from './policies.ts'
import { asIs, type RedisReads } from './redis-reads.ts'
import { resultOf, type CacheResult } from './result.ts'
import type { Armed } from './waiters.ts'

/**
 * One computation across processes, after a GET found no fresh value: take the key's
 * lock with the read (`READ_OR_LOCK`), or wait for whoever holds it — woken by its
 * write or its release, never polling — then read again. Traced on `memoredis:lock-wait`.
 */

/** Where a fill starts from. */
export interface FillFrom {
  stale: Entry | undefined
  /** L2 values created at or before this (server ms) do not count: a refresh. 0 for any. */
  newerThan: number
  detach?: () => void
}

/** What the wait needs of the read path around it (`ReadThrough`). */
export interface Around {
  /** Runs `work` in the background, once per key, with the call's options made plain; false when one already runs. */
  background<T>(call: Call<T>, work: (plain: Call<T>) => Promise<unknown>): boolean
  /** Refreshes `key` in the background (see `ReadThrough.refreshInBackground`). */
  refreshInBackground<T>(call: Call<T>, current: Entry): void
}

/** What one read-or-lock found, decoded. */
type Found =
  | { kind: 'hit'; entry: Entry }
  | { kind: 'won'; stale: Entry | undefined; serverNow: number }
  | { kind: 'held'; stale: Entry | undefined; holderMs: number }
  /** Fresh by its header, but refused (tags, signature, corrupt): take the lock regardless. */
  | { kind: 'unusable' }
  | { kind: 'down' }

/** One call's attempts at the lock, from the first to the last. */
interface Attempts {
  readonly lockKey: string
  readonly token: string
  /** When the wait began, on the monotonic clock (the wall clock may jump). */
  readonly started: number
  stale: Entry | undefined
  skipValue: boolean
  waited: boolean
  trace: WaitTrace | undefined
}

/** A wait for another process's computation, traced from its start until {@link endWait}. */
interface WaitTrace {
  context: LockWaitContext | undefined
}

export class LockWait {
  private readonly core: Core
  private readonly l2: RedisStore
  private readonly reads: RedisReads
  private readonly around: Around

  constructor(parts: { core: Core; l2: RedisStore; reads: RedisReads; around: Around }) {
    this.core = parts.core
    this.l2 = parts.l2
    this.reads = parts.reads
    this.around = parts.around
  }

  /** The lock taken with the read, or a wait for its holder; ends with a value, a stale value, or a computation. */
  run<T>(call: Call<T>, from: FillFrom): Promise<CacheResult<T>> {
    const trace: WaitTrace | undefined = lockWaitChannel.hasSubscribers ? { context: undefined } : undefined
    const attempts: Attempts = { lockKey: this.core.layout.lockKey(call.key), token: lockToken(), started: performance.now(), stale: from.stale, skipValue: false, waited: false, trace }
    const running = this.attempt(call, from, attempts)
    if (trace === undefined) return running
    // What the loop throws while a wait is open (the cache closed) ends the wait with it.
    return running.catch((error: unknown) => {
      endWait(trace, 'error', error)
      throw error
    })
  }

  private async attempt<T>(call: Call<T>, from: FillFrom, at: Attempts): Promise<CacheResult<T>> {
    for (;;) {
      // Armed before the read, so that the winner's write cannot slip between the two.
      const armed = this.core.waiters.arm(call.key)
      const found = await this.readOrLock(call, from, at)
      if (found.kind === 'held') {
        const done = await this.held(call, { from, at, found, armed })
        if (done !== undefined) return done
        continue
      }
      armed.cancel()
      if (found.kind === 'unusable') at.skipValue = true
      else return this.settle(call, from, at, found)
    }
  }

  /** The read found a value, Redis down, or the lock ours. */
  private settle<T>(call: Call<T>, from: FillFrom, at: Attempts, found: Exclude<Found, { kind: 'held' | 'unusable' }>): Promise<CacheResult<T>> | CacheResult<T> {
    const core = this.core
    if (found.kind === 'hit') {
      endWait(at.trace, 'value')
      return resultOf(found.entry, 'hit')
    }
    // Either Redis failed (straight to the function, not through more timeouts), or,
    // after a wait, the lock went away without a value.
    endWait(at.trace, 'error')
    if (found.kind === 'down') return compute(core, call, { stale: at.stale, detach: from.detach })
    const lock = holdLock(core, { tier: this.l2, key: call.key, lockKey: at.lockKey, token: at.token, ttlMs: call.options.lockTtl })
    return this.won(call, { stale: newer(at.stale, found.stale), lock, serverNow: found.serverNow, from })
  }

  /** Someone holds the lock: serve stale within grace, give up past the wait's limit, or wait for the holder and read again. */
  private async held<T>(call: Call<T>, h: { from: FillFrom; at: Attempts; found: { stale: Entry | undefined; holderMs: number }; armed: Armed }): Promise<CacheResult<T> | undefined> {
    const core = this.core
    const { from, at, armed } = h
    at.stale = newer(at.stale, h.found.stale)
    // Someone refreshes it: within grace, serve the stale value at once; the background
    // refresh waits for that holder's value.
    if (from.newerThan === 0 && shouldServeStaleWhileRevalidating(at.stale, call.options)) {
      armed.cancel()
      endWait(at.trace, 'stale')
      this.around.refreshInBackground(call, at.stale)
      return serveStale(core, call.key, at.stale, 'revalidate')
    }
    if (!at.waited) this.startWaiting(call, at)
    const remaining = at.started + lockWaitLimit(at.stale !== undefined, call.options) - performance.now()
    if (remaining <= 0) {
      armed.cancel()
      endWait(at.trace, at.stale === undefined ? 'timeout' : 'stale')
      return this.gaveUp(call, at)
    }
    // Lost the lock: wait for the winner's write (or its lock's end) instead of polling.
    // Until this process's channel listens (it just started), look again soon.
    const settled = core.coherence === undefined || core.coherence.settled
    await armed.wait(settled ? waitSlice(h.found.holderMs, remaining) : Math.min(50, remaining))
    if (core.closed) throw new CacheClosedError()
    const written = await this.reads.lookup({ key: call.key, newerThan: from.newerThan, count: false }, asIs)
    if (written.kind !== 'hit') return undefined
    endWait(at.trace, 'value')
    return resultOf(written.entry, 'hit')
  }

  /** The first time a call finds the lock held: counted, an event, and its trace opened. */
  private startWaiting<T>(call: Call<T>, at: Attempts): void {
    at.waited = true
    this.core.stats.lockWaits++
    this.core.events.emit('lock-wait', { key: call.key })
    if (at.trace !== undefined) {
      at.trace.context = contextOf(call.origin, call.key)
      traceOpen(lockWaitChannel, at.trace.context)
    }
  }

  /** Won the lock: compute (with stale-while-revalidate, in the background, serving stale now). */
  private won<T>(call: Call<T>, w: { stale: Entry | undefined; lock: ReturnType<typeof holdLock>; serverNow: number; from: FillFrom }): Promise<CacheResult<T>> {
    const core = this.core
    const revalidating =
      w.from.newerThan === 0 &&
      shouldServeStaleWhileRevalidating(w.stale, call.options) &&
      this.around.background(call, (plain) => compute(core, { ...plain, previous: w.stale }, { stale: undefined, lock: w.lock, serverNow: w.serverNow }))
    if (revalidating) return Promise.resolve(serveStale(core, call.key, w.stale as Entry, 'revalidate'))
    return compute(core, call, { stale: w.stale, lock: w.lock, serverNow: w.serverNow, detach: w.from.detach })
  }

  /** The wait ran out: the stale value if there is one, else compute without the lock. */
  private gaveUp<T>(call: Call<T>, at: Attempts): Promise<CacheResult<T>> | CacheResult<T> {
    const core = this.core
    const { key, options } = call
    const stale = at.stale
    // The holder goes on and fills the cache; this caller takes the stale value now.
    if (stale !== undefined && options.softTimeout > 0) return serveStale(core, key, stale, 'soft-timeout')
    core.stats.lockTimeouts++
    core.events.emit('lock-timeout', { key, durationMs: Math.round(performance.now() - at.started) })
    if (stale !== undefined) return serveStale(core, key, stale, 'lock-timeout')
    return compute(core, call, { stale })
  }

  /** The read of a miss, decoded: a fresh value, the lock, or who holds it. */
  private async readOrLock<T>(call: Call<T>, from: FillFrom, at: Attempts): Promise<Found> {
    const core = this.core
    const { key, options } = call
    const newerThan = from.newerThan
    // Watched until the value is in L1: a write reported before then keeps it out.
    const watch = core.watchValue(key)
    let reply
    try {
      reply = await this.l2.readOrLock({ key, lockKey: at.lockKey, token: at.token, lockTtlMs: options.lockTtl, newerThan, skipValue: at.skipValue, now: core.now() })
    } catch (error) {
      core.unwatch(key, watch)
      core.error(error, key, 'l2')
      return { kind: 'down' }
    }
    if (reply.kind === 'fresh') {
      const accepted = await this.reads.accept({ key, bytes: reply.bytes, newerThan, watch })
      if (accepted !== undefined && accepted.fresh) return { kind: 'hit', entry: accepted.entry }
      return { kind: 'unusable' }
    }
    const stale = reply.bytes === null ? undefined : (await this.reads.accept({ key, bytes: reply.bytes, newerThan, watch }))?.entry
    if (reply.bytes === null) core.unwatch(key, watch)
    if (reply.kind === 'won') return { kind: 'won', stale, serverNow: reply.serverNow }
    return { kind: 'held', stale, holderMs: reply.holderMs }
  }
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

/** The later of two entries (by when they were made). */
export function newer(a: Entry | undefined, b: Entry | undefined): Entry | undefined {
  if (a === undefined) return b
  return b !== undefined && b.created > a.created ? b : a
}
