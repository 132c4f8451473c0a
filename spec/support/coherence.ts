import { setImmediate as turn } from 'node:timers/promises'
import { expect } from 'chai'

/**
 * How soon every other cache's L1 stops serving an invalidated value, ms
 * (docs/tags-coherence-cluster.md). Redis tells the other caches just after it answers
 * the writer, so a read made right after the write may still see the old copy.
 */
export const COHERENCE_MS = 50

/**
 * The most any one measured lag may be, ms. A notice that is lost or waits on a timer
 * shows as a lag of L1's ttl (a minute in these specs); a busy machine, as tens of ms.
 */
export const CEILING_MS = 10 * COHERENCE_MS

/**
 * `read()` again, one event-loop turn apart, until `done` accepts what it gives or
 * {@link CEILING_MS} have passed since `since` (performance.now(), default now); the
 * last result, for the test to assert on. A change that is never heard (a lost notice)
 * fails the test; how soon one is heard ({@link COHERENCE_MS}) is measured over rounds
 * by `spec/redis/coherence.spec.ts` and `tracking.spec.ts`, where one late round on a
 * busy machine is told from a slow mechanism.
 */
export async function readWithinCoherence<T>(read: () => Promise<T>, done: (value: T) => boolean, since = performance.now()): Promise<T> {
  let value = await read()
  while (!done(value) && performance.now() - since < CEILING_MS) {
    await turn()
    value = await read()
  }
  return value
}

const shown = (lags: readonly number[]): string => `lags: ${lags.map((l) => l.toFixed(1)).join(' ')}`

/**
 * Asserts that lags measured over rounds (ms, one per round) are within `bound`, as a
 * shared machine allows: a mechanism that waits is late in every round, a busy machine
 * in a few. At most 1 round in 20 (at least one) may pass `bound`, and none
 * {@link CEILING_MS}.
 */
export function expectPrompt(lags: readonly number[], bound = COHERENCE_MS): void {
  const late = lags.filter((ms) => ms >= bound).length
  expect(late, `rounds over ${bound} ms; ${shown(lags)}`).to.be.at.most(Math.max(1, Math.floor(lags.length / 20)))
  expect(Math.max(...lags), `the slowest round; ${shown(lags)}`).to.be.below(CEILING_MS)
}

/**
 * Asserts that one change is seen within `bound`: `measure()` makes it and returns its
 * lag (ms), again up to three times while it is late, since one round on a busy machine
 * may be; none may pass {@link CEILING_MS}.
 */
export async function expectPromptly(measure: () => Promise<number>, bound = COHERENCE_MS): Promise<void> {
  const lags = [await measure()]
  while (lags.length < 3 && (lags.at(-1) as number) >= bound) lags.push(await measure())
  expect(Math.min(...lags), `the quickest of the rounds; ${shown(lags)}`).to.be.below(bound)
  expect(Math.max(...lags), `the slowest round; ${shown(lags)}`).to.be.below(CEILING_MS)
}
