import type { Cluster, Redis, RedisOptions } from 'ioredis'
import type { Codec } from '../codec/types.ts'
import { InvalidOptionError } from '../errors.ts'
import { refuseUnknownOptions } from './known.ts'
import { checkRedisSource } from '../redis/client.ts'

/**
 * A length of time: a number of milliseconds, or a string with a unit:
 * `'250ms'`, `'30s'`, `'5m'`, `'2h'`, `'1d'`. Any string is accepted by the type, so
 * that one read from configuration (`process.env.CACHE_TTL ?? '5m'`) or kept in an
 * options object typechecks; it is checked when the option is given, and a string
 * that is not a duration is refused with `InvalidOptionError`
 * (`ttl must be a positive duration like '5m' or 300000 (ms; units ms, s, m, h, d), got "5 minutes"`).
 * The literal forms are kept for editors' suggestions.
 */
export type Duration = number | `${number}ms` | `${number}s` | `${number}m` | `${number}h` | `${number}d` | (string & NonNullable<unknown>)

/** What one read-through call may say about the value it caches. */
export interface EntryOptions<T = unknown> {
  /** How long a value stays fresh. Milliseconds or a {@link Duration} string. Default: the cache's `ttl` ('1m'). */
  ttl?: Duration
  /**
   * How long past freshness a value is kept to fall back on (when the function throws or
   * times out, or Redis is down) and, with `staleWhileRevalidate`, to serve at once while
   * it is refreshed. Default: the cache's `grace` (0: no stale values).
   */
  grace?: Duration
  /**
   * Within grace, serve the stale value at once and refresh it in the background
   * (one refresh per key, at most `refreshConcurrency` at a time). When false, a stale
   * value is only a fallback. Default: the cache's (false).
   */
  staleWhileRevalidate?: boolean
  /**
   * Refresh in the background when a hit finds less than this fraction of the ttl left
   * (a threshold ratio, 0 to 1; 0.2 = refresh in the last 20% of freshness). Default: the cache's (0: off).
   */
  earlyRefresh?: number
  /** Tags to invalidate the value by: a list, or a function of the value. Default: none. */
  tags?: readonly string[] | ((value: T) => readonly string[])
  /** Return false to hand the value to the caller(s) without storing it. Default: store everything. */
  shouldCache?: (value: T) => boolean
  /** Time limits for the function. Default: the cache's (none). */
  timeout?: TimeoutOptions
  /** The cross-process lock. Default: the cache's. */
  lock?: LockOptions
  /**
   * Negative caching, opt-in: when the function throws (or passes its hard timeout) and
   * there is no stale value to fall back on, remember the error for this long and throw
   * the very same error object to every call of this key in this process, without
   * running the function again (a value another process stores in L2 still wins).
   * Forgotten by `delete`/`invalidate`, `clear()`, and invalidating a tag given as a list
   * (tags given as a function of the value are unknown for an error). Never stored in
   * Redis. Milliseconds or a {@link Duration} string. Default 0: errors are never cached.
   */
  errorTtl?: Duration
}

/** Time limits for the function that computes a value. */
export interface TimeoutOptions {
  /**
   * After this long, serve the stale value if there is one and let the computation go
   * on in the background to fill the cache. Default: none.
   */
  soft?: Duration
  /** After this long, reject with `FactoryTimeoutError` (`ERR_FACTORY_TIMEOUT`), or serve stale within grace. Default: none. */
  hard?: Duration
}

