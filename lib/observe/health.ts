import type { CacheHealth, CacheStats } from '../cache-types.ts'
import type { Core } from '../engine/core.ts'
import type { RedisTier } from '../redis/tier.ts'

/**
 * The state of a cache now, for readiness probes and gauges: `cache.health()` (one probe,
 * bounded by `redisTimeout`, never rejecting, never moving the circuit breaker) and the
 * states `cache.stats()` adds without I/O (the circuit, coherence, L1's size).
 */

/** What one probe found: an answer, no answer (not connected, or refused), or none in time. */
type Probe = { kind: 'answered'; ms: number } | { kind: 'failed' } | { kind: 'late' }

/** The circuit breaker's state now; `'closed'` without Redis. */
export function circuitOf(core: Core): CacheStats['circuit'] {
  const state = core.l2?.circuit ?? 'closed'
  return state === 'probing' ? 'half-open' : state
}

/** Whether L1 is kept coherent now (see {@link CacheHealth.coherence}). */
export function coherenceOf(core: Core): CacheHealth['coherence'] {
  const coherence = core.coherence
  if (core.closed || coherence === undefined || coherence.mode === 'off') return 'none'
  return coherence.listening ? coherence.mode : 'degraded'
}

/** L1's entries and bytes now. */
function l1Of(core: Core): CacheHealth['l1'] {
  return { entries: core.l1?.size ?? 0, bytes: core.l1?.bytes ?? 0 }
}

/**
 * Checks the cache: one probe (after a new cache's first connection), all within
 * `redisTimeout`; while the circuit is open, nothing is sent and Redis is
 * `'circuit-open'`. Never rejects.
 */
export async function healthOf(core: Core): Promise<CacheHealth> {
  const l2 = core.l2
  if (core.closed || l2 === undefined) {
    return { l2: 'none', roundTripMs: undefined, coherence: 'none', l1: l1Of(core), closed: core.closed }
  }
  const probe: Probe = l2.circuit === 'closed' ? await probeOf(core, l2) : { kind: 'failed' }
  const state = probe.kind === 'answered' ? 'up' : l2.circuit !== 'closed' ? 'circuit-open' : 'down'
  return {
    l2: core.closed ? 'none' : state,
    roundTripMs: probe.kind === 'answered' ? probe.ms : undefined,
    coherence: coherenceOf(core),
    l1: l1Of(core),
    closed: core.closed,
  }
}

/**
 * A probe, after a cache created a moment ago has connected, given up after
 * `redisTimeout` in all. A refusal (an ACL `NOPERM`) is an `error` event, even when it
 * comes after the wait was given up.
 */
async function probeOf(core: Core, l2: RedisTier): Promise<Probe> {
  const answered = (async (): Promise<Probe> => {
    await l2.whenStarted()
    try {
      const ms = await l2.probe()
      return ms === undefined ? { kind: 'failed' } : { kind: 'answered', ms }
    } catch (error) {
      if (!core.closed) core.error(error, undefined, 'l2')
      return { kind: 'failed' }
    }
  })()
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<Probe>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'late' }), core.options.redisTimeout)
  })
  try {
    return await Promise.race([answered, late])
  } finally {
    clearTimeout(timer)
  }
}
