/**
 * memoredis: memoize expensive async work across a fleet of Node.js processes.
 * This file is the whole public surface; every other module is internal.
 */
export { createCache } from './cache.ts'
export type { Cache, CacheHealth, CacheResult, CacheStats, Memoized, MemoizeOptions, MemoizedBatch, MemoizeBatchOptions } from './cache-types.ts'
export { memoizeBatch } from './memoize/memoize-batch.ts'
export {
  memoize,
  Memoize,
  memoized,
  defaultCache,
  type MemoizedMethod,
  type MemoizeMethodOptions,
  type MethodDecorator,
  type MethodKeys,
} from './memoize/memoize.ts'
export {
  InvalidateTags,
  type InvalidateTagsDecorator,
  type InvalidateTagsOptions,
  type InvalidatedTags,
} from './memoize/invalidate-tags.ts'
export { factoryContext, type FactoryContext, type StaleEntry } from './engine/factory-context.ts'
export { registerClass, type RegisterClassOptions, type Class } from './codec/registry.ts'
export { superjsonCodec, type Codec } from './codec/envelope.ts'
export type { CacheEvents, CacheEventName, Tier } from './observe/events.ts'
export { channels, type ReadContext, type ComputeContext, type LockWaitContext } from './observe/diagnostics.ts'
export type { BatchOptions, BatchResult, SetManyOptions } from './options/batch-types.ts'
export type {
  CacheOptions,
  Duration,
  EntryOptions,
  InvalidationOptions,
  LockOptions,
  TimeoutOptions,
} from './options/types.ts'
export type {
  IoredisConnectionOptions,
  IoredisLikeClient,
  IoredisLikeOptions,
  IoredisPassThroughKey,
  NodeRedisClient,
  NodeRedisCluster,
} from './options/redis-source.ts'
export {
  MemoredisError,
  InvalidOptionError,
  DuplicateNameError,
  UnkeyableArgumentError,
  EncodeError,
  DecodeError,
  SignatureError,
  ValueTooLargeError,
  UnregisteredClassError,
  FactoryTimeoutError,
  BackgroundError,
  RedisError,
  ReplicationError,
  CacheClosedError,
  TagInvalidationError,
  NoRedisClientError,
  MissingBatchValueError,
  BatchResultError,
  type ErrorCode,
} from './errors.ts'