/** The lock that lets one process per key compute while the others wait. */
export interface LockOptions {
  /** How long a lock is held before Redis drops it; renewed every ttl/2 while the function runs. Default '10s'. */
  ttl?: Duration
  /**
   * The longest a process waits for another's value. Without a stale value, it then
   * computes itself, without the lock (the value is stored only if nobody holds the lock
   * by then); with one, see `staleWait`. Milliseconds or a {@link Duration}; 0: never wait. Default '5s'.
   */
  wait?: Duration
  /**
   * The longest a computation holds the lock when it has no hard timeout (with one, the
   * hard timeout is the lease). Past it the lock is released and not renewed, so another
   * process can take over a function that hangs, and new callers in this process start
   * afresh; a value it still returns is handed to its callers but not stored. Milliseconds
   * or a {@link Duration}. Default '30s'.
   */
  lease?: Duration
  /**
   * With a stale value to fall back on and no soft timeout, the longest wait for another
   * process's computation before serving the stale value. Milliseconds or a
   * {@link Duration}. Default '250ms'.
   */
  staleWait?: Duration
}

/** Options of `createCache`. */
export interface CacheOptions {
  /**
   * Where L2 lives: a URL (`redis://` or `rediss://`), ioredis options (a plain object
   * whose keys are all ioredis connection options: host, port, path, username, password,
   * db, tls, ...), or an ioredis 5 or 6 `Redis` or `Cluster`, recognised by its shape so
   * that the app's own copy of ioredis works (used as a template: memoredis opens its own
   * connections with the same settings, through that copy, and closes them on `close()`).
   * Anything else is refused with `InvalidOptionError`. Omit for an L1-only cache; an
   * empty or blank string (`REDIS_URL=` in a `.env` file) is the same as omitting it.
   */
  redis?: string | RedisOptions | Redis | Cluster
  /**
   * Every Redis key and channel starts with `${prefix}:`. Letters, digits, `_ - .`; no `:`
   * (so that no prefix nests inside another's keys: `team.app`, not `team:app`). Default 'memoredis'.
   */
  prefix?: string
  /** How long a value stays fresh. Milliseconds or '30s', '5m', '2h'. Default '1m'. */
  ttl?: Duration
  /** How long past freshness a value is kept as a fallback (see {@link EntryOptions.grace}). Default 0. */
  grace?: Duration
  /** Serve stale within grace while refreshing in the background. Default false. */
  staleWhileRevalidate?: boolean
  /** Early refresh threshold ratio (see {@link EntryOptions.earlyRefresh}). Default 0 (off). */
  earlyRefresh?: number
  /** Spread expiries: each ttl is shortened by a random fraction up to this ratio (0 to 1). Default 0. */
  jitter?: number
  /**
   * The in-process LRU: at most `max` entries and `maxSize` bytes (of encoded values).
   * `false` turns L1 off. Default `{ max: 10_000, maxSize: 64 MiB, freeze: false }`.
   *
   * An L1 hit hands every caller the very object L1 holds (that is why it is fast): a
   * caller that mutates it changes what every later caller in this process gets.
   * `freeze: true` deep-freezes plain objects, arrays, Maps and Sets as a value enters
   * L1 (computed here or read from Redis), so that a mutation throws a TypeError instead
   * (assignments throw in strict-mode code, which ES modules and classes are; a frozen
   * Map or Set refuses `set`/`add`, `delete` and `clear` everywhere). The value is frozen
   * in place, not copied. Dates, class instances, Buffers and typed arrays, and whatever
   * they hold, are left as they are. Default false.
   */
  l1?:
    | {
        /** Most entries held. A whole number. Default 10_000. */
        max?: number
        /** Most bytes of values held, each counted as its envelope before compression (what the decoded value's size follows). Default 64 MiB. */
        maxSize?: number
        /** Deep-freeze plain objects, arrays, Maps and Sets as they enter L1, so that a mutation throws. Default false. */
        freeze?: boolean
      }
    | false
  /** Longest wait for one Redis command before it counts as failed. Default '500ms'. */
  redisTimeout?: Duration
  /** How long calls on a new cache wait for the first Redis connection (and the measurement of the server's clock) before going on without it. Default '1s'. */
  connectWait?: Duration
  /** The cross-process lock. Default `{ ttl: '10s', wait: '5s', lease: '30s', staleWait: '250ms' }`. */
  lock?: LockOptions
  /** Time limits for the function. Default: none. */
  timeout?: TimeoutOptions
  /** Negative caching, opt-in (see {@link EntryOptions.errorTtl}). Default 0: errors are never cached. */
  errorTtl?: Duration
  /** How many background refreshes may run at once. Default 4. */
  refreshConcurrency?: number
  /**
   * The Redis circuit breaker: after `failures` failed commands in a row, no command is
   * sent for `resetAfter`; then one probe decides whether it closes. Default `{ failures: 5, resetAfter: '2s' }`.
   */
  circuit?: {
    /** Failed Redis commands in a row that open the circuit. A whole number. Default 5. */
    failures?: number
    /** How long an open circuit sends nothing before one call probes. Milliseconds or a {@link Duration} string. Default '2s'. */
    resetAfter?: Duration
  }
  /**
   * How every process's L1 stays true: `'tracking'` (Redis client-side caching in its
   * default mode: each process is told only of changes to keys it has read, by any
   * client; one subscriber per node), `'bus'`
   * (memoredis publishes its own writes), `'off'` (L1 copies live out their ttl).
   * Every process sharing a prefix should use the same mode. Default 'tracking' (on a
   * single node and on a Cluster); a server (or an ACL user) that refuses CLIENT TRACKING
   * or the `__redis__:invalidate` channel falls back to 'bus' with a `warning` event.
   */
  coherence?: 'tracking' | 'bus' | 'off'
  /** How values become bytes. Default: superjson (rich types, registered classes). */
  codec?: Codec
  /**
   * HMAC-SHA256 key(s) of at least 16 bytes: values are signed with the first and
   * verified with any; a value without a valid signature is never decoded. `false` (or
   * leaving the option out) runs unsigned. Given but `undefined` or empty, as when the
   * variable that should hold it is unset, it is refused with `InvalidOptionError`
   * rather than silently running unsigned. Default: none (unsigned).
   */
  signingKey?: string | Buffer | readonly (string | Buffer)[] | false
  /** Largest value stored or read, in bytes of the encoded envelope. Default 8 MiB. */
  maxValueSize?: number
  /** Compress payloads of at least this many bytes (zlib); false never compresses. Default false. */
  compressThreshold?: number | false
  /** Largest size a compressed value may expand to, in bytes. Default 4 × maxValueSize. */
  maxDecompressedSize?: number
  /** Refuse to store values holding instances of unregistered classes (instead of warning once). Default false. */
  strictClasses?: boolean
  /**
   * Durability of invalidations across a failover. With `replicas` > 0, `invalidateTags`,
   * `delete` and every `clear()` resolve only once that many replicas of each master
   * involved have the change (Redis `WAIT`, on the master that owns the stamp's or key's
   * slot), and reject with `ReplicationError` (`ERR_NOT_REPLICATED`) when they do not
   * confirm within `timeout`: an invalidation only the master had is lost if it dies
   * before replicating it. Default `{ replicas: 0, timeout: '500ms' }` (no wait).
   */
  invalidation?: {
    /** Replicas that must confirm each invalidation. A whole number. Default 0 (none: no `WAIT`). */
    replicas?: number
    /** The longest wait for them, per invalidation. Milliseconds or a {@link Duration}. Default '500ms'. */
    timeout?: Duration
  }
}

