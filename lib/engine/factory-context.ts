import { MAX_VALIDATOR, type Entry } from '../codec/envelope.ts'
import { InvalidOptionError } from '../errors.ts'
import { describeTags, describeValue } from '../options/checks.ts'
import { parseDuration } from '../options/duration.ts'
import type { Duration } from '../options/types.ts'

/**
 * What the function that computes a value may learn and decide while it runs: the stale
 * entry it replaces, and for the value it returns, its ttl, grace, tags and validator,
 * whether it is stored at all (`skip`), whether the call fails outright (`fail`), or
 * whether the stale value is still good (`notModified`). One {@link Computation} per run
 * of the function (a miss or a refresh; never on a hit). A getOrSet factory receives it
 * as its argument; any function memoredis runs reaches it with {@link factoryContext}
 * in its synchronous part.
 */

/** The entry a computation replaces, as its function sees it. Times are epoch ms. */
export interface StaleEntry<T> {
  /** The value stored before (stale, or about to be: a refresh). */
  readonly value: T
  /** When it was computed (the Redis server's clock when it has one). */
  readonly created: number
  /** Until when it was fresh. */
  readonly freshUntil: number
  /** Until when it may be served stale. */
  readonly staleUntil: number
  /** The tags it was stored with (yours: not the cache's own scope tags). */
  readonly tags: readonly string[]
  /** The validator its function set (`setValidator`), for a conditional refresh; undefined when none. */
  readonly validator: string | undefined
}

/**
 * The context of one run of the function that computes a value: `getOrSet`'s factory
 * gets it as its argument; a memoized function or method calls {@link factoryContext}
 * (before its first `await`). Whatever it sets applies to the value this run returns.
 */
export interface FactoryContext<T = unknown> {
  /** The full Redis key being computed. */
  readonly key: string
  /**
   * The entry this run replaces: a stale one within grace, or the current one when this
   * is a refresh (stale-while-revalidate, early refresh, `refresh()`); undefined on a cold miss.
   */
  readonly stale: StaleEntry<T> | undefined
  /**
   * Aborted when the hard timeout passes (its reason a `FactoryTimeoutError`) or the
   * cache closes (a `CacheClosedError`): pass it to `fetch` and the like.
   */
  readonly signal: AbortSignal
  /**
   * How long the value stays fresh, decided from it (over the `ttl` option): milliseconds
   * or a {@link Duration} string. Unset: the `ttl` option.
   * @throws InvalidOptionError for a bad duration (the call fails; nothing is stored).
   */
  setTtl(ttl: Duration): void
  /**
   * How long past freshness it is kept (over the `grace` option): milliseconds or a
   * {@link Duration} string; 0: none. Unset: the `grace` option.
   * @throws InvalidOptionError for a bad duration.
   */
  setGrace(grace: Duration): void
  /** The value's tags (in place of the `tags` option). @throws InvalidOptionError for a bad list. */
  setTags(tags: readonly string[]): void
  /**
   * What a later refresh compares to learn whether the value changed (an ETag, a
   * version, a `Last-Modified`): it finds it as `stale.validator`. A string of 1 to 200
   * UTF-8 bytes. @throws InvalidOptionError otherwise.
   */
  setValidator(validator: string): void
  /** Hands the value to the callers without storing it (as `shouldCache` returning false). */
  skip(): void
  /**
   * Fails the call with `error`: every caller sharing it is rejected, nothing is stored
   * or remembered, no stale value stands in, and the lock is released at once. Throws
   * `error`, so that `throw ctx.fail(error)` or a bare `ctx.fail(error)` both end the run.
   */
  fail(error: unknown): never
  /**
   * The stale value is still good: returns it, for the function to return. It is not
   * written again: its life is extended (from now, by the ttl and grace decided) where
   * it is stored, and every process sees the new expiry. @throws InvalidOptionError when there is no stale entry.
   */
  notModified(): T
}

