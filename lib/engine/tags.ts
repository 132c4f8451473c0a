import { LRUCache } from 'lru-cache'
import type { ServerClock } from './clock.ts'
import type { Entry } from '../codec/envelope.ts'
import type { Tier } from '../observe/events.ts'
import type { RedisTier } from '../redis/tier.ts'
import type { Watch } from './watches.ts'

/**
 * Tags and `clear()` by invalidation stamps. Invalidating a tag stores the Redis
 * server's time under `${prefix}:!tag:<id>` (one script, whatever the number of tagged
 * entries); an entry is valid only if it was created after the stamps of all its tags
 * — its own (`t:<tag>`) and the internal scope tags (`*`, `n:<ns>`, `f:<ns>:<name>`).
 *
 * Stamps are kept here and dropped when another process changes one (coherence). Every
 * change bumps `epoch`: an L1 record remembers the epoch at which its tags were last
 * found valid, so an L1 hit costs one integer compare while no tag changed anywhere.
 */

/** What the stamps need from the cache they serve. */
export interface TagHost {
  readonly l2: RedisTier | undefined
  readonly clock: ServerClock
  /** True when nobody tells this process of new stamps (`coherence: 'off'`). */
  readonly uninformed: boolean
  watch(key: string): Watch
  unwatch(key: string, watch: Watch): void
  error(error: unknown, key?: string, tier?: Tier): void
}

export class TagStamps {
  /** Bumped whenever a stamp changed, or may have changed unheard. */
  epoch = 0
  /** The stamp keys' common prefix, `${prefix}:!tag:`. */
  readonly prefix: string
  private readonly host: TagHost
  /** Stamps seen, bounded. */
  private readonly known = new LRUCache<string, { stamp: number; at: number }>({
    max: 50_000,
    dispose: (seen, _id, reason) => {
      if (reason === 'evict') this.floor = Math.max(this.floor, seen.stamp)
    },
  })
  /** Without Redis to ask, a forgotten stamp is taken to be the newest one forgotten (conservative). */
  private floor = 0

  /** `prefix`: the stamp keys' common prefix, `${prefix}:!tag:`. */
  constructor(host: TagHost, prefix: string) {
    this.host = host
    this.prefix = prefix
  }

  /**
   * True when `entry` was created after the stamps of all its tags. Known stamps are
   * answered at once, without a promise (the common case); unknown ones are read from
   * Redis together, in one round trip.
   */
  valid(entry: Entry): boolean | Promise<boolean> {
    let unknown: string[] | undefined
    for (const id of entry.tags) {
      const known = this.known.get(id)
      // With coherence off nobody tells us of a new stamp: trust a kept one for 1s only.
      if (known === undefined || (this.host.uninformed && Date.now() - known.at >= 1000)) (unknown ??= []).push(id)
      else if (known.stamp >= entry.created) return false
    }
    if (unknown === undefined) return true
    return Promise.all(unknown.map((id) => this.fetch(id))).then((stamps) => stamps.every((s) => s < entry.created))
  }

  /**
   * Makes sure this process hears when any of `ids` is stamped from now on: with client
   * tracking it hears only of stamps it has read, so the unknown ones are read now.
   * Resolves with the newest of their stamps (server ms; 0 when none was ever set).
   */
  async follow(ids: readonly string[]): Promise<number> {
    const stamps = await Promise.all(ids.map((id) => this.known.get(id)?.stamp ?? this.fetch(id)))
    return Math.max(0, ...stamps)
  }

  private async fetch(id: string): Promise<number> {
    const { l2, clock } = this.host
    const known = this.known.get(id)
    if (l2 === undefined || !l2.available) return known?.stamp ?? this.floor
    const epoch = this.epoch
    const key = this.prefix + id
    const watch = this.host.watch(key)
    try {
      const stamp = await l2.getStamp(key)
      clock.saw(stamp)
      // Only kept if no invalidation arrived while we asked, and one would have.
      if (epoch === this.epoch && !watch.dirty) this.known.set(id, { stamp, at: Date.now() })
      return stamp
    } catch (error) {
      this.host.error(error, key, 'l2')
      return known?.stamp ?? this.floor
    } finally {
      this.host.unwatch(key, watch)
    }
  }

  /** Another client changed the stamp of `id` (a tracking or bus notice). */
  changed(id: string): void {
    // Always a new epoch, kept stamp or not: an L1 entry may have been checked against a
    // stamp that was not kept (evicted, or read while this one changed).
    this.known.delete(id)
    this.epoch++
  }

  /** Notices may have been missed: forget every stamp. */
  forgetAll(): void {
    this.known.clear()
    this.epoch++
  }

  /**
   * Stamps `ids` with the server's time (this process's clock without Redis) and keeps
   * the stamps. Resolves with the errors of the stamps Redis did not take.
   */
  async stamp(ids: readonly string[]): Promise<unknown[]> {
    const { l2, clock } = this.host
    const failures: unknown[] = []
    await Promise.all(
      ids.map(async (id) => {
        let stamp = Math.max(clock.now(), this.known.get(id)?.stamp ?? 0)
        if (l2 !== undefined) {
          try {
            stamp = await l2.stampTag(this.prefix + id)
          } catch (error) {
            failures.push(error)
          }
        }
        // What this process computes from now on counts as after the stamp.
        clock.saw(stamp)
        this.known.set(id, { stamp, at: Date.now() })
      }),
    )
    this.epoch++
    return failures
  }
}