/** {@link EntryOptions} with every default applied; times in milliseconds. */
export interface ResolvedEntryOptions<T = unknown> {
  ttl: number
  grace: number
  staleWhileRevalidate: boolean
  earlyRefresh: number
  tags: readonly string[] | ((value: T) => readonly string[]) | undefined
  shouldCache: ((value: T) => boolean) | undefined
  /** Internal (the HTTP cache): how long a value stays fresh, ms, from the value itself; undefined: `ttl`. No jitter. */
  lifetime?: (value: T) => number | undefined
  softTimeout: number
  hardTimeout: number
  lockTtl: number
  lockWait: number
  lockLease: number
  staleWait: number
  errorTtl: number
}

/** {@link CacheOptions} with every default applied; times in milliseconds, sizes in bytes. */
export interface ResolvedCacheOptions {
  redis: CacheOptions['redis']
  prefix: string
  entry: ResolvedEntryOptions
  jitter: number
  l1: { max: number; maxSize: number; freeze: boolean } | false
  redisTimeout: number
  connectWait: number
  refreshConcurrency: number
  circuitFailures: number
  circuitResetAfter: number
  coherence: 'tracking' | 'bus' | 'off' | undefined
  codec: Codec | undefined
  signingKeys: Buffer[]
  maxValueSize: number
  compressThreshold: number
  maxDecompressedSize: number
  strictClasses: boolean
  /** Replicas that must confirm an invalidation (0: none). */
  invalidationReplicas: number
  /** The longest wait for them, ms. */
  invalidationTimeout: number
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/

/**
 * Parses a {@link Duration} into milliseconds.
 * @throws InvalidOptionError naming `option` when it is not a duration, or is negative
 *   (or zero, unless `allowZero`).
 */
export function parseDuration(value: unknown, option: string, allowZero = false): number {
  let ms = Number.NaN
  if (typeof value === 'number') ms = value
  else if (typeof value === 'string') {
    const match = DURATION.exec(value.trim())
    if (match !== null) ms = Number(match[1]) * (UNITS[match[2] as string] as number)
  }
  if (!Number.isFinite(ms) || ms < 0 || (ms === 0 && !allowZero)) {
    const kind = allowZero ? 'a duration' : 'a positive duration'
    throw new InvalidOptionError(
      `${option} must be ${kind} like '5m' or 300000 (ms; units ms, s, m, h, d), got ${describe(value)}`,
    )
  }
  return Math.round(ms)
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'bigint') return `${value}n`
  if (value === null || typeof value !== 'object') return String(value)
  return Array.isArray(value) ? 'an array' : 'an object'
}

