/**
 * The injection tokens and metadata keys of `memoredis/nestjs`.
 */

/** The injection token of the module's cache: `@Inject(MEMOREDIS_CACHE) cache: Cache` (or `@InjectCache()`). */
export const MEMOREDIS_CACHE = 'MEMOREDIS_CACHE'

/** The injection token of the module's validated options (read by `MemoredisInterceptor`). */
export const MEMOREDIS_OPTIONS = 'MEMOREDIS_OPTIONS'

/** Metadata key of a route's (or a controller's) HTTP cache options, set by `@CacheResponse`. */
export const CACHE_RESPONSE_METADATA = 'memoredis:cache-response'

/** Metadata key of the tags a write route invalidates, set by `@InvalidateRouteTags`. */
export const INVALIDATE_ROUTE_TAGS_METADATA = 'memoredis:invalidate-route-tags'
