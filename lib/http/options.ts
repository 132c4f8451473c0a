/**
 * The options of `expressCache`, `koaCache`, `fastifyCache` and `MemoredisInterceptor`:
 * their types (JSDoc, defaults), their names, and their validation with every default
 * applied, once.
 */
import type { Cache } from '../cache-types.ts'
import { InvalidOptionError } from '../errors.ts'
import { checkCacheOption } from '../options/cache-option.ts'
import { refuseUnknownOptions } from '../options/known.ts'
import { parseDuration } from '../options/duration.ts'
import type { Duration } from '../options/types.ts'
import { PER_REQUEST } from './headers.ts'
import { FORWARDING, REWRITING } from './key.ts'

/**
 * Options of `expressCache`, `koaCache` and `fastifyCache`. `Req` and `Res` are what the functions
 * receive: Express's `req` and `res`, Koa's `ctx` (twice), or Fastify's `request` and `reply`.
 */
export interface HttpCacheOptions<Req, Res> {
  /** The cache that keeps the responses (`createCache(...)`). Required. */
  cache: Cache
  /**
   * Who says how long a response is fresh. `'response'`: the response, as a shared cache
   * reads it (RFC 9111): `CDN-Cache-Control`, `s-maxage`, `max-age` or `Expires` (with
   * `Date` and `Age`); `no-cache`, `must-revalidate` and `max-age=0` make it revalidate;
   * `stale-while-revalidate` and `stale-if-error` give it grace; one that says nothing is
   * fresh for `ttl`. `'ttl'`: every response is fresh for `ttl`, whatever it says (for an
   * app whose `Cache-Control` speaks to browsers only).
   * @default 'response'
   */
  freshness?: 'response' | 'ttl'
  /**
   * How long a response stays fresh: under `freshness: 'ttl'` every one, under
   * `'response'` one that gives no freshness of its own (and has a status of `statuses`,
   * or says `public`); `0` there leaves such responses to the RFC's heuristic (a tenth of
   * the time since their `Last-Modified`), else unused. Milliseconds, or '30s', '5m',
   * '2h'.
   * @default undefined // the cache's ttl ('1m')
   */
  ttl?: Duration
  /**
   * Under `freshness: 'response'`, the most a response is fresh, whatever it says.
   * Milliseconds or '1h'.
   * @default undefined // no cap
   */
  maxTtl?: Duration
  /**
   * How long past its freshness a response is served as `X-Cache: STALE` while it is
   * refreshed in the background, or when the handler's run fails, unless the response
   * gives its own (`stale-while-revalidate`, `stale-if-error`) or forbids it
   * (`must-revalidate`, `no-cache`, `s-maxage`). Milliseconds or '10m'.
   * @default undefined // the cache's grace (0: none)
   */
  grace?: Duration
  /**
   * Within `grace`, answer at once with the stale response and refresh it in the
   * background (a copy of the request goes through the app, detached from the client).
   * When false, `grace` only serves a stale response when the refresh fails.
   * @default true
   */
  staleWhileRevalidate?: boolean
  /**
   * Tags to invalidate a response by (`cache.invalidateTags([...])`), from the request and
   * the response.
   * @default undefined // none
   */
  tags?: (req: Req, res: Res) => readonly string[]
  /**
   * The identity of the resource, replacing host + the URL as sent in the key. The method,
   * the headers in `vary`, the forwarding headers a request has (see {@link FORWARDING})
   * and the headers in the response's `Vary` are still added.
   * @default undefined // none
   */
  key?: (req: Req) => string
  /**
   * Request headers that select a different response (lowercase or not), e.g.
   * `['accept-language']`. Name here every request header your app reads that the key does
   * not already hold (a tenant header such as `X-Tenant`, a header a proxy sets), or one
   * client's response can be served to another. Naming `cookie` or `authorization` caches
   * per cookie or per credential instead of bypassing such requests; naming a header of
   * {@link REWRITING} keys it instead of bypassing.
   * @default []
   */
  vary?: readonly string[]
  /**
   * Requests with a header that rewrites the URL or the method a handler sees ({@link
   * REWRITING}: `X-Original-URL`, `X-Rewrite-URL`, `X-HTTP-Method-Override`,
   * `X-HTTP-Method`, `X-Method-Override`): `'bypass'` runs them uncached (`X-Cache:
   * BYPASS`); `'key'` caches them, each value of such a header under a key of its own. Use
   * `'key'` only if a proxy you run sets these headers on ordinary requests.
   * @default 'bypass'
   */
  rewriteHeaders?: 'bypass' | 'key'
  /**
   * Query parameters left out of the key: exact names, prefixes ending in `*` (`'utm_*'`),
   * or regular expressions, matched on the decoded name. They are cut out as whole pairs;
   * the rest of the URL is keyed as sent (see {@link normalizeUrl}).
   * @default []
   */
  ignoreQuery?: readonly (string | RegExp)[]
  /**
   * Response headers a hit does not replay: every other end-to-end header the handler set
   * is kept (`Location`, `Link`, `Content-Disposition`, CORS, your own `X-*`), but not the
   * hop-by-hop ones nor those its `Connection` names; `Date` and `Age` are written anew.
   * Replaces the default, which names headers that describe one request or one run:
   * `request-id`, `server-timing`, `x-correlation-id`, `x-request-id`, `x-response-time`.
   */
  dropHeaders?: readonly string[]
  /**
   * Response statuses that may be cached without saying so. Under `freshness: 'response'`
   * a response with another final status is kept too when it gives its freshness
   * (`max-age`, `s-maxage`, `Expires`, `public`), as a shared cache may.
   * @default [200, 203, 204, 300, 301, 308, 404, 410]
   */
  statuses?: readonly number[]
  /**
   * Larger bodies go to the client as they are made, uncached. Bytes.
   * @default 1048576 // 1 MiB
   */
  maxBodySize?: number
  /**
   * Give a response without an ETag a strong one (a hash of its body).
   * @default true
   */
  etag?: boolean
  /**
   * Let a request's `Cache-Control: no-cache` run the handler and replace the cached
   * response. Off so that clients cannot force load on the handler.
   * @default false
   */
  honorNoCache?: boolean
  /**
   * Return true to leave a request alone (it runs as if there were no cache, `X-Cache:
   * BYPASS`). Requests with a body, and those whose Host is not host[:port], bypass the
   * cache without it.
   * @default undefined // none
   */
  bypass?: (req: Req) => boolean
  /**
   * The cache namespace of the responses.
   * @default 'http'
   */
  namespace?: string
  /**
   * Called with errors the middleware swallowed so that the request could go on (the cache
   * failed, `tags` threw). Redis trouble is reported by the cache's own `error` event.
   * @default process.emitWarning
   */
  onError?: (error: unknown) => void
}


