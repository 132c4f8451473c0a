import type { DecodedEntry, Entry } from '../codec/envelope.ts'
import type { RedisStore } from '../redis/store.ts'
import type { Core } from './core.ts'
import { isFresh } from './policies.ts'
import type { Watch } from './watches.ts'

/**
 * Values read from Redis, and whether to take them: one GET ({@link RedisReads.lookup}),
 * then the value decoded, verified, checked against its tags and its grace, counted, and
 * kept in L1 when fresh ({@link RedisReads.accept}). The lock script's value goes through
 * the same `accept`.
 */

/** What one GET found. */
export type Looked = { kind: 'hit'; entry: Entry } | { kind: 'miss'; stale: Entry | undefined } | { kind: 'down' }

/** One GET of a value (see {@link RedisReads.lookup}). */
export interface Lookup {
  key: string
  /** A value created at or before this (server ms) does not count. */
  newerThan: number
  /** Count a miss in the stats and the `miss` event. */
  count: boolean
}

/** A value read from Redis, to check (see {@link RedisReads.accept}); `watch` ends with the check. */
export interface ValueRead {
  key: string
  bytes: Buffer
  /** A value created at or before this (server ms) is not accepted. */
  newerThan: number
  watch: Watch
}

/** A value {@link RedisReads.accept} took, and whether it was fresh when it did. */
export interface Accepted {
  entry: Entry
  fresh: boolean
}

/** A value read and decoded (undefined when it could not be), with the tag epoch before its check. */
interface Decoded extends ValueRead {
  entry: DecodedEntry | undefined
  epoch: number
}

const DOWN: Looked = { kind: 'down' }

/** A lookup's finding, as it is (the `next` of a caller that awaits it). */
export const asIs = (looked: Looked): Looked => looked

export class RedisReads {
  private readonly core: Core
  private readonly l2: RedisStore

  constructor(core: Core, l2: RedisStore) {
    this.core = core
    this.l2 = l2
  }

  /**
   * One GET, then `next` with what it found: a fresh value, a stale one within grace (see
   * {@link accept}), nothing, or Redis failing. Continuation-passing, so that `next` runs in
   * the callback of the GET's reply itself (pass {@link asIs} for the finding).
   */
  lookup<R>(at: Lookup, next: (looked: Looked) => R | Promise<R>): Promise<R> {
    const core = this.core
    const { key } = at
    const watch = core.watchValue(key)
    return this.l2.get(key).then(
      (bytes) => {
        if (bytes === null) {
          core.unwatch(key, watch)
          return next(this.missed(key, undefined, at.count))
        }
        // Awaited only when a tag's stamp had to be read: a hit costs no extra turn.
        const checking = this.accept({ key, bytes, newerThan: at.newerThan, watch })
        if (checking instanceof Promise) return checking.then((accepted) => next(this.looked(key, accepted, at.count)))
        return next(this.looked(key, checking, at.count))
      },
      (error: unknown) => {
        core.unwatch(key, watch)
        core.error(error, key, 'l2')
        return next(DOWN)
      },
    )
  }

  /** {@link lookup} for many keys, counted: one `getMany`, each value accepted as one GET's. */
  async lookupMany(keys: readonly string[]): Promise<Looked[]> {
    // Awaited only when a tag's stamp had to be read, as for one GET.
    const core = this.core
    const watches = keys.map((key) => core.watchValue(key))
    let values: (Buffer | null)[]
    try {
      values = await this.l2.getMany(keys)
    } catch (error) {
      keys.forEach((key, i) => core.unwatch(key, watches[i] as Watch))
      core.error(error, keys[0], 'l2')
      return keys.map(() => DOWN)
    }
    const found = values.map((bytes, i) => {
      const key = keys[i] as string
      const watch = watches[i] as Watch
      if (bytes === null) {
        core.unwatch(key, watch)
        return this.missed(key, undefined, true)
      }
      const checking = this.accept({ key, bytes, newerThan: 0, watch })
      return checking instanceof Promise ? checking.then((accepted) => this.looked(key, accepted, true)) : this.looked(key, checking, true)
    })
    return found.some((looked) => looked instanceof Promise) ? Promise.all(found) : (found as Looked[])
  }

  /**
   * Decodes and checks an L2 value; ends `watch`. Undefined when it is corrupt or
   * tampered (deleted, an `error` event), past grace, not newer than `newerThan`, or
   * invalidated by a tag. A fresh one is counted as a hit and kept in L1. A promise only
   * when a tag's stamp must be read first.
   */
  accept(read: ValueRead): Accepted | undefined | Promise<Accepted | undefined> {
    const core = this.core
    const { key, bytes, newerThan } = read
    let entry: DecodedEntry | undefined
    try {
      entry = core.envelope.decode(bytes, key)
    } catch (error) {
      // Corrupt or tampered: never served, deleted so the next writer starts clean.
      core.error(error, key, 'l2')
      this.l2.del(key).catch((e: unknown) => core.error(e, key, 'l2'))
    }
    // The epoch before the tag check: an invalidation landing during it leaves the L1 copy unchecked.
    const epoch = core.tags.epoch
    // The clock is read once for both checks, unless a tag's stamp must be read in between.
    const now = core.now()
    // A soft invalidation makes it a stale copy (see `TagStamps.check`).
    const checked = entry === undefined || entry.staleUntil <= now || entry.created <= newerThan ? undefined : core.tags.check(entry, now)
    const decoded: Decoded = { key, bytes, newerThan, watch: read.watch, entry, epoch }
    if (!(checked instanceof Promise)) return this.accepted(decoded, checked, now)
    return checked.then((valid) => this.accepted(decoded, valid, core.now()))
  }

  /** The end of {@link accept}, once the tags are checked (`entry`: as they leave it), at `now` (the cache's clock, ms). */
  private accepted(decoded: Decoded, entry: DecodedEntry | undefined, now: number): Accepted | undefined {
    const core = this.core
    const { key, watch, epoch } = decoded
    core.unwatch(key, watch)
    if (entry === undefined) return undefined
    const fresh = isFresh(entry, now)
    if (fresh) {
      core.stats.l2Hits++
      if (core.events.hot.hit) core.events.emit('hit', { key, tier: 'l2' })
      if (!watch.dirty) core.l1?.set(key, entry, entry.size, epoch)
    }
    return { entry, fresh }
  }

  /** What an accepted (or refused: undefined) value makes of a lookup. */
  private looked(key: string, accepted: Accepted | undefined, count: boolean): Looked {
    if (accepted?.fresh === true) return { kind: 'hit', entry: accepted.entry }
    return this.missed(key, accepted?.entry, count)
  }

  /** A lookup that found no fresh value; `stale`: one within grace. */
  private missed(key: string, stale: Entry | undefined, count: boolean): Looked {
    if (count) {
      this.core.stats.l2Misses++
      if (this.core.events.hot.miss) this.core.events.emit('miss', { key, tier: 'l2' })
    }
    return { kind: 'miss', stale }
  }
}
