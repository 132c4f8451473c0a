import { clockThread } from './clock-thread.ts'

/**
 * The Redis server's clock, as seen from this process. Tag validity compares an entry's
 * `created` with stamps that Redis `TIME` wrote (to the microsecond), so `created` must
 * be on the server's clock too: an offset measured on each connection, never before a
 * server time this process has already seen, and for `created` moved back by the
 * measurement's error so that a value computed across an invalidation is never taken
 * as made after it (the error can only cost one extra miss).
 */

let anchor = performance.timeOrigin
let last = 0

/**
 * This machine's clock in epoch ms with a sub-millisecond part: a value computed just
 * after an invalidation, in the same millisecond, must still count as after it. The
 * fine clock (monotonic, anchored at start) is held within the millisecond Date.now()
 * reports, re-anchoring when it drifts out; far from it (fake timers, a clock step),
 * Date.now() alone. It never goes back by less than a second: re-anchoring would
 * otherwise step back a fraction of a millisecond, and a stamp taken after an entry
 * could read as older than it. (A step back of a second or more is a clock change, or
 * fake timers, and is followed.)
 */
export function localNow(): number {
  const coarse = Date.now()
  const ahead = anchor + performance.now() - coarse
  let now: number
  if (ahead >= 0 && ahead < 1) now = coarse + ahead
  else if (ahead > 1000 || ahead < -1000) now = coarse
  else {
    anchor -= ahead < 0 ? ahead : ahead - 0.999
    now = coarse
  }
  if (now < last && last - now < 1000) return last
  last = now
  return now
}

/**
 * This machine's clock in epoch ms, to the millisecond, for the hot path: the time the
 * clock thread keeps in shared memory (`clock-thread.ts`), one memory read where a
 * `Date.now()` costs about as much as the rest of an L1 hit. It moves while the event
 * loop is busy, so an entry is never served more than about a millisecond past its ttl.
 */
export function coarseLocalNow(): number {
  return clockThread.now()
}

export class ServerClock {
  /** Server time minus local time, ms (0 until measured: an L1-only cache keeps local time). */
  private offset = 0
  /** How far the estimate may be off the server's clock, ms: half the best round trip. */
  private slack = 0
  /** The latest server time seen in a stamp. */
  private seen = 0

  /**
   * Milliseconds on the server's clock, sub-ms where known; never before a server time
   * already seen (a stamp), which is in the past for sure.
   */
  now(): number {
    const estimate = localNow() + this.offset
    return estimate > this.seen ? estimate : this.seen + 0.001
  }

  /**
   * Milliseconds on the server's clock to the millisecond, for freshness checks on the
   * hot path: {@link coarseLocalNow}, no monotonic clock and no stamp bookkeeping.
   */
  coarseNow(): number {
    return coarseLocalNow() + this.offset
  }

  /**
   * When a computation starting now started, on the server's clock, never later than
   * the truth: the estimate less its error bound, but after any stamp already seen.
   * Used when no lock script told the server's time exactly.
   */
  startedAt(): number {
    const estimate = localNow() + this.offset - this.slack
    return estimate > this.seen ? estimate : this.seen + 0.001
  }

  /** Records a server time (a tag stamp) this process has learned; far-future ones (planted, or skew) are ignored. */
  saw(stamp: number): void {
    if (stamp > this.seen && stamp < localNow() + this.offset + 1000) this.seen = stamp
  }

  /**
   * Measures the offset with `time()` (the server's clock, ms): the sample with the
   * shortest round trip of five, since one slow reply at start-up (module loading, a
   * busy loop) would skew every `created` by milliseconds.
   */
  async sync(time: () => Promise<number>): Promise<void> {
    let best = Number.POSITIVE_INFINITY
    for (let sample = 0; sample < 5; sample++) {
      const sent = localNow()
      const server = await time()
      const received = localNow()
      if (received - sent < best) {
        best = received - sent
        this.offset = server - (sent + received) / 2
        this.slack = best / 2
      }
    }
  }
}