function integer(value: unknown, option: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new InvalidOptionError(`${option} must be a whole number of at least ${min}, got ${describe(value)}`)
  }
  return value
}

function ratio(value: unknown, option: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new InvalidOptionError(`${option} must be a number from 0 to 1, got ${describe(value)}`)
  }
  return value
}

function bool(value: unknown, option: string): boolean {
  if (typeof value !== 'boolean') throw new InvalidOptionError(`${option} must be true or false, got ${describe(value)}`)
  return value
}

function fn<F>(value: unknown, option: string): F | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'function') throw new InvalidOptionError(`${option} must be a function, got ${describe(value)}`)
  return value as F
}

function plainObject(value: unknown, option: string): Record<string, unknown> {
  if (value === undefined) return {}
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionError(`${option} must be an object, got ${describe(value)}`)
  }
  return value as Record<string, unknown>
}

/** The entry options `set` takes: a value given, not computed, has no function options. */
export const SET_OPTIONS = ['ttl', 'grace', 'tags'] as const

/** The entry options that per-call and per-function options may set. */
export const ENTRY_OPTIONS = [
  'ttl', 'grace', 'staleWhileRevalidate', 'earlyRefresh', 'tags', 'shouldCache', 'timeout', 'lock', 'errorTtl',
] as const

/**
 * Applies `options` over `base`, validating each option given. `where` names the call
 * in error messages (e.g. `memoize(getUser)`).
 */
