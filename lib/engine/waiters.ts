/** A wake-up armed before the lock is tried, so that no notification can slip past. */
export interface Armed {
  /** Resolves true when woken, false when `ms` ran out. Once. */
  wait(ms: number): Promise<boolean>
  /** Disarms (the lock was won, or the wait is over). */
  cancel(): void
}

/**
 * Callers waiting for another process's value, by key. They are woken by the coherence
 * channel (the winner's write, the lock's release), by this process's own fills, and all
 * at once when a notice may have been lost (a connection came back, a flush).
 */
export class Waiters {
  private readonly waiting = new Map<string, Set<() => void>>()

  /** Registers interest in `key` now; wait on it after the lock is lost. */
  arm(key: string): Armed {
    let woken = false
    let resolveWait: ((woken: boolean) => void) | undefined
    const wake = (): void => {
      woken = true
      resolveWait?.(true)
    }
    let set = this.waiting.get(key)
    if (set === undefined) this.waiting.set(key, (set = new Set()))
    set.add(wake)
    const cancel = (): void => {
      const current = this.waiting.get(key)
      current?.delete(wake)
      if (current?.size === 0) this.waiting.delete(key)
    }
    return {
      cancel,
      wait: (ms) =>
        new Promise<boolean>((resolve) => {
          if (woken) {
            cancel()
            resolve(true)
            return
          }
          const timer = setTimeout(() => {
            cancel()
            resolve(false)
          }, ms)
          resolveWait = (value) => {
            clearTimeout(timer)
            cancel()
            resolve(value)
          }
        }),
    }
  }

  /** Wakes everyone waiting for `key`. */
  wake(key: string): void {
    const set = this.waiting.get(key)
    if (set === undefined) return
    for (const wake of [...set]) wake()
  }

  /** Wakes everyone (a notice may have been missed: they must look again). */
  wakeAll(): void {
    for (const key of [...this.waiting.keys()]) this.wake(key)
  }
}
