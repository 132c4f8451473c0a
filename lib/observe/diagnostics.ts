import { tracingChannel, type TracingChannelSubscribers } from 'node:diagnostics_channel'
import type { Cache } from '../cache-types.ts'

/**
 * Tracing channels (`node:diagnostics_channel`) for tools such as OpenTelemetry: one
 * trace per read-through call, per run of a function, and per wait for another
 * process's computation. Nothing is built or published while nobody subscribes: each
 * call site checks the channel's `hasSubscribers` first (one property read).
 *
 * Every trace follows Node's convention for promises: `start`, then `end` (the
 * synchronous part is over), then `asyncStart` and `asyncEnd` when the outcome is known,
 * with `error` before them when there is one. The same context object goes to every
 * event of one trace, and its outcome fields are set before `asyncStart`.
 */

/** The names of memoredis's tracing channels: subscribe to `tracing:<name>:start`, `:end`, `:asyncStart`, `:asyncEnd`, `:error`. */
export const channels = {
  /** Each read-through call: a memoized call, `getOrSet`/`getOrSetEntry`, an HTTP middleware lookup. Context: {@link ReadContext}. */
  read: 'memoredis:read',
  /** Each run of the function, in the foreground or as a background refresh. Context: {@link ComputeContext}. */
  compute: 'memoredis:compute',
  /** Each wait for another process's computation (its lock was held). Context: {@link LockWaitContext}. */
  lockWait: 'memoredis:lock-wait',
} as const

/** Who made a call: the cache (view) it was made on, its namespace, and the memoized function's name. */
interface Origin {
  /** The cache, or namespace view, the call was made on (for a memoized function: its `cache`). */
  cache: Cache
  /** The namespace's name as given to `cache.namespace(name)` (`'default'` for the cache itself). */
  namespace: string
  /** The memoized function's name (as in its keys); undefined for `getOrSet` and the HTTP middleware. */
  name: string | undefined
  /** The full Redis key of the entry (`${prefix}:...`). */
  key: string
}

/** The context of a `memoredis:read` trace: one read-through call. */
export interface ReadContext extends Origin {
  /**
   * What the call was served: `'hit-l1'`, `'hit-l2'`, `'miss'` (the function ran for it,
   * here or in the process whose value it waited for; also set when the call rejects),
   * or `'stale'` (see `staleReason`). Set before `asyncStart`.
   */
  status?: 'hit-l1' | 'hit-l2' | 'miss' | 'stale'
  /** Why a stale value was served (as in the `stale` event), when `status` is `'stale'`. */
  staleReason?: 'revalidate' | 'error' | 'soft-timeout' | 'hard-timeout' | 'lock-timeout'
  /** What the call rejected with (the function's error, `CacheClosedError`, ...). */
  error?: unknown
  /** The value the caller got. */
  result?: unknown
}

/** The context of a `memoredis:compute` trace: one run of the function, until it returns, throws or passes its hard timeout. */
export interface ComputeContext extends Origin {
  /** True for a refresh in the background (early refresh, stale-while-revalidate); false when a caller waits for it. */
  background: boolean
  /** What the function threw, or `FactoryTimeoutError` at its hard timeout. */
  error?: unknown
  /** What the function returned. */
  result?: unknown
}

/** The context of a `memoredis:lock-wait` trace: from the first time the lock is found held until the wait ends. */
export interface LockWaitContext extends Origin {
  /**
   * How the wait ended: `'value'` (the holder's value arrived), `'timeout'` (`lock.wait`
   * passed with no stale value: this process computes without the lock), `'stale'` (a
   * stale value was served instead of waiting longer), or `'error'` (the wait ended with
   * no value: the lock went away without one and this process took it, Redis failed, or
   * the cache was closed; `error` is set when an error ended it). Set before `asyncStart`.
   */
  outcome?: 'value' | 'timeout' | 'stale' | 'error'
  /** The error that ended the wait, if any. */
  error?: unknown
}

/** The fields every context shares, known when a call starts. */
export type CallOrigin = Omit<Origin, 'key'>

/** One of a tracing channel's five channels, as memoredis publishes on it. */
interface Publishing<C> {
  publish(message: C): void
}

