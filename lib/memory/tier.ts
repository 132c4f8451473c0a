import { LRUCache } from 'lru-cache'
import type { Entry } from '../codec/envelope.ts'
import { deepFreeze } from './freeze.ts'

/**
 * L1: the in-process LRU. Holds decoded entries (the very objects handed to callers),
 * bounded in entries and in bytes of their encoded form before compression (what a
 * decoded value's size follows; see `Sized` in `codec/envelope.ts`). With `freeze`, every value is
 * deep-frozen as it enters (`set` is the only way in; see `freeze.ts`). Entries are kept until their
 * `staleUntil` so that a stale value can still be a fallback; freshness is the caller's
 * check. `epoch` records the tag-stamp epoch at which the entry's tags were last found
 * valid (`TagStamps.epoch`, in `engine/tags.ts`), so that a hit costs one integer compare while no tag changed.
 */
export interface L1Record {
  entry: Entry
  epoch: number
  /** Notices this copy still takes for the echo of this process's own write of it (see `Watches`), 0 or 1. */
  echoes: number
}

export class MemoryTier {
  private readonly lru: LRUCache<string, L1Record>
  private readonly freeze: boolean

  /**
   * At most `max` entries and `maxSize` bytes (of uncompressed encoded values); `freeze` deep-freezes
   * the plain data of every value stored (default false: values are kept as they are).
   */
  constructor(max: number, maxSize: number, freeze = false) {
    this.lru = new LRUCache<string, L1Record>({ max, maxSize })
    this.freeze = freeze
  }

  /** The record under `key`, or undefined (also when it is past `staleUntil`, which drops it). */
  get(key: string, now: number): L1Record | undefined {
    const record = this.lru.get(key)
    if (record !== undefined && record.entry.staleUntil <= now) {
      this.lru.delete(key)
      return undefined
    }
    return record
  }

  /**
   * Stores an entry whose encoded form is `size` bytes uncompressed (at least 1); with `freeze`,
   * deep-freezes its value in place first. `echoes`: notices still to come for this
   * process's own write of it, which the copy survives (default 0).
   */
  set(key: string, entry: Entry, size: number, epoch: number, echoes = 0): void {
    if (this.freeze) deepFreeze(entry.value)
    this.lru.set(key, { entry, epoch, echoes }, { size: size > 0 ? size : 1 })
  }

  delete(key: string): void {
    this.lru.delete(key)
  }

  /** A notice that `key` changed: the copy goes, unless it takes the notice for the echo of its own write. */
  hear(key: string): void {
    const record = this.lru.peek(key)
    if (record !== undefined && record.echoes > 0) record.echoes--
    else this.lru.delete(key)
  }

  /** Drops every entry (the invalidation channel was lost, or everything was cleared). */
  clear(): void {
    this.lru.clear()
  }

  get size(): number {
    return this.lru.size
  }

  /** The bytes held now: the sum of the entries' encoded sizes (at least 1 each). */
  get bytes(): number {
    return this.lru.calculatedSize
  }
}
