/**
 * What `memoredis/otel` costs on the paths that matter: an L1 hit and an L2 hit,
 * uninstrumented against instrumented, measured in one run (interleaved rounds, the
 * median of the rounds' ratios; see support.ts).
 *
 *   L1 hit   instrumented / uninstrumented   target ≤ 1.3x
 *   L2 hit   instrumented / uninstrumented   target ≤ 1.05x   (one round-trip histogram record per GET)
 *
 * Each path also runs an uninstrumented twin (a second cache like the first: its ratio is
 * the noise floor of the machine) and an instrumented cache with `roundTrips: false`.
 * The instrumented caches report to the real SDK: a MeterProvider whose reader collects
 * every second into an in-memory exporter (so collections happen during the runs, as a
 * scraper's would), and a tracer provider with an in-memory span exporter.
 *
 * Run from the repository root: node --conditions=source --import tsx bench/otel.ts
 */
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { createCache, type Cache, type CacheOptions } from '../lib/index.ts'
import { instrument } from '../lib/otel/index.ts'
import { RedisServer } from '../spec/support/redis-server.ts'
import { measure, ROUND_MS, user, type Case } from './support.ts'

const TTL = '10m'
const fail = (): never => {
  throw new Error('a hit was expected, the function ran')
}

/** A cache, warmed with `user:42`, that answers from L1 once tracking is set up. */
async function open(options: CacheOptions): Promise<Cache> {
  const cache = createCache({ ttl: TTL, ...options })
  await cache.getOrSet('user:42', async () => user(42))
  // L1 keeps values read from Redis once coherence listens: wait for a hit.
  for (let i = 0; i < 500; i++) {
    const before = cache.stats().l1.hits
    await cache.getOrSet('user:42', fail)
    if (options.l1 === false || cache.stats().l1.hits > before) break
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return cache
}

function telemetry(): { meterProvider: MeterProvider; tracerProvider: BasicTracerProvider; shutdown(): Promise<void> } {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const meterProvider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 1000 })] })
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())] })
  return {
    meterProvider,
    tracerProvider,
    shutdown: () => Promise.all([meterProvider.shutdown(), tracerProvider.shutdown()]).then(() => undefined),
  }
}

const verdict = (ok: boolean): string => (ok ? 'PASS' : 'MISS')

/** The cases of one path: uninstrumented, its uninstrumented twin (the noise floor), instrumented, and instrumented without round trips. */
interface Path {
  label: string
  target: number
  plain: Cache
  twin: Cache
  traced: Cache
  tracedNoRoundTrips: Cache
}

function casesOf(path: Path): Case[] {
  const call = (cache: Cache) => () => cache.getOrSet('user:42', fail)
  return [
    { name: `${path.label}, uninstrumented`, op: call(path.plain) },
    { name: `${path.label}, uninstrumented twin`, op: call(path.twin) },
    { name: `${path.label}, instrumented`, op: call(path.traced) },
    { name: `${path.label}, instrumented, roundTrips: false`, op: call(path.tracedNoRoundTrips) },
  ]
}

async function run(path: Path): Promise<string> {
  const cases = casesOf(path)
  const results = await measure(cases, { rounds: ROUNDS_HERE })
  for (const c of cases) console.log(`  ${c.name.padEnd(52)} ${results.ns(c.name).toFixed(0).padStart(7)} ns/call`)
  const [plain, twin, traced, bare] = cases.map((c) => c.name) as [string, string, string, string]
  const ratio = results.ratio(traced, plain)
  return (
    `${path.label} instrumented: ${ratio.toFixed(3)}x uninstrumented (roundTrips: false ${results.ratio(bare, plain).toFixed(3)}x; ` +
    `noise floor: the uninstrumented twin ${results.ratio(twin, plain).toFixed(3)}x), target ≤ ${path.target}x  ${verdict(ratio <= path.target)}`
  )
}

/** More rounds than the other benchmarks: the ratios sought are within a few percent. */
const ROUNDS_HERE = Number(process.env.BENCH_ROUNDS ?? 15)

const server = await RedisServer.start()
const t = telemetry()
const caches: Cache[] = []
try {
  console.log(`node ${process.version}; ${ROUNDS_HERE} rounds of ${ROUND_MS} ms per case (times: the median round; ratios: the median of the rounds' ratios)`)
  const paths: Path[] = []
  for (const [label, target, l1] of [['L1 hit', 1.3, undefined], ['L2 hit', 1.05, false]] as const) {
    const make = async (prefix: string, roundTrips?: boolean): Promise<Cache> => {
      const cache = await open({ redis: server.url, prefix, ...(l1 === false ? { l1: false } : {}) })
      caches.push(cache)
      if (roundTrips !== undefined) instrument(cache, { meterProvider: t.meterProvider, tracerProvider: t.tracerProvider, roundTrips })
      return cache
    }
    const key = label.slice(0, 2).toLowerCase()
    paths.push({ label, target, plain: await make(`${key}-plain`), twin: await make(`${key}-twin`), traced: await make(`${key}-traced`, true), tracedNoRoundTrips: await make(`${key}-bare`, false) })
  }
  const summary: string[] = []
  for (const path of paths) {
    console.log(`\n── ${path.label}: getOrSet('user:42') ──`)
    summary.push(await run(path))
  }
  console.log('\n── Summary ──')
  for (const line of summary) console.log(line)
} finally {
  await Promise.all(caches.map((cache) => cache.close()))
  await t.shutdown()
  await server.stop()
}
