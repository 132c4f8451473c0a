/**
 * Error classes of memoredis. Every error has a stable `code` string; the original
 * error, when there is one, is kept as `cause`.
 *
 * Only option errors (`ERR_INVALID_OPTION`, `ERR_DUPLICATE_NAME`) and argument errors
 * (`ERR_UNKEYABLE_ARGUMENT`) are ever thrown at the caller of a memoized function, plus
 * `ERR_FACTORY_TIMEOUT` when the function itself runs past its hard timeout. Everything
 * that goes wrong with Redis or with a stored value becomes an `error` event and a
 * fallback (L1, a stale value, or a fresh computation).
 */

/** Every code a {@link MemoredisError} can carry. */
export type ErrorCode =
  | 'ERR_INVALID_OPTION'
  | 'ERR_DUPLICATE_NAME'
  | 'ERR_UNKEYABLE_ARGUMENT'
  | 'ERR_ENCODE'
  | 'ERR_DECODE'
  | 'ERR_BAD_SIGNATURE'
  | 'ERR_VALUE_TOO_LARGE'
  | 'ERR_UNREGISTERED_CLASS'
  | 'ERR_FACTORY_TIMEOUT'
  | 'ERR_BACKGROUND'
  | 'ERR_REDIS'
  | 'ERR_REDIS_TIMEOUT'
  | 'ERR_CIRCUIT_OPEN'
  | 'ERR_NOT_REPLICATED'
  | 'ERR_CLOSED'
  | 'ERR_TAG_INVALIDATION'
  | 'ERR_NO_REDIS_CLIENT'
  | 'ERR_BATCH_MISSING'
  | 'ERR_BATCH_RESULT'

/** Base class of every error memoredis creates. */
export class MemoredisError extends Error {
  /** Stable, documented identifier of what went wrong. */
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** An option of `createCache`, `memoize`, `Memoize` or a middleware is wrong. */
export class InvalidOptionError extends MemoredisError {
  constructor(message: string) {
    super('ERR_INVALID_OPTION', message)
  }
}

/**
 * `createCache` was given a Redis URL or options, and no Redis client library is
 * installed beside memoredis to connect with (they are optional peer dependencies).
 * Thrown by `createCache` at once. Install one of {@link packages}, or pass the app's own client.
 */
export class NoRedisClientError extends MemoredisError {
  /** The packages any one of which would do, in memoredis's order of preference. */
  readonly packages: readonly string[]

  constructor(packages: readonly string[]) {
    const list = packages.map((name) => `npm install ${name}`).join(', or ')
    super('ERR_NO_REDIS_CLIENT', `the redis option needs a Redis client library and none is installed: ${list}`)
    this.packages = packages
  }
}

/** Two live memoized functions would share one name in one cache. */
export class DuplicateNameError extends MemoredisError {
  constructor(message: string) {
    super('ERR_DUPLICATE_NAME', message)
  }
}

/** An argument cannot be turned into a key (a function, a symbol, a cycle, ...). */
export class UnkeyableArgumentError extends MemoredisError {
  /** Where in the arguments the offending value sits, e.g. `args[0].user.fn`. */
  readonly path: string

  constructor(path: string, message: string) {
    super('ERR_UNKEYABLE_ARGUMENT', `${message} at ${path}`)
    this.path = path
  }
}

/**
 * A result could not be encoded for storage: the codec threw, or (default codec) the
 * value would not come back exactly (an array with holes, a symbol key, a function, an
 * object shared through a class instance or an Error). The result is still returned to
 * its callers; it is just not stored, in Redis or in L1.
 */
export class EncodeError extends MemoredisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_ENCODE', message, options)
  }
}

/**
 * A stored value could not be read: corrupt bytes, an unknown format, a hostile
 * payload. The value is deleted and treated as a miss.
 */
export class DecodeError extends MemoredisError {
  constructor(message: string, options?: { cause?: unknown; code?: 'ERR_DECODE' | 'ERR_BAD_SIGNATURE' }) {
    super(options?.code ?? 'ERR_DECODE', message, options)
  }
}

/** A stored value's signature is missing or does not verify with any signing key. */
export class SignatureError extends DecodeError {
  constructor(message: string) {
    super(message, { code: 'ERR_BAD_SIGNATURE' })
  }
}

/** A value is larger than `maxValueSize` (or expands past the decompression cap). */
export class ValueTooLargeError extends MemoredisError {
  /** Size in bytes that was seen (a lower bound when decompression was cut off). */
  readonly size: number
  /** The limit in bytes. */
  readonly limit: number

  constructor(size: number, limit: number, what = 'value') {
    super('ERR_VALUE_TOO_LARGE', `${what} of ${size} bytes is larger than the limit of ${limit} bytes`)
    this.size = size
    this.limit = limit
  }
}

