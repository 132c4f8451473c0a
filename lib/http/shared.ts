/**
 * What `expressCache`, `koaCache` and `fastifyCache` share: the options, the key of a request, which
 * requests and responses may be cached, and conditional requests. The flow of one
 * request is `core.ts`; holding a Node response back while it is judged is
 * `capture.ts`; each framework's file only adapts.
 */
import { createHash } from 'node:crypto'
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http'
import type { Cache } from '../cache-types.ts'
import { InvalidOptionError } from '../errors.ts'
import { refuseUnknownOptions } from '../options/known.ts'
import { parseDuration } from '../options/duration.ts'
import type { Duration } from '../options/types.ts'

/** The `X-Cache` header: from the cache, from the cache past its ttl, computed now (and kept), or not cacheable. */
export type CacheStatus = 'HIT' | 'STALE' | 'MISS' | 'BYPASS'

/**
 * Options of `expressCache`, `koaCache` and `fastifyCache`. `Req` and `Res` are what the functions
 * receive: Express's `req` and `res`, Koa's `ctx` (twice), or Fastify's `request` and `reply`.
 */
export interface HttpCacheOptions<Req, Res> {
  /** The cache that keeps the responses (`createCache(...)`). Required. */
  cache: Cache
  /** How long a response stays fresh. Milliseconds, or '30s', '5m', '2h'. Default: the cache's `ttl` ('1m'). */
  ttl?: Duration
  /**
   * How long past `ttl` a response is kept to serve as `X-Cache: STALE` while it is
   * refreshed in the background, or when the handler's run fails. Milliseconds or '10m'.
   * Default: the cache's `grace` (0: none).
   */
  grace?: Duration
  /**
   * Within `grace`, answer at once with the stale response and refresh it in the
   * background (a copy of the request goes through the app, detached from the client).
   * When false, a stale response is only served if the refresh fails. Default true.
   */
  staleWhileRevalidate?: boolean
  /** Tags to invalidate a response by (`cache.invalidateTags([...])`), from the request and the response. Default: none. */
  tags?: (req: Req, res: Res) => readonly string[]
  /**
   * The identity of the resource, replacing host + normalized URL in the key. The method,
   * the headers in `vary`, the forwarding headers a request has (see {@link FORWARDING})
   * and the headers in the response's `Vary` are still added. Default: none.
   */
  key?: (req: Req) => string
  /**
   * Request headers that select a different response (lowercase or not), e.g.
   * `['accept-language']`. Name here every request header your app reads that the key
   * does not already hold (a tenant header such as `X-Tenant`, a header a proxy sets), or
   * one client's response can be served to another. Naming `cookie` or `authorization`
   * caches per cookie or per credential instead of bypassing such requests; naming a
   * header of {@link REWRITING} keys it instead of bypassing. Default `[]`.
   */
  vary?: readonly string[]
  /**
   * Requests with a header that rewrites the URL or the method a handler sees
   * ({@link REWRITING}: `X-Original-URL`, `X-Rewrite-URL`, `X-HTTP-Method-Override`,
   * `X-HTTP-Method`, `X-Method-Override`): `'bypass'` runs them uncached (`X-Cache:
   * BYPASS`); `'key'` caches them, each value of such a header under a key of its own.
   * Use `'key'` only if a proxy you run sets these headers on ordinary requests.
   * Default `'bypass'`.
   */
  rewriteHeaders?: 'bypass' | 'key'
  /**
   * Query parameters left out of the key: exact names, prefixes ending in `*`
   * (`'utm_*'`), or regular expressions, matched on the decoded name. They are cut out
   * as whole pairs; the rest of the URL is keyed as sent (see {@link normalizeUrl}).
   * Default `[]`.
   */
  ignoreQuery?: readonly (string | RegExp)[]
  /**
   * Response headers to keep besides content-type, content-encoding, content-language,
   * etag, last-modified, cache-control and vary (e.g. `['link', 'x-version']`). Never
   * set-cookie. Default `[]`.
   */
  headers?: readonly string[]
  /** Response statuses that may be cached. Default `[200, 203, 204, 300, 301, 404, 410]`. */
  statuses?: readonly number[]
  /** Larger bodies go to the client as they are made, uncached. Bytes. Default 1048576 (1 MiB). */
  maxBodySize?: number
  /** Give a response without an ETag a strong one (a hash of its body). Default true. */
  etag?: boolean
  /**
   * Let a request's `Cache-Control: no-cache` run the handler and replace the cached
   * response. Off so that clients cannot force load on the handler. Default false.
   */
  honorNoCache?: boolean
  /**
   * Return true to leave a request alone (it runs as if there were no cache, `X-Cache:
   * BYPASS`). Requests with a body, and those whose Host is not host[:port], bypass
   * the cache without it. Default: none.
   */
  bypass?: (req: Req) => boolean
  /** The cache namespace of the responses. Default 'http'. */
  namespace?: string
  /**
   * Called with errors the middleware swallowed so that the request could go on (the
   * cache failed, `tags` threw). Default: `process.emitWarning`. Redis trouble is
   * reported by the cache's own `error` event.
   */
  onError?: (error: unknown) => void
}

