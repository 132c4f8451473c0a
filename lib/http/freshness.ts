/**
 * Whether a response may be kept and shared (RFC 9111 §3), and for how long it is
 * fresh, served stale, and kept to be revalidated (RFC 9111 §4.2, RFC 5861, RFC 9213):
 * from what the response says (`freshness: 'response'`), or from `ttl` alone
 * (`freshness: 'ttl'`). The times are worked out once, when a response is received, and
 * kept with it: a hit compares one number.
 */
import { deltaSeconds, parseCacheControl, type Directives } from './cache-control.ts'
import { hasValidator } from './conditional.ts'
import { headerNames, text } from './headers.ts'
import type { Head, Held, Stored } from './types.ts'

/** How freshness is decided, resolved from the options. Times in ms. */
export interface FreshnessRules {
  mode: 'response' | 'ttl'
  /** 'ttl': how long every response is fresh. 'response': how long one is that says nothing (0: the RFC's heuristic). */
  ttl: number
  /** 'response': the most any response is fresh; undefined: no cap. */
  maxTtl: number | undefined
  /** The stale window a response gets when it gives none and does not forbid one. */
  grace: number
  /** Whether that window serves stale at once (while revalidating) or only when revalidation fails. */
  staleWhileRevalidate: boolean
  /** Statuses kept without explicit freshness. */
  statuses: ReadonlySet<number>
}

/** The times of a response, epoch ms: see {@link Stored}. */
export type Times = Pick<Stored, 'c' | 'a' | 'f' | 'w' | 'e'>

/** A stale response with a validator is kept this long past its windows to be revalidated (as long as it was fresh, within these bounds). */
const KEEP_MIN = 60_000
const KEEP_MAX = 86_400_000
/** The RFC's heuristic: a tenth of the time since `Last-Modified` (RFC 9111 §4.2.2). */
const HEURISTIC_FRACTION = 0.1

/** The directives a shared cache follows: `CDN-Cache-Control` when the response has one (RFC 9213), else `Cache-Control`. */
export function directivesOf(headers: Head['headers']): { directives: Directives; targeted: boolean } {
  const cdn = parseCacheControl(headers['cdn-cache-control'])
  if (cdn.size > 0) return { directives: cdn, targeted: true }
  return { directives: parseCacheControl(headers['cache-control']), targeted: false }
}

/** True when the response says how long it is fresh (so that a status outside `statuses` may be kept). */
function explicit(head: Head, directives: Directives, targeted: boolean): boolean {
  if (directives.has('s-maxage') || directives.has('max-age') || directives.has('public')) return true
  return !targeted && head.headers.expires !== undefined
}

/**
 * One head (as made, or as it goes out) may be shared: a status that may be kept, no
 * cookie set, not `private` nor `no-store` (nor `no-cache` under `'ttl'`, which would
 * ignore it), no `Vary: *`.
 */
function shareableHead(head: Head, rules: FreshnessRules): boolean {
  const { directives, targeted } = directivesOf(head.headers)
  if (head.headers['set-cookie'] !== undefined || directives.has('private') || directives.has('no-store')) return false
  if (headerNames(text(head.headers.vary)).includes('*')) return false
  if (rules.mode === 'ttl') return rules.statuses.has(head.status) && !directives.has('no-cache')
  if (rules.statuses.has(head.status)) return true
  return head.status >= 200 && head.status !== 206 && head.status !== 304 && explicit(head, directives, targeted)
}

/**
 * The storability rule: true when `held` may be kept and served to anyone, as it was made
 * and as it goes out ({@link shareableHead}), with a body of the length its
 * `Content-Length` declares (never a truncated one).
 */
export function mayShare(held: Held<unknown, unknown>, rules: FreshnessRules): boolean {
  const declared = text(held.headers['content-length'])
  if (declared !== undefined && Number(declared) !== held.body.length) return false
  return shareableHead(held, rules) && shareableHead(held.out, rules)
}

