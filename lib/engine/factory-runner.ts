import { FactoryTimeoutError } from '../errors.ts'
import { callWith, type Computation, type FactoryContext } from './factory-context.ts'

/**
 * Runs the user's function under its hard timeout. The soft timeout is not here: it is
 * about what a caller is served meanwhile (a stale value), not about the function, and
 * the read path races it against the whole computation (run and write).
 */

/** How a run ended. */
export type Settled<T> =
  | { kind: 'value'; value: T }
  | { kind: 'error'; error: unknown }
  /** `late`: the run itself, which goes on; what it returns may still be stored. */
  | { kind: 'hard-timeout'; error: FactoryTimeoutError; late: Promise<Settled<T>> }

/**
 * Runs `factory` with its context `ctx`. Resolves (never rejects) when it returns or
 * throws, or when `hardTimeoutMs` (0: none) passes first, whatever anyone was served
 * before: the hard timeout always fires, and aborts the context's signal. A function
 * that throws synchronously is an error like any other.
 */
export function runFactory<T>(factory: (ctx: FactoryContext<T>) => T | Promise<T>, ctx: Computation<T>, hardTimeoutMs: number): Promise<Settled<T>> {
  const work = new Promise<T>((resolve) => resolve(callWith(factory, ctx))).then(
    (value): Settled<T> => ({ kind: 'value', value }),
    (error: unknown): Settled<T> => ({ kind: 'error', error }),
  )
  if (hardTimeoutMs <= 0) return work
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<Settled<T>>((resolve) => {
    timer = setTimeout(() => {
      const error = new FactoryTimeoutError(ctx.key, hardTimeoutMs)
      ctx.abort(error)
      resolve({ kind: 'hard-timeout', error, late: work })
    }, hardTimeoutMs)
  })
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}

/** Resolves `undefined` after `ms`, or never when `ms` is 0; `cancel()` stops the timer. */
export function delay(ms: number): { done: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined
  const done = new Promise<void>((resolve) => {
    if (ms > 0) timer = setTimeout(resolve, ms)
  })
  return { done, cancel: () => clearTimeout(timer) }
}