/** A response as the cache keeps it (short names: this goes to Redis). */
export interface Stored {
  k: 'r'
  /** Status. */
  s: number
  /** The headers kept, lowercase names. */
  h: Record<string, string>
  /** Body. */
  b: Uint8Array
  /** When it was made, epoch ms. */
  c: number
  /** Tags. */
  t: readonly string[]
}
/** A response's status and headers (lowercase names). */
export interface Head {
  status: number
  headers: OutgoingHttpHeaders
}

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
  /** Sends the response as the handler made it, plus `extra` headers, or as a 304. */
  release(extra: Readonly<Record<string, string>>, notModified: boolean): void
}

/** One request, as a framework adapter shows it to {@link HttpCache}. */
export interface Exchange<Req, Res> {
  readonly req: IncomingMessage
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
  /** Seconds since it was made. */
  age: number
  /** Undefined: none, as for 304 and 204. */
  body: Buffer | undefined
}

/**
 * Forwarding headers: behind a trusted proxy, frameworks and middleware take the
 * protocol, host, port and path prefix from them (Express with `trust proxy`, Koa with
 * `app.proxy`). Every one a request has joins its key, so that a response built from
 * them is only served to requests that send the same values.
 */
export const FORWARDING: readonly string[] = ['forwarded', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix', 'x-forwarded-proto', 'x-forwarded-scheme']
/** Headers that rewrite the URL or the method a handler sees: they bypass the cache unless keyed (`rewriteHeaders`, `vary`). */
export const REWRITING: readonly string[] = ['x-http-method', 'x-http-method-override', 'x-method-override', 'x-original-url', 'x-rewrite-url']

const KEPT = ['content-type', 'content-encoding', 'content-language', 'etag', 'last-modified', 'cache-control', 'vary']
const NEVER = new Set(['set-cookie', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'age', 'x-cache'])
export const NOT_MODIFIED_KEEPS = ['etag', 'cache-control', 'vary', 'last-modified', 'content-location', 'expires']
export const CONDITIONAL = ['if-none-match', 'if-modified-since'] as const
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/
const STATUS_DEFAULT = [200, 203, 204, 300, 301, 404, 410]

/** {@link HttpCacheOptions} validated, with every default applied; times in ms. */
export interface Resolved<Req, Res> {
  cache: Cache
  entry: { ttl?: number; grace?: number; staleWhileRevalidate: boolean; tags: (v: { k: string; t?: readonly string[] }) => readonly string[]; shouldCache: (v: { k: string }) => boolean }
  set: { ttl?: number; grace?: number; tags?: readonly string[] }
  tags: ((req: Req, res: Res) => readonly string[]) | undefined
  key: ((req: Req) => string) | undefined
  bypass: ((req: Req) => boolean) | undefined
  vary: readonly string[]
  varies: ReadonlySet<string>
  /** Headers keyed only when a request has them (forwarding, and rewriting with `rewriteHeaders: 'key'`), none in `vary`. */
  present: readonly string[]
  /** Headers whose presence bypasses the cache. */
  bypassing: readonly string[]
  ignored: ((name: string) => boolean) | undefined
  kept: readonly string[]
  statuses: ReadonlySet<number>
  maxBodySize: number
  etag: boolean
  honorNoCache: boolean
  onError: (error: unknown) => void
}

/**
 * A `Host` the key may hold: a name or an IPv4 address (letters, digits, `-`, `.`, `_`,
 * `~`), or an IPv6 address in brackets, and an optional port. Such a host holds no space,
 * so that in the key it cannot run into the URL after it; any other host (`shop.example/static`,
 * `user@shop.example`, an empty one) bypasses the cache.
 */
const HOST = /^(?:[a-z0-9._~-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$/i

/** True when the request's `Host` is absent or a valid host[:port] (see {@link resourceKey}). */
export function isKeyableHost(host: string | undefined): boolean {
  return host === undefined || HOST.test(host)
}

/**
 * Host and URL, apart by construction: a keyable host ({@link isKeyableHost}) holds no
 * space, so the first space of the key ends it, whatever the URL holds. An absent Host is
 * empty.
 */
export function resourceKey(host: string | undefined, url: string): string {
  return `${host ?? ''} ${url}`
}

/**
 * Parsers read at most 1000 parameters (Node's `querystring`, `qs`): past that, cutting an
 * ignored one out would let a later one count. Longer queries are keyed whole.
 */
const MAX_PARAMETERS = 1000

/**
 * The URL as the key holds it: byte for byte as the client sent it (path, query and the
 * order of its parameters), never decoded, so that two requests share an entry only when
 * the framework reads them alike. Only the parameters `ignored` names are cut out, as
 * whole `name=value` pairs, and only those that every query parser reads as one parameter
 * of that name (no `;` nor `#`, which some parsers split or stop at; a name that decodes).
 */
export function normalizeUrl(url: string, ignored?: (name: string) => boolean): string {
  const q = url.indexOf('?')
  if (q < 0 || ignored === undefined) return url
  const pairs = url.slice(q + 1).split('&')
  if (pairs.length > MAX_PARAMETERS) return url
  const kept = pairs.filter((pair) => !isIgnored(pair, ignored))
  if (kept.length === pairs.length) return url
  return kept.length === 0 ? url.slice(0, q) : `${url.slice(0, q)}?${kept.join('&')}`
}

/** True when `pair` is one parameter whose decoded name `ignored` names. */
function isIgnored(pair: string, ignored: (name: string) => boolean): boolean {
  if (pair.includes(';') || pair.includes('#')) return false
  const eq = pair.indexOf('=')
  try {
    return ignored(decodeURIComponent((eq < 0 ? pair : pair.slice(0, eq)).replaceAll('+', ' ')))
  } catch {
    return false // Not valid percent-encoding: parsers read such a name each their own way.
  }
}

/**
 * {@link normalizeUrl} remembered for recent URLs with a query, when some parameters are
 * ignored (splitting and decoding a query costs more than the rest of a hit's key): up
 * to `max` URLs of at most `maxLength` characters, all forgotten at once when full. A
 * URL without a query, or any URL when nothing is ignored, is its own normal form and is
 * not kept.
 */
export class NormalizedUrls {
  private readonly known = new Map<string, string>()
  private readonly ignored: ((name: string) => boolean) | undefined
  private readonly max: number
  private readonly maxLength: number

  /** `ignored`: as for {@link normalizeUrl}; it must answer the same for the same name. Defaults: 512 URLs of 256 characters. */
  constructor(ignored: ((name: string) => boolean) | undefined, max = 512, maxLength = 256) {
    this.ignored = ignored
    this.max = max
    this.maxLength = maxLength
  }

  /** `url` normalized: the same as `normalizeUrl(url, ignored)`. */
  of(url: string): string {
    if (this.ignored === undefined || url.indexOf('?') < 0) return url
    let normal = this.known.get(url)
    if (normal !== undefined) return normal
    normal = normalizeUrl(url, this.ignored)
    if (url.length <= this.maxLength) {
      if (this.known.size >= this.max) this.known.clear()
      this.known.set(url, normal)
    }
    return normal
  }

  /** How many URLs are remembered. */
  get size(): number {
    return this.known.size
  }
}

/** The key of a response that also varies on request headers `names`. */
export function variantKey(base: string, names: readonly string[], headers: IncomingHttpHeaders): string {
  let key = base + '\n'
  for (const name of names) key += headerLine(name, headers[name])
  return key
}

// Header values never hold a line break, so lines cannot be forged; absent differs from empty.
export function headerLine(name: string, value: string | string[] | undefined): string {
  return value === undefined ? `\n${name}` : `\n${name}: ${typeof value === 'string' ? value : value.join(', ')}`
}

/** The lines of the headers among `names` that the request has (see {@link headerLine}). */
export function presentLines(names: readonly string[], headers: IncomingHttpHeaders): string {
  let lines = ''
  for (const name of names) {
    const value = headers[name]
    if (value !== undefined) lines += headerLine(name, value)
  }
  return lines
}

/** True when the request has one of the headers `names`. */
export function hasAny(names: readonly string[], headers: IncomingHttpHeaders): boolean {
  return names.some((name) => headers[name] !== undefined)
}

/** True when the client's copy (If-None-Match, else If-Modified-Since) is still the kept one. */
export function notModified(h: IncomingHttpHeaders, stored: Stored): boolean {
  if (stored.s < 200 || stored.s > 299) return false
  const match = h['if-none-match']
  if (match !== undefined) {
    const etag = stored.h.etag
    if (etag === undefined) return false
    return match.trim() === '*' || match.split(',').some((tag) => weak(tag.trim()) === weak(etag))
  }
  const condition = h['if-modified-since']
  const lastModified = stored.h['last-modified']
  if (condition === undefined || lastModified === undefined) return false
  const since = Date.parse(condition)
  const modified = Date.parse(lastModified)
  return !Number.isNaN(since) && !Number.isNaN(modified) && modified <= since
}

const weak = (tag: string): string => (tag.startsWith('W/') ? tag.slice(2) : tag)

/** `"<length>-<sha1>"`: the same bytes always get the same tag. */
export function strongEtag(body: Uint8Array): string {
  return `"${body.byteLength.toString(16)}-${createHash('sha1').update(body).digest('base64url')}"`
}

/** True when the Cache-Control value has `name` among its directives. */
export function directive(value: string | undefined, name: string): boolean {
  if (value === undefined) return false
  return value.toLowerCase().split(',').some((part) => part.split('=', 1)[0]?.trim() === name)
}

const UNSHAREABLE = /(?:^|,)\s*(?:private|no-store|no-cache)\b/i

/**
 * The storability rule: true when `held` may be kept and served to anyone. Never when,
 * as it was made or as it goes out, its status is not one of `statuses`, it sets a
 * cookie, says `Cache-Control: private`, `no-store` or `no-cache`, or `Vary: *`; nor
 * when its body does not have the length its `Content-Length` declares (a truncated body).
 */
export function mayShare(held: Held<unknown, unknown>, statuses: ReadonlySet<number>): boolean {
  const declared = text(held.headers['content-length'])
  if (declared !== undefined && Number(declared) !== held.body.length) return false
  return shareableHead(held, statuses) && shareableHead(held.out, statuses)
}

function shareableHead({ status, headers: h }: Head, statuses: ReadonlySet<number>): boolean {
  if (!statuses.has(status) || h['set-cookie'] !== undefined) return false
  return !UNSHAREABLE.test(text(h['cache-control']) ?? '') && !varyNames(text(h.vary)).includes('*')
}

export function varyNames(value: string | undefined): string[] {
  if (value === undefined) return []
  return value.split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== '')
}

export function text(value: OutgoingHttpHeaders[string]): string | undefined {
  if (value === undefined) return undefined
  return Array.isArray(value) ? value.join(', ') : String(value)
}

/** The names of {@link HttpCacheOptions}: every other name is refused. */
export const HTTP_OPTIONS: readonly (keyof HttpCacheOptions<unknown, unknown>)[] = [
  'cache', 'ttl', 'grace', 'staleWhileRevalidate', 'tags', 'key', 'vary', 'rewriteHeaders', 'ignoreQuery', 'headers',
  'statuses', 'maxBodySize', 'etag', 'honorNoCache', 'bypass', 'namespace', 'onError',
]

/**
 * Validates the options (naming `where` in errors) and applies the defaults, once. An
 * option that is not one of {@link HTTP_OPTIONS}, nor in `alsoAllowed`, is refused.
 */
export function resolve<Req, Res>(options: HttpCacheOptions<Req, Res>, where: string, alsoAllowed: readonly string[] = []): Resolved<Req, Res> {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError(`${where} needs options with a cache: ${where}({ cache })`)
  refuseUnknownOptions(options, alsoAllowed.length === 0 ? HTTP_OPTIONS : [...HTTP_OPTIONS, ...alsoAllowed], where)
  const given = options as Partial<HttpCacheOptions<Req, Res>>
  const cache = given.cache
  if (typeof cache !== 'object' || cache === null || typeof cache.getOrSetEntry !== 'function') {
    throw new InvalidOptionError(`${where}: cache must be a cache from createCache(), got ${typeof cache}`)
  }
  const ttl = given.ttl === undefined ? undefined : parseDuration(given.ttl, `${where}: ttl`)
  const grace = given.grace === undefined ? undefined : parseDuration(given.grace, `${where}: grace`, true)
  const swr = given.staleWhileRevalidate ?? true
  if (typeof swr !== 'boolean') throw new InvalidOptionError(`${where}: staleWhileRevalidate must be true or false`)
  const vary = names(given.vary, `${where}: vary`)
  const extra = names(given.headers, `${where}: headers`)
  const refused = extra.find((name) => NEVER.has(name))
  if (refused !== undefined) throw new InvalidOptionError(`${where}: headers may not name ${refused}: it is never kept`)
  const statuses = given.statuses ?? STATUS_DEFAULT
  if (!Array.isArray(statuses) || !statuses.every((s) => Number.isInteger(s) && s >= 100 && s <= 599)) {
    throw new InvalidOptionError(`${where}: statuses must be an array of HTTP status codes (100 to 599)`)
  }
  const maxBodySize = given.maxBodySize ?? 1024 * 1024
  if (typeof maxBodySize !== 'number' || !(maxBodySize >= 0) || !Number.isFinite(maxBodySize)) {
    throw new InvalidOptionError(`${where}: maxBodySize must be a number of bytes, got ${String(maxBodySize)}`)
  }
  for (const name of ['tags', 'key', 'bypass', 'onError'] as const) {
    if (given[name] !== undefined && typeof given[name] !== 'function') throw new InvalidOptionError(`${where}: ${name} must be a function`)
  }
  for (const name of ['etag', 'honorNoCache'] as const) {
    if (given[name] !== undefined && typeof given[name] !== 'boolean') throw new InvalidOptionError(`${where}: ${name} must be true or false`)
  }
  const namespace = given.namespace ?? 'http'
  if (typeof namespace !== 'string' || namespace === '') throw new InvalidOptionError(`${where}: namespace must be a non-empty string`)
  return {
    cache: cache.namespace(namespace),
    entry: { ttl, grace, staleWhileRevalidate: swr, tags: (v) => v.t ?? [], shouldCache: (v) => v.k !== 'n' },
    set: { ttl, grace },
    tags: given.tags,
    key: given.key,
    bypass: given.bypass,
    vary,
    varies: new Set(vary),
    ...unkeyed(given.rewriteHeaders, vary, `${where}: rewriteHeaders`),
    ignored: ignoring(given.ignoreQuery, `${where}: ignoreQuery`),
    kept: [...new Set([...KEPT, ...extra])],
    statuses: new Set(statuses),
    maxBodySize,
    etag: given.etag ?? true,
    honorNoCache: given.honorNoCache ?? false,
    onError: (error) => {
      try {
        if (given.onError !== undefined) given.onError(error)
        else process.emitWarning(error instanceof Error ? error : String(error), 'MemoredisWarning')
      } catch {
        // A throwing onError must not fail the request it was told about.
      }
    },
  }
}

function names(value: unknown, option: string): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && TOKEN.test(v.toLowerCase()))) {
    throw new InvalidOptionError(`${option} must be an array of header names`)
  }
  return [...new Set(value.map((v: string) => v.toLowerCase()))].sort()
}