/** The three forms of an HTTP-date (RFC 9110 §5.6.7): IMF-fixdate, RFC 850, asctime. */
const HTTP_DATE = [
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/,
  /^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \d{2}-(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{2} \d{2}:\d{2}:\d{2} GMT$/,
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/,
]

/**
 * A date header as epoch ms; NaN when absent or not an HTTP-date (`Date.parse` alone
 * reads many other forms). An invalid `Expires` means already expired.
 */
function dateOf(value: Head['headers'][string]): number {
  const date = text(value)
  if (date === undefined || !HTTP_DATE.some((form) => form.test(date))) return Number.NaN
  return Date.parse(date.endsWith('GMT') ? date : `${date} GMT`)
}

/** The age the response had when received, ms (RFC 9111 §4.2.3, the handler's time taken as no delay). */
function initialAge(head: Head, now: number): number {
  const age = text(head.headers.age)?.trim()
  const ageValue = age !== undefined && /^[0-9]+$/.test(age) ? Number(age) * 1000 : 0
  const date = dateOf(head.headers.date)
  const apparent = Number.isNaN(date) ? 0 : Math.max(0, now - date)
  return Math.max(apparent, ageValue)
}

/** How long the response is fresh from when it was made, ms, as it says (RFC 9111 §4.2.1), else by heuristic. */
function lifetime(head: Head, directives: Directives, targeted: boolean, rules: FreshnessRules): number {
  if (directives.has('no-cache')) return 0
  const seconds = deltaSeconds(directives, 's-maxage') ?? deltaSeconds(directives, 'max-age')
  if (seconds !== undefined) return Number.isNaN(seconds) ? 0 : seconds * 1000
  const date = dateOf(head.headers.date)
  if (!targeted && head.headers.expires !== undefined) {
    const expires = dateOf(head.headers.expires)
    return Number.isNaN(expires) ? 0 : Math.max(0, expires - (Number.isNaN(date) ? Date.now() : date))
  }
  // Heuristic freshness only for a status the RFC allows it for (those kept without explicit freshness) or a `public` response.
  if (!rules.statuses.has(head.status) && !directives.has('public')) return 0
  if (rules.ttl > 0) return rules.ttl
  const modified = dateOf(head.headers['last-modified'])
  if (Number.isNaN(modified)) return 0
  return Math.max(0, Math.floor(((Number.isNaN(date) ? Date.now() : date) - modified) * HEURISTIC_FRACTION))
}

/** The stale windows after freshness, ms: the response's own, else `grace`; none where it forbids serving stale. */
function windows(directives: Directives, rules: FreshnessRules): { swr: number; sie: number } {
  if (directives.has('no-cache') || directives.has('must-revalidate') || directives.has('proxy-revalidate')) return { swr: 0, sie: 0 }
  const own = (name: string): number | undefined => {
    const seconds = deltaSeconds(directives, name)
    return seconds === undefined || Number.isNaN(seconds) ? undefined : seconds * 1000
  }
  // s-maxage forbids serving stale by itself (RFC 9111 §5.2.2.10), not past the response's own windows.
  const grace = directives.has('s-maxage') ? 0 : rules.grace
  const swr = own('stale-while-revalidate') ?? (rules.staleWhileRevalidate ? grace : 0)
  return { swr, sie: Math.max(swr, own('stale-if-error') ?? grace) }
}

/** The times of a response received at `now` (see {@link Stored}). */
export function timesOf(head: Head, rules: FreshnessRules, now: number): Times {
  if (rules.mode === 'ttl') {
    const f = now + rules.ttl
    return { c: now, a: 0, f, w: rules.staleWhileRevalidate ? f + rules.grace : f, e: f + rules.grace }
  }
  const { directives, targeted } = directivesOf(head.headers)
  const a = initialAge(head, now)
  let fresh = lifetime(head, directives, targeted, rules)
  if (rules.maxTtl !== undefined) fresh = Math.min(fresh, rules.maxTtl)
  const f = now + Math.max(0, fresh - a)
  const { swr, sie } = windows(directives, rules)
  return { c: now, a, f, w: f + swr, e: f + sie }
}

/** True while the response may be served without asking the handler. */
export function isFresh(stored: Stored, now: number): boolean {
  return stored.f > now
}

/** True when a response with these times is worth keeping: fresh for a while, servable stale, or revalidatable. */
export function worthKeeping(stored: Stored): boolean {
  return stored.f > stored.c || stored.e > stored.c || hasValidator(stored)
}

/** How long from `now` the cache keeps the response, ms: past its windows, and, with a validator, to be revalidated. */
export function keptFor(stored: Stored, now: number): number {
  const windows = Math.max(stored.w, stored.e)
  const keep = hasValidator(stored) ? Math.min(KEEP_MAX, Math.max(KEEP_MIN, stored.f - stored.c)) : 0
  return Math.max(1, Math.max(windows, stored.f + keep) - now)
}

/** Seconds since the response was made, as its `Age` says at `now`. */
export function ageOf(stored: Stored, now: number): number {
  return Math.max(0, Math.floor((stored.a + now - stored.c) / 1000))
}