export function resolveEntryOptions<T>(
  base: ResolvedEntryOptions,
  options: EntryOptions<T> | undefined,
  where: string,
): ResolvedEntryOptions<T> {
  const resolved = { ...base } as ResolvedEntryOptions<T>
  if (options === undefined) return resolved
  const given = plainObject(options, `${where} options`)
  refuseUnknownOptions(given, ENTRY_OPTIONS, where)
  if (given.ttl !== undefined) resolved.ttl = parseDuration(given.ttl, `${where}: ttl`)
  if (given.grace !== undefined) resolved.grace = parseDuration(given.grace, `${where}: grace`, true)
  if (given.staleWhileRevalidate !== undefined) {
    resolved.staleWhileRevalidate = bool(given.staleWhileRevalidate, `${where}: staleWhileRevalidate`)
  }
  if (given.earlyRefresh !== undefined) resolved.earlyRefresh = ratio(given.earlyRefresh, `${where}: earlyRefresh`)
  if (given.tags !== undefined) {
    if (typeof given.tags !== 'function' && !(Array.isArray(given.tags) && given.tags.every((t) => typeof t === 'string'))) {
      throw new InvalidOptionError(`${where}: tags must be an array of strings or a function, got ${describe(given.tags)}`)
    }
    resolved.tags = given.tags as ResolvedEntryOptions<T>['tags']
  }
  if (given.shouldCache !== undefined) resolved.shouldCache = fn(given.shouldCache, `${where}: shouldCache`)
  if (given.timeout !== undefined) {
    const t = plainObject(given.timeout, `${where}: timeout`)
    refuseUnknownOptions(t, ['soft', 'hard'], `${where}: timeout`)
    if (t.soft !== undefined) resolved.softTimeout = parseDuration(t.soft, `${where}: timeout.soft`)
    if (t.hard !== undefined) resolved.hardTimeout = parseDuration(t.hard, `${where}: timeout.hard`)
  }
  if (given.lock !== undefined) {
    const l = plainObject(given.lock, `${where}: lock`)
    refuseUnknownOptions(l, ['ttl', 'wait', 'lease', 'staleWait'], `${where}: lock`)
    if (l.ttl !== undefined) resolved.lockTtl = parseDuration(l.ttl, `${where}: lock.ttl`)
    if (l.wait !== undefined) resolved.lockWait = parseDuration(l.wait, `${where}: lock.wait`, true)
    if (l.lease !== undefined) resolved.lockLease = parseDuration(l.lease, `${where}: lock.lease`)
    if (l.staleWait !== undefined) resolved.staleWait = parseDuration(l.staleWait, `${where}: lock.staleWait`, true)
  }
  if (given.errorTtl !== undefined) resolved.errorTtl = parseDuration(given.errorTtl, `${where}: errorTtl`, true)
  return resolved
}

const CACHE_OPTIONS = [
  'redis', 'prefix', 'ttl', 'grace', 'staleWhileRevalidate', 'earlyRefresh', 'jitter', 'l1', 'redisTimeout',
  'connectWait', 'lock', 'timeout', 'errorTtl', 'refreshConcurrency', 'circuit', 'coherence', 'codec', 'signingKey',
  'maxValueSize', 'compressThreshold', 'maxDecompressedSize', 'strictClasses', 'invalidation',
] as const

const MiB = 1024 * 1024

