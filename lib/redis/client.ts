import type { Cluster, Redis, RedisOptions } from 'ioredis'
import { InvalidOptionError } from '../errors.ts'
import type { IoredisLikeOptions } from '../options/redis-source.ts'
import { ioredisLibrary, library } from './library.ts'
import { isNodeRedisClient, isNodeRedisCluster, type NodeRedisClient, type NodeRedisCluster } from './node-redis/shape.ts'

/**
 * The app's Redis client, recognised by its shape. ioredis and iovalkey are optional peer
 * dependencies: the app's `Redis` or `Cluster` may come from either, or from another copy
 * than the one memoredis would load (ioredis 5 in the app, or two copies installed), so
 * `instanceof` would take it for an options object and connect to 127.0.0.1:6379. ioredis
 * 5 and 6 and iovalkey (ioredis's fork) set `isCluster` on every client (`true` on a
 * Cluster, `false` on a Redis) and give it `duplicate()`, `options` and `status`; a
 * Cluster also has `nodes()`. Types come from ioredis alone: iovalkey's are the same.
 */

/** A command connection memoredis opens: a single node or a Cluster. */
export type Client = Redis | Cluster

/** What the `redis` option of `createCache` may be. */
export type RedisSource = string | RedisOptions | Redis | Cluster

/** What a `redis` value turned out to be (see {@link classifyRedisSource}). */
export type RedisSourceKind =
  | { kind: 'url'; url: string }
  | { kind: 'options'; options: RedisOptions }
  | { kind: 'redis'; client: Redis }
  | { kind: 'cluster'; client: Cluster }
  | { kind: 'node-redis'; client: NodeRedisClient }
  | { kind: 'node-redis-cluster'; client: NodeRedisCluster }
  /** `reason` completes a sentence that starts with `redis `. */
  | { kind: 'invalid'; reason: string }

/**
 * Every connection option of ioredis 5 and 6 and iovalkey (`RedisOptions`, with its
 * standalone, TLS and Sentinel parts). A `redis` value that is a plain object is taken as
 * options only when all its keys are among these: a client from another library, a
 * wrapper or a typo is refused instead of silently connecting to 127.0.0.1:6379. The
 * public type {@link IoredisLikeOptions} has the same keys (checked below).
 */
const OPTION_KEYS = [
  // where: standalone and TLS
  'host', 'port', 'path', 'family', 'tls', 'disconnectTimeout',
  // who
  'username', 'password', 'db', 'connectionName', 'clientInfoTag', 'disableClientInfo',
  // how: connection and commands
  'Connector', 'retryStrategy', 'commandTimeout', 'blockingTimeout', 'blockingTimeoutGrace', 'socketTimeout',
  'keepAlive', 'noDelay', 'connectTimeout', 'maxRetriesPerRequest', 'maxLoadingRetryTime', 'reconnectOnError',
  'readOnly', 'stringNumbers', 'enableOfflineQueue', 'enableReadyCheck', 'autoResubscribe',
  'autoResendUnfulfilledCommands', 'lazyConnect', 'enableAutoPipelining', 'autoPipeliningIgnoredCommands',
  'offlineQueue', 'commandQueue', 'monitor', 'scripts', 'keyPrefix', 'showFriendlyErrorStack', 'protocol',
  'replyMapping',
  // Sentinel
  'sentinels', 'name', 'role', 'preferredSlaves', 'sentinelUsername', 'sentinelPassword', 'sentinelTLS',
  'enableTLSForSentinelMode', 'natMap', 'updateSentinels', 'sentinelRetryStrategy', 'sentinelReconnectStrategy',
  'sentinelMaxConnections', 'sentinelCommandTimeout', 'failoverDetector',
] as const satisfies readonly (keyof IoredisLikeOptions)[]

// Fails to compile when the public type has a key the list lacks.
const everyKeyListed: Record<Exclude<keyof IoredisLikeOptions, (typeof OPTION_KEYS)[number]>, never> = {}
void everyKeyListed

const REDIS_OPTION_KEYS: ReadonlySet<string> = new Set(OPTION_KEYS)

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null

/** True for what every ioredis 5 or 6 client (a Redis or a Cluster) has. */
function clientShaped(x: Record<string, unknown>): boolean {
  return (
    typeof x.isCluster === 'boolean' &&
    typeof x.duplicate === 'function' &&
    typeof x.status === 'string' &&
    isObject(x.options) &&
    typeof x.on === 'function' &&
    typeof x.disconnect === 'function'
  )
}

/** True when `x` is an ioredis (5 or 6) `Cluster`, from any copy of ioredis. */
export function isCluster(x: unknown): x is Cluster {
  return isObject(x) && clientShaped(x) && x.isCluster === true && typeof x.nodes === 'function'
}

/** True when `x` is an ioredis (5 or 6) `Redis` (a single node), from any copy of ioredis. */
export function isRedisClient(x: unknown): x is Redis {
  return isObject(x) && clientShaped(x) && x.isCluster === false && typeof x.sendCommand === 'function'
}

/** True when `x` is a plain object (made by `{}` or `Object.create(null)`), not an instance of a class. */
function isPlainObject(x: object): boolean {
  const proto: unknown = Object.getPrototypeOf(x)
  return proto === Object.prototype || proto === null
}