/** A result holds an instance of a class that was not registered with `registerClass`. */
export class UnregisteredClassError extends MemoredisError {
  /** The class's name (`constructor.name`). */
  readonly className: string

  constructor(className: string) {
    super(
      'ERR_UNREGISTERED_CLASS',
      `an instance of class ${className} is not registered: call registerClass(${className}) ` +
        'or it comes back from Redis as a plain object',
    )
    this.className = className
  }
}

/** The memoized function ran past its hard timeout. */
export class FactoryTimeoutError extends MemoredisError {
  /** The timeout that was exceeded, in milliseconds. */
  readonly timeoutMs: number

  constructor(key: string, timeoutMs: number) {
    super('ERR_FACTORY_TIMEOUT', `the function for ${key} did not settle within ${timeoutMs}ms`)
    this.timeoutMs = timeoutMs
  }
}

/**
 * The function failed where no caller was waiting: in a background refresh, or after
 * a soft timeout had already served stale. Only ever an `error` event; `cause` is the
 * function's own error.
 */
export class BackgroundError extends MemoredisError {
  constructor(key: string | undefined, cause: unknown) {
    const message = cause instanceof Error ? cause.message : String(cause)
    super('ERR_BACKGROUND', `the function failed in the background${key === undefined ? '' : ` for ${key}`}: ${message}`, {
      cause,
    })
  }
}

/** A Redis command failed, timed out, or was not sent because the circuit is open. */
export class RedisError extends MemoredisError {
  constructor(
    message: string,
    options?: { cause?: unknown; code?: 'ERR_REDIS' | 'ERR_REDIS_TIMEOUT' | 'ERR_CIRCUIT_OPEN' | 'ERR_NOT_REPLICATED' },
  ) {
    super(options?.code ?? 'ERR_REDIS', message, options)
  }
}

/**
 * With `invalidation.replicas`, an invalidation (`invalidateTags`, `delete`, a `clear()`)
 * that the master took, but that fewer replicas than asked confirmed within
 * `invalidation.timeout` (Redis `WAIT`). It is not undone: the master has it, and the
 * replicas may still get it; but if the master fails over before they do, it is lost.
 * Retry it, or treat the data as possibly stale.
 */
export class ReplicationError extends RedisError {
  /** Replicas asked for. */
  readonly replicas: number
  /** Replicas that confirmed in time (the fewest, over the masters involved). */
  readonly confirmed: number

  constructor(what: string, replicas: number, confirmed: number, timeoutMs: number) {
    super(`redis: ${what} reached ${confirmed} of ${replicas} replicas within ${timeoutMs}ms`, { code: 'ERR_NOT_REPLICATED' })
    this.replicas = replicas
    this.confirmed = confirmed
  }
}

/** The cache was closed; no more calls are accepted. */
export class CacheClosedError extends MemoredisError {
  constructor() {
    super('ERR_CLOSED', 'the cache is closed')
  }
}

/**
 * A method decorated with `@InvalidateTags` (or a route with `@InvalidateRouteTags`)
 * succeeded, but its tags could not be invalidated in every process: Redis could not be
 * told, the cache is closed, or the `tags` function threw. The write itself happened:
 * its `result` is here. `cause` is what failed (often a `RedisError`).
 */
export class TagInvalidationError extends MemoredisError {
  /** The tags that were to be invalidated (empty when the `tags` function threw). */
  readonly tags: readonly string[]
  /** What the method returned (resolved). */
  readonly result: unknown

  constructor(tags: readonly string[], result: unknown, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause)
    const what = tags.length === 0 ? 'its tags' : tags.join(', ')
    super('ERR_TAG_INVALIDATION', `the method succeeded but invalidating ${what} failed: ${why}`, { cause })
    this.tags = tags
    this.result = result
  }
}

/**
 * A batch function (`getOrSetMany`, `memoizeBatch`) left out a key it was asked for, and
 * its `missing` option is `'error'`. The key's callers reject with it; nothing is stored.
 */
export class MissingBatchValueError extends MemoredisError {
  /** The key (`getOrSetMany`) or id (`memoizeBatch`) left out. */
  readonly id: unknown

  constructor(id: unknown, described: string) {
    super('ERR_BATCH_MISSING', `the batch function returned no value for ${described}`)
    this.id = id
  }
}

/**
 * A batch function returned neither an array of one value per key (in the order asked)
 * nor a Map: every key it was asked for rejects with this, and nothing is stored.
 */
export class BatchResultError extends MemoredisError {
  constructor(message: string) {
    super('ERR_BATCH_RESULT', message)
  }
}
