/**
 * One timer for every Redis command in flight, instead of one timer each. Every command
 * of a tier has the same timeout, so deadlines arrive in the order commands were sent: a
 * list, oldest first, whose head is the next to expire, and a single timer armed for the
 * head's deadline. A command whose reply comes leaves the list at once (two links
 * changed), so nothing it held stays reachable, and the timer is not moved: when it fires
 * at a deadline nobody is waiting for any more, it is armed again for the new head's.
 *
 * So a stream of commands answered in time wakes the timer once per timeout (500 ms by
 * default), not once per command, nor every few milliseconds: on a virtual machine a
 * timer that fires wakes the process from its wait for Redis, and lone L2 hits pay for
 * it in latency (beside a 1 ms interval timer a `GET` took about 2 µs longer here, and
 * up to 1.5 µs beside a 20 ms one; see docs/performance.md).
 */

/** A command waiting for its reply. */
export interface Pending {
  /** Set once it left the list: its reply came, it failed, or its deadline passed. */
  done: boolean
  /** performance.now() after which it has timed out. */
  deadline: number
  /** Called once when the deadline passes and it is not done. */
  expire(): void
  /** Its neighbours in the list, while listed. */
  older: Pending | undefined
  newer: Pending | undefined
}

export class Deadlines {
  private oldest: Pending | undefined
  private newest: Pending | undefined
  private timer: NodeJS.Timeout | undefined

  /** Watches `pending` until {@link settle} or its deadline. */
  add(pending: Pending): void {
    const newest = this.newest
    pending.older = newest
    pending.newer = undefined
    if (newest === undefined) this.oldest = pending
    else newest.newer = pending
    this.newest = pending
    if (this.timer === undefined) this.arm(pending.deadline)
  }

  /** Stops watching `pending` (its reply came): false when it was done already (it timed out). */
  settle(pending: Pending): boolean {
    if (pending.done) return false
    pending.done = true
    const { older, newer } = pending
    if (older === undefined) this.oldest = newer
    else older.newer = newer
    if (newer === undefined) this.newest = older
    else newer.older = older
    pending.older = undefined
    pending.newer = undefined
    return true
  }

  /** Expires everything still pending (the tier is closing). */
  expireAll(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.expireUntil(Number.POSITIVE_INFINITY)
  }

  private arm(deadline: number): void {
    this.timer = setTimeout(this.fire, Math.max(0, deadline - performance.now()))
    this.timer.unref()
  }

  private readonly fire = (): void => {
    this.timer = undefined
    this.expireUntil(performance.now())
    // An `expire` may have sent a command, which armed the timer already.
    if (this.oldest !== undefined && this.timer === undefined) this.arm(this.oldest.deadline)
  }

  /** Expires, oldest first, every pending command whose deadline is at or before `now`. */
  private expireUntil(now: number): void {
    let head = this.oldest
    while (head !== undefined && head.deadline <= now) {
      this.settle(head)
      head.expire()
      head = this.oldest
    }
  }
}