/** The names of {@link HttpCacheOptions}: every other name is refused. */
export const HTTP_OPTIONS: readonly (keyof HttpCacheOptions<unknown, unknown>)[] = [
  'cache', 'freshness', 'ttl', 'maxTtl', 'grace', 'staleWhileRevalidate', 'tags', 'key', 'vary', 'rewriteHeaders', 'ignoreQuery',
  'dropHeaders', 'statuses', 'maxBodySize', 'etag', 'honorNoCache', 'bypass', 'namespace', 'onError',
]

const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/
const STATUS_DEFAULT = [200, 203, 204, 300, 301, 308, 404, 410]

/** {@link HttpCacheOptions} validated, with every default applied; times in ms (undefined: the cache's). */
export interface Resolved<Req, Res> {
  cache: Cache
  freshness: 'response' | 'ttl'
  ttl: number | undefined
  maxTtl: number | undefined
  grace: number | undefined
  staleWhileRevalidate: boolean
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
  dropped: ReadonlySet<string>
  statuses: ReadonlySet<number>
  maxBodySize: number
  etag: boolean
  honorNoCache: boolean
  onError: (error: unknown) => void
}

/**
 * Validates the options (naming `where` in errors) and applies the defaults, once. An
 * option that is not one of {@link HTTP_OPTIONS}, nor in `alsoAllowed`, is refused.
 */
export function resolve<Req, Res>(options: HttpCacheOptions<Req, Res>, where: string, alsoAllowed: readonly string[] = []): Resolved<Req, Res> {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError(`${where} needs options with a cache: ${where}({ cache })`)
  refuseUnknownOptions(options, alsoAllowed.length === 0 ? HTTP_OPTIONS : [...HTTP_OPTIONS, ...alsoAllowed], where)
  const given = options as Partial<HttpCacheOptions<Req, Res>>
  const cache = given.cache
  if (cache === undefined) throw new InvalidOptionError(`${where} needs options with a cache: ${where}({ cache })`)
  checkCacheOption(cache, where)
  const settings = resolveSettings(given, where)
  return { ...settings, cache: cache.namespace(settings.namespace) }
}

