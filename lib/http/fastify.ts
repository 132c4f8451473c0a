/**
 * `fastifyCache`: a Fastify 5 plugin that caches whole GET/HEAD responses in a memoredis
 * cache, with its stampede protection and tags. Fastify is an optional peer: this file
 * only needs its types (and `fastify-plugin`, which marks the plugin so that its hooks
 * apply to every route of the app, not only to those of its own scope).
 *
 * @example
 * import Fastify from 'fastify'
 * import { createCache } from 'memoredis'
 * import { fastifyCache } from 'memoredis/fastify'
 *
 * const cache = createCache({ redis: process.env.REDIS_URL })
 * const app = Fastify()
 * await app.register(fastifyCache, { cache, ttl: '30s' })
 * app.get('/products/:id', { config: { memoredis: { tags: (req) => [`product:${(req.params as { id: string }).id}`] } } }, handler)
 */
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { Cache } from '../cache-types.ts'
import { InvalidOptionError } from '../errors.ts'
import { refuseUnknownOptions } from '../options/known.ts'
import type { Duration, InvalidationOptions } from '../options/types.ts'
import { HttpCache } from './core.ts'
import { FastifyExchange, Refreshes, takePayload } from './fastify-exchange.ts'
import type { HttpCacheOptions } from './options.ts'

export type { CacheStatus } from './types.ts'

/**
 * Options of {@link fastifyCache} (the plugin's options at `register`): `key`, `bypass`
 * and `tags` receive Fastify's `request` (and `reply` for `tags`). Fastify's own
 * registration options (`prefix`, `logLevel`, `logSerializers`) may stand beside them.
 */
export type FastifyCacheOptions = HttpCacheOptions<FastifyRequest, FastifyReply>

/**
 * One route's cache settings, in its `config.memoredis`. Each one given replaces the
 * plugin's (`tags` and `vary` add to them). Checked when the route is registered.
 *
 * @example
 * app.get('/products/:id', { config: { memoredis: { ttl: '5m', tags: (req) => [`product:${req.params.id}`] } } }, handler)
 * app.get('/me', { config: { memoredis: { bypass: true } } }, handler)
 */
export interface FastifyRouteCacheOptions {
  /**
   * True: this route is never cached (`X-Cache: BYPASS`).
   * @default false
   */
  bypass?: boolean
  /**
   * How long the route's responses stay fresh. Milliseconds, or '30s', '5m'.
   * @default undefined // the plugin's
   */
  ttl?: Duration
  /**
   * How long past `ttl` a response may be served as STALE. Milliseconds, or '10m'.
   * @default undefined // the plugin's
   */
  grace?: Duration
  /**
   * Within `grace`, answer with the stale response and refresh in the background.
   * @default undefined // the plugin's
   */
  staleWhileRevalidate?: boolean
  /**
   * Tags of the route's responses, added to the plugin's: a list, or a function of the
   * request and reply.
   * @default undefined // none
   */
  tags?: readonly string[] | ((request: FastifyRequest, reply: FastifyReply) => readonly string[])
  /**
   * The identity of the resource, replacing host + the URL as sent (see the plugin's
   * `key`).
   * @default undefined // the plugin's
   */
  key?: (request: FastifyRequest) => string
  /**
   * Request headers that select a different response, added to the plugin's `vary`.
   * @default undefined // none
   */
  vary?: readonly string[]
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** memoredis's settings for this route ({@link FastifyRouteCacheOptions}). */
    memoredis?: FastifyRouteCacheOptions
  }
  interface FastifyReply {
    /** Invalidates every cached entry carrying one of `tags` (`cache.invalidateTags`, with its options), in every process. */
    cacheInvalidate(tags: readonly string[], options?: InvalidationOptions): Promise<void>
  }
  interface FastifyInstance {
    /** The cache given to the memoredis plugin. */
    memoredis: Cache
  }
}

/** Options Fastify itself reads from a plugin's options at `register`. */
const REGISTER_OPTIONS: readonly string[] = ['prefix', 'logLevel', 'logSerializers']
const ROUTE_OPTIONS: readonly string[] = ['bypass', 'ttl', 'grace', 'staleWhileRevalidate', 'tags', 'key', 'vary']
const WHERE = 'fastifyCache'

type RouteTags = FastifyRouteCacheOptions['tags']

/** The plugin's options with a route's over them: a cache of the route's own, or undefined when it bypasses. */
function routeCache(options: FastifyCacheOptions, given: unknown, where: string): HttpCache<FastifyRequest, FastifyReply> | undefined {
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw new InvalidOptionError(`${where} must be an object ({ ttl, tags, key, vary, bypass, ... }), got ${given === null ? 'null' : typeof given}`)
  }
  const route = given as Record<string, unknown> & FastifyRouteCacheOptions
  refuseUnknownOptions(route, ROUTE_OPTIONS, where)
  if (route.bypass !== undefined && typeof route.bypass !== 'boolean') throw new InvalidOptionError(`${where}: bypass must be true or false`)
  if (route.vary !== undefined && !Array.isArray(route.vary)) throw new InvalidOptionError(`${where}: vary must be an array of header names`)
  const tags = route.tags
  if (tags !== undefined && typeof tags !== 'function' && !(Array.isArray(tags) && tags.every((t) => typeof t === 'string'))) {
    throw new InvalidOptionError(`${where}: tags must be an array of strings or a function`)
  }
  const merged: FastifyCacheOptions = { ...options, tags: withTags(options.tags, tags), vary: [...(options.vary ?? []), ...(route.vary ?? [])] }
  for (const name of ['ttl', 'grace', 'staleWhileRevalidate', 'key'] as const) {
    if (route[name] !== undefined) Object.assign(merged, { [name]: route[name] })
  }
  const cache = new HttpCache(merged, where, REGISTER_OPTIONS) // validates the rest
  return route.bypass === true ? undefined : cache
}

