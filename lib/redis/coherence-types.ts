import { randomBytes } from 'node:crypto'
import { RedisError } from '../errors.ts'
import { foreignKeys } from './bus-message.ts'

/**
 * What the engine asks of coherence, whatever the client behind it: the mode it runs
 * in, whether every change will be heard, the notices heard, and the bus announcement.
 * `coherence.ts` implements it over ioredis (RESP2 subscribers, tracking redirected to
 * them), `node-redis/coherence.ts` over node-redis (RESP3 pushes, or a RESP2 redirect).
 * The handlers are the engine's: what a notice does to L1, stamps and waiters.
 */
export interface RedisCoherence {
  /** `'tracking'`, `'bus'` (also after falling back from tracking) or `'off'`. */
  readonly mode: CoherenceMode
  /** Change notices received so far: one per key reported changed, a flush counting one. */
  readonly notices: number
  /** True when every change by another process will be heard: L1 may be filled. */
  readonly settled: boolean
  /** True while this process hears every change now (`cache.health()` says `'degraded'` otherwise). */
  readonly listening: boolean
  /** Tells other processes that `keys` changed (bus and off modes; tracking needs nothing). */
  announce(keys: string[]): Promise<void>
  close(): void
}

export interface CoherenceHandlers {
  /** Keys another client changed or deleted. */
  onKeys(keys: string[]): void
  /** Everything may be stale: drop L1 and tag stamps, wake all waiters. */
  onFlush(reason: string): void
  /** The database was flushed (after `onFlush`): the stamp buckets' floors went with it. */
  onDatabaseFlushed(): void
  /** Coherence is starting or stopping somewhere: reads and writes under way must not fill L1. */
  onUnsettled(): void
  onError(error: RedisError): void
  /** Not an error, but worth knowing (tracking unavailable: fell back to the bus). */
  onWarning(error: RedisError): void
}

export type CoherenceMode = 'tracking' | 'bus' | 'off'

/** The channel client tracking's invalidations are redirected to (RESP2). */
export const INVALIDATE = '__redis__:invalidate'

/**
 * A refusal (not a lost connection) of what tracking needs, `CLIENT TRACKING` or the
 * `__redis__:invalidate` channel: this server will not track for this user, so the bus it is.
 */
export const isRefusal = (error: unknown): error is Error =>
  error instanceof Error && /unknown command|unknown subcommand|NOPERM|syntax error/i.test(error.message)

/**
 * An invalidation heard (client tracking): the keys changed, or null when the whole
 * database was flushed. Tells the handlers; returns the notices it counts.
 */
export function invalidated(handlers: CoherenceHandlers, keys: readonly (Buffer | string)[] | null): number {
  if (keys === null) {
    handlers.onFlush('database flushed')
    handlers.onDatabaseFlushed()
    return 1
  }
  handlers.onKeys(keys.map(String))
  return keys.length
}

/** A bus message heard: another process's keys told to the handlers; returns the notices it counts (none for this process's own). */
export function announced(handlers: CoherenceHandlers, message: Buffer, origin: string): number {
  const keys = foreignKeys(message, origin)
  if (keys === undefined) return 0
  handlers.onKeys(keys)
  return keys.length
}

/** What every coherence keeps whatever the client: its mode, its origin on the bus, the notices heard. */
export abstract class CoherenceState {
  protected current: CoherenceMode
  protected readonly handlers: CoherenceHandlers
  protected closed = false
  /** This cache's id in bus messages, so that it ignores its own. */
  protected readonly origin = randomBytes(8).toString('hex')
  /** Keys reported changed so far: see {@link notices}. */
  protected heard = 0

  constructor(mode: CoherenceMode, handlers: CoherenceHandlers) {
    this.current = mode
    this.handlers = handlers
  }

  /** Opens the bus's subscribers in place of tracking's (see {@link fallBack}). */
  protected abstract listenToBus(): void

  /**
   * `CLIENT TRACKING`, or the subscriber's set-up for it, failed: a refusal (this server
   * will not track for this user) falls back to the bus, anything else is an error.
   * Nothing once tracking was given up: its set-ups still under way fail with it.
   */
  protected trackingFailed(error: unknown): void {
    if (this.closed || this.current !== 'tracking') return
    if (isRefusal(error)) this.fallBack(error)
    else this.handlers.onError(new RedisError('redis: CLIENT TRACKING failed', { cause: error }))
  }

  /** Tracking refused: the bus it is, with a `warning`, and L1 flushed (changes may have gone unheard). */
  protected fallBack(cause: Error): void {
    if (this.current !== 'tracking') return
    this.current = 'bus'
    this.handlers.onWarning(new RedisError(`redis: client tracking unavailable (${cause.message}); coherence falls back to the bus`, { cause }))
    this.listenToBus()
    this.handlers.onFlush('coherence fell back to the bus')
  }

  /** `'tracking'`, `'bus'` (also after falling back from tracking) or `'off'`. */
  get mode(): CoherenceMode {
    return this.current
  }

  /**
   * Change notices received so far: one per key reported changed (tracking or bus), a
   * flush of the whole database counting one. In tracking mode a process hears only of
   * keys it read, and of its own writes of them once each.
   */
  get notices(): number {
    return this.heard
  }
}
