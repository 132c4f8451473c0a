import type { Cache, Memoized, MemoizeOptions } from '../cache-types.ts'
import type { Call } from '../engine/compute.ts'
import { defaultCache } from './default-cache.ts'
import { DuplicateNameError, InvalidOptionError } from '../errors.ts'
import { digest, encodeArgs, encodeOne } from '../keys/arguments.ts'
import { namespaceOf, type Namespace } from '../engine/namespace.ts'
import { checkCacheOption } from '../options/cache-option.ts'
import { describeValue } from '../options/checks.ts'
import { checkMemoizeOptions, isSoft, type ResolvedEntryOptions } from '../options/resolve.ts'
import type { InvalidationOptions } from '../options/types.ts'
import { valueOf } from '../engine/result.ts'

/**
 * `memoize(fn)` and the `@Memoize()` decorator: a function with `fn`'s signature whose
 * results are kept in a cache, keyed by the function's name and version and a canonical
 * encoding of its arguments (or of what `key` returns).
 */

export type { Memoized } from '../cache-types.ts'
export { defaultCache } from './default-cache.ts'

/** What a memoized function does, given the `this` of the call (used by a `key` function). */
interface Handle<A extends unknown[], R> {
  readonly cache: Cache
  readonly ns: Namespace
  keyFor(self: unknown, args: A): string
  call(self: unknown, args: A): Promise<R>
  invalidate(self: unknown, args: A): Promise<void>
  clear(options?: InvalidationOptions): Promise<void>
  peek(self: unknown, args: A): Promise<R | undefined>
  refresh(self: unknown, args: A): Promise<R>
}

type AnyHandle = Handle<never[], unknown>

/** Every memoized function and decorated method → how to reach its handle for a given `this`. */
const handles = new WeakMap<object, (self: unknown) => AnyHandle>()

/** Encodings up to this many characters have their full key remembered, up to this many per function. */
const INTERN_MAX_LENGTH = 128
const INTERN_MAX_KEYS = 256

/** Checks the options of `memoize` or `@Memoize` (`where`), the cache included. */
export function checkOptions(options: unknown, where: string): void {
  checkMemoizeOptions(options, where)
  checkCacheOption((options as { cache?: unknown }).cache, where)
}

/**
 * The entry options of a memoized function, over its namespace's, and those of one call:
 * tags that depend on the arguments need options of their own for the call (a miss).
 */
function entryOptionsOf<A extends unknown[], V>(
  ns: Namespace,
  options: MemoizeOptions<A, V>,
  where: string,
): { entryOptions: ResolvedEntryOptions<V>; optionsFor: (args: A) => ResolvedEntryOptions<V> } {
  const { cache: _c, name: _n, key: _k, tags, version: _v, ...entry } = options
  const tagsOf = typeof tags === 'function' ? tags : undefined
  const entryOptions = ns.resolveOptions<V>({ ...entry, tags: tagsOf === undefined ? (tags as readonly string[] | undefined) : undefined }, where)
  const optionsFor = (args: A): ResolvedEntryOptions<V> =>
    tagsOf === undefined ? entryOptions : { ...entryOptions, tags: (value: V) => tagsOf(args, value) }
  return { entryOptions, optionsFor }
}

/** The handle of a memoized function; its options were checked by {@link checkOptions}. */
function build<A extends unknown[], R>(fn: (...args: A) => R, options: MemoizeOptions<A, Awaited<R>>, where: string): Handle<A, Awaited<R>> {
  type V = Awaited<R>
  const cache = options.cache ?? defaultCache()
  const ns = namespaceOf(cache) as Namespace
  const name = options.name ?? fn.name
  if (name === '') throw new InvalidOptionError(`${where}: name is required when the function has no name`)
  const { base, scope, id, origin } = ns.functionScope(name, options.version ?? 1)
  const { entryOptions, optionsFor } = entryOptionsOf(ns, options, where)
  const keyFor = keyMaker(base, options.key)
  const engine = ns.engine
  const callOf = (self: unknown, args: A, key: string): Call<V> => ({ key, scope, factory: () => fn.apply(self, args) as V, options: optionsFor(args), origin })
  return {
    cache,
    ns,
    keyFor,
    call(self, args) {
      let key: string
      try {
        key = keyFor(self, args)
      } catch (error) {
        // Unkeyable arguments (or a throwing `key`): the function never runs.
        return Promise.reject(error)
      }
      // The hot path: an L1 hit is one lookup, no closure, no await.
      const hit = engine.hot(key, entryOptions, origin)
      if (hit !== undefined) return Promise.resolve(hit.value as V)
      return engine.read(callOf(self, args, key)).then(valueOf)
    },
    invalidate: async (self, args) => engine.delete(keyFor(self, args)),
    clear: async (options) => ns.clearScope(id, isSoft(options, 'clear')),
    peek: async (self, args): Promise<V | undefined> => (await engine.peek<V>(keyFor(self, args)))?.value,
    refresh: async (self, args): Promise<V> => engine.recompute(callOf(self, args, keyFor(self, args))),
  }
}

