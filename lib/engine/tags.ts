import { LRUCache } from 'lru-cache'
import type { ServerClock } from './clock.ts'
import type { Entry } from '../codec/envelope.ts'
import type { Tier } from '../observe/events.ts'
import type { RedisStore, Stamp } from '../redis/store.ts'
import { expiredAt } from './policies.ts'
import type { KeyLayout } from '../keys/layout.ts'
import type { Watch } from './watches.ts'

/**
 * Tags and `clear()` by invalidation stamps. Invalidating a tag stores the Redis
 * server's time under `${prefix}:!tag:{<bucket>}<id>` (one script, whatever the number of
 * tagged entries); an entry is valid only if it was created after the stamps of all its
 * tags — its own (`t:<tag>`) and the internal scope tags (`*`, `n:<ns>`, `f:<ns>:<name>`).
 *
 * A stamp Redis evicted must never read as "never invalidated": a missing stamp counts
 * as its bucket's floor (the newest stamp the bucket ever had), and a missing floor as the
 * moment it is found (see `STAMP_OR_FLOOR`). Losing either costs recomputations, never a
 * wrong value.
 *
 * A soft invalidation (`{ soft: true }`) moves only a stamp's soft part: an entry created
 * after the hard stamp but not after the soft one is no longer fresh, and is kept as a
 * fallback for its grace from the soft stamp on ({@link TagStamps.check}).
 *
 * Stamps are kept here and dropped when another process changes one (coherence). Every
 * change bumps `epoch`: an L1 record remembers the epoch at which its tags were last
 * found valid, so an L1 hit costs one integer compare while no tag changed anywhere.
 */

/** The stamp id of a user's tag (scope ids — `*`, `n:<ns>`, `f:<ns>:<name>` — never start with `t:`). */
export function tagId(tag: string): string {
  return 't:' + tag
}

/** What the stamps need from the cache they serve. */
export interface TagHost {
  readonly l2: RedisStore | undefined
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
  /** Where stamps and floors live. */
  readonly layout: KeyLayout
  private readonly host: TagHost
  /** Stamps seen, bounded. */
  private readonly known = new LRUCache<string, { stamp: Stamp; at: number }>({
    max: 50_000,
    dispose: (seen, _id, reason) => {
      if (reason === 'evict') this.floor = Math.max(this.floor, seen.stamp.soft)
    },
  })
  /** Reads of unknown stamps in flight, by id (see {@link fetch}). */
  private readonly reading = new Map<string, Promise<Stamp>>()
  /** Without Redis to ask, a forgotten stamp is taken to be the newest one forgotten (conservative). */
  private floor = 0

  constructor(host: TagHost, layout: KeyLayout) {
    this.host = host
    this.layout = layout
  }

  /**
   * `entry` if it was created after every stamp of its tags; undefined if not after a hard
   * one (gone); if not after a soft one, the entry expired at the newest such stamp (see
   * `expiredAt`: a fallback within its grace from then, or undefined past it). Known stamps
   * are answered at once, without a promise (the common case); unknown ones are read from
   * Redis together, in one round trip. `now`: the cache's clock.
   */
  check<E extends Entry>(entry: E, now: number): E | undefined | Promise<E | undefined> {
    let unknown: string[] | undefined
    let soft = 0
    for (const id of entry.tags) {
      const stamp = this.kept(id)
      if (stamp === undefined) (unknown ??= []).push(id)
      else if (stamp.hard >= entry.created) return undefined
      else if (stamp.soft >= entry.created && stamp.soft > soft) soft = stamp.soft
    }
    if (unknown === undefined) return soft === 0 ? entry : expiredAt(entry, soft, now)
    return Promise.all(unknown.map((id) => this.fetch(id))).then((stamps) => {
      for (const stamp of stamps) {
        if (stamp.hard >= entry.created) return undefined
        if (stamp.soft >= entry.created && stamp.soft > soft) soft = stamp.soft
      }
      return soft === 0 ? entry : expiredAt(entry, soft, now)
    })
  }

  /** True when every stamp of `ids` is known here: checking them costs no round trip. */
  knows(ids: readonly string[]): boolean {
    for (const id of ids) if (this.kept(id) === undefined) return false
    return true
  }

