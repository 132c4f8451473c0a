import type { EntryOptions } from './types.ts'

/** The public option types of the batch calls (`getOrSetMany`, `setMany`, `memoizeBatch`). */

/**
 * What a batch function returns for the keys (or ids) it is given: an array of their
 * values in the same order (an `undefined` element leaves its key out), or a Map from
 * key (or id; with `memoizeBatch`'s `key`, what it makes of the id, too) to value (a key
 * it lacks is left out). It may be returned as a promise.
 */
export type BatchResult<V> = readonly (V | undefined)[] | ReadonlyMap<unknown, V>

/** Options of `getOrSetMany` (per key, as `getOrSet`'s), and of `memoizeBatch`. */
export interface BatchOptions<K, V> extends Omit<EntryOptions<V>, 'tags'> {
  /**
   * Tags of each value: a list, or a function of its key (or id) and its value.
   * @default undefined // no tags
   * @example
   * tags: (id, product) => [`product:${id}`, `brand:${product.brand}`]
   */
  tags?: readonly string[] | ((key: K, value: V) => readonly string[])
  /**
   * What a key the batch function leaves out resolves to: `'undefined'`, or `'error'` (a
   * `MissingBatchValueError`). Either way nothing is stored for it, and it is asked for
   * again next time (with `errorTtl`, it is remembered like an error).
   * @default 'undefined'
   */
  missing?: 'undefined' | 'error'
}

/** Options of `setMany`: a value given, not computed, has no function options. */
export interface SetManyOptions<V> extends Pick<EntryOptions<V>, 'ttl' | 'grace'> {
  /**
   * Tags of each value: a list, or a function of its key and its value.
   * @default undefined // no tags
   */
  tags?: readonly string[] | ((key: string, value: V) => readonly string[])
}