/** Which headers outside `vary` join the key when present, and which bypass the cache. */
function unkeyed(rewrites: unknown, vary: readonly string[], option: string): { present: string[]; bypassing: string[] } {
  if (rewrites !== undefined && rewrites !== 'bypass' && rewrites !== 'key') {
    throw new InvalidOptionError(`${option} must be 'bypass' or 'key', got ${typeof rewrites === 'string' ? `'${rewrites}'` : String(rewrites)}`)
  }
  const outside = (name: string): boolean => !vary.includes(name)
  const rewriting = REWRITING.filter(outside)
  if (rewrites === 'key') return { present: [...FORWARDING, ...rewriting].filter(outside).sort(), bypassing: [] }
  return { present: FORWARDING.filter(outside), bypassing: rewriting }
}

function ignoring(value: unknown, option: string): ((name: string) => boolean) | undefined {
  if (value === undefined) return undefined
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' || v instanceof RegExp)) {
    throw new InvalidOptionError(`${option} must be an array of names, 'prefix*' strings or regular expressions`)
  }
  if (value.length === 0) return undefined
  const exact = new Set(value.filter((v): v is string => typeof v === 'string' && !v.endsWith('*')))
  const prefixes = value.filter((v): v is string => typeof v === 'string' && v.endsWith('*')).map((v) => v.slice(0, -1))
  const patterns = value.filter((v): v is RegExp => v instanceof RegExp)
  return (name) => exact.has(name) || prefixes.some((p) => name.startsWith(p)) || patterns.some((re) => re.test(name))
}
