import type { Encoded, Entry, Sized } from '../codec/envelope.ts'
import type { Core } from './core.ts'
import { computeChannel, readChannel, staleReasons, traceAsync, type CallOrigin, type ComputeContext } from '../observe/diagnostics.ts'
import { EncodeError, MemoredisError } from '../errors.ts'
import type { CacheEvents, Tier } from '../observe/events.ts'
import { delay, runFactory, type Settled } from './factory-runner.ts'
import type { HeldLock } from './lock.ts'
import type { ResolvedEntryOptions } from '../options/resolve.ts'
import { resultOf, type CacheResult } from './result.ts'
import type { Watch } from './watches.ts'
import { tagId } from './tags.ts'
import { entryOf } from './entry-of.ts'
import { Computation, type FactoryContext } from './factory-context.ts'

/**
 * A computation, from the function's start to the value's write: run the function
 * under its timeouts (`factory-runner.ts`), write the value with the lock it holds (one
 * script), put it in L1 unless something changed the key meanwhile, and decide what the
 * caller gets (the value, a stale one, or the function's own error).
 */

/** One read-through call: the key, its scope tags, the function and its options. */
export interface Call<T> {
  key: string
  /** Scope tag ids (`*`, `n:<ns>`, `f:<ns>:<name>`) the entry carries besides its own tags. */
  scope: readonly string[]
  factory: (ctx: FactoryContext<T>) => T | Promise<T>
  options: ResolvedEntryOptions<T>
  /** Who made the call (the cache view, its namespace, the memoized function's name), for tracing. */
  origin: CallOrigin
  /** A refresh in the background, not a caller's call. */
  background?: boolean
  /** The entry a refresh replaces: the function sees it (`FactoryContext.stale`); never a fallback. */
  previous?: Entry
}

/** What a computation starts from. */
export interface ComputeFrom {
  /** A stale value within grace to fall back on. */
  stale: Entry | undefined
  /** The lock, when this process won it; without, the value is written plainly (or not at all). */
  lock?: HeldLock
  /** The server's clock when the lock was taken: the entry's `created`. */
  serverNow?: number
  /**
   * Lets later callers start afresh (see `SingleFlight.run`): when the lease runs out, or
   * as soon as the value is known not to be stored, before the lock's release goes out.
   */
  detach?: () => void
}

/** `failed`: the function called `fail()`: no stale value, nothing remembered. */
type Outcome = { kind: 'stored'; entry: Entry } | { kind: 'failed'; error: unknown } | Exclude<Settled<unknown>, { kind: 'value' }>

const SOFT = Symbol('soft timeout')

/** Runs the function, stores its value, and answers the caller. */
export async function compute<T>(core: Core, call: Call<T>, from: ComputeFrom): Promise<CacheResult<T>> {
  const { key, options } = call
  core.stats.computations++
  const stored = run(core, call, from)
  let outcome: Outcome
  if (options.softTimeout > 0 && from.stale !== undefined) {
    const soft = delay(options.softTimeout)
    const first = await Promise.race([stored, soft.done.then((): typeof SOFT => SOFT)])
    soft.cancel()
    if (first === SOFT) {
      // Serve stale now; the computation goes on, under its hard timeout, and fills the cache.
      void stored.then((late) => {
        if (late.kind !== 'stored') core.error(late.error, key)
      })
      return serveStale(core, key, from.stale, 'soft-timeout')
    }
    outcome = first
  } else {
    outcome = await stored
  }
  if (outcome.kind === 'stored') return resultOf(outcome.entry, 'miss')
  if (outcome.kind === 'failed') throw outcome.error
  // Fail-safe: a stale value within grace rather than the error.
  if (from.stale !== undefined) return serveStale(core, key, from.stale, outcome.kind, outcome.error)
  if (options.errorTtl > 0) await rememberError(core, call, outcome.error)
  throw outcome.error
}

/**
 * Remembers a failure (`errorTtl`) until any stamp that covers it changes: its scope's and
 * its own tags' (when given as a list). The stamps are read first, so that this process
 * hears of their changes; one stamped since the failure means nothing is remembered.
 */
async function rememberError<T>(core: Core, call: Call<T>, error: unknown): Promise<void> {
  const failedAt = core.clock.startedAt()
  const epoch = core.tags.epoch
  const tags = call.options.tags
  const own = Array.isArray(tags) ? (tags as readonly string[]).map(tagId) : []
  if ((await core.tags.follow([...call.scope, ...own])) >= failedAt) return
  // A change heard meanwhile moved the epoch: the error is forgotten at its first read.
  core.remembered.set(call.key, error, call.options.errorTtl, epoch)
}

