import type { RedisCounts, RoundTripObserver } from './breaker.ts'

/**
 * What the engine asks of Redis: the commands of the read path, the lock and the tag
 * stamps, the health probe, and the connection's state. The engine (`lib/engine/`) holds
 * Redis only as this interface; `RedisTier` implements it over ioredis 5 or 6
 * (`tier.ts` over `connection.ts`), and another client is added by implementing it
 * again, without touching the engine. Every method rejects with a `RedisError` when Redis
 * fails, is slow (`redisTimeout`) or the circuit is open.
 */
export interface RedisStore {
  /** Resolves once the first connection is set up, or `connectWait` passed; undefined after that. */
  whenStarted(): Promise<void> | undefined
  /** Connected, the circuit closed, and the last command did not fail: optional commands are worth sending. */
  readonly available: boolean
  readonly circuit: 'closed' | 'open' | 'probing'
  /** Bytes of values each way and failures by code (`stats().redis`). */
  readonly counts: RedisCounts
  /** Told of each command's round trip (`memoredis/otel`). */
  onRoundTrip: RoundTripObserver | undefined

  /** A stored value, or null. */
  get(key: string): Promise<Buffer | null>
  /** The read of a miss that may take the lock (see `READ_OR_LOCK`). */
  readOrLock(read: ReadOrLock): Promise<LockRead>
  /** Writes a computed value if `token` still holds the lock, and releases it; false when it did not. */
  fill(fill: Fill): Promise<boolean>
  /** Writes a value (computed past its lease) only if nobody holds the lock; false when someone did. */
  setUnlessLocked(write: { key: string; lockKey: string; bytes: Buffer; ttlMs: number; created: number }): Promise<boolean>
  /** Writes a value given, not computed (`cache.set`). */
  set(key: string, value: Buffer, ttlMs: number): Promise<void>
  del(...keys: string[]): Promise<void>
  /** Compare-and-delete of a lock. */
  releaseLock(key: string, token: string): Promise<void>
  /** Renews a lock that `token` holds; false when it does not. */
  extendLock(key: string, token: string, ttlMs: number): Promise<boolean>

  /** Sets a tag's stamp to the server's time (ms) and raises its bucket's floor; returns it. */
  stampTag(key: string, floorKey: string): Promise<number>
  /** A stamp (server ms), or undefined when there is none. */
  getStamp(key: string): Promise<number | undefined>
  /** What a stamp found missing counts as: its bucket's floor, or now when that is gone too. */
  stampOrFloor(key: string, floorKey: string): Promise<number>
  /** Sets each missing bucket floor to the server's time; the floors (server ms). */
  setFloors(floorKeys: readonly string[]): Promise<number[]>
  /** WAIT on the master of each key's slot; how many replicas confirmed (the fewest). */
  waitForReplicas(keys: readonly string[], replicas: number, timeoutMs: number): Promise<number>

  /** The server's clock, ms. */
  time(): Promise<number>
  /** The health probe's round trip, ms, outside the circuit breaker; undefined when not connected. */
  probe(): Promise<number | undefined>
  /** Each master's `maxmemory` (bytes) and `maxmemory-policy`, outside the circuit breaker. */
  memoryPolicies(): Promise<{ maxmemory: number; policy: string }[]>
  publish(channel: string, message: string): Promise<void>
  close(): Promise<void>
}

/** What the read of a miss found (see `READ_OR_LOCK`). `bytes` is the stored value, if any. */
export type LockRead =
  | { kind: 'fresh'; bytes: Buffer }
  | { kind: 'won'; bytes: Buffer | null; serverNow: number }
  | { kind: 'held'; bytes: Buffer | null; serverNow: number; holderMs: number }

/** A read that may take the lock. */
export interface ReadOrLock {
  key: string
  lockKey: string
  token: string
  lockTtlMs: number
  /** A value created at or before this (server ms) does not count (a refresh); 0 takes every value. */
  newerThan: number
  /** The value was already found unusable (tags, signature): take the lock whatever is stored. */
  skipValue: boolean
  /** The cache's clock (ms), against which the value's freshness is judged. */
  now: number
}

/** A computed value to write under the lock that `token` holds. */
export interface Fill {
  key: string
  lockKey: string
  token: string
  bytes: Buffer
  ttlMs: number
}

