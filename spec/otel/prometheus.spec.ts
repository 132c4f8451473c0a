import { expect } from 'chai'
import type { Server } from 'node:http'
import { readFileSync } from 'node:fs'
import { createCache, type Cache, type CacheOptions } from '../../lib/index.ts'
import { listen, metricsApp } from '../../examples/prometheus.ts'
import { deferred } from '../fixtures/stampede-helpers.ts'
import { parseExposition, sampleSum, type Sample } from '../support/prometheus.ts'
import { useRedis } from '../support/redis.ts'
import { RedisServer } from '../support/redis-server.ts'

/**
 * The Prometheus endpoint of examples/prometheus.ts, scraped over real HTTP: an Express
 * app cached with memoredis (real Redis) serving `/metrics` on its own port through
 * OpenTelemetry's Prometheus exporter. Then the Grafana dashboard: every metric its
 * PromQL names is one the exporter really emits after a scripted run.
 */

interface Running {
  cache: Cache
  base: string
  server: Server
  shutdown(): Promise<void>
}

async function start(cache: Cache): Promise<Running> {
  const { app, shutdown } = metricsApp(cache)
  const { server, base } = await listen(app)
  return { cache, base, server, shutdown }
}

async function stop(running: Running | undefined): Promise<void> {
  if (running === undefined) return
  running.server.closeAllConnections()
  running.server.close()
  await running.shutdown()
  await running.cache.close()
}

async function get(base: string, path: string): Promise<Response> {
  const response = await fetch(base + path)
  await response.arrayBuffer()
  return response
}

async function scrape(base: string): Promise<{ contentType: string | null; samples: Sample[]; text: string }> {
  const response = await fetch(`${base}/metrics`)
  expect(response.status).to.equal(200)
  const text = await response.text()
  return { contentType: response.headers.get('content-type'), samples: parseExposition(text), text }
}

describe('Prometheus endpoint (examples/prometheus.ts)', () => {
  const redis = useRedis()
  let running: Running | undefined
  afterEach(async () => {
    await stop(running)
    running = undefined
  })

  it('serves /metrics on the app’s own port, and its counters move with the traffic', async () => {
    running = await start(createCache({ redis: redis.url, prefix: 'prom' }))
    const { base } = running
    const before = await scrape(base)
    expect(before.contentType).to.match(/^text\/plain/)
    expect(sampleSum(before.samples, 'memoredis_computations_total')).to.equal(0)
    expect(sampleSum(before.samples, 'memoredis_cache_reads_total')).to.equal(0)

    const statuses: (string | null)[] = []
    for (const path of ['/products/1', '/products/1', '/products/1', '/products/2']) {
      const response = await get(base, path)
      expect(response.status).to.equal(200)
      statuses.push(response.headers.get('x-cache'))
    }
    expect(statuses).to.deep.equal(['MISS', 'HIT', 'HIT', 'MISS'])

    const after = await scrape(base)
    const reads = (tier: string, result: string): number =>
      sampleSum(after.samples, 'memoredis_cache_reads_total', { memoredis_tier: tier, memoredis_read_result: result, memoredis_cache_prefix: 'prom' })
    expect(sampleSum(after.samples, 'memoredis_computations_total')).to.equal(2)
    expect(reads('l2', 'miss')).to.equal(2)
    // Two hits of /products/1, from L1 or (until L1 holds it) from Redis.
    expect(reads('l1', 'hit') + reads('l2', 'hit')).to.equal(2)
    expect(reads('l1', 'hit') + reads('l1', 'miss')).to.equal(4)
    expect(sampleSum(after.samples, 'memoredis_l2_io_total', { network_io_direction: 'transmit' })).to.be.greaterThan(0)
    expect(sampleSum(after.samples, 'memoredis_computation_duration_count')).to.equal(2)
    // Each computation waited for the 50 ms "database".
    expect(sampleSum(after.samples, 'memoredis_computation_duration_sum')).to.be.at.least(0.098)
    expect(sampleSum(after.samples, 'memoredis_l2_round_trip_duration_count', { db_operation_name: 'FILL' })).to.equal(2)
    expect(sampleSum(after.samples, 'memoredis_l2_circuit_state', { memoredis_circuit_state: 'closed' })).to.equal(1)
    // A scrape is not cached: it is not a read of the cache.
    expect((await fetch(`${base}/metrics`)).headers.get('x-cache')).to.equal(null)
  })
})

