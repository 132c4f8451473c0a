/**
 * `MemoredisInterceptor`: GET and HEAD responses of the routes it covers go through the
 * HTTP core of `memoredis/express` (one handler run per cold URL across processes,
 * X-Cache, 304s, the rules that keep users apart); write routes marked with
 * `@InvalidateRouteTags` invalidate their tags once the handler succeeded.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common'
import { Observable } from 'rxjs'
import type { Cache } from '../cache-types.ts'
import { isShadow } from '../http/capture.ts'
import { HttpCache } from '../http/core.ts'
import { invalidateAfter, type InvalidateTagsOptions } from '../memoize/invalidate-tags.ts'
import { failedShadows, NestExchange, urlOf, type Dispatch } from './exchange.ts'
import type { MemoredisHttpOptions, MemoredisRequest, ResolvedModuleOptions } from './options.ts'
import { CACHE_RESPONSE_METADATA, INVALIDATE_ROUTE_TAGS_METADATA, MEMOREDIS_CACHE, MEMOREDIS_OPTIONS } from './tokens.ts'

/** What `@InvalidateRouteTags` records on a route. */
export interface RouteInvalidation {
  tags: readonly string[] | ((req: never, result: never) => string[] | readonly string[])
  onError: InvalidateTagsOptions['onError']
  soft: boolean
}

/** Requests a memoredis interceptor already handles (the interceptor bound twice, e.g. globally and by a decorator). */
const handled = new WeakSet<object>()
let warnedPlatform = false

/**
 * Caches the GET (and HEAD) responses of the routes it is bound to, on the Express and
 * Fastify platforms, with the module's `http` options overridden by `@CacheResponse` on the
 * controller, then on the route; after a non-GET route marked with
 * `@InvalidateRouteTags` succeeds, invalidates its tags (on any platform).
 *
 * Bind it with `@UseInterceptors(MemoredisInterceptor)` on a controller or a route, or
 * for the whole app (`APP_INTERCEPTOR`); `@CacheResponse` and `@InvalidateRouteTags`
 * bind it themselves. Bound twice, it acts once. Needs `MemoredisModule`.
 *
 * On a hit the handler does not run and the response is sent from the cache; the
 * interceptors outside this one then see `undefined`, and what Nest would reply with is
 * dropped (the response has gone). On another platform, GET routes run uncached, with
 * one warning.
 */
export class MemoredisInterceptor implements NestInterceptor {
  private readonly cache: Cache
  private readonly options: ResolvedModuleOptions
  /** One HTTP cache per route handler, its options merged once. */
  private readonly routes = new WeakMap<object, HttpCache<MemoredisRequest, ServerResponse>>()

  constructor(cache: Cache, options: ResolvedModuleOptions) {
    this.cache = cache
    this.options = options
  }

  /** Nest's entry point: one request through the cache, or through the invalidation of a write. */
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle()
    const http = context.switchToHttp()
    const req = http.getRequest<PlatformRequest>()
    const res = http.getResponse<PlatformResponse>()
    const platform = platformOf(req, res)
    if (platform !== undefined && isShadow(platform.req)) return watchShadow(platform.req, next)
    const raw: object = platform?.req ?? req
    if (handled.has(raw)) return next.handle()
    handled.add(raw)
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      if (platform !== undefined) {
        if (!platform.res.headersSent) platform.res.setHeader('X-Cache', 'BYPASS')
        // Once it succeeded, what is kept for its URL is dropped everywhere.
        this.routeCache(context).invalidateAfter({ req: platform.req, res: platform.res, url: urlOf(req, platform.req), user: req })
      }
      const invalidation = metadata<RouteInvalidation>(INVALIDATE_ROUTE_TAGS_METADATA, context)
      return invalidation === undefined ? next.handle() : this.invalidating(req, next, invalidation)
    }
    if (platform === undefined) return uncached(next)
    const core = this.routeCache(context)
    return new Observable<unknown>((subscriber) => {
      const exchange = new NestExchange({ ...platform, user: req, next, subscriber })
      core.serve(exchange)?.catch((error: unknown) => exchange.fail(error)) // undefined: answered from L1 already
      return () => exchange.teardown()
    })
  }

  /** The route's HTTP cache: the module's options, then the controller's `@CacheResponse`, then the route's. */
  private routeCache(context: ExecutionContext): HttpCache<MemoredisRequest, ServerResponse> {
    const handler = context.getHandler()
    let core = this.routes.get(handler)
    if (core === undefined) {
      const target = context.getClass()
      const options = {
        ...this.options.http,
        ...metadataOf<MemoredisHttpOptions>(CACHE_RESPONSE_METADATA, target),
        ...metadataOf<MemoredisHttpOptions>(CACHE_RESPONSE_METADATA, handler),
        cache: this.cache,
      }
      core = new HttpCache<MemoredisRequest, ServerResponse>(options, `MemoredisInterceptor(${target.name}.${handler.name})`)
      this.routes.set(handler, core)
    }
    return core
  }

  /** The handler's outcome, passed on once the route's tags are invalidated (the last value it emitted). */
  private invalidating(req: MemoredisRequest, next: CallHandler, spec: RouteInvalidation): Observable<unknown> {
    const tags = typeof spec.tags === 'function' ? spec.tags : undefined
    return new Observable<unknown>((subscriber) => {
      let last: unknown
      let emitted = false
      const subscription = next.handle().subscribe({
        next: (value) => {
          last = value
          emitted = true
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => {
          const write = {
            cache: this.cache,
            tags: tags === undefined ? spec.tags as readonly string[] : (_args: unknown[], result: unknown) => tags(req as never, result as never),
            self: undefined,
            args: [req],
            result: last,
            onError: spec.onError,
            soft: spec.soft,
          }
          invalidateAfter(write).then((value) => {
            if (emitted) subscriber.next(value)
            subscriber.complete()
          }, (error: unknown) => subscriber.error(error))
        },
      })
      return () => subscription.unsubscribe()
    })
  }
}