/**
 * What memoredis uses of a tracing channel whose contexts are `C`. Written out rather than
 * named as `TracingChannel<…>`: @types/node swapped that type's parameters (store then
 * context in 20, context then store in 26), and a declaration that names either order
 * fails a consumer's typecheck on the other.
 */
export interface Tracing<C extends object> {
  readonly hasSubscribers: boolean
  readonly start: Publishing<C> & {
    runStores<T, A extends unknown[]>(context: C, run: (...args: A) => T, thisArg?: unknown, ...args: A): T
  }
  readonly end: Publishing<C>
  readonly asyncStart: Publishing<C>
  readonly asyncEnd: Publishing<C>
  readonly error: Publishing<C>
  subscribe(subscribers: TracingChannelSubscribers<C>): void
  unsubscribe(subscribers: TracingChannelSubscribers<C>): void
}

/** `memoredis:read`. */
export const readChannel: Tracing<ReadContext> = tracingChannel(channels.read)
/** `memoredis:compute`. */
export const computeChannel: Tracing<ComputeContext> = tracingChannel(channels.compute)
/** `memoredis:lock-wait`. */
export const lockWaitChannel: Tracing<LockWaitContext> = tracingChannel(channels.lockWait)

/** Contexts whose trace may end with an error. */
interface Failing {
  error?: unknown
}

/**
 * Traces `run` on `channel` as `tracePromise` does (`start` around the synchronous part,
 * with the channel's bound stores; `end`; then `asyncStart`/`asyncEnd`, after `error` on
 * a rejection), but with `settle` filling the context from the outcome first: a value
 * that stands for a failure sets `context.error`, and is published as one. Call only
 * when `channel.hasSubscribers`.
 */
export function traceAsync<C extends Failing, R>(
  channel: Tracing<C>,
  context: C,
  run: () => Promise<R>,
  settle: (context: C, outcome: { value: R } | { error: unknown }) => void,
): Promise<R> {
  return channel.start.runStores(context, () => {
    try {
      return run().then(
        (value) => {
          settle(context, { value })
          // A run that resolves with a failure (the function's, as a settled outcome) is an error too.
          if (context.error !== undefined) channel.error.publish(context)
          finish(channel, context)
          return value
        },
        (error: unknown) => {
          settle(context, { error })
          fail(channel, context, error)
          throw error
        },
      )
    } finally {
      channel.end.publish(context)
    }
  })
}

/**
 * The fields every context starts with. Written out, not spread: on Node 20 an object
 * spread plus a key took microseconds (a slow path), a literal a few nanoseconds.
 */
export function contextOf(origin: CallOrigin, key: string): Origin {
  return { cache: origin.cache, namespace: origin.namespace, name: origin.name, key }
}

/**
 * Traces an L1 hit answered on the hot path (synchronously): every event at once, in the
 * same order as {@link traceAsync}, the status and result set after `start`.
 */
export function traceHit(origin: CallOrigin, key: string, value: unknown): void {
  const context: ReadContext = contextOf(origin, key)
  readChannel.start.runStores(context, hitSettled, undefined, context, value)
  finish(readChannel, context)
}

function hitSettled(context: ReadContext, value: unknown): void {
  context.status = 'hit-l1'
  context.result = value
  readChannel.end.publish(context)
}

/** Why each stale result of a read was served, kept only while someone traces reads: a caller that joined another's flight learns it here. */
export const staleReasons = new WeakMap<object, NonNullable<ReadContext['staleReason']>>()

/** Opens a trace whose end is published later by {@link finish} or {@link fail} (a wait spread over a loop). */
export function traceOpen<C extends object>(channel: Tracing<C>, context: C): void {
  channel.start.publish(context)
  channel.end.publish(context)
}

/** Publishes the end of a successful trace: `asyncStart`, `asyncEnd`. */
export function finish<C extends object>(channel: Tracing<C>, context: C): void {
  channel.asyncStart.publish(context)
  channel.asyncEnd.publish(context)
}

/** Publishes the end of a failed trace: `error` (with `context.error` set), `asyncStart`, `asyncEnd`. */
export function fail<C extends Failing>(channel: Tracing<C>, context: C, error: unknown): void {
  context.error = error
  channel.error.publish(context)
  finish(channel, context)
}
