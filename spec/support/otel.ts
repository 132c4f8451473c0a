import type { Attributes } from '@opentelemetry/api'
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'

/**
 * The real OpenTelemetry SDK wired to in-memory exporters, for specs and child processes:
 * `collect()` exports every metric now (cumulative) and answers them in a plain,
 * structured-clone-able form; `spans()` answers the spans ended so far.
 */

/** One data point: its attributes and value (a histogram's count and sum). */
export interface Point {
  attributes: Attributes
  value: number
  /** Histograms only. */
  count?: number
  sum?: number
}

/** Metrics by instrument name. */
export type Collected = Record<string, { unit: string; type: string; points: Point[] }>

/** A span, as specs check it. */
export interface SpanRecord {
  name: string
  attributes: Attributes
  status: number
  durationMs: number
  parent: string | undefined
}

export interface Telemetry {
  readonly meterProvider: MeterProvider
  readonly tracerProvider: BasicTracerProvider
  collect(): Promise<Collected>
  spans(): SpanRecord[]
  shutdown(): Promise<void>
}

function pointsOf(metric: MetricData): Point[] {
  return metric.dataPoints.map((point) => {
    if (metric.dataPointType === DataPointType.HISTOGRAM) {
      const value = point.value as { count: number; sum?: number }
      return { attributes: point.attributes, value: value.count, count: value.count, sum: value.sum ?? 0 }
    }
    return { attributes: point.attributes, value: point.value as number }
  })
}

function spanRecord(span: ReadableSpan): SpanRecord {
  const [seconds, nanos] = span.duration
  return {
    name: span.name,
    attributes: span.attributes,
    status: span.status.code,
    durationMs: seconds * 1000 + nanos / 1e6,
    parent: span.parentSpanContext?.spanId,
  }
}

/** A meter provider and a tracer provider of the real SDK, exporting to memory. */
export function telemetry(): Telemetry {
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  // Exports only when told (forceFlush): the interval is never reached in a spec.
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 })
  const meterProvider = new MeterProvider({ readers: [reader] })
  const spanExporter = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] })
  return {
    meterProvider,
    tracerProvider,
    async collect() {
      metricExporter.reset()
      await reader.forceFlush()
      const collected: Collected = {}
      for (const resource of metricExporter.getMetrics()) {
        for (const scope of resource.scopeMetrics) {
          for (const metric of scope.metrics) {
            collected[metric.descriptor.name] = { unit: metric.descriptor.unit, type: DataPointType[metric.dataPointType], points: pointsOf(metric) }
          }
        }
      }
      return collected
    },
    spans: () => spanExporter.getFinishedSpans().map(spanRecord),
    async shutdown() {
      await Promise.all([meterProvider.shutdown(), tracerProvider.shutdown()])
    },
  }
}

/** The sum of the values of `name`'s points whose attributes include `match` (0 when none). */
export function valueOf(collected: Collected, name: string, match: Attributes = {}): number {
  const points = collected[name]?.points ?? []
  return points
    .filter((point) => Object.entries(match).every(([key, value]) => point.attributes[key] === value))
    .reduce((total, point) => total + point.value, 0)
}