/**
 * Says what a `redis` value is: a `redis://`/`rediss://` URL, ioredis options (a plain
 * object whose keys are all in {@link REDIS_OPTION_KEYS}), an ioredis `Redis` or `Cluster`
 * (from any copy of ioredis 5 or 6), or none of these, with what it was instead.
 */
export function classifyRedisSource(x: unknown): RedisSourceKind {
  if (typeof x === 'string') {
    return /^rediss?:\/\//.test(x) ? { kind: 'url', url: x } : { kind: 'invalid', reason: `URL must start with redis:// or rediss://, got ${JSON.stringify(x)}` }
  }
  if (isNodeRedisCluster(x)) return { kind: 'node-redis-cluster', client: x }
  if (isNodeRedisClient(x)) return { kind: 'node-redis', client: x }
  if (isCluster(x)) return { kind: 'cluster', client: x }
  if (isRedisClient(x)) return { kind: 'redis', client: x }
  const expected = 'must be a URL string, ioredis options, a Redis or a Cluster, got'
  if (!isObject(x)) return { kind: 'invalid', reason: `${expected} ${typeof x === 'bigint' ? `${x}n` : String(x)}` }
  if (Array.isArray(x)) return { kind: 'invalid', reason: `${expected} an array` }
  if (!isPlainObject(x)) {
    const name = typeof x.constructor === 'function' && x.constructor.name !== '' ? `a ${x.constructor.name}` : 'an object'
    return { kind: 'invalid', reason: `${expected} ${name}, which is neither an ioredis 5 or 6 or iovalkey client nor plain options` }
  }
  const unknown = Object.keys(x).filter((key) => !REDIS_OPTION_KEYS.has(key))
  if (unknown.length > 0) {
    const names = unknown.map((key) => `'${key}'`).join(', ')
    return { kind: 'invalid', reason: `${expected} an object with ${names}, which ioredis does not know as connection options` }
  }
  return { kind: 'options', options: x as RedisOptions }
}

/**
 * Checks the `redis` option of `createCache` (see {@link classifyRedisSource}); a URL or
 * options load the client library they need now, so that a missing one fails at once.
 * @throws InvalidOptionError naming `where` when `value` is neither a URL, nor ioredis
 *   options, nor an ioredis 5 or 6 or iovalkey `Redis` or `Cluster`.
 * @throws NoRedisClientError for a URL when no client library is installed, for options
 *   when neither ioredis nor iovalkey is.
 */
export function checkRedisSource(value: unknown, where: string): RedisSource {
  const source = classifyRedisSource(value)
  if (source.kind === 'invalid') throw new InvalidOptionError(`${where}: redis ${source.reason}`)
  if (source.kind === 'url') library()
  if (source.kind === 'options') ioredisLibrary()
  return value as RedisSource
}

/** How soon memoredis's connections (commands and subscribers) reconnect: 100 ms more each try, at most 1 s. */
export const retryStrategy = (times: number): number => Math.min(times * 100, 1000)

/** Settings memoredis puts on every command connection it opens. */
const OWN: RedisOptions = {
  enableOfflineQueue: false,
  // A command cut off by a lost connection fails; it is never sent again, late, on the next one.
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0,
  retryStrategy,
}

/**
 * Opens memoredis's own connection from a URL, options, a Redis or a Cluster (a template,
 * never used itself). A template is duplicated, so the new connection is made by the
 * app's own copy of its library, with the template's settings; a URL or options make a
 * new `Redis` of the preferred library installed (`library.ts`). `overrides` win over memoredis's settings (offline queue off, no resends,
 * no retries per request, reconnect every 100 ms × attempts up to 1 s).
 */
export function connect(source: RedisSource, overrides: RedisOptions = {}): Client {
  // lazyConnect: false — a template made with lazyConnect (so that it never connects itself)
  // must not make our copy lazy too: `run` sends only on a ready connection, so it would never connect.
  if (isCluster(source)) {
    return source.duplicate(undefined, {
      enableOfflineQueue: overrides.enableOfflineQueue ?? false,
      lazyConnect: false,
      redisOptions: { ...source.options.redisOptions, ...OWN, ...overrides },
    })
  }
  if (isRedisClient(source)) return source.duplicate({ ...OWN, lazyConnect: false, ...overrides })
  const { Redis } = ioredisLibrary()
  if (typeof source === 'string') return new Redis(source, { ...OWN, ...overrides })
  return new Redis({ ...source, ...OWN, lazyConnect: false, ...overrides })
}

/**
 * A connection to one node of `cluster` (`options` say which, and how), made by the
 * Cluster's own library, the app's copy of ioredis or iovalkey: a node's `duplicate()`
 * with `options` over its settings. The preferred library makes it while the Cluster knows no node yet.
 */
export function nodeConnection(cluster: Cluster, options: RedisOptions): Redis {
  const node = cluster.nodes('all')[0]
  // A node's own settings that `options` do not name must not carry over (a replica's readOnly).
  if (node !== undefined) return node.duplicate({ readOnly: false, ...options })
  return new (ioredisLibrary().Redis)(options)
}
