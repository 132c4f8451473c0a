import { metrics, trace, type Attributes, type MeterProvider, type TracerProvider } from '@opentelemetry/api'
import type { Cache } from '../cache-types.ts'
import type { Core } from '../engine/core.ts'
import { CacheClosedError, InvalidOptionError } from '../errors.ts'
import { refuseUnknownOptions } from '../options/known.ts'
import { namespaceOf } from '../engine/namespace.ts'
import { observeCache } from './metrics.ts'
import { ATTR } from './names.ts'
import { traceSlowPaths } from './spans.ts'

/**
 * `memoredis/otel`: OpenTelemetry metrics and traces for a cache.
 *
 * @example
 * import { instrument } from 'memoredis/otel'
 * const telemetry = instrument(cache) // the global meter and tracer providers
 * // ... later
 * telemetry.uninstrument()
 */

export { INSTRUMENTS, SPANS, ATTR, type InstrumentSpec, type InstrumentKind, type InstrumentId } from './names.ts'

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /**
   * Where the metrics go: without it, the global one (`metrics.getMeterProvider()` from
   * `@opentelemetry/api`) as it is when `instrument` is called, so register the SDK first.
   * @default metrics.getMeterProvider()
   */
  meterProvider?: MeterProvider
  /**
   * Where the spans go.
   * @default trace.getTracerProvider() // the global one, which follows a later registration
   */
  tracerProvider?: TracerProvider
  /**
   * Whether to record `memoredis.l2.round_trip.duration`: one clock read and one histogram
   * record per Redis command answered.
   * @default true
   */
  roundTrips?: boolean
}

/** What {@link instrument} returns: stops the instrumentation, explicitly or with `using`. */
export interface Instrumentation {
  /** The cache (or namespace view) that was instrumented. */
  readonly cache: Cache
  /** Stops recording this cache's metrics and spans (idempotent). */
  uninstrument(): void
  /** The same as {@link Instrumentation.uninstrument}, for `using`. */
  [Symbol.dispose](): void
}

/** The instrumentation of each cache (namespace views share their cache's). */
const instrumented = new WeakMap<Core, { handle: Instrumentation; meterProvider: MeterProvider; tracerProvider: TracerProvider }>()

const OPTION_KEYS = ['meterProvider', 'tracerProvider', 'roundTrips']

/** The cache's internals, or a clear error for what is not an open memoredis cache. */
function coreOf(cache: Cache): Core {
  const core = namespaceOf(cache)?.core
  if (core === undefined) throw new InvalidOptionError('instrument expects a cache made by createCache')
  if (core.closed) throw new CacheClosedError()
  return core
}

function checkOptions(options: InstrumentOptions): void {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError(`instrument options must be an object, got ${String(options)}`)
  refuseUnknownOptions(options, OPTION_KEYS, 'instrument')
  if (options.meterProvider !== undefined && typeof options.meterProvider.getMeter !== 'function') {
    throw new InvalidOptionError('instrument: meterProvider must be an OpenTelemetry MeterProvider (with getMeter)')
  }
  if (options.tracerProvider !== undefined && typeof options.tracerProvider.getTracer !== 'function') {
    throw new InvalidOptionError('instrument: tracerProvider must be an OpenTelemetry TracerProvider (with getTracer)')
  }
  if (options.roundTrips !== undefined && typeof options.roundTrips !== 'boolean') {
    throw new InvalidOptionError(`instrument: roundTrips must be a boolean, got ${String(options.roundTrips)}`)
  }
}

/**
 * Records a cache's metrics and spans with OpenTelemetry (see
 * `docs/observability-otel.md` for every instrument). Counters and gauges are read from
 * `stats()` when the meter collects, so hits cost nothing more; computations and lock
 * waits become spans and duration histograms through memoredis's tracing channels; each
 * Redis round trip is one histogram record (`roundTrips: false` turns that off).
 *
 * Instrumenting a namespace view instruments its whole cache. Calling `instrument` again
 * on the same cache returns the same handle when the providers are the same (or both
 * defaults), and throws `InvalidOptionError` when they differ (`uninstrument()` first).
 * A closed cache throws `CacheClosedError` (`ERR_CLOSED`); once the cache closes, it is
 * no longer read (its series keep their last values). An error from the providers while
 * setting up is thrown here; one while recording loses that record, never a read.
 *
 * @example
 * const telemetry = instrument(cache, { meterProvider, tracerProvider })
 * process.on('SIGTERM', () => telemetry.uninstrument())
 */
export function instrument(cache: Cache, options: InstrumentOptions = {}): Instrumentation {
  checkOptions(options)
  const core = coreOf(cache)
  const meterProvider = options.meterProvider ?? metrics.getMeterProvider()
  const tracerProvider = options.tracerProvider ?? trace.getTracerProvider()
  const existing = instrumented.get(core)
  if (existing !== undefined) {
    if (existing.meterProvider === meterProvider && existing.tracerProvider === tracerProvider) return existing.handle
    throw new InvalidOptionError('instrument: this cache is already instrumented with other providers; call uninstrument() on its handle first')
  }
  const stops = start(core, cache, { meterProvider, tracerProvider, roundTrips: options.roundTrips ?? true })
  let stopped = false
  const uninstrument = (): void => {
    if (stopped) return
    stopped = true
    instrumented.delete(core)
    for (const stop of stops) stop()
  }
  const handle: Instrumentation = { cache, uninstrument, [Symbol.dispose]: uninstrument }
  instrumented.set(core, { handle, meterProvider, tracerProvider })
  return handle
}

/** Sets every part up; returns what stops each (nothing is left behind when a provider throws). */
function start(core: Core, cache: Cache, setup: { meterProvider: MeterProvider; tracerProvider: TracerProvider; roundTrips: boolean }): (() => void)[] {
  const stops: (() => void)[] = []
  try {
    const observing = observeCache(setup.meterProvider.getMeter('memoredis'), cache, core)
    stops.push(observing.stop)
    const prefix: Attributes = { [ATTR.prefix]: core.options.prefix }
    const { computationDuration, lockWaitDuration, roundTrip } = observing.histograms
    const tracer = setup.tracerProvider.getTracer('memoredis')
    stops.push(traceSlowPaths({ core, tracer, prefix, computationDuration, lockWaitDuration }))
    const l2 = core.l2
    if (setup.roundTrips && l2 !== undefined) {
      const byCommand = new Map<string, Attributes>()
      l2.onRoundTrip = (command, seconds) => {
        let attributes = byCommand.get(command)
        if (attributes === undefined) byCommand.set(command, (attributes = { ...prefix, [ATTR.operation]: command.replaceAll(' ', '_') }))
        roundTrip.record(seconds, attributes)
      }
      stops.push(() => (l2.onRoundTrip = undefined))
    }
    return stops
  } catch (error) {
    for (const stop of stops) stop()
    throw error
  }
}
