import { createCache, type Cache, type CacheResult } from './cache.ts'
import { DuplicateNameError, InvalidOptionError } from './errors.ts'
import { digest, encodeArgs } from './key.ts'
import { checkMemoizeOptions, resolveEntryOptions, type MemoizeOptions, type ResolvedEntryOptions } from './options.ts'

/**
 * `memoize(fn)` and the `@Memoize()` decorator: a function with `fn`'s signature whose
 * results are kept in a cache, keyed by the function's name and version and a canonical
 * encoding of its arguments (or of what `key` returns).
 */

/** A memoized function: `fn`'s signature (always async), plus ways to manage its entries. */
export type Memoized<A extends unknown[], R> = ((...args: A) => Promise<Awaited<R>>) & {
  /** Drops the entry for these arguments in every process. */
  invalidate(...args: A): Promise<void>
  /** Drops every entry of this function (this name and version), in O(1). */
  clear(): Promise<void>
  /** The cached value for these arguments, or undefined; never runs the function. */
  peek(...args: A): Promise<Awaited<R> | undefined>
  /** Runs the function now and stores the result, whatever is cached. */
  refresh(...args: A): Promise<Awaited<R>>
  /** The Redis key these arguments map to. */
  keyFor(...args: A): string
  /** The cache the entries live in. */
  readonly cache: Cache
}

let shared: Cache | undefined

/** The cache `memoize` uses when none is given: L1 only, created on first use. */
export function defaultCache(): Cache {
  shared ??= createCache()
  return shared
}

const valueOf = <T>(result: CacheResult<T>): T => result.value

/**
 * Memoizes `fn`. Concurrent calls with the same arguments share one run; results are
 * kept for `ttl` in L1 and, when the cache has Redis, in L2 for every process.
 *
 * @throws InvalidOptionError for a bad option, or when `fn` has no name and none is given.
 * @throws DuplicateNameError when a live memoized function already has this name in this cache.
 * @example
 * const getUser = memoize(fetchUser, { cache, ttl: '10m', tags: (id) => [`user:${id}`] })
 * await getUser('42')              // runs fetchUser once; later calls are hits
 * await getUser.invalidate('42')   // in every process
 */
export function memoize<A extends unknown[], R>(
  fn: (...args: A) => R,
  options: MemoizeOptions<A, Awaited<R>> = {},
): Memoized<A, R> {
  if (typeof fn !== 'function') throw new InvalidOptionError(`memoize expects a function, got ${typeof fn}`)
  const where = `memoize(${fn.name === '' ? 'anonymous function' : fn.name})`
  checkMemoizeOptions(options, where)
  const cache = options.cache ?? defaultCache()
  const name = options.name ?? fn.name
  if (name === '') throw new InvalidOptionError(`${where}: name is required when the function has no name`)
  const { base, scope, id } = cache.scopeFor(name, options.version ?? 1)
  const { cache: _c, name: _n, key: keyFn, tags, version: _v, ...entry } = options
  const tagsOf = typeof tags === 'function' ? tags : undefined
  const o = resolveEntryOptions(
    cache.core.options.entry,
    { ...entry, tags: tagsOf === undefined ? (tags as readonly string[] | undefined) : undefined },
    where,
  ) as ResolvedEntryOptions<Awaited<R>>

  const keyFor = (self: unknown, args: A): string =>
    base + digest(encodeArgs(keyFn === undefined ? args : [keyFn.apply(self, args)]))
  // Tags that depend on the arguments need options of their own for this call (a miss).
  const optionsFor = (args: A): ResolvedEntryOptions<Awaited<R>> =>
    tagsOf === undefined ? o : { ...o, tags: (value: Awaited<R>) => tagsOf(...args, value) }

  const memoized = function (this: unknown, ...args: A): Promise<Awaited<R>> {
    let key: string
    try {
      key = keyFor(this, args)
    } catch (error) {
      return Promise.reject(error)
    }
    const hit = cache.fresh(key, o)
    if (hit !== undefined) return Promise.resolve(hit.value as Awaited<R>)
    return cache.read(key, scope, () => fn.apply(this, args) as Awaited<R>, optionsFor(args)).then(valueOf)
  } as Memoized<A, R>

  if (!cache.claimName(name, memoized)) {
    throw new DuplicateNameError(
      `${where}: another live memoized function is named ${JSON.stringify(name)} in this cache; give one a different name`,
    )
  }
  Object.defineProperty(memoized, 'name', { value: fn.name })
  Object.defineProperty(memoized, 'length', { value: fn.length })
  Object.assign(memoized, {
    cache,
    invalidate(this: unknown, ...args: A) {
      return cache.deleteKey(keyFor(this, args))
    },
    clear: () => cache.clearScope(id),
    async peek(this: unknown, ...args: A) {
      return (await cache.peekKey<Awaited<R>>(keyFor(this, args)))?.value
    },
    refresh(this: unknown, ...args: A) {
      return cache.recompute(keyFor(this, args), scope, () => fn.apply(this, args) as Awaited<R>, optionsFor(args))
    },
    keyFor(this: unknown, ...args: A) {
      return keyFor(this, args)
    },
  })
  return memoized
}