/** The function under its hard timeout and lease, then the write. Never rejects. */
async function run<T>(core: Core, call: Call<T>, from: ComputeFrom): Promise<Outcome> {
  const { key, options } = call
  // When the computation started, on the server's clock, for tags: exact when the lock
  // script told us; else our estimate less its error bound, so that a value computed
  // across an invalidation is never taken as made after it (at worst, one more miss).
  // Freshness runs from the same moment.
  const created = from.serverNow ?? core.clock.startedAt()
  const started = core.now()
  const startedAt = performance.now()
  // A delete (or another writer) while the function runs keeps its value out of L1.
  const changed = core.watches.watch(key, false)
  // With no hard timeout, the lease bounds how long the lock and the flight are held.
  // A plain timer, not `delay()`: a miss then costs no promise for a lease that rarely ends.
  const lease =
    options.hardTimeout > 0 || options.lockLease <= 0
      ? undefined
      : setTimeout(() => {
          void from.lock?.release()
          from.detach?.()
        }, options.lockLease)
  const ctx = new Computation<T>(key, from.stale ?? call.previous, core.closing.signal)
  const settled = await (computeChannel.hasSubscribers ? tracedRun(call, ctx) : runFactory(call.factory, ctx, options.hardTimeout))
  clearTimeout(lease)
  const s: Store<T> = { value: undefined as T, created, started, lock: from.lock, changed, detach: from.detach, ctx }
  if (settled.kind === 'hard-timeout') {
    // The lock goes now, so that another process may take over; a value the function
    // still returns is stored if nobody holds the lock by then.
    await from.lock?.release()
    // Not a value whose function called fail(), whatever it returned after.
    const storable = (late: Settled<T>): late is { kind: 'value'; value: T } => late.kind === 'value' && ctx.failure === undefined
    void settled.late.then((late) => (storable(late) ? store(core, call, { ...s, value: late.value, lock: undefined }) : undefined))
      .catch((error: unknown) => core.error(error, key))
      .finally(() => core.watches.unwatch(key, changed))
    return settled
  }
  try {
    if (ctx.failure !== undefined || settled.kind === 'error') {
      await from.lock?.release()
      if (ctx.failure !== undefined) return { kind: 'failed', error: ctx.failure.error }
      return settled as Outcome
    }
    core.events.emit('compute', { key, durationMs: Math.round(performance.now() - startedAt) })
    return { kind: 'stored', entry: await store(core, call, { ...s, value: settled.value }) }
  } catch (error) {
    // `tags` or `shouldCache` threw: the call fails like the function would have.
    await from.lock?.release()
    return { kind: 'error', error }
  } finally {
    core.watches.unwatch(key, changed)
  }
}

/** {@link runFactory} on the `memoredis:compute` channel. */
function tracedRun<T>(call: Call<T>, ctx: Computation<T>): Promise<Settled<T>> {
  const { cache, namespace, name } = call.origin
  const context: ComputeContext = { cache, namespace, name, key: call.key, background: call.background === true }
  return traceAsync(computeChannel, context, () => runFactory(call.factory, ctx, call.options.hardTimeout), (c, outcome) => {
    // runFactory never rejects: the function's error (or its hard timeout) is a settled kind.
    const settled = 'value' in outcome ? outcome.value : undefined
    if (settled?.kind === 'value') c.result = settled.value
    else if (settled !== undefined) c.error = settled.error
  })
}

interface Store<T> {
  value: T
  /** For tags: server clock ms. */
  created: number
  /** Where the ttl starts: this process's clock (`Core.now()`). */
  started: number
  lock: HeldLock | undefined
  /** A value given (`cache.set`), not computed: written whatever lock there is. */
  given?: boolean
  /** Marked when the key changed while the function ran. */
  changed?: Watch
  /**
   * Lets later callers start afresh once the value is known not to be stored: only the
   * callers that joined while it was computed share a value that is not kept.
   */
  detach?: () => void
  /** The run's context: what the function decided for its value. */
  ctx?: Computation<T>
}

/** Encodes and stores a computed value (unless `shouldCache` or `skip()` says no); returns its entry. */
async function store<T>(core: Core, call: Call<T>, s: Store<T>): Promise<Entry<T>> {
  const { key, options } = call
  const entry = entryOf({ value: s.value, options, scope: call.scope, created: s.created, started: s.started, jitter: core.options.jitter, ctx: s.ctx })
  if (s.ctx?.skipped === true || (options.shouldCache !== undefined && !options.shouldCache(entry.value))) return notStored(entry, s)
  const encoded = encodedFor(core, key, entry, s)
  if (encoded === undefined) return notStored(entry, s)
  // Watched from the computation's start (`changed`) to the write's reply; the write's echo is not a change.
  const writing = core.watchWrite(key, s.changed)
  const tier = await writeL2(core, { key, entry, bytes: encoded.bytes, lock: s.lock, given: s.given === true })
  // Not if a tag was invalidated while we computed: the value is already out of date.
  const epoch = core.tags.epoch
  let checked = core.tags.check(entry, core.now())
  if (checked instanceof Promise) checked = await checked
  // Stale already (softly invalidated while we computed): the caller has it, L1 does not.
  const valid = checked === entry
  const echoes = core.endWrite(key, writing, tier === 'l2')
  // Not if the key was deleted or written by another client meanwhile; and reads of an
  // older value still under way in this process must not put it back over ours.
  if (tier !== 'lost' && valid && echoes !== undefined && !core.closed) {
    core.touch(key)
    core.l1?.set(key, entry, encoded.size, epoch, echoes)
  }
  core.waiters.wake(key)
  if (tier !== 'lost') core.events.emit('set', { key, tier })
  return entry
}

