import type { Entry } from '../codec/envelope.ts'

/** What a read-through call found: the value, and whether it came fresh from a tier, fresh from the function, or stale. */
export interface CacheResult<T> {
  /** The value, as the function returned it (or as decoded from L2). */
  value: T
  /** `'hit'`: fresh from L1 or L2; `'miss'`: the function ran for this call; `'stale'`: past its ttl, within grace. */
  status: 'hit' | 'miss' | 'stale'
  /** When the value was computed, epoch ms (server clock). */
  created: number
}

/** The result of a call served `entry` with `status`. */
export function resultOf<T>(entry: Entry, status: CacheResult<T>['status']): CacheResult<T> {
  return { value: entry.value as T, status, created: entry.created }
}

/** The value of a result: what `getOrSet` and a memoized call answer, where `getOrSetEntry` answers the result. */
export function valueOf<T>(result: CacheResult<T>): T {
  return result.value
}