/**
 * How a memoized function turns its arguments (or what `keyFn` makes of them) into its
 * full key, remembering recent ones.
 */
export function keyMaker<A extends unknown[]>(base: string, keyFn: ((...args: A) => unknown) | undefined): (self: unknown, args: A) => string {
  // Full keys of recent short encodings, kept flat and hashed: a hit then costs one
  // lookup of the encoding instead of a digest scan, a concatenation and a re-hash.
  const keys = new Map<string, string>()
  // And of calls with one string or non-zero number argument, by the argument itself: a
  // hit then looks up a number, or a string whose hash is often known, and builds nothing.
  // (Not 0: 0 and -0 are one Map key but two encodings.)
  const byArgument = new Map<string | number, string>()
  return (self: unknown, args: A): string => {
    const one = keyFn === undefined && args.length === 1 ? (args[0] as string | number) : undefined
    if (one !== undefined) {
      const known = byArgument.get(one)
      if (known !== undefined) return known
    }
    const single = keyFn === undefined ? encodeOne(args) : undefined
    const encoded = single ?? encodeArgs(keyFn === undefined ? args : [keyFn.apply(self, args)])
    if (encoded.length > INTERN_MAX_LENGTH) return base + digest(encoded)
    let key = keys.get(encoded)
    if (key === undefined) {
      if (keys.size >= INTERN_MAX_KEYS) keys.clear()
      key = base + digest(encoded)
      keys.set(encoded, key)
    }
    if (single !== undefined) {
      if (byArgument.size >= INTERN_MAX_KEYS) byArgument.clear()
      byArgument.set(one as string | number, key)
    }
    return key
  }

}

/** A {@link Memoized} over `handle`; calls pass `this` on (or `self`, when given) to `key` and the function. */
function expose<A extends unknown[], R>(handle: Handle<A, R>, fn: { name: string; length: number }, self?: { value: unknown }): Memoized<A, R> {
  const memoized = function (this: unknown, ...args: A): Promise<R> {
    return handle.call(self === undefined ? this : self.value, args)
  } as Memoized<A, R>
  const own = (that: unknown): unknown => (self === undefined ? that : self.value)
  Object.defineProperty(memoized, 'name', { value: fn.name })
  Object.defineProperty(memoized, 'length', { value: fn.length })
  Object.defineProperty(memoized, 'cache', { value: handle.cache, enumerable: true })
  Object.assign(memoized, {
    invalidate(this: unknown, ...args: A) {
      return handle.invalidate(own(this), args)
    },
    clear: (options?: InvalidationOptions) => handle.clear(options),
    peek(this: unknown, ...args: A) {
      return handle.peek(own(this), args)
    },
    refresh(this: unknown, ...args: A) {
      return handle.refresh(own(this), args)
    },
    keyFor(this: unknown, ...args: A) {
      return handle.keyFor(own(this), args)
    },
  })
  return memoized
}

/**
 * Memoizes `fn`. Concurrent calls with the same arguments share one run (in this process
 * and, with Redis, across processes); results are kept for `ttl` in L1 and in L2. If the
 * function throws, every caller sharing the run gets that same error and nothing is
 * cached. Arguments that cannot be keyed (functions, symbols, cycles, ...) reject with
 * `UnkeyableArgumentError` (`ERR_UNKEYABLE_ARGUMENT`) without running the function.
 *
 * A `key` function is called with the call's `this` and its arguments.
 *
 * @throws InvalidOptionError for a bad option, or when `fn` has no name and none is given.
 * @throws DuplicateNameError when a live memoized function already has this name in this cache (namespace).
 * @example
 * const getUser = memoize(fetchUser, { cache, ttl: '10m', tags: ([id], user) => [`user:${id}`, `team:${user.team}`] })
 * await getUser('42')              // runs fetchUser once; later calls are hits
 * await getUser.invalidate('42')   // in every process
 */