/** The plugin's tags, then the route's. */
function withTags(base: FastifyCacheOptions['tags'], route: RouteTags): FastifyCacheOptions['tags'] {
  if (route === undefined) return base
  const own = typeof route === 'function' ? route : () => route
  if (base === undefined) return own
  return (request, reply) => [...base(request, reply), ...own(request, reply)]
}

/** Every route's cache: the plugin's, or one of the route's own built from its `config.memoredis` (once). */
class RouteCaches {
  private readonly options: FastifyCacheOptions
  private readonly base: HttpCache<FastifyRequest, FastifyReply>
  private readonly own = new WeakMap<object, HttpCache<FastifyRequest, FastifyReply> | undefined>()

  constructor(options: FastifyCacheOptions, base: HttpCache<FastifyRequest, FastifyReply>) {
    this.options = options
    this.base = base
  }

  /** `onRoute`: a route's settings are checked as it is registered (throws `InvalidOptionError`). */
  readonly check = (route: RouteOptions): void => {
    const given = route.config?.memoredis
    if (given !== undefined) this.of(given, `${WHERE}: route ${String(route.method)} ${route.url} config.memoredis`)
  }

  /** The cache of the request's route (undefined: the route bypasses). */
  ofRequest(request: FastifyRequest): HttpCache<FastifyRequest, FastifyReply> | undefined {
    const given = request.routeOptions.config?.memoredis
    if (given === undefined) return this.base
    return this.of(given, `${WHERE}: route ${request.method} ${request.routeOptions.url ?? ''} config.memoredis`)
  }

  private of(given: unknown, where: string): HttpCache<FastifyRequest, FastifyReply> | undefined {
    if (typeof given === 'object' && given !== null && this.own.has(given)) return this.own.get(given)
    const cache = routeCache(this.options, given, where)
    this.own.set(given as object, cache)
    return cache
  }
}

function plugin(app: FastifyInstance, options: FastifyCacheOptions, done: (error?: Error) => void): void {
  let base: HttpCache<FastifyRequest, FastifyReply>
  try {
    base = new HttpCache<FastifyRequest, FastifyReply>(options, WHERE, REGISTER_OPTIONS)
  } catch (error) {
    return done(error as Error)
  }
  const settings: FastifyCacheOptions = { ...options }
  for (const name of REGISTER_OPTIONS) delete (settings as unknown as Record<string, unknown>)[name]
  const routes = new RouteCaches(settings, base)
  const refreshes = new Refreshes(app, (error) => base.report(error))
  const report = (error: unknown): void => base.report(error)
  const cache = options.cache
  app.decorate('memoredis', cache)
  app.decorateReply('cacheInvalidate', function cacheInvalidate(tags: readonly string[], options?: InvalidationOptions): Promise<void> {
    return cache.invalidateTags(tags, options)
  })
  app.addHook('onRoute', routes.check)
  app.addHook('preHandler', (request, reply, next) => {
    if (refreshes.claim(request)) return next() // a background refresh's copy: on to the handler
    let route: HttpCache<FastifyRequest, FastifyReply> | undefined
    try {
      route = routes.ofRequest(request)
    } catch (error) {
      return next(error as Error) // settings of a route registered before the plugin, found wrong now
    }
    if (route === undefined) {
      reply.header('x-cache', 'BYPASS')
      return next()
    }
    const exchange = new FastifyExchange(request, reply, next, refreshes)
    // undefined: a hit in L1, sent already; nothing else to do.
    route.serve(exchange)?.then(
      () => exchange.settled(undefined, report),
      (error: unknown) => exchange.settled(error, report),
    )
  })
  app.addHook('onSend', takePayload)
  done()
}

/**
 * Caches GET and HEAD responses of every route registered after it (`await
 * app.register(fastifyCache, { cache })`), as `expressCache` does: status, the payload
 * as Fastify serialized it and the headers that describe it, keyed by host, normalized
 * URL, the `vary` request headers and the forwarding headers a request has. Answers with
 * `X-Cache: HIT | MISS | STALE | BYPASS` and `Age`, and with 304 when the client's copy
 * is current. Hits are sent from a `preHandler` hook (every `onRequest`, `preParsing`
 * and `preValidation` hook runs first); responses are taken in `onSend`, so that the
 * `onSend` hooks registered after the plugin run on hits too. Per route settings go in
 * the route's `config.memoredis` ({@link FastifyRouteCacheOptions}). Decorates the
 * instance with `memoredis` (the cache) and replies with `cacheInvalidate(tags)`.
 * Options are validated at `register` (`InvalidOptionError`, also for an unknown
 * option); cache trouble never fails a request.
 */
export const fastifyCache: FastifyPluginCallback<FastifyCacheOptions> = fp(plugin, { fastify: '5.x', name: 'memoredis' })
