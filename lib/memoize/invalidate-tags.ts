/**
 * `@InvalidateTags`: after a method that writes succeeds, invalidate the tags of what it
 * changed, before its caller sees the result. Works on any class (a service, a
 * repository, a NestJS provider), under legacy or standard decorators.
 */
import type { Cache } from '../cache-types.ts'
import { defaultCache } from './default-cache.ts'
import { InvalidOptionError, TagInvalidationError } from '../errors.ts'
import { refuseUnknownOptions } from '../options/known.ts'
import { bool, checkTags, describeTags, describeValue, fn } from '../options/checks.ts'
import { checkCacheOption } from '../options/cache-option.ts'

/**
 * The tags a successful call invalidates: a list, or a function of the call's arguments
 * (as one array) and its resolved result, called with the instance as `this`.
 */
export type InvalidatedTags<A extends unknown[] = never[], R = never> =
  | readonly string[]
  | ((args: A, result: R) => string[] | readonly string[])

/** Options of {@link InvalidateTags}. */
export interface InvalidateTagsOptions {
  /**
   * The cache whose tags are invalidated: one made by `createCache`.
   * @default defaultCache() // the cache memoize and Memoize use when given none
   */
  cache?: Cache
  /**
   * Called instead of rejecting when the invalidation fails (Redis could not be told,
   * the cache is closed, the `tags` function threw): the call then resolves with the
   * method's result. Rethrow from it to reject. Without it, the call rejects with the
   * {@link TagInvalidationError}, whose `result` is the method's result.
   * @default undefined // the call rejects with the TagInvalidationError
   */
  onError?: (error: TagInvalidationError) => void
  /**
   * Invalidate softly: the entries stay as stale fallbacks (see `InvalidationOptions.soft`).
   * @default false
   */
  soft?: boolean
}

/** Any method returning a promise: what {@link InvalidateTags} may decorate. */
type AsyncMethod = (this: never, ...args: never) => PromiseLike<unknown>

/** {@link InvalidateTags}'s decorator, in its standard (TC39) and legacy (`experimentalDecorators`) forms. */
export interface InvalidateTagsDecorator {
  <M extends AsyncMethod>(value: M, context: ClassMethodDecoratorContext): M
  <M extends AsyncMethod>(target: object, propertyKey: string | symbol, descriptor: TypedPropertyDescriptor<M>): TypedPropertyDescriptor<M>
}

/**
 * After the method succeeds (its promise resolves, or it returns), invalidates `tags`
 * in every process, then resolves with the method's result: whoever awaits the call
 * reads fresh data afterwards, here and in every process sharing the Redis. A method
 * that throws or rejects invalidates nothing, and its error reaches the caller
 * unchanged (a synchronous throw stays synchronous).
 *
 * When the invalidation itself fails (Redis down, the cache closed, `tags` threw), the
 * call rejects with a {@link TagInvalidationError} carrying the method's `result`: the
 * write happened, but other processes may serve stale data until their entries expire,
 * and a caller after a write should know. Pass `onError` to resolve with the result
 * instead (and report the error your way).
 *
 * The decorated method always returns a promise (declare it `async`). Options are checked
 * when the decorator is applied (`InvalidOptionError`). Under legacy decorators the
 * replacement keeps the `reflect-metadata` of the method it wraps (a framework's route
 * metadata, say), whatever the order of the decorators.
 *
 * @example
 * class Products {
 *   @InvalidateTags(([id]: [string]) => [`product:${id}`], { cache })
 *   async rename(id: string, name: string) { await db.products.update(id, { name }) }
 * }
 */
