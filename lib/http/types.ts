/**
 * The shapes the HTTP cache's modules pass each other: a response as it is kept
 * (`Stored`), as a handler made it (`Held`), as the cache answers (`Answer`), and one
 * request as a framework adapter shows it to the core (`Exchange`).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'

/**
 * The `X-Cache` header: from the cache, from the cache past its freshness, checked with
 * the handler and still current (a 304 refreshed it), computed now (and kept), or not
 * cacheable.
 */
export type CacheStatus = 'HIT' | 'STALE' | 'REVALIDATED' | 'MISS' | 'BYPASS'

/** A response as the cache keeps it (short names: this goes to Redis). Times are epoch ms. */
export interface Stored {
  k: 'r'
  /** Status. */
  s: number
  /** Its end-to-end headers, lowercase names (see `headers.ts`). */
  h: Record<string, string>
  /** Body. */
  b: Uint8Array
  /** When it was received (or last revalidated). */
  c: number
  /** Its age when received, ms (from its `Age` and `Date`). */
  a: number
  /** Fresh until. */
  f: number
  /** Served stale while it is revalidated in the background until. */
  w: number
  /** Served stale when its revalidation fails until. */
  e: number
  /** Tags. */
  t: readonly string[]
}

/** A response's status and headers (lowercase names). */
export interface Head {
  status: number
  headers: OutgoingHttpHeaders
}

/** Sends a held response as the handler made it, plus `extra` headers, or as a 304. */
export type Release = (extra: Readonly<Record<string, string>>, notModified: boolean) => void

/**
 * What a handler made, held back from the client until the cache has judged it: what is
 * kept (as the handler left it at the cache's layer, so that a hit goes again through the
 * layers outside the cache), and how it went out, past them.
 */
export interface Held<Req, Res> extends Head {
  body: Buffer
  /**
   * The status and headers as they go out to the client, after every layer outside the
   * cache (header-time hooks, outer middleware, later `onSend` hooks) had its say: a
   * cookie set there makes the response as unshareable as one the handler set.
   */
  out: Head
  /** What `tags` receives. */
  req: Req
  res: Res
  release: Release
  /** Sends `answer` instead of what the handler made (a 304 to the cache's own conditions, a failure within stale-if-error). */
  replace(answer: Answer): void
}

/** One request, as a framework adapter shows it to `HttpCache`. */
export interface Exchange<Req, Res> {
  readonly req: IncomingMessage
  /** The Node response under the framework's: its `finish` tells that a write succeeded. */
  readonly res: ServerResponse
  /** The URL as the client sent it (path and query), whatever the mount point. */
  readonly url: string
  /** What `key`, `bypass` and `tags` receive. */
  readonly user: Req
  /** Runs the handler untouched, with `X-Cache: status`. */
  pass(status: CacheStatus): void | Promise<void>
  /** Runs the handler, its response held back (undefined: it went out as it was, too large or the client left). */
  capture(limit: number): Promise<Held<Req, Res> | undefined>
  /** Runs the handler for a copy of this request, detached from the client (a background refresh). */
  refresh(limit: number): Promise<Held<Req, Res> | undefined>
  /** Sends a response from the cache. */
  send(answer: Answer): void
}

/** A response from the cache, as an adapter's `send` gets it. */
export interface Answer {
  status: number
  headers: Readonly<Record<string, string>>
  cache: CacheStatus
  /** Seconds since it was made, as its `Age` says. */
  age: number
  /** Undefined: none, as for 304 and 204. */
  body: Buffer | undefined
}
