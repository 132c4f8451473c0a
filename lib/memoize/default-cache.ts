import type { Cache } from '../cache-types.ts'

/**
 * The cache `memoize` uses when none is given: L1 only, created on first use. The
 * factory is registered by `cache.ts` when it loads, so that `memoize.ts` need not
 * import it (which imports `memoize.ts` for `cache.memoize`).
 */

let make: (() => Cache) | undefined
let shared: Cache | undefined

/** Registers how to make the default cache (`createCache` with no options). */
export function setDefaultCacheFactory(factory: () => Cache): void {
  make = factory
}

/** The cache `memoize` uses when none is given: L1 only, created on first use. */
export function defaultCache(): Cache {
  if (make === undefined) throw new Error('memoredis: import the package entry point, not its internal modules')
  shared ??= make()
  return shared
}
