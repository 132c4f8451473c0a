import { InvalidOptionError, MissingBatchValueError } from '../errors.ts'
import { describeValue } from '../options/checks.ts'
import { refuseUnknownOptions } from '../options/known.ts'
import { ENTRY_OPTIONS, SET_OPTIONS, type ResolvedEntryOptions } from '../options/resolve.ts'
import type { BatchOptions, SetManyOptions } from '../options/batch-types.ts'
import { CoalescingStore } from './batch-store.ts'
import { BatchLoader, type BatchFunction } from './batch-loader.ts'
import type { Call } from './compute.ts'
import type { Core } from './core.ts'
import type { Namespace } from './namespace.ts'
import { ReadThrough } from './read-through.ts'
import { valueOf } from './result.ts'

/**
 * Many keys at once: `getMany`, `getOrSetMany`, `setMany`, `deleteMany`, and each key of
 * `memoizeBatch`. Every key goes the single-key way (`read-through.ts`: L1, its flight,
 * the GET, the lock or the wait, the computation, the fill, and every count, event and
 * trace on the way), over a {@link CoalescingStore}: the steps that the keys of one tick
 * take together go to Redis together (one MGET, one read-or-lock script, one fill
 * script; per hash slot on a Cluster). The function is called once for the keys this
 * process won (`batch-loader.ts`).
 */

/** The batch read path of each cache. */
const engines = new WeakMap<Core, ReadThrough>()

/** The read path whose Redis round trips are shared by the keys of one tick. */
export function batchEngine(core: Core): ReadThrough {
  let engine = engines.get(core)
  if (engine === undefined) {
    engine = new ReadThrough(core, core.l2 === undefined ? undefined : new CoalescingStore(core.l2))
    engines.set(core, engine)
  }
  return engine
}

/** What a key the batch function left out resolves to (`missing`). */
export type Missing = 'undefined' | 'error'

/** Batch options resolved once: the entry options of each key, and `missing`. */
export interface ResolvedBatch<K, V> {
  missing: Missing
  optionsFor(key: K): ResolvedEntryOptions<V>
}

/** Resolves the options of a batch call (`where`), checked once; `known`: the option names it takes. */
export function resolveBatch<K, V>(ns: Namespace, options: BatchOptions<K, V> | SetManyOptions<V> | undefined, where: string, known: readonly string[] = [...ENTRY_OPTIONS, 'missing']): ResolvedBatch<K, V> {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidOptionError(`${where} options must be an object, got ${describeValue(options)}`)
  }
  if (options !== undefined) refuseUnknownOptions(options, known, where)
  const { tags, missing = 'undefined', ...entry } = (options ?? {}) as BatchOptions<K, V>
  if (missing !== 'undefined' && missing !== 'error') throw new InvalidOptionError(`${where}: missing must be 'undefined' or 'error', got ${describeValue(missing)}`)
  const tagsOf = typeof tags === 'function' ? tags : undefined
  const resolved = ns.resolveOptions<V>({ ...entry, tags: tagsOf === undefined ? (tags as readonly string[] | undefined) : undefined }, where)
  if (tagsOf === undefined) return { missing, optionsFor: () => resolved }
  return { missing, optionsFor: (key) => ({ ...resolved, tags: (value: V) => tagsOf(key, value) }) }
}

/** One key of a batch: its L1 hit at once, else the batch read path; a key left out settles by `missing`. */
export function readOne<T>(core: Core, call: Call<T>, missing: Missing): Promise<T | undefined> {
  const engine = batchEngine(core)
  const hit = engine.hot(call.key, call.options, call.origin)
  if (hit !== undefined) return Promise.resolve(hit.value as T)
  const read = engine.read(call).then(valueOf)
  return missing === 'undefined' ? read.catch(leftOutAsUndefined) : read
}

function leftOutAsUndefined(error: unknown): undefined {
  if (error instanceof MissingBatchValueError) return undefined
  throw error
}

/** The full keys of `keys` (each checked as `getOrSet` checks one). */
function fullKeys(ns: Namespace, keys: readonly string[], where: string): string[] {
  if (!Array.isArray(keys)) throw new InvalidOptionError(`${where} expects an array of keys, got ${describeValue(keys)}`)
  return keys.map((key) => ns.keyOf(key))
}

/** `cache.getMany`: the fresh value of each key, or undefined; L1 first, then one MGET for the rest. */
export async function getMany<T>(ns: Namespace, keys: readonly string[]): Promise<(T | undefined)[]> {
  return (await ns.engine.peekMany<T>(fullKeys(ns, keys, 'getMany'))).map((result) => result?.value)
}

/** `cache.getOrSetMany`: each key's value; `factory` is called once for the keys this process computes. */
export async function getOrSetMany<T>(ns: Namespace, keys: readonly string[], factory: BatchFunction<string, T>, options?: BatchOptions<string, T>): Promise<(T | undefined)[]> {
  const full = fullKeys(ns, keys, 'getOrSetMany')
  if (typeof factory !== 'function') throw new InvalidOptionError(`getOrSetMany expects a function of the missing keys, got ${describeValue(factory)}`)
  const batch = resolveBatch<string, T>(ns, options, 'getOrSetMany')
  const loader = new BatchLoader<string, T>({ fn: factory, maxBatchSize: Number.POSITIVE_INFINITY })
  return allSettled(
    keys.map((key, i) => {
      const fullKey = full[i] as string
      return readOne(ns.core, ns.call(fullKey, () => loader.load(fullKey, key), batch.optionsFor(key)), batch.missing)
    }),
  )
}

/**
 * Every value, once every key has settled; else the first key's error. Not `Promise.all`:
 * a call that fails has finished with each of its keys (their locks released, their
 * errors remembered), so that the next call starts afresh rather than join them.
 */
export async function allSettled<T>(reads: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(reads)
  const failed = settled.find((s) => s.status === 'rejected')
  if (failed !== undefined) throw failed.reason
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value)
}

/** `cache.setMany`: each value stored in every tier; the writes go out together. */
export async function setMany<T>(ns: Namespace, entries: Iterable<readonly [string, T]>, options?: SetManyOptions<T>): Promise<void> {
  if (entries === null || typeof (entries as { [Symbol.iterator]?: unknown })?.[Symbol.iterator] !== 'function') {
    throw new InvalidOptionError(`setMany expects [key, value] pairs (an array or a Map), got ${describeValue(entries)}`)
  }
  const pairs = [...entries]
  const batch = resolveBatch<string, T>(ns, options, 'setMany', SET_OPTIONS)
  const calls = pairs.map((pair) => {
    if (!Array.isArray(pair) || pair.length !== 2) throw new InvalidOptionError(`setMany expects [key, value] pairs, got ${describeValue(pair)}`)
    const [key, value] = pair as readonly [string, T]
    return ns.call(ns.keyOf(key), () => value, batch.optionsFor(key))
  })
  const engine = batchEngine(ns.core)
  await Promise.all(calls.map((call) => engine.write(call)))
}

/** `cache.deleteMany`: each key deleted everywhere, with its lock; the deletes go out together. */
export async function deleteMany(ns: Namespace, keys: readonly string[]): Promise<void> {
  const engine = batchEngine(ns.core)
  await Promise.all(fullKeys(ns, keys, 'deleteMany').map((key) => engine.delete(key)))
}