/** Validates `createCache` options and applies every default, once. */
export function resolveCacheOptions(options: CacheOptions = {}): ResolvedCacheOptions {
  const given = plainObject(options, 'createCache options')
  refuseUnknownOptions(given, CACHE_OPTIONS, 'createCache')
  const where = 'createCache'
  const circuit = plainObject(given.circuit, `${where}: circuit`)
  refuseUnknownOptions(circuit, ['failures', 'resetAfter'], `${where}: circuit`)
  const maxValueSize = given.maxValueSize === undefined ? 8 * MiB : integer(given.maxValueSize, `${where}: maxValueSize`, 1)
  const invalidation = plainObject(given.invalidation, `${where}: invalidation`)
  refuseUnknownOptions(invalidation, ['replicas', 'timeout'], `${where}: invalidation`)
  return {
    redis: resolveRedis(given.redis, where),
    prefix: resolvePrefix(given.prefix, where),
    entry: resolveEntryOptions(ENTRY_DEFAULTS, pick(given, ['ttl', 'grace', 'staleWhileRevalidate', 'earlyRefresh', 'timeout', 'lock', 'errorTtl']), where),
    jitter: given.jitter === undefined ? 0 : ratio(given.jitter, `${where}: jitter`),
    l1: resolveL1(given.l1, where),
    redisTimeout: given.redisTimeout === undefined ? 500 : parseDuration(given.redisTimeout, `${where}: redisTimeout`),
    connectWait: given.connectWait === undefined ? 1000 : parseDuration(given.connectWait, `${where}: connectWait`, true),
    refreshConcurrency:
      given.refreshConcurrency === undefined ? 4 : integer(given.refreshConcurrency, `${where}: refreshConcurrency`, 1),
    circuitFailures: circuit.failures === undefined ? 5 : integer(circuit.failures, `${where}: circuit.failures`, 1),
    circuitResetAfter:
      circuit.resetAfter === undefined ? 2000 : parseDuration(circuit.resetAfter, `${where}: circuit.resetAfter`),
    coherence: resolveCoherence(given.coherence, where),
    codec: resolveCodec(given.codec, where),
    signingKeys: signingKeys(given, where),
    maxValueSize,
    compressThreshold:
      given.compressThreshold === undefined || given.compressThreshold === false
        ? Number.POSITIVE_INFINITY
        : integer(given.compressThreshold, `${where}: compressThreshold`, 1),
    maxDecompressedSize:
      given.maxDecompressedSize === undefined
        ? 4 * maxValueSize
        : integer(given.maxDecompressedSize, `${where}: maxDecompressedSize`, 1),
    strictClasses: given.strictClasses === undefined ? false : bool(given.strictClasses, `${where}: strictClasses`),
    invalidationReplicas: invalidation.replicas === undefined ? 0 : integer(invalidation.replicas, `${where}: invalidation.replicas`, 0),
    invalidationTimeout:
      invalidation.timeout === undefined ? 500 : parseDuration(invalidation.timeout, `${where}: invalidation.timeout`),
  }
}

/** The entry defaults of every cache, before its own options. */
const ENTRY_DEFAULTS: ResolvedEntryOptions = {
  ttl: 60_000,
  grace: 0,
  staleWhileRevalidate: false,
  earlyRefresh: 0,
  tags: undefined,
  shouldCache: undefined,
  softTimeout: 0,
  hardTimeout: 0,
  lockTtl: 10_000,
  lockWait: 5_000,
  lockLease: 30_000,
  staleWait: 250,
  errorTtl: 0,
}

/** The entry options among a cache's options. */
function pick(given: Record<string, unknown>, names: readonly (keyof EntryOptions)[]): EntryOptions {
  const picked: Record<string, unknown> = {}
  for (const name of names) if (given[name] !== undefined) picked[name] = given[name]
  return picked as EntryOptions
}

/**
 * A prefix is letters, digits, `_ - .`, and never `:`: every key of a cache starts with
 * `${prefix}:`, so the first `:` of a key ends its prefix, and no prefix, namespace and
 * key can spell another cache's keys (prefix `team`, namespace `app` would otherwise be
 * the stamps and locks of a cache of prefix `team:app`), and `~${prefix}:*` in an ACL is
 * exactly one cache's keys.
 */
function resolvePrefix(prefix: unknown, where: string): string {
  if (prefix === undefined) return 'memoredis'
  if (typeof prefix !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(prefix)) {
    throw new InvalidOptionError(
      `${where}: prefix must be a non-empty string of letters, digits, '_', '-', '.' (no ':', which ends the prefix in ` +
        `every key: a prefix with ':' would share another prefix's keys; write 'team.app' for 'team:app'), got ${describe(prefix)}`,
    )
  }
  return prefix
}

/** The `redis` option; an empty or blank string (`REDIS_URL=`) is no Redis, as when the variable is unset. */
function resolveRedis(value: unknown, where: string): CacheOptions['redis'] {
  if (value === undefined || (typeof value === 'string' && value.trim() === '')) return undefined
  return checkRedisSource(value, where) as CacheOptions['redis']
}