/** One run's context, and what it decided. */
export class Computation<T> implements FactoryContext<T> {
  readonly key: string
  /** The entry replaced, as the engine holds it. */
  readonly previous: Entry<T> | undefined
  ttl: number | undefined
  grace: number | undefined
  tags: readonly string[] | undefined
  validator: string | undefined
  skipped = false
  renewed = false
  failure: { error: unknown } | undefined
  private readonly closing: AbortSignal
  private controller: AbortController | undefined
  private combined: AbortSignal | undefined
  private view: StaleEntry<T> | undefined

  constructor(key: string, previous: Entry | undefined, closing: AbortSignal) {
    this.key = key
    this.previous = previous as Entry<T> | undefined
    this.closing = closing
  }

  get stale(): StaleEntry<T> | undefined {
    const p = this.previous
    if (p === undefined) return undefined
    this.view ??= Object.freeze({
      value: p.value, created: p.created, freshUntil: p.freshUntil, staleUntil: p.staleUntil,
      tags: p.tags.filter((t) => t.startsWith('t:')).map((t) => t.slice(2)), validator: p.validator,
    })
    return this.view
  }

  get signal(): AbortSignal {
    // Made on first use only: a function that never asks pays nothing for it.
    this.controller ??= new AbortController()
    this.combined ??= AbortSignal.any([this.closing, this.controller.signal])
    return this.combined
  }

  /** The hard timeout passed: abort the signal, if anyone took it. */
  abort(reason: unknown): void {
    this.controller?.abort(reason)
  }

  setTtl(ttl: Duration): void {
    this.ttl = parseDuration(ttl, 'FactoryContext.setTtl')
  }

  setGrace(grace: Duration): void {
    this.grace = parseDuration(grace, 'FactoryContext.setGrace', true)
  }

  setTags(tags: readonly string[]): void {
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) {
      throw new InvalidOptionError(`FactoryContext.setTags expects an array of strings, got ${describeTags(tags)}`)
    }
    this.tags = [...(tags as string[])]
  }

  setValidator(validator: string): void {
    if (typeof validator !== 'string' || validator === '' || Buffer.byteLength(validator) > MAX_VALIDATOR) {
      throw new InvalidOptionError(`FactoryContext.setValidator expects a string of 1 to ${MAX_VALIDATOR} UTF-8 bytes, got ${describeValue(validator)}`)
    }
    this.validator = validator
  }

  skip(): void {
    this.skipped = true
  }

  fail(error: unknown): never {
    this.failure = { error }
    throw error
  }

  notModified(): T {
    if (this.previous === undefined) throw new InvalidOptionError(`FactoryContext.notModified: ${this.key} has no stale entry to keep`)
    this.renewed = true
    return this.previous.value
  }
}

/** The run under way in the synchronous part of its function, if any. */
let current: Computation<unknown> | undefined

/**
 * The context of the computation under way: call it in a memoized function or method
 * (or any function memoredis runs) before its first `await`, and keep what it returns.
 * Functions that never call it pay nothing.
 *
 * @throws InvalidOptionError when called outside a function memoredis runs, or after its first `await`.
 * @example
 * const getToken = memoize(async (scope: string) => {
 *   const ctx = factoryContext<Token>()
 *   const token = await fetchToken(scope, { signal: ctx.signal })
 *   ctx.setTtl(token.expiresAt - Date.now() - 5_000)
 *   return token
 * }, { cache })
 */
export function factoryContext<T = unknown>(): FactoryContext<T> {
  if (current === undefined) {
    throw new InvalidOptionError('factoryContext() is only available in the synchronous part of a function memoredis runs (before its first await)')
  }
  return current as unknown as FactoryContext<T>
}

/** Calls `factory` with `ctx`, which {@link factoryContext} answers while it runs synchronously. */
export function callWith<T>(factory: (ctx: FactoryContext<T>) => T | Promise<T>, ctx: Computation<T>): T | Promise<T> {
  const outer = current
  current = ctx as Computation<unknown>
  try {
    return factory(ctx)
  } finally {
    current = outer
  }
}
