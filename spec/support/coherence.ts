import { setImmediate as turn } from 'node:timers/promises'

/**
 * How soon every other cache's L1 stops serving an invalidated value, ms
 * (docs/tags-coherence-cluster.md). Redis tells the other caches just after it answers
 * the writer, so a read made right after the write may still see the old copy.
 */
export const COHERENCE_MS = 50

/**
 * `read()` again, one event-loop turn apart, until `done` accepts what it gives or
 * {@link COHERENCE_MS} have passed since `since` (performance.now(), default now); the
 * last result, for the test to assert on.
 */
export async function readWithinCoherence<T>(read: () => Promise<T>, done: (value: T) => boolean, since = performance.now()): Promise<T> {
  let value = await read()
  while (!done(value) && performance.now() - since < COHERENCE_MS) {
    await turn()
    value = await read()
  }
  return value
}
