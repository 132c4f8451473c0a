import type { Entry } from './codec.ts'

/** What a read-through call found: the value, and whether it came fresh from a tier, fresh from the function, or stale. */
export interface CacheResult<T> {
  value: T
  status: 'hit' | 'miss' | 'stale'
  /** When the value was computed, epoch ms (server clock). */
  created: number
}

/** The result of a call served `entry` with `status`. */
export function resultOf<T>(entry: Entry, status: CacheResult<T>['status']): CacheResult<T> {
  return { value: entry.value as T, status, created: entry.created }
}
