/**
 * A handler's response turned into what the cache keeps (`Stored`: its end-to-end
 * headers, its times), a kept one refreshed by a 304 (RFC 9111 §4.3.4), and the answer a
 * kept one makes (a full response, or a 304 to a client whose copy is current).
 */
import type { IncomingHttpHeaders } from 'node:http'
import { NOT_MODIFIED_KEEPS, notModified, strongEtag } from './conditional.ts'
import { ageOf, mayShare, timesOf, worthKeeping, type FreshnessRules } from './freshness.ts'
import { keptHeaders } from './headers.ts'
import type { Answer, CacheStatus, Exchange, Held, Stored } from './types.ts'

/** At a base key: the response also varies on request headers `n`; it lives at its variant key, kept `l` ms. */
export interface Variants { k: 'v'; n: readonly string[]; t: readonly string[]; l: number }
/** Never stored: a response that may not be shared. Whoever waited for it runs the handler itself. */
export interface Unshared { k: 'n' }
/** What the cache holds under a key. */
export type Value = Stored | Variants | Unshared

export const UNSHARED: Unshared = { k: 'n' }

/** True for a value of this cache (a key could hold something else: `cache.set` by hand). */
export function isValue(value: unknown): value is Value {
  if (typeof value !== 'object' || value === null) return false
  const v = value as { k?: unknown; s?: unknown; h?: unknown; b?: unknown; f?: unknown; n?: unknown }
  if (v.k === 'r') return typeof v.s === 'number' && typeof v.h === 'object' && v.b instanceof Uint8Array && typeof v.f === 'number'
  return v.k === 'n' || (v.k === 'v' && Array.isArray(v.n))
}

/** What {@link storedOf} needs besides the response. */
export interface Keeping {
  rules: FreshnessRules
  dropped: ReadonlySet<string>
  maxBodySize: number
  etag: boolean
  /** The response's tags (`tags`); undefined when they could not be had (the response is then not kept). */
  tagsOf(held: Held<unknown, unknown>): readonly string[] | undefined
}

/** The response as it will be kept, or undefined when it may not be shared or is not worth keeping. */
export function storedOf(held: Held<unknown, unknown>, keeping: Keeping): Stored | undefined {
  if (!mayShare(held, keeping.rules) || held.body.length > keeping.maxBodySize) return undefined
  const h = keptHeaders(held.headers, keeping.dropped)
  if (keeping.etag && h.etag === undefined && held.status >= 200 && held.status < 300) h.etag = strongEtag(held.body)
  const t = keeping.tagsOf(held)
  if (t === undefined) return undefined
  const stored: Stored = { k: 'r', s: held.status, h, b: held.body, t, ...timesOf(held, keeping.rules, Date.now()) }
  return worthKeeping(stored) ? stored : undefined
}

/**
 * `stale` refreshed by the handler's 304: the 304's headers over the kept ones, new
 * times, the same body. Undefined when the refreshed response may no longer be shared.
 */
export function refreshedOf(stale: Stored, held: Held<unknown, unknown>, keeping: Keeping): Stored | undefined {
  const headers = { ...stale.h, ...keptHeaders(held.headers, keeping.dropped) }
  // As it goes out: a cookie set by a layer outside the cache on the 304 still keeps it unshared.
  const out = { status: stale.s, headers: held.out.headers }
  const body = Buffer.from(stale.b.buffer, stale.b.byteOffset, stale.b.byteLength)
  const renewed: Held<unknown, unknown> = { ...held, status: stale.s, headers, body, out }
  if (!mayShare(renewed, keeping.rules)) return undefined
  const t = keeping.tagsOf(renewed) ?? stale.t
  return { k: 'r', s: stale.s, h: headers, b: stale.b, t, ...timesOf(renewed, keeping.rules, Date.now()) }
}

/** The answer `stored` makes to a request with headers `h`: 304 when the client's copy is current. */
export function answerOf(h: IncomingHttpHeaders, stored: Stored, cache: CacheStatus): Answer {
  const age = ageOf(stored, Date.now())
  if (notModified(h, stored)) {
    const headers: Record<string, string> = {}
    for (const name of NOT_MODIFIED_KEEPS) {
      const value = stored.h[name]
      if (value !== undefined) headers[name] = value
    }
    return { status: 304, headers, cache, age, body: undefined }
  }
  const b = stored.b
  const body = stored.s === 204 ? undefined : Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)
  return { status: stored.s, headers: stored.h, cache, age, body }
}

/** Answers the request whose handler ran: MISS when kept, BYPASS when not. */
export function finish<Req, Res>(ex: Exchange<Req, Res>, held: Held<Req, Res> | undefined, stored: Stored | undefined): void {
  if (held === undefined) return // It already went out as it was.
  if (stored === undefined) return held.release({ 'X-Cache': 'BYPASS' }, false)
  const extra: Record<string, string> = { 'X-Cache': 'MISS', Age: String(ageOf(stored, Date.now())) }
  if (held.headers.etag === undefined && stored.h.etag !== undefined) extra.ETag = stored.h.etag
  held.release(extra, notModified(ex.req.headers, stored))
}
