/**
 * `memoredis/nestjs`: a memoredis cache in a NestJS app. `MemoredisModule` provides the
 * cache (and closes it on shutdown); `@Memoize` and `@InvalidateTags` (from `memoredis`)
 * work on any provider; `MemoredisInterceptor` caches GET responses through the same
 * HTTP core as `memoredis/express`, with `@CacheResponse` per route and
 * `@InvalidateRouteTags` on writes. `@nestjs/common`, `@nestjs/core`, `rxjs` and
 * `reflect-metadata` are optional peers: only this entry point loads them.
 *
 * @example
 * import { MemoredisModule, CacheResponse, InvalidateRouteTags } from 'memoredis/nestjs'
 *
 * @Module({ imports: [MemoredisModule.forRoot({ redis: process.env.REDIS_URL })], controllers: [Products] })
 * class AppModule {}
 */
export { MemoredisModule, MemoredisCache, type MemoredisModuleAsyncOptions } from './module.ts'
export { MemoredisInterceptor } from './interceptor.ts'
export { CacheResponse, InvalidateRouteTags, InjectCache, type InvalidateRouteTagsOptions, type RouteDecorator } from './decorators.ts'
export { MEMOREDIS_CACHE, MEMOREDIS_OPTIONS } from './tokens.ts'
export type { MemoredisHttpOptions, MemoredisModuleOptions, MemoredisRequest } from './options.ts'