Injectable()(MemoredisInterceptor)
Inject(MEMOREDIS_CACHE)(MemoredisInterceptor, undefined, 0)
Inject(MEMOREDIS_OPTIONS)(MemoredisInterceptor, undefined, 1)

/** A background refresh's copy of a request: the handler runs; if it fails, the copy's response is not kept. */
function watchShadow(raw: IncomingMessage, next: CallHandler): Observable<unknown> {
  return new Observable<unknown>((subscriber) => {
    const subscription = next.handle().subscribe({
      next: (value) => subscriber.next(value),
      error: (error: unknown) => {
        failedShadows.add(raw)
        subscriber.error(error)
      },
      complete: () => subscriber.complete(),
    })
    return () => subscription.unsubscribe()
  })
}

/** An Express app, or a Fastify instance, as far as a background refresh needs it. */
type ExpressApp = Dispatch & { parent?: ExpressApp }
interface FastifyInstance { routing?: Dispatch }
/** The platform's request: Express's `req` (an `IncomingMessage`), Fastify's `request` (`raw`), or another's. */
type PlatformRequest = MemoredisRequest & { raw?: IncomingMessage; server?: FastifyInstance; app?: ExpressApp }
/** The platform's response: Express's `res` (a `ServerResponse`), Fastify's `reply` (`raw`), or another's. */
type PlatformResponse = Partial<ServerResponse> & { raw?: ServerResponse }

/**
 * The Node request and response under the platform's, and how to send a copy of a
 * request through the app: Express (the same objects; the root app) or Fastify
 * (`request.raw`, `reply.raw`; the instance's router). Undefined for any other platform.
 */
function platformOf(req: PlatformRequest, res: PlatformResponse): { req: IncomingMessage; res: ServerResponse; reply: object; dispatch: Dispatch | undefined } | undefined {
  if (req.raw === undefined && res.raw === undefined && typeof res.setHeader === 'function' && typeof res.end === 'function') {
    let app = req.app
    while (typeof app?.parent === 'function') app = app.parent
    const dispatch = typeof app === 'function' ? app : undefined
    return { req: req as unknown as IncomingMessage, res: res as ServerResponse, reply: res, dispatch }
  }
  if (req.raw !== undefined && res.raw !== undefined) {
    const server = req.server
    const dispatch = typeof server?.routing === 'function' ? server.routing.bind(server) : undefined
    return { req: req.raw, res: res.raw, reply: res, dispatch }
  }
  return undefined
}

function uncached(next: CallHandler): Observable<unknown> {
  if (!warnedPlatform) {
    warnedPlatform = true
    process.emitWarning('MemoredisInterceptor caches responses on the Express and Fastify platforms only: GET routes run uncached here', 'MemoredisWarning')
  }
  return next.handle()
}

/** `key` on the route, else on its controller (the route's wins). */
function metadata<T>(key: string, context: ExecutionContext): T | undefined {
  return metadataOf<T>(key, context.getHandler()) ?? metadataOf<T>(key, context.getClass())
}

function metadataOf<T>(key: string, target: object): T | undefined {
  const reflect = Reflect as unknown as { getMetadata?: (key: string, target: object) => unknown }
  return reflect.getMetadata?.(key, target) as T | undefined
}
