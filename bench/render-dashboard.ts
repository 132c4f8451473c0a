/**
 * Draws docs/dashboard.svg: the panels of docs/grafana-dashboard.json, computed the way
 * their PromQL does, from a real scripted run of instrumented caches against a real
 * redis-server (collected twice a second by the SDK's in-memory metric exporter).
 *
 * The run (about 14 s): two processes' worth of caches (one instrumented) read 40 keys
 * with a 2 s ttl and a 10–60 ms function, so values expire and stampedes meet the lock;
 * at 7 s Redis is killed, at 10 s it is back on the same port.
 *
 * Run from the repository root: node --conditions=source --import tsx bench/render-dashboard.ts
 */
import { AggregationTemporality, DataPointType, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type MetricData } from '@opentelemetry/sdk-metrics'
import { writeFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { createCache, type Cache, type CacheOptions } from '../lib/index.ts'
import { instrument, INSTRUMENTS } from '../lib/otel/index.ts'
import { RedisServer } from '../spec/support/redis-server.ts'

const STEP_MS = 500
const RUN_MS = 14_000
const KILL_AT = 7_000
const BACK_AT = 10_000

/** One collection: when, and each metric's points. */
interface Snapshot {
  at: number
  metrics: Map<string, MetricData>
}

/** A point's attributes include `match`. */
const matches = (attributes: Record<string, unknown>, match: Record<string, string>): boolean =>
  Object.entries(match).every(([k, v]) => attributes[k] === v)

/** The sum of a counter's or gauge's points matching `match`. */
function total(s: Snapshot, name: string, match: Record<string, string> = {}): number {
  const metric = s.metrics.get(name)
  if (metric === undefined) return 0
  return metric.dataPoints.filter((p) => matches(p.attributes, match)).reduce((n, p) => n + (p.value as number), 0)
}

/** A histogram's bucket counts (summed over matching points) and boundaries. */
function buckets(s: Snapshot, name: string): { boundaries: number[]; counts: number[] } {
  const metric = s.metrics.get(name)
  if (metric === undefined || metric.dataPointType !== DataPointType.HISTOGRAM) return { boundaries: [], counts: [] }
  let boundaries: number[] = []
  let counts: number[] = []
  for (const point of metric.dataPoints) {
    const value = point.value as { buckets: { boundaries: number[]; counts: number[] } }
    boundaries = value.buckets.boundaries
    counts = value.buckets.counts.map((c, i) => c + (counts[i] ?? 0))
  }
  return { boundaries, counts }
}

/** `histogram_quantile(q, rate(...))` over one step: linear within the bucket, as Prometheus does. */
function quantile(q: number, before: Snapshot, after: Snapshot, name: string): number | undefined {
  const b = buckets(before, name)
  const a = buckets(after, name)
  const delta = a.counts.map((c, i) => c - (b.counts[i] ?? 0))
  const count = delta.reduce((n, c) => n + c, 0)
  if (count === 0) return undefined
  const rank = q * count
  let seen = 0
  for (let i = 0; i < delta.length; i++) {
    const here = delta[i] ?? 0
    if (seen + here >= rank && here > 0) {
      const lower = i === 0 ? 0 : (a.boundaries[i - 1] ?? 0)
      const upper = a.boundaries[i] ?? lower
      return lower + (upper - lower) * ((rank - seen) / here)
    }
    seen += here
  }
  return a.boundaries[a.boundaries.length - 1]
}

// ── The run ───────────────────────────────────────────────────────────────

async function record(): Promise<Snapshot[]> {
  const server = await RedisServer.start()
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
  const meterProvider = new MeterProvider({ readers: [reader] })
  const options: CacheOptions = { redis: server.url, prefix: 'shop', ttl: '2s', redisTimeout: '100ms', circuit: { failures: 3, resetAfter: '1s' } }
  const watched = createCache(options)
  const other = createCache(options)
  instrument(watched, { meterProvider })
  const snapshots: Snapshot[] = []
  const started = Date.now()
  let running = true
  const collect = async (): Promise<void> => {
    exporter.reset()
    await reader.forceFlush()
    const metrics = new Map<string, MetricData>()
    for (const resource of exporter.getMetrics()) for (const scope of resource.scopeMetrics) for (const m of scope.metrics) metrics.set(m.descriptor.name, m)
    snapshots.push({ at: Date.now() - started, metrics })
  }
  const fn = (key: string) => async (): Promise<string> => {
    await sleep(10 + Math.floor(Math.random() * 50))
    return `value of ${key}`
  }
  // Popular keys more often: key i with weight 1 / (i + 1).
  const pick = (): string => `product:${Math.floor(40 ** Math.random()) - 1}`
  const caller = async (cache: Cache): Promise<void> => {
    while (running) {
      await cache.getOrSet(pick(), fn('x')).catch(() => undefined)
      await sleep(2 + Math.floor(Math.random() * 6))
    }
  }
  const callers = [...Array.from({ length: 8 }, () => caller(watched)), ...Array.from({ length: 8 }, () => caller(other))]
  await collect()
  let killed = false
  let back = false
  while (Date.now() - started < RUN_MS) {
    await sleep(STEP_MS - ((Date.now() - started) % STEP_MS))
    if (!killed && Date.now() - started >= KILL_AT) {
      killed = true
      await server.kill()
    }
    if (!back && Date.now() - started >= BACK_AT) {
      back = true
      await server.restart()
    }
    await collect()
  }
  running = false
  await Promise.all(callers)
  await Promise.all([watched.close(), other.close()])
  await meterProvider.shutdown()
  await server.stop()
  return snapshots
}

// ── The panels, as their PromQL computes them ──────────────────────────────

interface Series {
  label: string
  color: string
  points: { t: number; v: number | undefined }[]
}

interface PanelData {
  title: string
  unit: 'ratio' | 'per s' | 'ms' | 'state'
  series: Series[]
}

const N = INSTRUMENTS
const COLORS = ['#3274d9', '#e0752d', '#56a64b', '#a352cc', '#e02f44', '#8ab8ff']

function panels(s: Snapshot[]): PanelData[] {
  const steps = s.slice(1).map((after, i) => ({ before: s[i] as Snapshot, after, t: after.at / 1000, dt: (after.at - (s[i] as Snapshot).at) / 1000 }))
  const rate = (name: string, match: Record<string, string> = {}) =>
    steps.map(({ before, after, t, dt }) => ({ t, v: (total(after, name, match) - total(before, name, match)) / dt }))
  const ratio = (tier: string) =>
    steps.map(({ before, after, t }) => {
      const hits = total(after, N.reads.name, { 'memoredis.tier': tier, 'memoredis.read.result': 'hit' }) - total(before, N.reads.name, { 'memoredis.tier': tier, 'memoredis.read.result': 'hit' })
      const all = total(after, N.reads.name, { 'memoredis.tier': tier }) - total(before, N.reads.name, { 'memoredis.tier': tier })
      return { t, v: all === 0 ? undefined : hits / all }
    })
  const q = (p: number, name: string) => steps.map(({ before, after, t }) => ({ t, v: ((x) => (x === undefined ? undefined : x * 1000))(quantile(p, before, after, name)) }))
  const codes = [...new Set(s.flatMap((snap) => (snap.metrics.get(N.redisErrors.name)?.dataPoints ?? []).map((p) => String(p.attributes['error.type']))))].sort()
  const circuit = steps.map(({ after, t }) => ({
    t,
    v: total(after, N.circuit.name, { 'memoredis.circuit.state': 'half-open' }) + 2 * total(after, N.circuit.name, { 'memoredis.circuit.state': 'open' }),
  }))
  return [
    { title: 'Hit ratio by tier', unit: 'ratio', series: [{ label: 'l1', color: COLORS[0] as string, points: ratio('l1') }, { label: 'l2', color: COLORS[1] as string, points: ratio('l2') }] },
    { title: 'Computations per second', unit: 'per s', series: [{ label: 'computations/s', color: COLORS[2] as string, points: rate(N.computations.name) }] },
    { title: 'Computation time (p50, p99)', unit: 'ms', series: [{ label: 'p50', color: COLORS[0] as string, points: q(0.5, N.computationDuration.name) }, { label: 'p99', color: COLORS[4] as string, points: q(0.99, N.computationDuration.name) }] },
    { title: 'Lock waits', unit: 'per s', series: [{ label: 'waits/s', color: COLORS[3] as string, points: rate(N.lockWaits.name) }, { label: 'timeouts/s', color: COLORS[4] as string, points: rate(N.lockTimeouts.name) }] },
    { title: 'Redis errors by code', unit: 'per s', series: codes.map((code, i) => ({ label: code, color: COLORS[(i + 1) % COLORS.length] as string, points: rate(N.redisErrors.name, { 'error.type': code }) })) },
    { title: 'Circuit state', unit: 'state', series: [{ label: '0 closed, 1 half-open, 2 open', color: COLORS[4] as string, points: circuit }] },
  ]
}

// ── SVG ────────────────────────────────────────────────────────────────────

const W = 460
const H = 220
const PAD = { left: 52, right: 14, top: 34, bottom: 46 }

const esc = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function niceMax(max: number, unit: PanelData['unit']): number {
  if (unit === 'ratio') return 1
  if (unit === 'state') return 2
  if (max <= 0) return 1
  const magnitude = 10 ** Math.floor(Math.log10(max))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * magnitude >= max) return m * magnitude
  return 10 * magnitude
}

