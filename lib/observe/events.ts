import { EventEmitter } from 'node:events'
import type { MemoredisError } from '../errors.ts'

/** Which tier an event is about. */
export type Tier = 'l1' | 'l2'

/** Every event a cache emits, with its payload. */
export interface CacheEvents {
  /** A fresh value was found. */
  hit: {
    /** The full Redis key of the entry (`${prefix}:...`). */ key: string
    /** The tier the value was found in. */ tier: Tier
  }
  /** No fresh value in this tier. */
  miss: {
    /** The full Redis key of the entry (`${prefix}:...`). */ key: string
    /** The tier that had no fresh value. */ tier: Tier
  }
  /**
   * A value was stored (`tier` is the deepest tier written). Not emitted for a value
   * that was not stored: `shouldCache` said no, it could not be encoded, or its write
   * lost the key's lock (a `delete` or the end of the lease took it).
   */
  set: {
    /** The full Redis key of the entry (`${prefix}:...`). */ key: string
    /** The deepest tier written: `'l2'` when Redis took it. */ tier: Tier
  }
  /** A key was deleted by `delete`/`invalidate`. */
  delete: {
    /** The full Redis key of the entry (`${prefix}:...`). */ key: string
    /** A soft delete: the value is kept as a stale fallback. */ soft: boolean
  }
  /** Tags were invalidated (`clear()` invalidates internal scope tags and emits this too). */
  invalidate: {
    /** The tags invalidated (empty for `clear()`). */ tags: string[]
    /** A soft invalidation: the entries are kept as stale fallbacks. */ soft: boolean
  }
  /** A stale value was served: within grace while revalidating, or as a fallback. */
  stale: {
    /** The full Redis key of the entry (`${prefix}:...`). */ key: string
    /**
     * Why: `'revalidate'` (stale-while-revalidate), `'error'` (the function threw),
     * `'hard-timeout'`, `'soft-timeout'` (the function, or the wait for another process's
     * computation, passed `timeout.soft`), or `'lock-timeout'` (with no soft timeout, the
     * wait for another process's computation passed `lock.staleWait`, or `lock.wait` if shorter).
     */
    reason: 'revalidate' | 'error' | 'soft-timeout' | 'hard-timeout' | 'lock-timeout'
  }
  /** A background refresh finished (or failed: see `error`). */
  refresh: {
    /** The full Redis key of the entry (`${prefix}:...`). */ key: string
    /** How long the function ran, in milliseconds. */ durationMs: number
  }
  /** The function ran and returned a value (a miss that computed, or a background refresh). */
  compute: {
    /** The full Redis key of the entry (`${prefix}:...`). */ key: string
    /** How long the function ran, in milliseconds. */ durationMs: number
  }
  /** Another process holds the lock; this one waits for its value. */
  'lock-wait': {
    /** The full Redis key of the entry (`${prefix}:...`). */ key: string
  }
  /**
   * The wait for another process's value ran out: without a stale value after
   * `lock.wait`, and this process computes itself, without the lock; with one after
   * `lock.staleWait` (or `lock.wait` if shorter), and the stale value is served. Not
   * emitted when a soft timeout ended the wait (a `stale` event, `'soft-timeout'`).
   */
  'lock-timeout': {
    /** The full Redis key of the entry (`${prefix}:...`). */ key: string
    /** How long this process waited, in milliseconds. */ durationMs: number
  }
  /** Too many Redis failures: no commands are sent for `circuit.resetAfter`. */
  'circuit-open': {
    /** Always `'l2'`: the circuit guards Redis. */ tier: 'l2'
  }
  /** Redis answers again. */
  'circuit-close': {
    /** Always `'l2'`: the circuit guards Redis. */ tier: 'l2'
  }
  /** L1 was emptied because invalidations may have been missed. */
  flush: {
    /** Why, e.g. `'subscriber connection lost'`, `'command connection lost'`, `'database flushed'`. */ reason: string
  }
  /** Something went wrong with Redis or a stored value; the call went on without it. */
  error: {
    /** What failed: a `MemoredisError` with a stable `code`; the original error is its `cause`. */ error: MemoredisError
    /** The entry's key, when the failure was about one. */ key?: string
    /** The tier that failed, when one did. */ tier?: Tier
  }
  /** Not an error, but worth knowing once (e.g. an unregistered class, `ERR_UNREGISTERED_CLASS`). */
  warning: {
    /** What to know, as a `MemoredisError` with a stable `code`. */ error: MemoredisError
  }
}

/** The name of an event a cache emits: a key of {@link CacheEvents}. */
export type CacheEventName = keyof CacheEvents

/**
 * A typed emitter. `hot.hit` / `hot.miss` say whether anyone listens, so that the hot
 * path pays one boolean check, not an object, when nobody does. An `error` with no
 * listener is dropped (never thrown, unlike a plain EventEmitter).
 */
export class Emitter {
  readonly hot = { hit: false, miss: false }
  private readonly emitter = new EventEmitter()

  on<E extends CacheEventName>(event: E, listener: (payload: CacheEvents[E]) => void): void {
    this.emitter.on(event, listener)
    this.refresh()
  }

  off<E extends CacheEventName>(event: E, listener: (payload: CacheEvents[E]) => void): void {
    this.emitter.off(event, listener)
    this.refresh()
  }

  emit<E extends CacheEventName>(event: E, payload: CacheEvents[E]): void {
    if (this.emitter.listenerCount(event) === 0) return
    try {
      this.emitter.emit(event, payload)
    } catch (error) {
      // A listener's bug must not break the cache call that emitted: it surfaces on its
      // own, as an uncaught exception, like any other bug in user code.
      queueMicrotask(() => {
        throw error
      })
    }
  }

  removeAll(): void {
    this.emitter.removeAllListeners()
    this.refresh()
  }

  private refresh(): void {
    this.hot.hit = this.emitter.listenerCount('hit') > 0
    this.hot.miss = this.emitter.listenerCount('miss') > 0
  }
}
