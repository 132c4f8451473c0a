/**
 * Prometheus metrics for an Express app cached with memoredis: the app serves
 * `/metrics` itself, on its own port, through OpenTelemetry's Prometheus exporter
 * (`preventServerStart`, then its request handler as a route).
 *
 * Shows: the cache instrumented with `memoredis/otel`, a few requests (misses, then
 * hits), and the counters as Prometheus scrapes them.
 *
 * Run: node --conditions=source --import tsx examples/prometheus.ts
 * With REDIS_URL=redis://127.0.0.1:6379 the cache also uses Redis (and its round trips
 * are measured); SERVE=1 keeps the app running on PORT (default 9464) for a real scraper.
 */
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import express from 'express'
import { once } from 'node:events'
import type { Server } from 'node:http'
import { pathToFileURL } from 'node:url'
import { createCache, type Cache } from 'memoredis'
import { expressCache } from 'memoredis/express'
import { instrument } from 'memoredis/otel'

/** An Express app whose responses are cached in `cache`, with `/metrics` for Prometheus. */
export function metricsApp(cache: Cache): { app: express.Express; shutdown(): Promise<void> } {
  // No server of the exporter's own: the app serves its handler, on the app's port.
  const exporter = new PrometheusExporter({ preventServerStart: true })
  const meterProvider = new MeterProvider({ readers: [exporter] })
  const telemetry = instrument(cache, { meterProvider })

  const app = express()
  // Before the cache: a scrape is never cached.
  app.get('/metrics', (req, res) => exporter.getMetricsRequestHandler(req, res))
  app.use(expressCache({ cache, ttl: '30s' }))
  app.get('/products/:id', async (req, res) => {
    await new Promise((resolve) => setTimeout(resolve, 50)) // the database
    res.json({ id: req.params.id, price: 9.99 })
  })
  return {
    app,
    async shutdown() {
      telemetry.uninstrument()
      await meterProvider.shutdown()
    },
  }
}

/** Listens on `port` (0: any free one) on loopback; answers the server and its base URL. */
export async function listen(app: express.Express, port = 0): Promise<{ server: Server; base: string }> {
  const server = app.listen(port, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  return { server, base: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : port}` }
}

async function demo(): Promise<void> {
  const redis = process.env.REDIS_URL || undefined
  const cache = createCache({ redis, prefix: 'example-prometheus' })
  const { app, shutdown } = metricsApp(cache)
  const serve = process.env.SERVE === '1'
  const { server, base } = await listen(app, serve ? Number(process.env.PORT ?? 9464) : 0)
  console.log(`cache: ${redis === undefined ? 'L1 only' : `L1 + Redis at ${redis}`}`)

  for (const path of ['/products/1', '/products/1', '/products/1', '/products/2']) {
    const response = await fetch(base + path)
    await response.arrayBuffer()
    console.log(`GET ${path} -> ${response.status} ${response.headers.get('x-cache')}`)
  }
  const scrape = await (await fetch(`${base}/metrics`)).text()
  console.log('scraped /metrics:')
  for (const line of scrape.split('\n')) {
    if (/^memoredis_(cache_reads_total\{.*memoredis_tier="l1"|computations_total)/.test(line)) console.log(`  ${line}`)
  }
  if (serve) {
    console.log(`serving ${base}/products/:id and ${base}/metrics (Ctrl-C to stop)`)
    return
  }
  server.closeAllConnections()
  server.close()
  await shutdown()
  await cache.close()
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await demo()
