import { createRequire } from 'node:module'
import type { Redis } from 'ioredis'
import { NoRedisClientError } from '../errors.ts'
import type { NodeRedisClient } from '../options/redis-source.ts'

/**
 * The Redis client libraries memoredis can use, all optional peer dependencies, loaded
 * only when a cache needs one (`import 'memoredis'` loads none). An app that hands
 * `createCache` its own client needs nothing loaded: memoredis opens its connections
 * through that client (`duplicate()`). Given a URL, memoredis loads the first of
 * {@link PREFERENCE} the app has installed; given options (ioredis's), the first of ioredis and iovalkey.
 */

/** A Redis client library memoredis supports, by its package name (`redis` is node-redis). */
export type LibraryName = 'ioredis' | 'iovalkey' | 'redis'

/**
 * In order of preference, for a URL: ioredis (the client memoredis is built and measured
 * on), then iovalkey (its fork, the same API, the same code path here), then node-redis.
 */
export const PREFERENCE: readonly LibraryName[] = ['ioredis', 'iovalkey', 'redis']

/** The libraries that take ioredis's connection options. */
const IOREDIS_LIKE: readonly LibraryName[] = ['ioredis', 'iovalkey']

/** The part of a library memoredis uses: ioredis's or iovalkey's single-node client class, or node-redis's `createClient`. */
export type Library =
  | { readonly name: 'ioredis' | 'iovalkey'; readonly Redis: typeof Redis }
  | { readonly name: 'redis'; readonly createClient: (options: { url: string }) => NodeRedisClient }

// Resolved from memoredis's own place in node_modules, as a static import would be.
const load = createRequire(import.meta.url)
const loaded = new Map<LibraryName, Library>()

/** True when `name` can be loaded from here (installed beside memoredis). */
function installed(name: LibraryName): boolean {
  try {
    load.resolve(name)
    return true
  } catch {
    return false
  }
}

/** Loads `name`, once. */
function loadLibrary(name: LibraryName): Library {
  let library = loaded.get(name)
  if (library === undefined) {
    const exports = load(name) as { Redis: typeof Redis; createClient: (options: { url: string }) => NodeRedisClient }
    library = name === 'redis' ? { name, createClient: exports.createClient } : { name, Redis: exports.Redis }
    loaded.set(name, library)
  }
  return library
}

/**
 * Loads the preferred installed library for a URL, once.
 * @throws NoRedisClientError when none of them is installed.
 */
export function library(): Library {
  const name = PREFERENCE.find(installed)
  if (name === undefined) throw new NoRedisClientError(PREFERENCE)
  return loadLibrary(name)
}

/**
 * Loads the preferred installed library that takes ioredis's connection options, once.
 * @throws NoRedisClientError naming ioredis and iovalkey when neither is installed.
 */
export function ioredisLibrary(): { readonly Redis: typeof Redis } {
  const name = IOREDIS_LIKE.find(installed)
  if (name === undefined) throw new NoRedisClientError(IOREDIS_LIKE)
  return loadLibrary(name) as { readonly Redis: typeof Redis }
}
