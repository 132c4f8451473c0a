import type { Attributes, BatchObservableResult, Histogram, Meter, Observable } from '@opentelemetry/api'
import type { Cache, CacheStats } from '../cache-types.ts'
import type { Core } from '../engine/core.ts'
import { ATTR, DURATION_BUCKETS, INSTRUMENTS, ROUND_TRIP_BUCKETS, type InstrumentSpec } from './names.ts'

/**
 * The metrics of instrumented caches, per meter. Counters, up-down counters and gauges
 * are observable: one batch callback reads each cache's `stats()` when the meter
 * collects, so a read pays nothing for them. Histograms are recorded on slow paths
 * (computations, lock waits) and per Redis round trip. Caches instrumented with one
 * meter share its instruments; their series differ by `memoredis.cache.prefix`.
 */

/** The histograms the slow paths record into. */
export interface Histograms {
  readonly computationDuration: Histogram
  readonly lockWaitDuration: Histogram
  readonly roundTrip: Histogram
}

/** One instrumented cache, as its meter's callback sees it. */
interface Observed {
  readonly cache: Cache
  readonly core: Core
  readonly prefix: Attributes
}

type Observables = Record<'reads' | 'computations' | 'staleServes' | 'lockWaits' | 'lockTimeouts' | 'redisErrors' | 'redisIo' | 'l1Entries' | 'l1Size' | 'circuit' | 'coherence', Observable>

/** A meter's instruments and the caches it observes. */
class MeterState {
  readonly observed = new Set<Observed>()
  readonly histograms: Histograms
  private readonly observables: Observables
  private readonly callback = (result: BatchObservableResult): void => {
    for (const entry of this.observed) {
      // A closed cache's counters no longer move: it is no longer read.
      if (entry.core.closed) this.observed.delete(entry)
      else observe(result, this.observables, entry)
    }
  }

  constructor(private readonly meter: Meter) {
    const counter = (spec: InstrumentSpec): Observable =>
      meter.createObservableCounter(spec.name, { unit: spec.unit, description: spec.description })
    const updown = (spec: InstrumentSpec): Observable =>
      meter.createObservableUpDownCounter(spec.name, { unit: spec.unit, description: spec.description })
    const gauge = (spec: InstrumentSpec): Observable =>
      meter.createObservableGauge(spec.name, { unit: spec.unit, description: spec.description })
    const histogram = (spec: InstrumentSpec, buckets: number[]): Histogram =>
      meter.createHistogram(spec.name, { unit: spec.unit, description: spec.description, advice: { explicitBucketBoundaries: buckets } })
    this.observables = {
      reads: counter(INSTRUMENTS.reads),
      computations: counter(INSTRUMENTS.computations),
      staleServes: counter(INSTRUMENTS.staleServes),
      lockWaits: counter(INSTRUMENTS.lockWaits),
      lockTimeouts: counter(INSTRUMENTS.lockTimeouts),
      redisErrors: counter(INSTRUMENTS.redisErrors),
      redisIo: counter(INSTRUMENTS.redisIo),
      l1Entries: updown(INSTRUMENTS.l1Entries),
      l1Size: updown(INSTRUMENTS.l1Size),
      circuit: gauge(INSTRUMENTS.circuit),
      coherence: gauge(INSTRUMENTS.coherence),
    }
    this.histograms = {
      computationDuration: histogram(INSTRUMENTS.computationDuration, DURATION_BUCKETS),
      lockWaitDuration: histogram(INSTRUMENTS.lockWaitDuration, DURATION_BUCKETS),
      roundTrip: histogram(INSTRUMENTS.roundTrip, ROUND_TRIP_BUCKETS),
    }
    meter.addBatchObservableCallback(this.callback, Object.values(this.observables))
  }

  /** Stops observing: the meter's callback is removed with the last cache. */
  dispose(): void {
    this.meter.removeBatchObservableCallback(this.callback, Object.values(this.observables))
  }
}

/** Every value of each state gauge (each reported: 1 for the current one, 0 for the others). */
const CIRCUIT_STATES: readonly CacheStats['circuit'][] = ['closed', 'open', 'half-open']
const COHERENCE_STATES: readonly CacheStats['coherence']['state'][] = ['tracking', 'bus', 'degraded', 'none']

/** One cache's counters, gauges and up-down counters, read from `stats()` (Redis's only when it has Redis). */
function observe(result: BatchObservableResult, o: Observables, entry: Observed): void {
  const s = entry.cache.stats()
  const p = entry.prefix
  const tiered = (tier: string, outcome: string): Attributes => ({ ...p, [ATTR.tier]: tier, [ATTR.result]: outcome })
  result.observe(o.reads, s.l1.hits, tiered('l1', 'hit'))
  result.observe(o.reads, s.l1.misses, tiered('l1', 'miss'))
  result.observe(o.computations, s.computations, p)
  for (const [reason, count] of Object.entries(s.staleByReason)) result.observe(o.staleServes, count, { ...p, [ATTR.staleReason]: reason })
  result.observe(o.lockWaits, s.lockWaits, p)
  result.observe(o.lockTimeouts, s.lockTimeouts, p)
  result.observe(o.l1Entries, s.l1.size, p)
  result.observe(o.l1Size, s.l1.bytes, p)
  for (const mode of COHERENCE_STATES) result.observe(o.coherence, mode === s.coherence.state ? 1 : 0, { ...p, [ATTR.coherenceMode]: mode })
  if (entry.core.l2 !== undefined) {
    result.observe(o.reads, s.l2.hits, tiered('l2', 'hit'))
    result.observe(o.reads, s.l2.misses, tiered('l2', 'miss'))
    for (const [code, count] of Object.entries(s.redis.errors)) result.observe(o.redisErrors, count, { ...p, [ATTR.errorType]: code })
    result.observe(o.redisIo, s.redis.bytesRead, { ...p, [ATTR.direction]: 'receive' })
    result.observe(o.redisIo, s.redis.bytesWritten, { ...p, [ATTR.direction]: 'transmit' })
    for (const state of CIRCUIT_STATES) result.observe(o.circuit, state === s.circuit ? 1 : 0, { ...p, [ATTR.circuitState]: state })
  }
}

const states = new WeakMap<Meter, MeterState>()

/**
 * Starts observing `cache` with `meter`'s instruments (created with the meter's first
 * cache); returns its histograms and the function that stops observing it.
 */
export function observeCache(meter: Meter, cache: Cache, core: Core): { histograms: Histograms; stop(): void } {
  let state = states.get(meter)
  if (state === undefined) {
    state = new MeterState(meter)
    states.set(meter, state)
  }
  const entry: Observed = { cache, core, prefix: { [ATTR.prefix]: core.options.prefix } }
  state.observed.add(entry)
  const owner = state
  return {
    histograms: owner.histograms,
    stop() {
      owner.observed.delete(entry)
      if (owner.observed.size > 0 || states.get(meter) !== owner) return
      states.delete(meter)
      owner.dispose()
    },
  }
}