/**
 * Every option but the cache, checked and with its defaults: what a NestJS module or
 * route checks when it is declared, before its cache exists.
 */
export function resolveSettings<Req, Res>(given: Partial<HttpCacheOptions<Req, Res>>, where: string): Omit<Resolved<Req, Res>, 'cache'> & { namespace: string } {
  checkKinds(given, where)
  const vary = names(given.vary, `${where}: vary`)
  const namespace = given.namespace ?? 'http'
  if (typeof namespace !== 'string' || namespace === '') throw new InvalidOptionError(`${where}: namespace must be a non-empty string`)
  return {
    namespace,
    ...times(given, where),
    tags: given.tags,
    key: given.key,
    bypass: given.bypass,
    vary,
    varies: new Set(vary),
    ...unkeyed(given.rewriteHeaders, vary, `${where}: rewriteHeaders`),
    ignored: ignoring(given.ignoreQuery, `${where}: ignoreQuery`),
    dropped: dropping(given.dropHeaders, `${where}: dropHeaders`),
    statuses: new Set(given.statuses ?? STATUS_DEFAULT),
    maxBodySize: given.maxBodySize ?? 1024 * 1024,
    etag: given.etag ?? true,
    honorNoCache: given.honorNoCache ?? false,
    onError: reporter(given.onError),
  }
}

/** The options whose checks are of their kind only: functions, booleans, statuses, sizes. */
function checkKinds<Req, Res>(given: Partial<HttpCacheOptions<Req, Res>>, where: string): void {
  for (const name of ['tags', 'key', 'bypass', 'onError'] as const) {
    if (given[name] !== undefined && typeof given[name] !== 'function') throw new InvalidOptionError(`${where}: ${name} must be a function`)
  }
  for (const name of ['etag', 'honorNoCache', 'staleWhileRevalidate'] as const) {
    if (given[name] !== undefined && typeof given[name] !== 'boolean') throw new InvalidOptionError(`${where}: ${name} must be true or false`)
  }
  const statuses = given.statuses
  if (statuses !== undefined && (!Array.isArray(statuses) || !statuses.every((s) => Number.isInteger(s) && s >= 100 && s <= 599))) {
    throw new InvalidOptionError(`${where}: statuses must be an array of HTTP status codes (100 to 599)`)
  }
  const maxBodySize = given.maxBodySize
  if (maxBodySize !== undefined && (typeof maxBodySize !== 'number' || !(maxBodySize >= 0) || !Number.isFinite(maxBodySize))) {
    throw new InvalidOptionError(`${where}: maxBodySize must be a number of bytes, got ${String(maxBodySize)}`)
  }
}

/** The freshness options: the mode and its durations. */
function times<Req, Res>(given: Partial<HttpCacheOptions<Req, Res>>, where: string): Pick<Resolved<unknown, unknown>, 'freshness' | 'ttl' | 'maxTtl' | 'grace' | 'staleWhileRevalidate'> {
  const freshness = given.freshness ?? 'response'
  if (freshness !== 'response' && freshness !== 'ttl') {
    throw new InvalidOptionError(`${where}: freshness must be 'response' or 'ttl', got ${typeof freshness === 'string' ? `'${freshness}'` : String(freshness)}`)
  }
  const duration = (value: Duration | undefined, name: string, zero: boolean): number | undefined =>
    value === undefined ? undefined : parseDuration(value, `${where}: ${name}`, zero)
  return {
    freshness,
    ttl: duration(given.ttl, 'ttl', freshness === 'response'),
    maxTtl: duration(given.maxTtl, 'maxTtl', true),
    grace: duration(given.grace, 'grace', true),
    staleWhileRevalidate: given.staleWhileRevalidate ?? true,
  }
}

function reporter(onError: ((error: unknown) => void) | undefined): (error: unknown) => void {
  return (error) => {
    try {
      if (onError !== undefined) onError(error)
      else process.emitWarning(error instanceof Error ? error : String(error), 'MemoredisWarning')
    } catch {
      // A throwing onError must not fail the request it was told about.
    }
  }
}

function names(value: unknown, option: string): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && TOKEN.test(v.toLowerCase()))) {
    throw new InvalidOptionError(`${option} must be an array of header names`)
  }
  return [...new Set(value.map((v: string) => v.toLowerCase()))].sort()
}

function dropping(value: unknown, option: string): ReadonlySet<string> {
  return new Set(value === undefined ? PER_REQUEST : names(value, option))
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
