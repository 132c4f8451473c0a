import type { Entry } from '../codec/envelope.ts'
import type { ResolvedEntryOptions } from '../options/resolve.ts'

/**
 * The read path's decisions, named. Times are ms on the cache's clock (`Core.now()`).
 */

/** Fresh: may be served as a hit. */
export function isFresh(entry: Entry, now: number): boolean {
  return entry.freshUntil > now
}

/**
 * A hit that should also start a background refresh: less than `earlyRefresh` of the ttl
 * is left (of the entry's own, from its making, when the ttl is a function of the value).
 */
export function shouldRefreshEarly(entry: Entry, now: number, options: ResolvedEntryOptions<never>): boolean {
  if (options.earlyRefresh <= 0) return false
  const ttl = options.ttlOf === undefined ? options.ttl : entry.freshUntil - entry.created
  return entry.freshUntil - now <= options.earlyRefresh * ttl
}

/** Stale within grace, and stale-while-revalidate: serve it now and refresh in the background. */
export function shouldServeStaleWhileRevalidating(stale: Entry | undefined, options: ResolvedEntryOptions<never>): stale is Entry {
  return stale !== undefined && options.staleWhileRevalidate
}

/**
 * How long a caller waits for another process's computation. With a stale value to fall
 * back on, waiting is a slow computation: the soft timeout bounds it, or `lock.staleWait`
 * without one. Without, `lock.wait`.
 */
export function lockWaitLimit(hasStale: boolean, options: ResolvedEntryOptions<never>): number {
  if (!hasStale) return options.lockWait
  return Math.min(options.lockWait, options.softTimeout > 0 ? options.softTimeout : options.staleWait)
}

/**
 * How long one wait for a lock's holder may sleep before looking again: until the
 * holder's lock would expire (it may have died), but no longer than `remainingMs`. A
 * lock that just went (PTTL -2) is looked at again at once; one with no expiry (-1, not
 * ours: planted or left by hand) only when woken or when the wait runs out.
 */
export function waitSlice(holderMs: number, remainingMs: number): number {
  if (holderMs === -1) return remainingMs
  if (holderMs < 0) return 0
  return Math.min(remainingMs, holderMs + 10)
}

/**
 * The entry as a soft invalidation at `at` leaves it: no longer fresh from then on, and
 * kept as a fallback for its grace (`staleUntil - freshUntil`) counted from then, never
 * longer than it had. With no grace there is nothing left: undefined (soft is then hard).
 * `now` is the cache's clock.
 */
export function expiredAt<E extends Entry>(entry: E, at: number, now: number): E | undefined {
  const freshUntil = Math.max(entry.created, Math.floor(Math.min(entry.freshUntil, at)))
  const staleUntil = Math.min(entry.staleUntil, freshUntil + entry.staleUntil - entry.freshUntil)
  return staleUntil > now && staleUntil > freshUntil ? { ...entry, freshUntil, staleUntil } : undefined
}
