import type { MemoizedBatch, MemoizeBatchOptions } from '../cache-types.ts'
import { BatchLoader, type BatchFunction } from '../engine/batch-loader.ts'
import { allSettled, readOne, resolveBatch } from '../engine/batch.ts'
import { namespaceOf, type Namespace } from '../engine/namespace.ts'
import { InvalidOptionError } from '../errors.ts'
import { describeValue, integer } from '../options/checks.ts'
import { refuseUnknownOptions } from '../options/known.ts'
import { ENTRY_OPTIONS } from '../options/resolve.ts'
import { defaultCache } from './default-cache.ts'
import { checkOptions, claim, keyMaker } from './memoize.ts'

/**
 * `memoizeBatch(fn)`: a function of many ids made a function of one, whose calls in the
 * same tick are batched (DataLoader's shape) and cached per id, across processes. Each
 * id goes the single-key way through the batch read path (`engine/batch.ts`); the ids
 * this process computes go to `fn` together (`engine/batch-loader.ts`).
 */

const OPTIONS = [...ENTRY_OPTIONS, 'missing', 'cache', 'name', 'key', 'version', 'maxBatchSize']

/** The most ids in one call, checked: a whole number from 1, or Infinity. */
function maxBatchSizeOf(value: unknown, where: string): number {
  if (value === undefined || value === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY
  return integer(value, `${where}: maxBatchSize`, 1)
}

/**
 * Batches and memoizes `fn`, a function of many ids (`fn(ids)` returns their values in
 * order, or a Map): the result is a function of one id. Calls made in the same tick are
 * answered together: L1 first, one round trip to Redis for the rest, the misses' locks in
 * one more, and one call of `fn` for the ids this process computes; each id is computed
 * once across the fleet. `.many(ids)` asks for several at once.
 *
 * @throws InvalidOptionError for a bad option, or when `fn` has no name and none is given.
 * @throws DuplicateNameError when a live memoized function already has this name in this cache (namespace).
 * @example
 * const product = memoizeBatch((ids: string[]) => db.products.byIds(ids), { cache, name: 'product', ttl: '10m' })
 * const [a, b] = await Promise.all([product('1'), product('2')]) // one call of the function: ['1', '2']
 */
export function memoizeBatch<I, V>(fn: BatchFunction<I, V>, options: MemoizeBatchOptions<I, V> = {}): MemoizedBatch<I, V> {
  if (typeof fn !== 'function') throw new InvalidOptionError(`memoizeBatch expects a function of many ids, got ${describeValue(fn)}`)
  const where = `memoizeBatch(${fn.name === '' ? 'anonymous function' : fn.name})`
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError(`${where} options must be an object, got ${describeValue(options)}`)
  refuseUnknownOptions(options, OPTIONS, where)
  const { cache = defaultCache(), name = fn.name, key, version = 1, maxBatchSize, missing, tags, ...entry } = options
  checkOptions({ cache, name: name === '' ? undefined : name, key, version, ...entry }, where)
  if (name === '') throw new InvalidOptionError(`${where}: name is required when the function has no name`)
  const ns = namespaceOf(cache) as Namespace
  const { base, scope, id: scopeId, origin } = ns.functionScope(name, version)
  const batch = resolveBatch<I, V>(ns, { ...entry, tags, missing }, where)
  const loader = new BatchLoader<I, V>({ fn, maxBatchSize: maxBatchSizeOf(maxBatchSize, where), alias: key })
  const keys = keyMaker<[I]>(base, key)
  const keyFor = (id: I): string => keys(undefined, [id])
  const one = (id: I): Promise<V | undefined> => {
    let full: string
    try {
      full = keyFor(id)
    } catch (error) {
      return Promise.reject(error)
    }
    return readOne(ns.core, { key: full, scope, factory: () => loader.load(full, id), options: batch.optionsFor(id), origin }, batch.missing)
  }
  const memoized: MemoizedBatch<I, V> = Object.assign(one, {
    many: (ids: readonly I[]) => allSettled(ids.map(one)),
    invalidate: async (id: I) => ns.engine.delete(keyFor(id)),
    clear: () => ns.clearScope(scopeId),
    keyFor,
    cache,
  })
  Object.defineProperty(memoized, 'name', { value: fn.name })
  claim({ ns }, name, memoized, where)
  return memoized
}