function tick(value: number, unit: PanelData['unit']): string {
  if (unit === 'ratio') return `${Math.round(value * 100)}%`
  if (unit === 'state') return ['closed', 'half-open', 'open'][Math.round(value)] ?? ''
  return Number.isInteger(value) ? String(value) : value.toFixed(1)
}

function panelSvg(panel: PanelData, x: number, y: number, seconds: number): string {
  const plotW = W - PAD.left - PAD.right
  const plotH = H - PAD.top - PAD.bottom
  const values = panel.series.flatMap((s) => s.points.map((p) => p.v).filter((v): v is number => v !== undefined))
  const max = niceMax(Math.max(0, ...values), panel.unit)
  const px = (t: number): number => PAD.left + (t / seconds) * plotW
  const py = (v: number): number => PAD.top + plotH - (v / max) * plotH
  const parts: string[] = [
    `<g transform="translate(${x},${y})">`,
    `<rect width="${W}" height="${H}" rx="4" fill="#181b1f" stroke="#2c3235"/>`,
    `<text x="12" y="21" fill="#ccccdc" font-size="13" font-weight="600">${esc(panel.title)}${panel.unit === 'ms' ? ' (ms)' : panel.unit === 'per s' ? ' (/s)' : ''}</text>`,
  ]
  const ticks = panel.unit === 'state' ? [0, 1, 2] : [0, 0.25, 0.5, 0.75, 1].map((f) => f * max)
  for (const v of ticks) {
    parts.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${py(v).toFixed(1)}" y2="${py(v).toFixed(1)}" stroke="#2c3235"/>`)
    parts.push(`<text x="${PAD.left - 6}" y="${(py(v) + 4).toFixed(1)}" fill="#8e8e8e" font-size="10" text-anchor="end">${tick(v, panel.unit)}</text>`)
  }
  for (let t = 0; t <= seconds; t += 2) {
    parts.push(`<text x="${px(t).toFixed(1)}" y="${PAD.top + plotH + 14}" fill="#8e8e8e" font-size="10" text-anchor="middle">${t}s</text>`)
  }
  // Redis down: a band.
  parts.push(`<rect x="${px(KILL_AT / 1000).toFixed(1)}" y="${PAD.top}" width="${(px(BACK_AT / 1000) - px(KILL_AT / 1000)).toFixed(1)}" height="${plotH}" fill="#e02f44" opacity="0.08"/>`)
  for (const series of panel.series) {
    let d = ''
    let pen = 'M'
    for (const p of series.points) {
      if (p.v === undefined) {
        pen = 'M'
        continue
      }
      d += `${pen}${px(p.t).toFixed(1)},${py(Math.min(p.v, max)).toFixed(1)} `
      pen = 'L'
    }
    if (d !== '') parts.push(`<path d="${d.trim()}" fill="none" stroke="${series.color}" stroke-width="2" stroke-linejoin="round"/>`)
  }
  let lx = PAD.left
  for (const series of panel.series) {
    parts.push(`<rect x="${lx}" y="${H - 16}" width="10" height="3" fill="${series.color}"/>`)
    parts.push(`<text x="${lx + 14}" y="${H - 12}" fill="#ccccdc" font-size="10">${esc(series.label)}</text>`)
    lx += 30 + series.label.length * 6.5
  }
  if (panel.series.length === 0) parts.push(`<text x="${PAD.left + 8}" y="${PAD.top + 20}" fill="#8e8e8e" font-size="11">no data</text>`)
  parts.push('</g>')
  return parts.join('\n')
}

function svg(data: PanelData[], seconds: number): string {
  const cols = 2
  const gap = 12
  const width = cols * W + (cols + 1) * gap
  const rows = Math.ceil(data.length / cols)
  const height = 44 + rows * (H + gap)
  const body = data.map((panel, i) => panelSvg(panel, gap + (i % cols) * (W + gap), 44 + Math.floor(i / cols) * (H + gap), seconds))
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Inter, Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#111217"/>`,
    `<text x="${gap}" y="27" fill="#ccccdc" font-size="16" font-weight="600">memoredis — a scripted ${seconds} s run (Redis killed at ${KILL_AT / 1000} s, back at ${BACK_AT / 1000} s: shaded)</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n')
}

const snapshots = await record()
const out = new URL('../docs/dashboard.svg', import.meta.url)
writeFileSync(out, svg(panels(snapshots), Math.round(RUN_MS / 1000)))
console.log(`wrote ${out.pathname} from ${snapshots.length} collections`)