export function InvalidateTags<A extends unknown[] = never[], R = never>(
  tags: InvalidatedTags<A, R>,
  options: InvalidateTagsOptions = {},
): InvalidateTagsDecorator {
  checkInvalidateTags(tags, options, 'InvalidateTags')
  const run = (self: unknown, method: Method, args: unknown[]): Promise<unknown> => {
    // A synchronous throw stays synchronous; a rejection passes through unchanged.
    return Promise.resolve(method.apply(self, args)).then((result) =>
      invalidateAfter({ cache: options.cache ?? defaultCache(), tags: tags as InvalidatedTags<unknown[], unknown>, self, args, result, onError: options.onError, soft: options.soft === true }),
    )
  }
  function decorate(target: unknown, context: unknown, descriptor?: PropertyDescriptor): unknown {
    const legacy = descriptor !== undefined
    const method = legacy ? descriptor.value : target
    const ctx = context as ClassMethodDecoratorContext | undefined
    if (typeof method !== 'function' || (!legacy && (typeof ctx !== 'object' || ctx === null || ctx.kind !== 'method'))) {
      throw new InvalidOptionError('InvalidateTags decorates methods only')
    }
    const replacement = function (this: unknown, ...args: unknown[]): Promise<unknown> {
      return run(this, method as Method, args)
    }
    Object.defineProperty(replacement, 'name', { value: (method as Method).name })
    Object.defineProperty(replacement, 'length', { value: (method as Method).length })
    if (!legacy) return replacement
    copyMetadata(method, replacement)
    return { ...descriptor, value: replacement }
  }
  return decorate as InvalidateTagsDecorator
}

type Method = (...args: unknown[]) => unknown

/** What {@link invalidateAfter} needs: the call that succeeded, and where and how to invalidate. */
export interface AfterWrite<A extends unknown[], R> {
  cache: Cache
  tags: InvalidatedTags<A, R>
  /** `this` of the `tags` function. */
  self: unknown
  args: A
  result: R
  onError: ((error: TagInvalidationError) => void) | undefined
  /** A soft invalidation (see `InvalidationOptions.soft`). */
  soft: boolean
}

/**
 * Invalidates the tags of a call that succeeded, then resolves with its result; on
 * failure rejects with a {@link TagInvalidationError}, or hands it to `onError` and
 * resolves. Shared with the NestJS route decorator.
 * @internal
 */
export async function invalidateAfter<A extends unknown[], R>(write: AfterWrite<A, R>): Promise<R> {
  let tags: readonly string[] = []
  try {
    const given = typeof write.tags === 'function' ? write.tags.call(write.self, write.args, write.result) : write.tags
    if (!Array.isArray(given) || !given.every((t) => typeof t === 'string')) {
      throw new TypeError(`tags must be an array of strings, got ${describeTags(given)}`)
    }
    tags = given
    if (tags.length > 0) await write.cache.invalidateTags(tags, { soft: write.soft })
  } catch (cause) {
    const error = new TagInvalidationError(tags, write.result, cause)
    if (write.onError === undefined) throw error
    write.onError(error)
  }
  return write.result
}

/**
 * Checks the arguments of an invalidating decorator (`where` names it in errors).
 * @internal
 */
export function checkInvalidateTags(tags: unknown, options: unknown, where: string): void {
  checkTags(tags, `${where}: tags`)
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidOptionError(`${where}: options must be an object, got ${describeValue(options)}`)
  }
  const given = options as Record<string, unknown>
  refuseUnknownOptions(given, ['cache', 'onError', 'soft'], where)
  checkCacheOption(given.cache, where)
  fn(given.onError, `${where}: onError`)
  if (given.soft !== undefined) bool(given.soft, `${where}: soft`)
}

/** The metadata `reflect-metadata` keeps on a function, when it is loaded (no import: memoredis does not need it). */
interface MetadataReflect {
  getOwnMetadataKeys?: (target: object) => unknown[]
  getOwnMetadata?: (key: unknown, target: object) => unknown
  defineMetadata?: (key: unknown, value: unknown, target: object) => void
}

function copyMetadata(from: object, to: object): void {
  const reflect = Reflect as unknown as MetadataReflect
  if (reflect.getOwnMetadataKeys === undefined || reflect.getOwnMetadata === undefined || reflect.defineMetadata === undefined) return
  for (const key of reflect.getOwnMetadataKeys(from)) reflect.defineMetadata(key, reflect.getOwnMetadata(key, from), to)
}