function resolveL1(value: unknown, where: string): ResolvedCacheOptions['l1'] {
  const defaults = { max: 10_000, maxSize: 64 * MiB, freeze: false }
  if (value === false) return false
  if (value === undefined) return defaults
  const l1 = plainObject(value, `${where}: l1`)
  refuseUnknownOptions(l1, ['max', 'maxSize', 'freeze'], `${where}: l1`)
  return {
    max: l1.max === undefined ? defaults.max : integer(l1.max, `${where}: l1.max`, 1),
    maxSize: l1.maxSize === undefined ? defaults.maxSize : integer(l1.maxSize, `${where}: l1.maxSize`, 1),
    freeze: l1.freeze === undefined ? defaults.freeze : bool(l1.freeze, `${where}: l1.freeze`),
  }
}

function resolveCoherence(value: unknown, where: string): ResolvedCacheOptions['coherence'] {
  if (value !== undefined && value !== 'tracking' && value !== 'bus' && value !== 'off') {
    throw new InvalidOptionError(`${where}: coherence must be 'tracking', 'bus' or 'off', got ${describe(value)}`)
  }
  return value
}

function resolveCodec(value: unknown, where: string): Codec | undefined {
  if (value === undefined) return undefined
  const codec = value as Partial<Codec> | null
  if (codec === null || typeof codec !== 'object' || typeof codec.name !== 'string' || typeof codec.encode !== 'function' || typeof codec.decode !== 'function') {
    throw new InvalidOptionError(`${where}: codec must be an object with name, encode and decode, got ${describe(value)}`)
  }
  return codec as Codec
}

/**
 * The signing keys. A security setting never falls to its weakest state by an absent
 * value: `signingKey` given as `undefined` or empty (an unset or empty variable) is
 * refused, and only its absence or `false` runs unsigned.
 */
function signingKeys(given: Record<string, unknown>, where: string): Buffer[] {
  const value = given.signingKey
  if (value === false || !Object.hasOwn(given, 'signingKey')) return []
  const list: unknown[] = Array.isArray(value) ? value : [value]
  if (list.length === 0) throw new InvalidOptionError(`${where}: signingKey list must not be empty`)
  return list.map((key: unknown, i) => {
    const option = `${where}: signingKey${Array.isArray(value) ? `[${i}]` : ''}`
    if (key === undefined || key === '' || (Buffer.isBuffer(key) && key.length === 0)) {
      throw new InvalidOptionError(
        `${option} is ${key === undefined ? 'undefined' : 'empty'}, as when the variable that should hold it is unset: values would go unsigned. ` +
          'Give a key of at least 16 bytes, or run unsigned on purpose with signingKey: false (or without the option)',
      )
    }
    const buf = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.isBuffer(key) ? key : undefined
    if (buf === undefined || buf.length < 16) throw new InvalidOptionError(`${option} must be a string or Buffer of at least 16 bytes`)
    return buf
  })
}

/** Checks the memoize-only options; returns the entry options part. */
export function checkMemoizeOptions(options: unknown, where: string): void {
  const given = plainObject(options, `${where} options`)
  refuseUnknownOptions(given, [...ENTRY_OPTIONS, 'cache', 'name', 'key', 'version'], where)
  if (given.name !== undefined && (typeof given.name !== 'string' || given.name === '')) {
    throw new InvalidOptionError(`${where}: name must be a non-empty string, got ${describe(given.name)}`)
  }
  fn(given.key, `${where}: key`)
  if (given.tags !== undefined && typeof given.tags !== 'function' && !Array.isArray(given.tags)) {
    throw new InvalidOptionError(`${where}: tags must be an array of strings or a function, got ${describe(given.tags)}`)
  }
  if (given.version !== undefined) integer(given.version, `${where}: version`, 0)
}
