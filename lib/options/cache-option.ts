import type { Cache } from '../cache-types.ts'
import { namespaceOf } from '../engine/namespace.ts'
import { InvalidOptionError } from '../errors.ts'
import { describeValue } from './checks.ts'

/**
 * Whether `value` is a cache made by `createCache` (or one of its namespace views): the
 * one test of "is this a cache" every option that takes one asks. A look-alike object
 * with the same methods is not one: the read path needs the cache's internals.
 */
export function isCache(value: unknown): value is Cache {
  return namespaceOf(value) !== undefined
}

/**
 * The `cache` option, when given: a cache made by `createCache`.
 * @throws InvalidOptionError naming `where` for anything else.
 */
export function checkCacheOption(value: unknown, where: string): void {
  if (value !== undefined && !isCache(value)) {
    throw new InvalidOptionError(`${where}: cache must be a cache made by createCache(), got ${describeValue(value)}`)
  }
}
