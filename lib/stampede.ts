import { randomBytes } from 'node:crypto'
import type { RedisTier } from './tiers/redis.ts'

/**
 * Stampede protection. In a process: {@link SingleFlight} gives every concurrent caller
 * of a key the same promise. Across processes: the caller that wins the Redis lock
 * (`SET NX PX` with a random token, see {@link holdLock}) computes; the others wait on
 * {@link Waiters}, woken by the invalidation channel (client tracking or the bus, one
 * subscriber per cache) when the winner writes the value or releases the lock — never
 * by polling — and, failing that, when the lock's remaining time runs out (its holder
 * died) or `lock.wait` does. {@link RememberedErrors} keeps failures for `errorTtl`
 * (negative caching, opt-in) so that a failing function is not run for every call.
 * The loop that ties these together is `Cache.fill` in cache.ts.
 */

/** One promise per key while a computation for it is under way. */
export class SingleFlight<V> {
  private readonly flights = new Map<string, Promise<V>>()

  /** Joins the flight for `key`, or starts one with `start`. */
  run(key: string, start: () => Promise<V>): Promise<V> {
    const running = this.flights.get(key)
    if (running !== undefined) return running
    const flight = start()
    this.flights.set(key, flight)
    const land = (): void => {
      if (this.flights.get(key) === flight) this.flights.delete(key)
    }
    flight.then(land, land)
    return flight
  }
}

/** A wake-up armed before the lock is tried, so that no notification can slip past. */
export interface Armed {
  /** Resolves true when woken, false when `ms` ran out. Once. */
  wait(ms: number): Promise<boolean>
  /** Disarms (the lock was won, or the wait is over). */
  cancel(): void
}

/** Callers waiting for another process's value, by key. */
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

  /** Wakes everyone (the channel was lost: they must look again). */
  wakeAll(): void {
    for (const key of [...this.waiting.keys()]) this.wake(key)
  }
}

/** A lock this process holds; renewed every ttl/2 until released. */
export interface HeldLock {
  release(): Promise<void>
}

/** A random lock token, unique to one holder. */
export function lockToken(): string {
  return randomBytes(12).toString('base64url')
}

/**
 * Keeps a won lock alive while the computation runs: extends it every `ttlMs / 2` if
 * the token still holds it. `release()` stops renewing and deletes the lock only if
 * the token still holds it (compare-and-delete), so a lock that expired and was taken
 * by another process is never released by us; then it runs `afterRelease` (telling
 * waiters, here and elsewhere, to look again). Calling `release()` again is a no-op.
 */
export function holdLock(
  tier: RedisTier,
  key: string,
  token: string,
  ttlMs: number,
  onError: (error: unknown) => void,
  afterRelease?: () => Promise<void> | void,
): HeldLock {
  const timer = setInterval(() => {
    tier.extendLock(key, token, ttlMs).catch(onError)
  }, Math.max(1, Math.floor(ttlMs / 2)))
  timer.unref()
  let released: Promise<void> | undefined
  return {
    release() {
      clearInterval(timer)
      released ??= tier
        .releaseLock(key, token)
        .catch(onError)
        .then(afterRelease)
        .catch(onError)
      return released
    },
  }
}

/**
 * Errors remembered in place of a value (negative caching, opt-in with `errorTtl`):
 * in this process only, the very same error object, until `until` (epoch ms, local
 * clock). Bounded: past `max` keys the oldest is forgotten first.
 */
export class RememberedErrors {
  private readonly errors = new Map<string, { error: unknown; until: number }>()
  private readonly max: number

  constructor(max = 10_000) {
    this.max = max
  }

  /** The error remembered for `key`, wrapped (anything may be thrown, even undefined); undefined when none or expired. */
  get(key: string): { error: unknown } | undefined {
    const remembered = this.errors.get(key)
    if (remembered === undefined) return undefined
    if (remembered.until > Date.now()) return remembered
    this.errors.delete(key)
    return undefined
  }

  /** Remembers `error` for `key` for `ttlMs`. */
  set(key: string, error: unknown, ttlMs: number): void {
    this.errors.delete(key)
    this.errors.set(key, { error, until: Date.now() + ttlMs })
    if (this.errors.size > this.max) this.errors.delete(this.errors.keys().next().value as string)
  }

  delete(key: string): void {
    this.errors.delete(key)
  }
}
