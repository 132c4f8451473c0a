import { BatchResultError, MissingBatchValueError } from '../errors.ts'
import { describeValue } from '../options/checks.ts'
import type { BatchResult } from '../options/batch-types.ts'
import { afterThisTick } from './batch-store.ts'

/**
 * The user's batch function, called once for the keys whose computation starts in one
 * tick (DataLoader's shape): each key's computation (`compute.ts`, run per key by the
 * read path) asks {@link BatchLoader.load} for its value, and the keys asked for together
 * go to one call, `maxBatchSize` at most. A call that throws fails every key it was
 * given; a key it leaves out fails with `MissingBatchValueError`.
 */

/** A batch function: the ids asked for, in order, to their values. */
export type BatchFunction<I, V> = (ids: I[]) => BatchResult<V> | Promise<BatchResult<V>>

interface Job<I, V> {
  id: I
  promise: Promise<V>
  resolve: (value: V) => void
  reject: (error: unknown) => void
}

export interface LoaderOptions<I, V> {
  fn: BatchFunction<I, V>
  /** The most ids in one call; more go to several calls, together. */
  maxBatchSize: number
  /** What else a Map result may be keyed by for an id (`memoizeBatch`'s `key`). */
  alias?: (id: I) => unknown
}

/** One batch function's calls: the ids of one tick together (see the module's comment). */
export class BatchLoader<I, V> {
  private readonly options: LoaderOptions<I, V>
  /** Asked for in this tick, by full key. */
  private queue = new Map<string, Job<I, V>>()

  constructor(options: LoaderOptions<I, V>) {
    this.options = options
  }

  /** The value of `id` (full key `key`), from the call of this tick. */
  load(key: string, id: I): Promise<V> {
    const queued = this.queue.get(key)
    if (queued !== undefined) return queued.promise
    if (this.queue.size === 0) afterThisTick(() => this.flush())
    let settle: Pick<Job<I, V>, 'resolve' | 'reject'> | undefined
    const promise = new Promise<V>((resolve, reject) => (settle = { resolve, reject }))
    this.queue.set(key, { id, promise, ...(settle as Pick<Job<I, V>, 'resolve' | 'reject'>) })
    return promise
  }

  private flush(): void {
    const jobs = [...this.queue.values()]
    this.queue = new Map()
    const size = this.options.maxBatchSize
    for (let start = 0; start < jobs.length; start += size) void this.call(jobs.slice(start, start + size))
  }

  /** One call of the function, its values handed to their jobs. Never rejects. */
  private async call(jobs: Job<I, V>[]): Promise<void> {
    let result: unknown
    try {
      result = await this.options.fn(jobs.map((job) => job.id))
    } catch (error) {
      for (const job of jobs) job.reject(error)
      return
    }
    if (Array.isArray(result) && result.length === jobs.length) {
      jobs.forEach((job, i) => this.settle(job, (result as unknown[])[i] !== undefined, (result as V[])[i] as V))
      return
    }
    if (result instanceof Map) {
      const alias = this.options.alias
      for (const job of jobs) {
        const key = result.has(job.id) || alias === undefined ? job.id : alias(job.id)
        this.settle(job, result.has(key), result.get(key) as V)
      }
      return
    }
    const error = new BatchResultError(
      Array.isArray(result)
        ? `the batch function returned ${result.length} values for ${jobs.length} keys: return one per key, in order (undefined for a key left out), or a Map`
        : `the batch function must return an array (one value per key, in order) or a Map, got ${describeValue(result)}`,
    )
    for (const job of jobs) job.reject(error)
  }

  private settle(job: Job<I, V>, found: boolean, value: V): void {
    if (found) job.resolve(value)
    else job.reject(new MissingBatchValueError(job.id, describeValue(job.id)))
  }
}
