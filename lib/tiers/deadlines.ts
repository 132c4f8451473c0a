/**
 * One timer for every Redis command in flight, instead of one timer each. Every command
 * of a tier has the same timeout, so deadlines arrive in the order commands were sent: a
 * FIFO whose head is the next to expire, and a single timer armed for it. A command that
 * settles marks itself done (and drops its `expire`, so that nothing it held stays
 * reachable) and is skipped when its turn comes. The timer also fires every
 * {@link SWEEP_MS} while commands are queued, so that done ones leave the queue young:
 * held for a whole timeout, hundreds of thousands of them outlived the young generation
 * and made every minor GC slower.
 */

/** A command waiting for its reply. */
export interface Pending {
  /** Set when the reply came (or the command failed): the deadline no longer matters. */
  done: boolean
  /** performance.now() after which it has timed out. */
  deadline: number
  /** Called once when the deadline passes and it is not done. */
  expire(): void
}

/** The longest a settled command stays in the queue, ms. */
const SWEEP_MS = 20

export class Deadlines {
  private queue: Pending[] = []
  private head = 0
  private timer: NodeJS.Timeout | undefined

  /** Watches `pending` until it is done or its deadline passes. */
  add(pending: Pending): void {
    this.queue.push(pending)
    if (this.timer === undefined) this.arm(pending.deadline)
  }

  /** Expires everything still pending (the tier is closing). */
  expireAll(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    const queue = this.queue.slice(this.head)
    this.queue = []
    this.head = 0
    for (const pending of queue) if (!pending.done) pending.expire()
  }

  private arm(deadline: number): void {
    this.timer = setTimeout(() => this.sweep(), Math.min(SWEEP_MS, Math.max(0, deadline - performance.now())))
    this.timer.unref()
  }

  private sweep(): void {
    this.timer = undefined
    const now = performance.now()
    const queue = this.queue
    while (this.head < queue.length) {
      const pending = queue[this.head] as Pending
      if (!pending.done && pending.deadline > now) break
      this.head++
      if (!pending.done) {
        pending.done = true
        pending.expire()
      }
    }
    if (this.head === queue.length) {
      this.queue = []
      this.head = 0
      return
    }
    // Drop what has been swept once it is most of the array.
    if (this.head > 64 && this.head * 2 > queue.length) {
      this.queue = queue.slice(this.head)
      this.head = 0
    }
    this.arm((this.queue[this.head] as Pending).deadline)
  }
}