  /**
   * Makes sure this process hears when any of `ids` is stamped from now on: with client
   * tracking it hears only of stamps it has read, so the unknown ones are read now.
   * Resolves with the newest of their stamps, hard or soft (server ms; a missing one counts
   * as its floor, see {@link read}).
   */
  async follow(ids: readonly string[]): Promise<number> {
    const stamps = await Promise.all(ids.map((id) => this.kept(id) ?? this.fetch(id)))
    return Math.max(0, ...stamps.map((stamp) => stamp.soft))
  }

  /** The stamp of `id` kept here, if it may be trusted; undefined when it must be read. */
  private kept(id: string): Stamp | undefined {
    const known = this.known.get(id)
    if (known === undefined) return undefined
    // With coherence off nobody tells us of a new stamp: trust a kept one for 1s only.
    return this.host.uninformed && Date.now() - known.at >= 1000 ? undefined : known.stamp
  }

  /** Reads the stamp of `id`; concurrent checks of one unknown stamp share one read. */
  private fetch(id: string): Promise<Stamp> {
    let reading = this.reading.get(id)
    if (reading === undefined) {
      const started: Promise<Stamp> = this.read(id).finally(() => {
        if (this.reading.get(id) === started) this.reading.delete(id)
      })
      this.reading.set(id, started)
      reading = started
    }
    return reading
  }

  /**
   * One GET of the stamp; a stamp found missing (evicted, or never set: they look alike)
   * counts as its bucket's floor, or as now when the floor is gone too (`STAMP_OR_FLOOR`),
   * never as 0: losing a stamp costs recomputations, and brings back no value it had
   * invalidated.
   */
  private async read(id: string): Promise<Stamp> {
    const { l2, clock } = this.host
    const known = this.known.get(id)
    if (l2 === undefined || !l2.available) return known?.stamp ?? this.floorStamp()
    const epoch = this.epoch
    const key = this.layout.stampKey(id)
    const watch = this.host.watch(key)
    let missing = false
    try {
      let stamp = await l2.getStamp(key)
      if (stamp === undefined) {
        missing = true
        stamp = await l2.stampOrFloor(key, this.layout.floorKey(id))
      }
      clock.saw(stamp.soft)
      // Only kept if no invalidation arrived while we asked, and one would have.
      if (epoch === this.epoch && !watch.dirty) this.known.set(id, { stamp, at: Date.now() })
      return stamp
    } catch (error) {
      this.host.error(error, key, 'l2')
      // Found missing, and its floor unknown: nothing made before now counts as valid.
      if (!missing) return known?.stamp ?? this.floorStamp()
      const now = clock.now()
      return { hard: now, soft: now }
    } finally {
      this.host.unwatch(key, watch)
    }
  }

  /** What a forgotten stamp counts as without Redis to ask: the newest one forgotten, hard. */
  private floorStamp(): Stamp {
    return { hard: this.floor, soft: this.floor }
  }

  /** Another client changed the stamp of `id` (a tracking or bus notice). */
  changed(id: string): void {
    // Always a new epoch, kept stamp or not: an L1 entry may have been checked against a
    // stamp that was not kept (evicted, or read while this one changed).
    this.known.delete(id)
    // A read sent before the change may answer the old stamp: later checks read again.
    this.reading.delete(id)
    this.epoch++
  }

  /** Notices may have been missed: forget every stamp. */
  forgetAll(): void {
    this.known.clear()
    this.reading.clear()
    this.epoch++
  }

  /**
   * Stamps `ids` with the server's time (this process's clock without Redis) and keeps
   * the stamps; `soft` moves only their soft part (see {@link check}). Resolves with the
   * errors of the stamps Redis did not take.
   */
  async stamp(ids: readonly string[], soft: boolean): Promise<unknown[]> {
    const { l2, clock } = this.host
    const failures: unknown[] = []
    await Promise.all(
      ids.map(async (id) => {
        const known = this.known.get(id)?.stamp
        const at = Math.max(clock.now(), known?.soft ?? 0)
        let stamp: Stamp = { hard: soft ? (known?.hard ?? this.floor) : at, soft: at }
        if (l2 !== undefined) {
          try {
            stamp = await l2.stampTag(this.layout.stampKey(id), this.layout.floorKey(id), soft)
          } catch (error) {
            failures.push(error)
          }
        }
        // What this process computes from now on counts as after the stamp.
        clock.saw(stamp.soft)
        this.known.set(id, { stamp, at: Date.now() })
        this.reading.delete(id)
      }),
    )
    this.epoch++
    return failures
  }
}
