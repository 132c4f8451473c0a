import type { FactoryContext } from './factory-context.ts'
import type { Cache } from '../cache-types.ts'
import type { Call } from './compute.ts'
import type { Core } from './core.ts'
import type { CallOrigin } from '../observe/diagnostics.ts'
import { InvalidOptionError } from '../errors.ts'
import { keySegment, LONE_SURROGATE } from '../keys/arguments.ts'
import { resolveEntryOptions, type ResolvedEntryOptions } from '../options/resolve.ts'
import type { EntryOptions } from '../options/types.ts'
import { ReadThrough } from './read-through.ts'
import type { CacheResult } from './result.ts'

/**
 * A namespace of a cache, as the internal modules see it (memoize, the HTTP middleware,
 * the public facade): its key base, its scope tags, and the read path. Each public
 * `Cache` object is bound to one; {@link namespaceOf} finds it.
 */

/** The internal scope-tag id of the whole cache; user tags are `t:` + tag. */
const ALL = '*'

/** How many user keys a namespace remembers the full key of (then it starts over). */
const REMEMBERED_KEYS = 1024

export class Namespace {
  readonly core: Core
  readonly engine: ReadThrough
  /** Escaped once, here. */
  readonly ns: string
  /** Whether this is the cache itself (its `clear()` clears every namespace). */
  readonly root: boolean
  private readonly base: string
  private readonly keys = new Map<string, string>()
  readonly scope: readonly string[]
  /** Who calls through this namespace's own API (`getOrSet`, the HTTP middleware), for tracing; its `cache` is set by {@link bind}. */
  readonly origin: CallOrigin

  constructor(core: Core, name: string, root: boolean) {
    this.core = core
    this.engine = new ReadThrough(core)
    this.root = root
    this.ns = keySegment(name)
    // The public cache object is made with its namespace, and bound to it at once.
    this.origin = { cache: undefined as unknown as Cache, namespace: name, name: undefined }
    this.base = core.layout.valueBase(this.ns)
    this.scope = [ALL, `n:${this.ns}`]
  }

  /**
   * The full Redis key of a user key: the key itself, raw, after the namespace. Recent
   * ones are remembered, so that a hit looks up a string whose hash is already known
   * instead of building and hashing a new one.
   */
  keyOf(key: string): string {
    let full = this.keys.get(key)
    if (full !== undefined) return full
    if (typeof key !== 'string' || key.length === 0) {
      throw new InvalidOptionError(`a cache key must be a non-empty string, got ${typeof key === 'string' ? '""' : typeof key}`)
    }
    // Redis keys are UTF-8: a lone surrogate would become U+FFFD, and two keys one.
    if (LONE_SURROGATE.test(key)) throw new InvalidOptionError(`a cache key must be well-formed text (no lone surrogate), got ${JSON.stringify(key)}`)
    full = this.base + key
    if (key.length > 256) return full
    if (this.keys.size >= REMEMBERED_KEYS) this.keys.clear()
    this.keys.set(key, full)
    return full
  }

  /** Validates entry options against the cache's defaults, once, for a caller that reuses them. */
  resolveOptions<T>(options: EntryOptions<T> | undefined, where: string): ResolvedEntryOptions<T> {
    const defaults = this.core.options.entry as ResolvedEntryOptions<T>
    return options === undefined ? defaults : resolveEntryOptions(defaults as ResolvedEntryOptions, options, where)
  }

  /** A call of this namespace on a full key (see {@link keyOf}): the one place a `Call` of a user key is made. */
  call<T>(fullKey: string, factory: (ctx: FactoryContext<T>) => T | Promise<T>, options: ResolvedEntryOptions<T>): Call<T> {
    return { key: fullKey, scope: this.scope, factory, options, origin: this.origin }
  }

  /** The read-through call for a user key, with resolved options. */
  getOrSet<T>(key: string, factory: (ctx: FactoryContext<T>) => T | Promise<T>, options: ResolvedEntryOptions<T>): Promise<CacheResult<T>> {
    return this.engine.read(this.call(this.keyOf(key), factory, options))
  }

  /** Key base, scope tags and (for tracing) origin of a memoized function. */
  functionScope(name: string, version: number): { base: string; scope: readonly string[]; id: string; origin: CallOrigin } {
    const segment = keySegment(name)
    const id = `f:${this.ns}:${segment}`
    const origin = { ...this.origin, name }
    return { base: this.core.layout.functionBase(this.ns, segment, version), scope: [...this.scope, id], id, origin }
  }

  /** Claims `name` for a live memoized function in this namespace; false when another live one has it. */
  claimName(name: string, owner: object): boolean {
    return this.core.names.claim(`${this.ns}:${name}`, owner)
  }

  /** Invalidates scope ids (`clear()` of a cache, namespace or memoized function); `soft`: kept as stale fallbacks. */
  clearScope(id: string, soft = false): Promise<void> {
    return this.core.invalidate([id], [], soft)
  }

  /** The scope id `clear()` invalidates: the whole cache, or this namespace. */
  get clearId(): string {
    return this.root ? ALL : `n:${this.ns}`
  }
}

const bound = new WeakMap<object, Namespace>()

/** Binds a public cache object to its namespace. */
export function bind(cache: Cache, namespace: Namespace): void {
  bound.set(cache, namespace)
  namespace.origin.cache = cache
}

/** The namespace behind a cache made by `createCache` (or one of its views), or undefined. */
export function namespaceOf(cache: unknown): Namespace | undefined {
  return typeof cache === 'object' && cache !== null ? bound.get(cache) : undefined
}