export function memoize<A extends unknown[], R>(
  fn: (...args: A) => R,
  options: MemoizeOptions<A, Awaited<R>> = {},
): Memoized<A, R> {
  if (typeof fn !== 'function') throw new InvalidOptionError(`memoize expects a function, got ${describeValue(fn)}`)
  const where = `memoize(${fn.name === '' ? 'anonymous function' : fn.name})`
  checkOptions(options, where)
  const handle = build(fn, options, where)
  const memoized = expose(handle, fn)
  claim(handle, options.name ?? fn.name, memoized, where)
  handles.set(memoized, () => handle as unknown as AnyHandle)
  return memoized
}

export function claim(handle: { ns: Namespace }, name: string, owner: object, where: string): void {
  if (!handle.ns.claimName(name, owner)) {
    throw new DuplicateNameError(
      `${where}: another live memoized function is named ${JSON.stringify(name)} in this cache; give one a different name`,
    )
  }
}

/** Any method: what a decorator may be applied to. */
type Method = (this: never, ...args: never) => unknown

/** A legacy (`experimentalDecorators`) or TC39 standard method decorator. */
export interface MethodDecorator {
  <M extends Method>(value: M, context: ClassMethodDecoratorContext): M
  (target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor): PropertyDescriptor
}

/** Options of {@link Memoize}: those of `memoize`, with a `key` that may read `this` (the instance). */
export interface MemoizeMethodOptions<This = unknown, A extends unknown[] = unknown[], R = unknown>
  extends Omit<MemoizeOptions<A, R>, 'key'> {
  /**
   * Builds the key from the arguments, called with the instance as `this`.
   * @default undefined // the key is all the arguments (not this)
   */
  key?: (this: This, ...args: A) => unknown
}

/**
 * Memoizes a method. Works with TC39 standard decorators and with TypeScript's legacy
 * `experimentalDecorators`, with the same keys in both. The name in keys is
 * `ClassName.method` (the class that declares the method; pass `name` for a private
 * method, or to keep keys when renaming) and the default key is the arguments — not
 * `this`, so every instance shares entries; pass `key` (called with `this`) when the
 * result depends on the instance.
 *
 * A decorated method keeps its declared type; to invalidate, clear, peek, refresh or get
 * the key of its entries, use {@link memoized}: `memoized(users, 'find').invalidate('42')`.
 *
 * Under TC39 decorators the memoized function is set up on first use (the class is not
 * known before), so a clash of names (`DuplicateNameError`) shows as a rejected call;
 * under legacy decorators, or with `name`, it is thrown when the class is defined.
 *
 * @example
 * class Users {
 *   @Memoize({ cache, ttl: '1m', tags: ([id]: [string]) => [`user:${id}`] })
 *   async find(id: string) { return db.users.find(id) }
 *
 *   @Memoize({ cache, key(this: Users, id: string) { return [this.tenant, id] } })
 *   async byTenant(id: string) { ... }
 * }
 */
export function Memoize<This = unknown, A extends unknown[] = unknown[], R = unknown>(
  options: MemoizeMethodOptions<This, A, R> = {},
): MethodDecorator {
  checkOptions(options, 'Memoize')
  const opts = options as MemoizeOptions<never[], unknown>
  const setUp: SetUp = (method, name) => {
    const where = `Memoize(${name})`
    const handle = build(method as (...args: never[]) => unknown, { ...opts, name }, where)
    claim(handle, name, handle, where)
    return handle
  }
  function decorate(target: unknown, context: unknown, descriptor?: PropertyDescriptor): unknown {
    if (descriptor !== undefined) return { ...descriptor, value: decorateLegacy(target, String(context), descriptor.value, opts.name, setUp) }
    return decorateStandard(target, context, opts.name, setUp)
  }
  return decorate as MethodDecorator
}

