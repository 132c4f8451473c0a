import type { Core } from '../core.ts'

/**
 * The states the gauges report, read from a cache's internals at collection time:
 * the Redis circuit breaker and the way L1 hears of changes.
 */

/** The circuit breaker's state, as the gauge names it. */
export type CircuitState = 'closed' | 'open' | 'half-open'

/** How L1 hears of other processes' writes, as the gauge names it. */
export type CoherenceState = 'tracking' | 'bus' | 'degraded' | 'none'

/** Every value of each state gauge (each reported, 1 for the current one, 0 for the others). */
export const CIRCUIT_STATES: readonly CircuitState[] = ['closed', 'open', 'half-open']
export const COHERENCE_STATES: readonly CoherenceState[] = ['tracking', 'bus', 'degraded', 'none']

/** The circuit's state, or undefined without Redis. */
export function circuitOf(core: Core): CircuitState | undefined {
  const state = core.l2?.circuit
  if (state === undefined) return undefined
  return state === 'probing' ? 'half-open' : state
}

/** `none` without Redis or with coherence off; `degraded` while a change could go unheard. */
export function coherenceOf(core: Core): CoherenceState {
  const coherence = core.coherence
  if (coherence === undefined || coherence.mode === 'off') return 'none'
  return coherence.settled ? coherence.mode : 'degraded'
}
