/**
 * The options of `MemoredisModule` and of the HTTP cache of `MemoredisInterceptor`:
 * their types (JSDoc, defaults) and their validation, done when they are given.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import type { Cache } from '../cache-types.ts'
import { InvalidOptionError } from '../errors.ts'
import { refuseUnknownOptions } from '../options/known.ts'
import { describeValue } from '../options/checks.ts'
import { HTTP_OPTIONS, resolveSettings, type HttpCacheOptions } from '../http/options.ts'
import { isCache } from '../options/cache-option.ts'
import { resolveCacheOptions } from '../options/resolve.ts'
import type { CacheOptions } from '../options/types.ts'

/**
 * The request the HTTP cache's functions (`key`, `bypass`, `tags`) receive: the
 * platform's own request object (Express's `req`, Fastify's `request`). Name
 * your platform's type as the type argument of `CacheResponse` to read more of it.
 */
export interface MemoredisRequest {
  /** The request headers, lowercase names. */
  headers: IncomingHttpHeaders
  /** `GET`, `HEAD`, ... */
  method?: string
  /** The URL (path and query). */
  url?: string
  /** Route parameters, e.g. `{ id: '42' }` for `/products/:id`. */
  params?: Record<string, string>
  /** The parsed query string. */
  query?: unknown
}

/**
 * Options of the HTTP cache of a route (see `expressCache` in the HTTP guide for each):
 * `freshness`, `ttl`, `maxTtl`, `grace`, `staleWhileRevalidate`, `tags(req, res)`,
 * `key(req)`, `vary`, `rewriteHeaders`, `ignoreQuery`, `dropHeaders`, `statuses`,
 * `maxBodySize`, `etag`, `honorNoCache`, `bypass(req)`, `namespace` and `onError`. The
 * cache is the module's.
 */
export type MemoredisHttpOptions<Req = MemoredisRequest> = Omit<HttpCacheOptions<Req, ServerResponse>, 'cache'>

/**
 * Options of `MemoredisModule.forRoot` (and what `forRootAsync`'s factory returns): the
 * options of `createCache` (`redis`, `prefix`, `ttl`, ...), or an existing `cache`, plus
 * the module's own.
 */
export interface MemoredisModuleOptions extends CacheOptions {
  /**
   * A cache you created (`createCache(...)`) to provide instead of one made from the other
   * options, which must then be absent.
   * @default undefined // none
   */
  cache?: Cache
  /**
   * Defaults of the HTTP cache of every route under `MemoredisInterceptor`; a route's
   * `@CacheResponse` overrides them.
   * @default undefined // none (the HTTP cache's defaults)
   */
  http?: MemoredisHttpOptions
  /**
   * Close the cache when the application shuts down (`app.close()`, or a signal with
   * `enableShutdownHooks()`).
   * @default true
   */
  closeOnShutdown?: boolean
}

/** {@link MemoredisModuleOptions}, validated. */
export interface ResolvedModuleOptions {
  /** The cache to provide, or the options to create it with. */
  source: { cache: Cache } | { options: CacheOptions }
  http: MemoredisHttpOptions
  closeOnShutdown: boolean
}

/** The names of the HTTP cache options a module or a route may set: the middleware's, but the cache (the module's). */
const ROUTE_HTTP_OPTIONS = HTTP_OPTIONS.filter((name) => name !== 'cache')

/** Validates module options, naming `where` in errors, without opening any connection. */
export function resolveModuleOptions(options: unknown, where: string): ResolvedModuleOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidOptionError(`${where} expects options: cache options, or { cache }, got ${describeValue(options)}`)
  }
  const { cache, http, closeOnShutdown, ...rest } = options as MemoredisModuleOptions
  if (closeOnShutdown !== undefined && typeof closeOnShutdown !== 'boolean') {
    throw new InvalidOptionError(`${where}: closeOnShutdown must be true or false, got ${describeValue(closeOnShutdown)}`)
  }
  const checkedHttp = checkHttpOptions(http ?? {}, `${where}: http`)
  const base = { http: checkedHttp, closeOnShutdown: closeOnShutdown ?? true }
  if (cache !== undefined) {
    if (!isCache(cache)) throw new InvalidOptionError(`${where}: cache must be a cache from createCache(), got ${describeValue(cache)}`)
    const extra = Object.keys(rest)
    if (extra.length > 0) {
      throw new InvalidOptionError(`${where}: give either cache or the options to create one, not both (also given: ${extra.join(', ')})`)
    }
    return { ...base, source: { cache } }
  }
  try {
    resolveCacheOptions(rest)
  } catch (error) {
    if (error instanceof InvalidOptionError) throw new InvalidOptionError(`${where}: ${error.message}`)
    throw error
  }
  return { ...base, source: { options: rest } }
}

/**
 * Validates HTTP cache options (no `cache`): unknown names and wrong types are refused
 * with `InvalidOptionError` by the same rules as the middleware's. Returns them as given.
 */
export function checkHttpOptions<Req>(options: unknown, where: string): MemoredisHttpOptions<Req> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidOptionError(`${where} must be an object, got ${describeValue(options)}`)
  }
  refuseUnknownOptions(options, ROUTE_HTTP_OPTIONS, where)
  resolveSettings(options as MemoredisHttpOptions<Req>, where)
  return options as MemoredisHttpOptions<Req>
}

