/**
 * A kept response past its freshness (RFC 9111 §4.3, RFC 5861): within its
 * stale-while-revalidate window it is served at once as `STALE` while a detached copy of
 * the request refreshes it; past that, the handler is asked now, with the response's
 * validators (`If-None-Match`, `If-Modified-Since`), and a 304 refreshes what is kept.
 * When that run fails (a 5xx) within the stale-if-error window, the stale response is
 * served instead. One revalidation per key at a time in this process, and, through the
 * engine's lock, in the fleet.
 */
import { conditionsFor, hasValidator } from './conditional.ts'
import { isFresh } from './freshness.ts'
import { answerOf, finish, isValue, refreshedOf, storedOf, UNSHARED, type Keeping, type Value } from './responses.ts'
import type { Exchange, Held, Stored } from './types.ts'
import type { Namespace } from '../engine/namespace.ts'
import type { ResolvedEntryOptions } from '../options/resolve.ts'

/** What revalidating needs of the HTTP cache it serves. */
export interface RevalidationDeps<Req, Res> {
  ns: Namespace
  entry: ResolvedEntryOptions<Value>
  keeping: Keeping
  /** The value to keep for a response (`undefined`: none), variants stored on the side. */
  store(ex: Exchange<Req, Res>, stored: Stored | undefined, base: string, variant: readonly string[] | undefined): Promise<Value>
  /** Runs the handler with these conditions (none: the client's hidden), its response held. */
  hold(ex: Exchange<Req, Res>, conditions: Readonly<Record<string, string>> | undefined): Promise<Held<Req, Res> | undefined>
  onError(error: unknown): void
}

/** A kept response found for a request, and where it lives. */
export interface Found {
  key: string
  stored: Stored
  /** The key without the response's variant headers, and those headers (undefined: `key` is the base). */
  base: string
  variant: readonly string[] | undefined
  /**
   * When the engine made the entry, on its clock (the Redis server's): a background
   * refresh takes only a value made after it. Not `stored.c`, the response's own time on
   * this process's clock, which may read earlier than the engine's for the same entry, so
   * that the entry itself looked newer and the refresh ended without running the handler.
   */
  created: number
}

/** A handler's response that counts as a failure: stale-if-error may stand in for it. */
const failed = (held: Held<unknown, unknown>): boolean => held.status >= 500

export class Revalidations<Req, Res> {
  private readonly deps: RevalidationDeps<Req, Res>
  /** Revalidations under way in this process, by key. */
  private readonly running = new Map<string, Promise<Value>>()

  constructor(deps: RevalidationDeps<Req, Res>) {
    this.deps = deps
  }

  /** Answers from a kept response: fresh, stale while revalidated behind, or revalidated now. */
  serve(ex: Exchange<Req, Res>, found: Found): void | Promise<void> {
    const now = Date.now()
    const { stored } = found
    if (isFresh(stored, now)) return ex.send(answerOf(ex.req.headers, stored, 'HIT'))
    if (stored.w > now) {
      this.behind(ex, found)
      return ex.send(answerOf(ex.req.headers, stored, 'STALE'))
    }
    return this.now(ex, found)
  }

  /**
   * Stale-while-revalidate: a detached copy of the request refreshes the response, as the
   * engine refreshes in the background (once per key, within `refreshConcurrency`, a
   * `refresh` event when done).
   */
  private behind(ex: Exchange<Req, Res>, found: Found): void {
    const { ns, entry, keeping, store } = this.deps
    const { stored } = found
    const factory = async (): Promise<Value> => {
      const copy = await ex.refresh(keeping.maxBodySize)
      return store(ex, copy === undefined || failed(copy) ? undefined : storedOf(copy, keeping), found.base, found.variant)
    }
    const call = ns.call(ns.keyOf(found.key), factory, entry)
    ns.engine.refreshInBackground<Value>(call, { value: stored, created: found.created, freshUntil: stored.f, staleUntil: stored.e, tags: stored.t })
  }

  /** The engine's recompute of `key` (a run of `factory` here, or another process's): concurrent callers here share it. */
  private run(key: string, factory: () => Promise<Value>): Promise<Value> {
    const { ns, entry } = this.deps
    const flight = ns.engine.recompute<Value>(ns.call(ns.keyOf(key), factory, entry))
    const shared = flight.finally(() => {
      if (this.running.get(key) === shared) this.running.delete(key)
    })
    this.running.set(key, shared)
    return shared
  }

  /** Asks the handler now, with the stale response's validators; or joins the revalidation under way. */
  private async now(ex: Exchange<Req, Res>, found: Found): Promise<void> {
    const stale = found.stored
    const { keeping, store, hold } = this.deps
    let own: Promise<Held<Req, Res> | undefined> | undefined
    let mine: Stored | undefined
    const factory = async (): Promise<Value> => {
      own = hold(ex, hasValidator(stale) ? conditionsFor(stale) : undefined)
      let held: Held<Req, Res> | undefined
      try {
        held = await own
      } catch {
        return UNSHARED // The handler failed: its error is rethrown to this request only.
      }
      if (held !== undefined) mine = held.status === 304 ? refreshedOf(stale, held, keeping) : failed(held) ? undefined : storedOf(held, keeping)
      return store(ex, mine, found.base, found.variant)
    }
    let value: Value
    try {
      value = await (this.running.get(found.key) ?? this.run(found.key, factory))
    } catch (error) {
      this.deps.onError(error)
      value = UNSHARED
    }
    if (own !== undefined) return answerOwn(ex, await own, mine, stale)
    if (isValue(value) && value.k === 'r') return ex.send(answerOf(ex.req.headers, value, 'REVALIDATED'))
    if (stale.e > Date.now()) return ex.send(answerOf(ex.req.headers, stale, 'STALE'))
    return ex.pass('BYPASS')
  }
}

/**
 * Answers the request whose handler revalidated: a 304 to the cache's conditions becomes
 * the refreshed response, a failure within stale-if-error the stale one; anything else
 * goes out as the handler made it (MISS when kept).
 */
function answerOwn<Req, Res>(ex: Exchange<Req, Res>, held: Held<Req, Res> | undefined, mine: Stored | undefined, stale: Stored): void {
  if (held === undefined) return
  if (held.status === 304) return held.replace(answerOf(ex.req.headers, mine ?? stale, 'REVALIDATED'))
  if (failed(held) && stale.e > Date.now()) return held.replace(answerOf(ex.req.headers, stale, 'STALE'))
  finish(ex, held, mine)
}