/** Builds and claims the handle of a decorated method under `name`. */
type SetUp = (method: Method, name: string) => AnyHandle

/** Legacy decorators: (the prototype, or the class for a static method; the name; the descriptor's value). */
function decorateLegacy(target: unknown, key: string, method: unknown, name: string | undefined, setUp: SetUp): Method {
  if (typeof method !== 'function') throw new InvalidOptionError('Memoize decorates methods only')
  const owner = typeof target === 'function' ? target : (target as object).constructor
  const handle = setUp(method as Method, name ?? `${owner.name}.${key}`)
  const replacement = expose(handle, method as Method)
  handles.set(replacement, () => handle)
  return replacement as unknown as Method
}

/** TC39 standard decorators: (the method, its context). */
function decorateStandard(target: unknown, context: unknown, name: string | undefined, setUp: SetUp): Method {
  const ctx = context as ClassMethodDecoratorContext
  if (ctx === null || typeof ctx !== 'object' || ctx.kind !== 'method' || typeof target !== 'function') {
    throw new InvalidOptionError('Memoize decorates methods only')
  }
  if (ctx.private && name === undefined) {
    throw new InvalidOptionError(`Memoize: the private method ${String(ctx.name)} needs { name } (its class cannot be found)`)
  }
  const method = target as Method
  let handle = name === undefined ? undefined : setUp(method, name)
  // TC39 decorators do not see the class: find it on first use, as the object on
  // `this`'s prototype chain that holds this very function.
  const resolve = (self: unknown): AnyHandle => (handle ??= setUp(method, `${ownerName(self, replacement)}.${String(ctx.name)}`))
  const replacement = function (this: unknown, ...args: never[]): Promise<unknown> {
    if (handle !== undefined) return handle.call(this, args)
    try {
      return resolve(this).call(this, args)
    } catch (error) {
      return Promise.reject(error)
    }
  }
  Object.defineProperty(replacement, 'name', { value: method.name })
  Object.defineProperty(replacement, 'length', { value: method.length })
  handles.set(replacement, resolve)
  return replacement as unknown as Method
}

function ownerName(self: unknown, fn: unknown): string {
  for (let entryOptions: unknown = self; entryOptions !== null && entryOptions !== undefined; entryOptions = Object.getPrototypeOf(entryOptions)) {
    for (const key of Reflect.ownKeys(entryOptions as object)) {
      if (Object.getOwnPropertyDescriptor(entryOptions, key)?.value === fn) {
        return typeof entryOptions === 'function' ? entryOptions.name : (entryOptions as { constructor: { name: string } }).constructor.name
      }
    }
  }
  throw new InvalidOptionError('Memoize: cannot find the class of the decorated method (called without its object?); pass { name }')
}

/** The names of `T`'s methods. */
export type MethodKeys<T> = { [K in keyof T]: T[K] extends (...args: never) => unknown ? K : never }[keyof T]

/** The {@link Memoized} type of a method. */
export type MemoizedMethod<M> = M extends (...args: infer A) => infer R ? Memoized<A, R> : never

/**
 * The memoized form of a method decorated with {@link Memoize} (or of a memoized
 * function stored on an object), bound to `target`: calling it, and its `invalidate`,
 * `peek`, `refresh` and `keyFor`, run with `target` as `this` (which a `key` function
 * may read). `target` may be an instance, the class's prototype, or the class for a
 * static method.
 *
 * @throws InvalidOptionError when `target[method]` is not memoized.
 * @example
 * await memoized(users, 'find').invalidate('42')
 * memoized(Users.prototype, 'find').keyFor('42') // 'app:default!Users.find:v1:s2:42'
 */
export function memoized<T extends object, K extends MethodKeys<T>>(target: T, method: K): MemoizedMethod<T[K]> {
  const fn = (target as Record<PropertyKey, unknown>)[method as PropertyKey]
  const handle = typeof fn === 'function' ? handles.get(fn) : undefined
  if (handle === undefined) {
    throw new InvalidOptionError(`memoized: ${String(method)} is not a memoized function or a method decorated with @Memoize`)
  }
  return expose(handle(target), fn as Method, { value: target }) as unknown as MemoizedMethod<T[K]>
}