const MATCHERS = /\{([^}]*)\}/g
const GROUPING = /\b(?:by|without)\s*\(([^)]*)\)/g

/** The metric names (memoredis's own) and the label names a PromQL expression uses. */
function namesIn(expr: string): { metrics: string[]; labels: string[] } {
  const labels = [
    ...[...expr.matchAll(MATCHERS)].flatMap((m) => [...(m[1] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1] as string)),
    ...[...expr.matchAll(GROUPING)].flatMap((m) => (m[1] ?? '').split(',').map((l) => l.trim()).filter((l) => l !== '')),
  ]
  const bare = expr.replace(MATCHERS, ' ').replace(GROUPING, ' ')
  return { metrics: [...bare.matchAll(/\bmemoredis_[a-z0-9_]+\b/g)].map((m) => m[0]), labels }
}

interface Panel {
  title?: string
  targets?: { expr?: string }[]
  panels?: Panel[]
}

describe('Grafana dashboard (docs/grafana-dashboard.json)', () => {
  let server: RedisServer
  let running: Running | undefined
  before(async () => {
    server = await RedisServer.start()
  })
  after(async () => {
    await stop(running)
    await server.stop()
  })

  it('names in its PromQL only metrics the exporter emits after a scripted run (hits, misses, a lock wait, Redis killed)', async function () {
    this.timeout(20_000)
    const options: CacheOptions = { redis: server.url, prefix: 'dash', lock: { wait: '5s' }, circuit: { failures: 1, resetAfter: '10s' }, redisTimeout: '200ms' }
    running = await start(createCache(options))
    const { base, cache } = running
    await get(base, '/products/1')
    await get(base, '/products/1')
    // A lock wait: another cache holds the lock of a key this one then reads.
    const holder = createCache(options)
    try {
      const release = deferred<string>()
      const started = deferred<void>()
      const held = holder.getOrSet('held', () => (started.resolve(), release.promise))
      await started.promise
      const waiting = new Promise<void>((resolve) => cache.on('lock-wait', () => resolve()))
      const read = cache.getOrSet('held', () => 'not this one')
      await waiting
      release.resolve('the holder’s')
      expect(await read).to.equal('the holder’s')
      await held
    } finally {
      await holder.close()
    }
    // Redis killed: errors by code, the circuit open.
    await server.kill()
    await get(base, '/products/3')
    await get(base, '/products/4')

    const { samples } = await scrape(base)
    const emitted = new Set(samples.map((s) => s.name))
    expect(sampleSum(samples, 'memoredis_l2_circuit_state', { memoredis_circuit_state: 'open' })).to.equal(1)
    expect(sampleSum(samples, 'memoredis_lock_waits_total')).to.equal(1)

    const dashboard = JSON.parse(readFileSync(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as { panels: Panel[]; title: string }
    const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])])
    const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title ?? '', expr: t.expr ?? '' })))
    expect(queries.length).to.be.at.least(6)
    const labels = new Set(['le', ...samples.flatMap((s) => Object.keys(s.labels))])
    for (const { panel, expr } of queries) {
      const names = namesIn(expr)
      expect(names.metrics.length, `${panel}: ${expr}`).to.be.greaterThan(0)
      for (const name of names.metrics) expect(emitted.has(name), `${panel}: metric ${name} is not emitted`).to.equal(true)
      for (const label of names.labels) expect(labels.has(label), `${panel}: label ${label} is not emitted`).to.equal(true)
    }
    // The panels the dashboard promises.
    const titles = panels.map((p) => p.title ?? '')
    for (const title of ['Hit ratio by tier', 'Computations per second', 'Computation time (p50, p99)', 'Lock waits', 'Redis errors by code', 'Circuit state']) {
      expect(titles).to.include(title)
    }
  })
})
