/**
 * memoredis: memoize expensive async work across a fleet of Node.js processes.
 * This file is the whole public surface; every other module is internal.
 */
export { createCache } from './cache.ts'
export type { Cache, CacheHealth, CacheResult, CacheStats, Memoized, MemoizeOptions } from './cache-types.ts'
export {
  memoize,
  Memoize,
  memoized,
  defaultCache,
  type MemoizedMethod,
  type MemoizeMethodOptions,
  type MethodDecorator,
  type MethodKeys,
} from './memoize.ts'
export {
  InvalidateTags,
  type InvalidateTagsDecorator,
  type InvalidateTagsOptions,
  type InvalidatedTags,
} from './invalidate-tags.ts'
export { registerClass, type RegisterClassOptions, type Class } from './registry.ts'
export { superjsonCodec, type Codec } from './codec.ts'
export type { CacheEvents, CacheEventName, Tier } from './events.ts'
export { channels, type ReadContext, type ComputeContext, type LockWaitContext } from './diagnostics.ts'
export type {
  CacheOptions,
  Duration,
  EntryOptions,
  LockOptions,
  TimeoutOptions,
} from './options.ts'
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
  type ErrorCode,
} from './errors.ts'
