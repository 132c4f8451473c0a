import { randomBytes } from 'node:crypto'
import { RedisError } from '../errors.ts'
import type { RedisStore } from '../redis/store.ts'

/**
 * The cross-process lock's whole life on the holder's side. Taking it is part of the
 * read of a miss (`RedisStore.readOrLock`, sent by `lock-wait.ts` with a {@link lockToken});
 * writing the value releases it in the same script (`RedisStore.fill`). Here: a won lock
 * is held ({@link holdLock}), renewed every `ttl / 2` while its computation runs, never
 * past its lease (the hard timeout, or `lock.lease`); released by compare-and-delete in
 * exactly one place ({@link HeldLock.release}); and a release that could not reach Redis
 * is retried when Redis answers again ({@link LostReleases}), so a lock never outlives
 * its holder by more than its ttl.
 */

/** Random per process (72 bits), so that no two processes share tokens. */
const PROCESS_TOKEN = randomBytes(9).toString('base64url')
let tokens = 0

/** A release already done. */
const DONE = Promise.resolve()

/**
 * A lock token, unique to one holder: this process's random part and a counter. Not
 * `randomBytes` per call: every L2 read sends one, and a read of the system's random
 * source cost tens of µs on a busy machine.
 */
export function lockToken(): string {
  return PROCESS_TOKEN + (++tokens).toString(36)
}

/** Releases that could not reach Redis, retried on the next connection or when the circuit closes again. */
export class LostReleases {
  private readonly releases = new Map<string, string>()

  add(lockKey: string, token: string): void {
    this.releases.set(lockKey, token)
  }

  /** Retries every release (the connection is back); those that fail again stay. */
  async retry(tier: RedisStore, onError: (error: unknown, key: string) => void): Promise<void> {
    const releases = [...this.releases]
    await Promise.all(
      releases.map(async ([lockKey, token]) => {
        try {
          await tier.releaseLock(lockKey, token)
          if (this.releases.get(lockKey) === token) this.releases.delete(lockKey)
        } catch (error) {
          onError(error, lockKey)
        }
      }),
    )
  }
}

/** What holding a lock needs. */
export interface HoldOptions {
  tier: RedisStore
  lockKey: string
  token: string
  /** The lock's ttl in Redis, ms; renewed every ttl / 2. */
  ttlMs: number
  lost: LostReleases
  onError(error: unknown, key: string): void
  /**
   * After the lock is gone: wake waiters. `announce` when it was released without a
   * value (other processes must hear of the release itself).
   */
  afterRelease(announce: boolean): Promise<void> | void
}

export class HeldLock {
  /** The store the lock was taken on, which the fill goes through. */
  readonly tier: RedisStore
  readonly lockKey: string
  readonly token: string
  private readonly hold: HoldOptions
  private readonly renewal: NodeJS.Timeout
  private released: Promise<void> | undefined

  constructor(options: HoldOptions) {
    this.hold = options
    this.tier = options.tier
    this.lockKey = options.lockKey
    this.token = options.token
    this.renewal = setInterval(() => {
      options.tier.extendLock(this.lockKey, this.token, options.ttlMs).catch((error: unknown) => options.onError(error, this.lockKey))
    }, Math.max(1, Math.floor(options.ttlMs / 2)))
    this.renewal.unref()
  }

  /**
   * The lock went away with the value's write (the fill script deleted it), or was lost:
   * stop renewing. Undefined when that is all done at once (nothing to wait for).
   */
  gone(): Promise<void> | undefined {
    clearInterval(this.renewal)
    if (this.released !== undefined) return this.released
    let after: Promise<void> | void
    try {
      after = this.hold.afterRelease(false)
    } catch (error) {
      after = undefined
      this.hold.onError(error, this.lockKey)
    }
    this.released = after === undefined ? DONE : after.catch((error: unknown) => this.hold.onError(error, this.lockKey))
    return after === undefined ? undefined : this.released
  }

  /**
   * Stops renewing and deletes the lock if our token still holds it; a release Redis did
   * not get is retried when the connection is back. Then wakes waiters. Once.
   */
  release(): Promise<void> {
    clearInterval(this.renewal)
    const { tier, lost, onError } = this.hold
    this.released ??= tier
      .releaseLock(this.lockKey, this.token)
      .catch((error: unknown) => {
        // A refused or timed-out release (the server is paused or gone): try again later.
        if (error instanceof RedisError) lost.add(this.lockKey, this.token)
        onError(error, this.lockKey)
      })
      .then(() => this.hold.afterRelease(true))
      .catch((error: unknown) => onError(error, this.lockKey))
    return this.released
  }
}

/** Where a cache keeps its held locks, and what a release tells (`Core` is one). */
export interface LockHome {
  readonly heldLocks: Set<HeldLock>
  readonly lostReleases: LostReleases
  readonly waiters: { wake(key: string): void }
  error(error: unknown, key: string | undefined, tier: 'l2'): void
  /** Tells other processes of changed keys (bus mode); undefined when there is nothing to wait for. */
  announce(keys: string[]): Promise<void> | undefined
}

/** A lock just won by `token` for `key`: renewed, released once, and known to the cache (`close()` releases it). */
export function holdLock(home: LockHome, lock: { tier: RedisStore; key: string; lockKey: string; token: string; ttlMs: number }): HeldLock {
  const { key, lockKey } = lock
  const held: HeldLock = new HeldLock({
    tier: lock.tier,
    lockKey,
    token: lock.token,
    ttlMs: lock.ttlMs,
    lost: home.lostReleases,
    onError: (error, at) => home.error(error, at, 'l2'),
    afterRelease: (announce) => {
      home.heldLocks.delete(held)
      // Waiters elsewhere hear of a release on the channel (the bus needs it announced);
      // after a write they hear of the value itself. Waiters here are woken now.
      const announced = announce ? home.announce([lockKey]) : undefined
      if (announced === undefined) return home.waiters.wake(key)
      return announced.then(() => home.waiters.wake(key))
    },
  })
  home.heldLocks.add(held)
  return held
}
