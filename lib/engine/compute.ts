import type { Encoded, Entry } from '../codec/envelope.ts'
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
  factory: () => T | Promise<T>
  options: ResolvedEntryOptions<T>
  /** Who made the call (the cache view, its namespace, the memoized function's name), for tracing. */
  origin: CallOrigin
  /** A refresh in the background, not a caller's call. */
  background?: boolean
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

type Outcome = { kind: 'stored'; entry: Entry } | Exclude<Settled<unknown>, { kind: 'value' }>

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
  const settled = await (computeChannel.hasSubscribers ? tracedRun(call) : runFactory(call.factory, key, options.hardTimeout))
  clearTimeout(lease)
  const s: Store<T> = { value: undefined as T, created, started, lock: from.lock, changed, detach: from.detach }
  if (settled.kind === 'hard-timeout') {
    // The lock goes now, so that another process may take over; a value the function
    // still returns is stored if nobody holds the lock by then.
    await from.lock?.release()
    void settled.late.then((late) => (late.kind === 'value' ? store(core, call, { ...s, value: late.value, lock: undefined }) : undefined))
      .catch((error: unknown) => core.error(error, key))
      .finally(() => core.watches.unwatch(key, changed))
    return settled
  }
  try {
    if (settled.kind === 'error') {
      await from.lock?.release()
      return settled
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
function tracedRun<T>(call: Call<T>): Promise<Settled<T>> {
  const { cache, namespace, name } = call.origin
  const context: ComputeContext = { cache, namespace, name, key: call.key, background: call.background === true }
  return traceAsync(computeChannel, context, () => runFactory(call.factory, call.key, call.options.hardTimeout), (c, outcome) => {
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
}

/** Encodes and stores a computed value (unless `shouldCache` says no); returns its entry. */
async function store<T>(core: Core, call: Call<T>, s: Store<T>): Promise<Entry<T>> {
  const { key, options } = call
  const jitter = core.options.jitter
  const ttl = options.lifetime?.(s.value) ?? (jitter > 0 ? Math.round(options.ttl * (1 - Math.random() * jitter)) : options.ttl)
  const own = options.tags === undefined ? undefined : typeof options.tags === 'function' ? options.tags(s.value) : options.tags
  const tags = own === undefined ? call.scope : [...call.scope, ...own.map(tagId)]
  // Whole milliseconds, rounded up (never fresh for less than asked): freshness is checked
  // to the millisecond, and a whole number is read back from the envelope without a string.
  const fresh = Math.ceil(Math.max(s.created, s.started + ttl))
  const entry: Entry<T> = { value: s.value, created: s.created, freshUntil: fresh, staleUntil: fresh + options.grace, tags }
  if (options.shouldCache !== undefined && !options.shouldCache(s.value)) {
    s.detach?.()
    await s.lock?.release()
    return entry
  }
  let encoded: Encoded
  try {
    encoded = core.envelope.encodeSized(entry, key)
  } catch (error) {
    core.error(error instanceof MemoredisError ? error : new EncodeError(`the value for ${key} could not be encoded: ${String(error)}`, { cause: error }), key)
    s.detach?.()
    await s.lock?.release()
    return entry
  }
  // Watched from the computation's start (`changed`) to the write's reply; the write's echo is not a change.
  const { bytes, size } = encoded
  const writing = core.watchWrite(key, s.changed)
  const tier = await writeL2(core, { key, entry, bytes, lock: s.lock, given: s.given === true })
  // Not if a tag was invalidated while we computed: the value is already out of date.
  const epoch = core.tags.epoch
  let valid = core.tags.valid(entry)
  if (typeof valid !== 'boolean') valid = await valid
  const echoes = core.endWrite(key, writing, tier === 'l2')
  // Not if the key was deleted or written by another client meanwhile; and reads of an
  // older value still under way in this process must not put it back over ours.
  if (tier !== 'lost' && valid && echoes !== undefined && !core.closed) {
    core.touch(key)
    core.l1?.set(key, entry, size, epoch, echoes)
  }
  core.waiters.wake(key)
  if (tier !== 'lost') core.events.emit('set', { key, tier })
  return entry
}

/**
 * Writes to L2: with the lock, one script that writes only while our token holds it
 * (`'lost'` when a delete or the end of the lease took it); without, one that writes only
 * while nobody holds it (`'lost'` when someone computes a newer value). `'l1'` when
 * Redis is not there or failed.
 */
async function writeL2(core: Core, w: { key: string; entry: Entry; bytes: Buffer; lock: HeldLock | undefined; given: boolean }): Promise<Tier | 'lost'> {
  const { key, entry, bytes, lock } = w
  const l2 = core.l2
  if (l2 === undefined) return 'l1'
  await l2.whenStarted()
  if (!l2.available) {
    await lock?.release()
    return 'l1'
  }
  const ttlMs = entry.staleUntil - core.now()
  try {
    if (w.given) await l2.set(key, bytes, ttlMs)
    else if (lock === undefined) {
      const written = await l2.setUnlessLocked({ key, lockKey: core.layout.lockKey(key), bytes, ttlMs, created: entry.created })
      if (!written) return 'lost'
    } else {
      const written = await lock.tier.fill({ key, lockKey: lock.lockKey, token: lock.token, bytes, ttlMs })
      const going = lock.gone()
      if (going !== undefined) await going
      if (!written) return 'lost'
    }
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