/** A value not kept: later callers start afresh, and the lock goes. */
async function notStored<T>(entry: Entry<T>, s: Store<T>): Promise<Entry<T>> {
  s.detach?.()
  await s.lock?.release()
  return entry
}

/**
 * The entry's bytes and L1 size; no bytes for a value kept by `notModified()` under our
 * lock in an unsigned cache with Redis: the stored one is renewed in place. Undefined
 * (an `error` event) when the value does not encode.
 */
function encodedFor<T>(core: Core, key: string, entry: Entry<T>, s: Store<T>): { bytes: Buffer | undefined; size: number } | undefined {
  const kept = s.ctx?.renewed === true ? (s.ctx.previous as (Entry<T> & Partial<Sized>) | undefined) : undefined
  const inPlace = kept !== undefined && s.lock !== undefined && core.l2 !== undefined && core.options.signingKeys.length === 0
  if (inPlace && kept.size !== undefined) return { bytes: undefined, size: kept.size }
  let encoded: Encoded
  try {
    encoded = core.envelope.encodeSized(entry, key)
  } catch (error) {
    core.error(error instanceof MemoredisError ? error : new EncodeError(`the value for ${key} could not be encoded: ${String(error)}`, { cause: error }), key)
    return undefined
  }
  return inPlace ? { bytes: undefined, size: encoded.size } : encoded
}

/**
 * Writes to L2: with the lock, one script that writes only while our token holds it
 * (`'lost'` when a delete or the end of the lease took it); without, one that writes only
 * while nobody holds it (`'lost'` when someone computes a newer value). `'l1'` when
 * Redis is not there or failed.
 */
async function writeL2(core: Core, w: { key: string; entry: Entry; bytes: Buffer | undefined; lock: HeldLock | undefined; given: boolean }): Promise<Tier | 'lost'> {
  const { key, entry, lock } = w
  const l2 = core.l2
  if (l2 === undefined) return 'l1'
  await l2.whenStarted()
  if (!l2.available) {
    await lock?.release()
    return 'l1'
  }
  const ttlMs = entry.staleUntil - core.now()
  try {
    const written = await send(core, l2, { ...w, ttlMs })
    if (lock !== undefined && !w.given) {
      // The script released the lock with the write (or found it gone).
      const going = lock.gone()
      if (going !== undefined) await going
    }
    if (!written) return 'lost'
  } catch (error) {
    core.error(error, key, 'l2')
    await lock?.release()
    return 'l1'
  }
  // Bus mode only: with tracking, Redis tells the processes that read the key.
  const announced = core.announce([key])
  if (announced !== undefined) await announced
  return 'l2'
}

/**
 * The one write command of {@link writeL2}: a value given (`cache.set`); under our lock,
 * the value (`FILL`), or with no bytes the stored value renewed in place
 * (`notModified()`); without the lock, only while nobody holds it. False when not written.
 */
async function send(core: Core, l2: NonNullable<Core['l2']>, w: { key: string; entry: Entry; bytes: Buffer | undefined; lock: HeldLock | undefined; given: boolean; ttlMs: number }): Promise<boolean> {
  const { key, entry, bytes, lock, ttlMs } = w
  if (w.given) {
    await l2.set(key, bytes as Buffer, ttlMs)
    return true
  }
  if (lock === undefined) return l2.setUnlessLocked({ key, lockKey: core.layout.lockKey(key), bytes: bytes as Buffer, ttlMs, created: entry.created })
  // Through the lock's own store: a batch's coalesces the fills of one tick.
  if (bytes !== undefined) return lock.tier.fill({ key, lockKey: lock.lockKey, token: lock.token, bytes, ttlMs })
  return lock.tier.renew({ key, lockKey: lock.lockKey, token: lock.token, created: entry.created, freshUntil: entry.freshUntil, staleUntil: entry.staleUntil, ttlMs })
}

/** Stores a value given, not computed (`cache.set`): no lock, created now. */
export async function storeValue<T>(core: Core, call: Call<T>, value: T): Promise<void> {
  // Created after the first connection's set-up, as a computed value is: after the stamp buckets' floors.
  await core.l2?.whenStarted()
  const now = core.now()
  await store(core, call, { value, created: now, started: now, lock: undefined, given: true })
}

/** Serves a stale value. `error` is the function's, which no caller sees: it becomes an `error` event. */
export function serveStale<T>(core: Core, key: string, entry: Entry, reason: CacheEvents['stale']['reason'], error?: unknown): CacheResult<T> {
  core.stats.stale++
  core.stats.staleByReason[reason]++
  core.events.emit('stale', { key, reason })
  if (error !== undefined) core.error(error, key)
  const result = resultOf<T>(entry, 'stale')
  if (readChannel.hasSubscribers) staleReasons.set(result, reason)
  return result
}
