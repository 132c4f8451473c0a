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
  /**
   * Extends a stored value's life without rewriting it (a conditional refresh found it
   * not modified): if `token` still holds the lock and the value under `key` is still the
   * one made at `created` (by its envelope header) and unsigned, sets its header's
   * `freshUntil` and `staleUntil` and its expiry (`ttlMs`), leaving every other byte as it
   * is; then releases the lock whatever it found. A write, so every process that read the
   * key hears of it, as of a fill. True when renewed; false when the lock or that value
   * was gone (nothing written).
   */
  renew(renew: Renew): Promise<boolean>
  /**
   * A batch's reads: the stored value of each key, in order (null for none). One `MGET`
   * on a single node; on a Cluster one per hash slot, sent together. Rejects when any fails.
   */
  getMany(keys: readonly string[]): Promise<(Buffer | null)[]>
  /**
   * {@link readOrLock} for each of a batch's misses, in order: one script (`READ_OR_LOCK_MANY`)
   * on a single node, one per hash slot on a Cluster, sent together. Rejects when any fails.
   */
  readOrLockMany(reads: readonly ReadOrLock[]): Promise<LockRead[]>
  /**
   * {@link fill} for each of a batch's values, in order: one script (`FILL_MANY`) on a single
   * node, one per hash slot on a Cluster, sent together. Rejects when any fails.
   */
  fillMany(fills: readonly Fill[]): Promise<boolean[]>
  /** Writes a value (computed past its lease) only if nobody holds the lock; false when someone did. */
  setUnlessLocked(write: { key: string; lockKey: string; bytes: Buffer; ttlMs: number; created: number }): Promise<boolean>
  /** Writes a value given, not computed (`cache.set`). */
  set(key: string, value: Buffer, ttlMs: number): Promise<void>
  del(...keys: string[]): Promise<void>
  /** Compare-and-delete of a lock. */
  releaseLock(key: string, token: string): Promise<void>
  /** Renews a lock that `token` holds; false when it does not. */
  extendLock(key: string, token: string, ttlMs: number): Promise<boolean>

  /**
   * Writes a value read a moment ago (its envelope header `header`) again as `bytes`, a
   * stale copy kept as a fallback (a soft delete, see `EXPIRE`), and deletes the lock; the
   * value is deleted instead when it is no longer the one read. False when nothing was written.
   */
  expire(write: { key: string; lockKey: string; header: Buffer; bytes: Buffer; ttlMs: number }): Promise<boolean>

  /** Sets a tag's stamp (`soft`: its soft part only) to the server's time and raises its bucket's floor; returns it. */
  stampTag(key: string, floorKey: string, soft: boolean): Promise<Stamp>
  /** A stamp, or undefined when there is none. */
  getStamp(key: string): Promise<Stamp | undefined>
  /** What a stamp found missing counts as: its bucket's floor, or now when that is gone too. */
  stampOrFloor(key: string, floorKey: string): Promise<Stamp>
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

/**
 * A tag's stamp, server ms: values created at or before `hard` are gone, those created at
 * or before `soft` (never below `hard`) are stale, kept as fallbacks (soft invalidation).
 */
export interface Stamp {
  hard: number
  soft: number
}

/** A stamp as stored (`<hard>` or `<hard> <soft>`, see `STAMP`), or undefined when it is not one. */
export function parseStamp(text: string): Stamp | undefined {
  const space = text.indexOf(' ')
  const hard = Number(space < 0 ? text : text.slice(0, space))
  const soft = space < 0 ? hard : Number(text.slice(space + 1))
  return Number.isFinite(hard) && Number.isFinite(soft) && text.length > 0 ? { hard, soft: Math.max(hard, soft) } : undefined
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


/** A stored value to renew in place (see {@link RedisStore.renew}). Times are epoch ms; `ttlMs` is the key's new expiry. */
export interface Renew {
  key: string
  lockKey: string
  token: string
  /** The `created` of the value to renew, as its envelope header holds it: another value is left alone. */
  created: number
  freshUntil: number
  staleUntil: number
  ttlMs: number
}
