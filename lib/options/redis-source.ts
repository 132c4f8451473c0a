/**
 * The public types of the `redis` option. They name no client library: every client is an
 * optional peer dependency, and an app that installed only one of them must typecheck
 * against memoredis's declarations (`skipLibCheck: false`) without the others. Clients are
 * recognised by their shape, here as at run time (`lib/redis/client.ts`).
 */

/**
 * An ioredis (5 or 6) or iovalkey client, a `Redis` or a `Cluster`: the parts memoredis
 * relies on. memoredis uses it as a template (`duplicate()`), never sends on it, and never closes it.
 */
export interface IoredisLikeClient {
  /** `true` on a Cluster, `false` on a Redis. */
  readonly isCluster: boolean
  /** The connection's state (`'wait'`, `'ready'`, ...). */
  readonly status: string
  /** The settings it was made with, copied into memoredis's own connections. */
  readonly options: object
  /** Makes a new client with the same settings: how memoredis opens its own connections. */
  duplicate(...args: never[]): unknown
  /** Closes it (memoredis never calls it on yours). */
  disconnect(reconnect?: boolean): void
}

/**
 * A node-redis client made by `createClient` (RESP2 or RESP3), as memoredis takes it: a
 * template whose settings memoredis's own connections are made with (`duplicate`); it is
 * never connected, used or closed by memoredis.
 */
export interface NodeRedisClient {
  /** Makes a new client with the same settings: how memoredis opens its own connections. */
  duplicate(overrides?: object): unknown
  /** Connects it (memoredis never calls it on yours). */
  connect(): Promise<unknown>
  /** Whether its socket is open. */
  readonly isOpen: boolean
  /** Whether it is ready for commands. */
  readonly isReady: boolean
}

/** A node-redis cluster made by `createCluster`, taken as a template like {@link NodeRedisClient}. */
export interface NodeRedisCluster extends NodeRedisClient {
  /** Its masters, as it knows them. */
  readonly masters: readonly unknown[]
}

/**
 * The keys of {@link IoredisLikeOptions} typed `unknown` here: passed to the client as
 * given, and checked by it (see ioredis's `RedisOptions`).
 */
export type IoredisPassThroughKey =
  | 'disconnectTimeout' | 'clientInfoTag' | 'disableClientInfo' | 'Connector' | 'retryStrategy' | 'commandTimeout'
  | 'blockingTimeout' | 'blockingTimeoutGrace' | 'socketTimeout' | 'keepAlive' | 'noDelay' | 'maxRetriesPerRequest'
  | 'maxLoadingRetryTime' | 'reconnectOnError' | 'readOnly' | 'stringNumbers' | 'enableOfflineQueue'
  | 'enableReadyCheck' | 'autoResubscribe' | 'autoResendUnfulfilledCommands' | 'lazyConnect' | 'enableAutoPipelining'
  | 'autoPipeliningIgnoredCommands' | 'offlineQueue' | 'commandQueue' | 'monitor' | 'scripts' | 'keyPrefix'
  | 'showFriendlyErrorStack' | 'protocol' | 'replyMapping' | 'sentinels' | 'name' | 'role' | 'preferredSlaves'
  | 'sentinelUsername' | 'sentinelPassword' | 'sentinelTLS' | 'enableTLSForSentinelMode' | 'natMap'
  | 'updateSentinels' | 'sentinelRetryStrategy' | 'sentinelReconnectStrategy' | 'sentinelMaxConnections'
  | 'sentinelCommandTimeout' | 'failoverDetector'

/**
 * ioredis or iovalkey connection options (`RedisOptions`), as a plain object: only these
 * keys are accepted, anything else is refused with `InvalidOptionError` (a typo never
 * connects to 127.0.0.1:6379). The ones not listed here ({@link IoredisPassThroughKey})
 * are passed through as given; see the client's own documentation.
 */
export type IoredisLikeOptions = IoredisConnectionOptions & { readonly [K in IoredisPassThroughKey]?: unknown }

/** The connection options of {@link IoredisLikeOptions} that memoredis types. */
export interface IoredisConnectionOptions {
  /** The server's host name or address. @default '127.0.0.1' */
  host?: string
  /** The server's port. @default 6379 */
  port?: number
  /** A Unix socket path, instead of host and port. @default undefined */
  path?: string
  /** The IP family (4 or 6; 0 for either). @default 0 */
  family?: number
  /** TLS options (`tls.connect`'s); set for a `rediss` server. @default undefined // no TLS */
  tls?: object
  /** The ACL user. @default undefined // 'default' */
  username?: string
  /** The password (of `username`, or `requirepass`). @default undefined */
  password?: string
  /** The database number. @default 0 */
  db?: number
  /** The name each connection gives itself (`CLIENT SETNAME`). @default undefined */
  connectionName?: string
  /** How long to wait for a connection to be made, ms. @default 10000 */
  connectTimeout?: number
}
