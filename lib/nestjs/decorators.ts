/**
 * The route decorators of `memoredis/nestjs`: `@CacheResponse` (per-route HTTP cache
 * options), `@InvalidateRouteTags` (tags invalidated after a write) and `@InjectCache`.
 * Each checks its options when applied, and binds `MemoredisInterceptor` itself.
 */
import { applyDecorators, Inject, SetMetadata, UseInterceptors } from '@nestjs/common'
import { InvalidOptionError, type TagInvalidationError } from '../errors.ts'
import { checkInvalidateTags, type InvalidateTagsOptions } from '../memoize/invalidate-tags.ts'
import { MemoredisInterceptor, type RouteInvalidation } from './interceptor.ts'
import { checkHttpOptions, type MemoredisHttpOptions, type MemoredisRequest } from './options.ts'
import { CACHE_RESPONSE_METADATA, INVALIDATE_ROUTE_TAGS_METADATA, MEMOREDIS_CACHE } from './tokens.ts'

/** A decorator for a route (a method) or a whole controller (a class). */
export type RouteDecorator = <T extends object, Y>(target: T, propertyKey?: string | symbol, descriptor?: TypedPropertyDescriptor<Y>) => void

/**
 * Caches the GET (and HEAD) responses of a route, or of every route of a controller,
 * with these options over the module's `http` ones (a route's over its controller's):
 * `ttl`, `grace`, `tags(req, res)`, `key(req)`, `vary`, ... (see `MemoredisHttpOptions`).
 * Binds `MemoredisInterceptor`. Options are checked now (`InvalidOptionError`). Named so
 * as not to clash with `@nestjs/cache-manager`'s `CacheKey`/`CacheTTL`.
 *
 * @example
 * @Get(':id')
 * @CacheResponse<Request>({ ttl: '30s', tags: (req) => [`product:${req.params.id}`] })
 * find(@Param('id') id: string) { ... }
 */
export function CacheResponse<Req = MemoredisRequest>(options: MemoredisHttpOptions<Req> = {}): RouteDecorator {
  const checked = checkHttpOptions<Req>(options, 'CacheResponse')
  return applyDecorators(SetMetadata(CACHE_RESPONSE_METADATA, { ...checked }), UseInterceptors(MemoredisInterceptor))
}

/** Options of {@link InvalidateRouteTags}. */
export interface InvalidateRouteTagsOptions {
  /**
   * Called instead of failing the request when the invalidation fails: the response is
   * then the handler's. Default: none, the request fails with the
   * `TagInvalidationError` (500 through Nest's exception filters; its `result` is the
   * handler's).
   */
  onError?: (error: TagInvalidationError) => void
  /**
   * Invalidate softly: the entries stay as stale fallbacks (see `InvalidationOptions.soft`).
   * @default false
   */
  soft?: boolean
}

/**
 * After a write route's handler succeeds (any method but GET and HEAD), invalidates
 * `tags` in the module's cache, then lets the response go: a list, or a function of the
 * platform's request and the handler's result. A handler that throws invalidates
 * nothing. Binds `MemoredisInterceptor`; works on every platform.
 *
 * @example
 * @Put(':id')
 * @InvalidateRouteTags<Request>((req) => [`product:${req.params.id}`])
 * update(@Param('id') id: string, @Body() body: Product) { ... }
 */
export function InvalidateRouteTags<Req = MemoredisRequest, R = unknown>(
  tags: readonly string[] | ((req: Req, result: R) => string[] | readonly string[]),
  options: InvalidateRouteTagsOptions = {},
): RouteDecorator {
  checkInvalidateTags(tags, options, 'InvalidateRouteTags')
  if ((options as InvalidateTagsOptions).cache !== undefined) {
    throw new InvalidOptionError('InvalidateRouteTags: the cache is the module\'s; it takes no cache option')
  }
  const spec: RouteInvalidation = { tags: tags as RouteInvalidation['tags'], onError: options.onError, soft: options.soft === true }
  return applyDecorators(SetMetadata(INVALIDATE_ROUTE_TAGS_METADATA, spec), UseInterceptors(MemoredisInterceptor))
}

/** Injects the module's cache: `constructor(@InjectCache() private readonly cache: Cache)`. */
export function InjectCache(): PropertyDecorator & ParameterDecorator {
  return Inject(MEMOREDIS_CACHE)
}
