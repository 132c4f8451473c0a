import type { CacheHealth, CacheStats } from '../cache-types.ts'
import type { Core } from '../engine/core.ts'
import type { RedisStore } from '../redis/store.ts'

/**
 * The state of a cache now, for readiness probes and gauges: `cache.health()` (one probe
 * and the eviction policy from `INFO memory`, bounded by `redisTimeout`, never rejecting,
 * never moving the circuit breaker) and the states `cache.stats()` adds without I/O (the
 * circuit, coherence, L1's size).
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
    return { l2: 'none', roundTripMs: undefined, coherence: 'none', l1: l1Of(core), closed: core.closed, eviction: NO_EVICTION }
  }
  const [probe, eviction] = await Promise.all([
    l2.circuit === 'closed' ? probeOf(core, l2) : Promise.resolve<Probe>({ kind: 'failed' }),
    evictionOf(l2, core.options.redisTimeout),
  ])
  const state = probe.kind === 'answered' ? 'up' : l2.circuit !== 'closed' ? 'circuit-open' : 'down'
  return {
    l2: core.closed ? 'none' : state,
    roundTripMs: probe.kind === 'answered' ? probe.ms : undefined,
    coherence: coherenceOf(core),
    l1: l1Of(core),
    closed: core.closed,
    eviction,
  }
}

const NO_EVICTION: CacheHealth['eviction'] = { policy: 'none', evicts: 'nothing' }
const UNKNOWN_EVICTION: CacheHealth['eviction'] = { policy: 'unknown', evicts: 'unknown' }
const EVICTS = ['nothing', 'values', 'everything', 'unknown'] as const

/** What one server's policy may evict of memoredis's keys: stamps have no ttl, values and locks do. */
function evictsUnder(policy: string, maxmemory: number): CacheHealth['eviction']['evicts'] {
  if (policy === 'noeviction' || (maxmemory === 0 && policy !== 'unknown')) return 'nothing'
  if (policy.startsWith('volatile-')) return 'values'
  return policy.startsWith('allkeys-') ? 'everything' : 'unknown'
}

/**
 * The server's eviction policy (every master's), within `timeoutMs`; `'unknown'` when
 * `INFO memory` is refused (an ACL without it) or late. Never rejects.
 */
async function evictionOf(l2: RedisStore, timeoutMs: number): Promise<CacheHealth['eviction']> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs)
  })
  const asked = (async () => {
    await l2.whenStarted()
    return l2.memoryPolicies()
  })()
  try {
    const nodes = await Promise.race([asked, late])
    if (nodes === undefined || nodes.length === 0) return UNKNOWN_EVICTION
    const policy = [...new Set(nodes.map((n) => n.policy))].join(',')
    // The widest of the masters' answers.
    const evicts = nodes.map((n) => evictsUnder(n.policy, n.maxmemory)).reduce((a, b) => (EVICTS.indexOf(a) >= EVICTS.indexOf(b) ? a : b))
    return { policy, evicts }
  } catch {
    return UNKNOWN_EVICTION
  } finally {
    clearTimeout(timer)
    // A late answer or refusal, after the race, is nobody's concern.
    asked.catch(() => undefined)
  }
}

/**
 * A probe, after a cache created a moment ago has connected, given up after
 * `redisTimeout` in all. A refusal (an ACL `NOPERM`) is an `error` event, even when it
 * comes after the wait was given up.
 */
async function probeOf(core: Core, l2: RedisStore): Promise<Probe> {
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
