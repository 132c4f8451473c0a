import { createRequire } from 'node:module'
import type { Redis } from 'ioredis'
import { NoRedisClientError } from '../errors.ts'

/**
 * The Redis client libraries memoredis can use, all optional peer dependencies, loaded
 * only when a cache needs one (`import 'memoredis'` loads none). An app that hands
 * `createCache` its own client needs nothing loaded: memoredis opens its connections
 * through that client (`duplicate()`). Given a URL or options, memoredis loads the first
 * of {@link PREFERENCE} the app has installed.
 */

/** A Redis client library memoredis supports. */
export type LibraryName = 'ioredis' | 'iovalkey'

/**
 * In order of preference, for a URL or options: ioredis (the client memoredis is built and
 * measured on), then iovalkey (its fork, the same API, the same code path here).
 */
export const PREFERENCE: readonly LibraryName[] = ['ioredis', 'iovalkey']

/** The part of a library memoredis uses: its single-node client class. */
export interface Library {
  readonly name: LibraryName
  readonly Redis: typeof Redis
}

// Resolved from memoredis's own place in node_modules, as a static import would be.
const load = createRequire(import.meta.url)
let loaded: Library | undefined

/** True when `name` can be loaded from here (installed beside memoredis). */
function installed(name: LibraryName): boolean {
  try {
    load.resolve(name)
    return true
  } catch {
    return false
  }
}

/** The first library of {@link PREFERENCE} installed, or undefined (nothing is loaded). */
export function installedLibrary(): LibraryName | undefined {
  return loaded?.name ?? PREFERENCE.find(installed)
}

/**
 * Loads the preferred installed library, once.
 * @throws NoRedisClientError when none of them is installed.
 */
export function library(): Library {
  if (loaded !== undefined) return loaded
  const name = installedLibrary()
  if (name === undefined) throw new NoRedisClientError(PREFERENCE)
  const exports = load(name) as { Redis: typeof Redis }
  loaded = { name, Redis: exports.Redis }
  return loaded
}
