/**
 * The names, kinds, units and attributes of every instrument `memoredis/otel` records:
 * one table that the instrumentation, its reference (`docs/observability-otel.md`) and
 * the dashboard's spec read. Names and units follow the OpenTelemetry semantic
 * conventions: dotted lower-case names, UCUM units (`s`, `By`, `{read}`), and
 * attributes of bounded cardinality only (never a key).
 */

/** How an instrument is recorded: read from `stats()` at collection time, or recorded on a slow path. */
export type InstrumentKind = 'counter' | 'updown' | 'gauge' | 'histogram'

/** One instrument: what it is called, measures and carries. */
export interface InstrumentSpec {
  /** The OpenTelemetry instrument name. */
  readonly name: string
  /** Its kind (`counter`, `updown` and `gauge` are observed at collection time; `histogram` is recorded). */
  readonly kind: InstrumentKind
  /** Its UCUM unit. */
  readonly unit: string
  /** What one unit of it means. */
  readonly description: string
}

/** Attribute names (bounded values only). */
export const ATTR = {
  /** The cache's `prefix`: tells caches of one process apart. */
  prefix: 'memoredis.cache.prefix',
  /** `l1` or `l2`. */
  tier: 'memoredis.tier',
  /** `hit` or `miss`. */
  result: 'memoredis.read.result',
  /** The `reason` of a `stale` event. */
  staleReason: 'memoredis.stale.reason',
  /** The code of a Redis failure (`ECONNREFUSED`, `ERR_REDIS_TIMEOUT`, ...), or of a computation's error. */
  errorType: 'error.type',
  /** `receive` (read from Redis) or `transmit` (written to it). */
  direction: 'network.io.direction',
  /** `closed`, `open` or `half-open`. */
  circuitState: 'memoredis.circuit.state',
  /** `tracking`, `bus`, `degraded` or `none`. */
  coherenceMode: 'memoredis.coherence.mode',
  /** True for a background refresh. */
  background: 'memoredis.computation.background',
  /** How a lock wait ended: `value`, `timeout`, `stale` or `error`. */
  lockOutcome: 'memoredis.lock.outcome',
  /** The Redis command or script (`GET`, `READ_OR_LOCK`, `FILL`, ...). */
  operation: 'db.operation.name',
  /** The namespace of the call (spans only). */
  namespace: 'memoredis.namespace',
  /** The memoized function's name (spans only). */
  function: 'memoredis.function',
} as const

/** The name the code uses for each instrument (a key of {@link INSTRUMENTS}). */
export type InstrumentId =
  | 'reads' | 'computations' | 'staleServes' | 'lockWaits' | 'lockTimeouts' | 'redisErrors' | 'redisIo'
  | 'l1Entries' | 'l1Size' | 'circuit' | 'coherence' | 'computationDuration' | 'lockWaitDuration' | 'roundTrip'

/** Every instrument, by the name the code uses for it. */
export const INSTRUMENTS: Readonly<Record<InstrumentId, InstrumentSpec>> = {
  reads: {
    name: 'memoredis.cache.reads', kind: 'counter', unit: '{read}',
    description: 'Reads by tier and result: a fresh value found (hit) or not (miss) in L1 or in Redis.',
  },
  computations: {
    name: 'memoredis.computations', kind: 'counter', unit: '{computation}',
    description: 'Runs of the function (misses that computed and background refreshes).',
  },
  staleServes: {
    name: 'memoredis.stale.serves', kind: 'counter', unit: '{serve}',
    description: 'Stale values served, by the reason of their stale event.',
  },
  lockWaits: {
    name: 'memoredis.lock.waits', kind: 'counter', unit: '{wait}',
    description: "Waits for another process's value while it held the key's lock.",
  },
  lockTimeouts: {
    name: 'memoredis.lock.timeouts', kind: 'counter', unit: '{timeout}',
    description: "Waits for another process's value that ran out (lock.wait, or lock.staleWait with a stale value).",
  },
  redisErrors: {
    name: 'memoredis.l2.errors', kind: 'counter', unit: '{error}',
    description: 'Failed and refused Redis commands and connection errors, by code.',
  },
  redisIo: {
    name: 'memoredis.l2.io', kind: 'counter', unit: 'By',
    description: 'Bytes of stored values received from Redis and written to it.',
  },
  l1Entries: {
    name: 'memoredis.l1.entries', kind: 'updown', unit: '{entry}',
    description: 'Entries held in L1 now.',
  },
  l1Size: {
    name: 'memoredis.l1.size', kind: 'updown', unit: 'By',
    description: 'Bytes of the encoded values held in L1 now (what l1.maxSize bounds).',
  },
  circuit: {
    name: 'memoredis.l2.circuit.state', kind: 'gauge', unit: '1',
    description: "The Redis circuit breaker's state: 1 for the current state, 0 for the others.",
  },
  coherence: {
    name: 'memoredis.coherence.mode', kind: 'gauge', unit: '1',
    description: 'How L1 hears of changes: 1 for the current mode, 0 for the others.',
  },
  computationDuration: {
    name: 'memoredis.computation.duration', kind: 'histogram', unit: 's',
    description: 'How long the function ran, from the start of a computation to its value or error.',
  },
  lockWaitDuration: {
    name: 'memoredis.lock.wait.duration', kind: 'histogram', unit: 's',
    description: "How long a call waited for another process's value, by outcome.",
  },
  roundTrip: {
    name: 'memoredis.l2.round_trip.duration', kind: 'histogram', unit: 's',
    description: 'Time from sending a Redis command to its answer, by command (failures are not measured).',
  },
}

/** Span names: one per slow path, never an L1 or L2 hit. */
export const SPANS = {
  /** A computation: the function, its write, its lock's release. */
  compute: 'memoredis compute',
  /** A wait for another process's computation. */
  lockWait: 'memoredis lock wait',
} as const

/** Bucket boundaries (s) for computations and lock waits: 1 ms to 30 s. */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** Bucket boundaries (s) for Redis round trips: 50 µs to 1 s. */
export const ROUND_TRIP_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]
