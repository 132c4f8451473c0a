import type { Codec } from '../codec/types.ts'
import { checkCodec } from '../codec/check.ts'
import { InvalidOptionError } from '../errors.ts'
import { checkRedisSource } from '../redis/client.ts'
import { bool, checkTags, describeValue, fn, integer, plainObject, ratio } from './checks.ts'
import { parseDuration } from './duration.ts'
import { refuseUnknownOptions } from './known.ts'
import type { CacheOptions, EntryOptions, InvalidationOptions } from './types.ts'

/**
 * Options validated and their defaults applied, once, into plain, fully-typed objects:
 * the rest of the code reads these and never checks `options.x ?? default` again. The
 * defaults here are the ones each option's `@default` in `types.ts` states.
 */

/** {@link EntryOptions} with every default applied; times in milliseconds. */
export interface ResolvedEntryOptions<T = unknown> {
  /** The ttl, ms; when `ttlOf` is set, only what a value is measured by for `earlyRefresh` before it has its own. */
  ttl: number
  /** The `ttl` option given as a function of the value (its result checked when a value is stored). */
  ttlOf?: (value: T) => unknown
  grace: number
  /** The `grace` option given as a function of the value. */
  graceOf?: (value: T) => unknown
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
  /** Checked: a URL, options or a client (see `lib/redis/client.ts`). */
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

/**
 * Whether an invalidation's options (`delete`, `invalidateTags`, `clear`: `where`) ask for a
 * soft one; anything but an {@link InvalidationOptions} object (or nothing) is refused.
 */
export function isSoft(options: InvalidationOptions | undefined, where: string): boolean {
  const given = plainObject(options, `${where}: options`)
  refuseUnknownOptions(given, ['soft'], where)
  return given.soft === undefined ? false : bool(given.soft, `${where}: soft`)
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
  if (given.ttl !== undefined) {
    if (typeof given.ttl === 'function') resolved.ttlOf = given.ttl as (value: T) => unknown
    else [resolved.ttl, resolved.ttlOf] = [parseDuration(given.ttl, `${where}: ttl`), undefined]
  }
  if (given.grace !== undefined) {
    if (typeof given.grace === 'function') resolved.graceOf = given.grace as (value: T) => unknown
    else [resolved.grace, resolved.graceOf] = [parseDuration(given.grace, `${where}: grace`, true), undefined]
  }
  if (given.staleWhileRevalidate !== undefined) {
    resolved.staleWhileRevalidate = bool(given.staleWhileRevalidate, `${where}: staleWhileRevalidate`)
  }
  if (given.earlyRefresh !== undefined) resolved.earlyRefresh = ratio(given.earlyRefresh, `${where}: earlyRefresh`)
  if (given.tags !== undefined) {
    checkTags(given.tags, `${where}: tags`)
    resolved.tags = given.tags as ResolvedEntryOptions<T>['tags']
  }
  if (given.shouldCache !== undefined) resolved.shouldCache = fn(given.shouldCache, `${where}: shouldCache`)
  if (given.timeout !== undefined) resolveTimeout(resolved, given.timeout, `${where}: timeout`)
  if (given.lock !== undefined) resolveLock(resolved, given.lock, `${where}: lock`)
  if (given.errorTtl !== undefined) resolved.errorTtl = parseDuration(given.errorTtl, `${where}: errorTtl`, true)
  return resolved
}

/** The `timeout` entry option, into `resolved`. */
function resolveTimeout(resolved: Pick<ResolvedEntryOptions, 'softTimeout' | 'hardTimeout'>, value: unknown, where: string): void {
  const t = plainObject(value, where)
  refuseUnknownOptions(t, ['soft', 'hard'], where)
  if (t.soft !== undefined) resolved.softTimeout = parseDuration(t.soft, `${where}.soft`)
  if (t.hard !== undefined) resolved.hardTimeout = parseDuration(t.hard, `${where}.hard`)
}

/** The `lock` entry option, into `resolved`. */
function resolveLock(resolved: Pick<ResolvedEntryOptions, 'lockTtl' | 'lockWait' | 'lockLease' | 'staleWait'>, value: unknown, where: string): void {
  const l = plainObject(value, where)
  refuseUnknownOptions(l, ['ttl', 'wait', 'lease', 'staleWait'], where)
  if (l.ttl !== undefined) resolved.lockTtl = parseDuration(l.ttl, `${where}.ttl`)
  if (l.wait !== undefined) resolved.lockWait = parseDuration(l.wait, `${where}.wait`, true)
  if (l.lease !== undefined) resolved.lockLease = parseDuration(l.lease, `${where}.lease`)
  if (l.staleWait !== undefined) resolved.staleWait = parseDuration(l.staleWait, `${where}.staleWait`, true)
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
    codec: given.codec === undefined ? undefined : checkCodec(given.codec, `${where}: codec`),
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
    ...resolveInvalidation(given.invalidation, where),
  }
}

/** The `invalidation` option: replicas to wait for, and how long. */
function resolveInvalidation(value: unknown, where: string): Pick<ResolvedCacheOptions, 'invalidationReplicas' | 'invalidationTimeout'> {
  const invalidation = plainObject(value, `${where}: invalidation`)
  refuseUnknownOptions(invalidation, ['replicas', 'timeout'], `${where}: invalidation`)
  return {
    invalidationReplicas: invalidation.replicas === undefined ? 0 : integer(invalidation.replicas, `${where}: invalidation.replicas`, 0),
    invalidationTimeout: invalidation.timeout === undefined ? 500 : parseDuration(invalidation.timeout, `${where}: invalidation.timeout`),
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
        `every key: a prefix with ':' would share another prefix's keys; write 'team.app' for 'team:app'), got ${describeValue(prefix)}`,
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
    throw new InvalidOptionError(`${where}: coherence must be 'tracking', 'bus' or 'off', got ${describeValue(value)}`)
  }
  return value
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

/** Checks the options of `memoize` and `@Memoize` (the entry options again when they are resolved). */
export function checkMemoizeOptions(options: unknown, where: string): void {
  const given = plainObject(options, `${where} options`)
  refuseUnknownOptions(given, [...ENTRY_OPTIONS, 'cache', 'name', 'key', 'version'], where)
  if (given.name !== undefined && (typeof given.name !== 'string' || given.name === '')) {
    throw new InvalidOptionError(`${where}: name must be a non-empty string, got ${describeValue(given.name)}`)
  }
  fn(given.key, `${where}: key`)
  if (given.tags !== undefined) checkTags(given.tags, `${where}: tags`)
  if (given.version !== undefined) integer(given.version, `${where}: version`, 0)
}