type Method = (this: unknown, ...args: never[]) => unknown

/** A legacy (`experimentalDecorators`) or TC39 standard method decorator. */
export interface MethodDecorator {
  <M extends Method>(value: M, context: ClassMethodDecoratorContext): M
  (target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor): PropertyDescriptor
}

/**
 * Memoizes a method. Works with TC39 standard decorators and with TypeScript's legacy
 * `experimentalDecorators`. The default key is the class name, the method name and
 * the arguments — not `this`, so every instance shares entries; pass `key` (called
 * with `this`) when the result depends on the instance.
 *
 * @example
 * class Users {
 *   @Memoize({ cache, ttl: '1m' })
 *   async find(id: string) { return db.users.find(id) }
 *
 *   @Memoize({ cache, key(this: Users, id: string) { return [this.tenant, id] } })
 *   async byTenant(id: string) { ... }
 * }
 */
export function Memoize(options: MemoizeOptions = {}): MethodDecorator {
  checkMemoizeOptions(options, 'Memoize')
  function decorate(target: unknown, context: unknown, descriptor?: PropertyDescriptor): unknown {
    if (descriptor !== undefined) {
      // Legacy: (prototype or constructor, name, descriptor).
      const method = descriptor.value as Method
      const owner = typeof target === 'function' ? target : (target as object).constructor
      const memoized = memoize(method, { ...options, name: options.name ?? `${owner.name}.${String(context)}` })
      return { ...descriptor, value: memoized }
    }
    const ctx = context as ClassMethodDecoratorContext
    if (ctx === null || typeof ctx !== 'object' || ctx.kind !== 'method') {
      throw new InvalidOptionError('Memoize decorates methods only')
    }
    const method = target as Method
    let memoized: Memoized<never[], unknown> | undefined
    // TC39 decorators do not see the class: find it on the first call, as the object on
    // `this`'s prototype chain that holds this very function.
    const replacement = function (this: unknown, ...args: never[]): unknown {
      memoized ??= memoize(method, { ...options, name: options.name ?? `${ownerName(this, replacement)}.${String(ctx.name)}` })
      return memoized.apply(this, args)
    }
    return replacement
  }
  return decorate as MethodDecorator
}

function ownerName(self: unknown, fn: unknown): string {
  for (let o: unknown = self; o !== null && o !== undefined; o = Object.getPrototypeOf(o)) {
    for (const key of Reflect.ownKeys(o as object)) {
      if (Object.getOwnPropertyDescriptor(o, key)?.value === fn) {
        return typeof o === 'function' ? o.name : (o as { constructor: { name: string } }).constructor.name
      }
    }
  }
  throw new InvalidOptionError('Memoize: cannot find the class of the decorated method; pass { name }')
}
