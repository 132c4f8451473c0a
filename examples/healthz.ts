/**
 * A `/healthz` readiness endpoint on a plain node:http server, over `cache.health()`.
 *
 * The mapping to status codes: 200 while the cache answers calls, 503 once it is closed.
 * Redis down, its circuit open, or coherence degraded is still 200, with `"status":
 * "degraded"` in the body for dashboards: memoredis answers every call without Redis
 * (from L1 and the function), so taking every instance out of the load balancer when Redis
 * fails would turn a slower app into no app.
 *
 * Run: node --conditions=source --import tsx examples/healthz.ts
 * With REDIS_URL=redis://127.0.0.1:6379 it reports Redis too; without it, an L1-only cache.
 */
import { once } from 'node:events'
import { createServer } from 'node:http'
import { createCache, type CacheHealth } from 'memoredis'

const cache = createCache({ redis: process.env.REDIS_URL || undefined, prefix: 'example-healthz', redisTimeout: '250ms' })

/** `ok`, `degraded` (answering, but without Redis or with L1 not kept coherent), or `closed`. */
function statusOf(health: CacheHealth): 'ok' | 'degraded' | 'closed' {
  if (health.closed) return 'closed'
  if (health.l2 === 'down' || health.l2 === 'circuit-open' || health.coherence === 'degraded') return 'degraded'
  return 'ok'
}

const server = createServer((req, res) => {
  if (req.url !== '/healthz') {
    res.writeHead(404).end()
    return
  }
  // health() never rejects and resolves within redisTimeout.
  void cache.health().then((health) => {
    const status = statusOf(health)
    res.writeHead(status === 'closed' ? 503 : 200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    res.end(JSON.stringify({ status, ...health }))
  })
})
server.listen(0, '127.0.0.1')
await once(server, 'listening')
const address = server.address()
const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/healthz`

async function probe(label: string): Promise<void> {
  const response = await fetch(url)
  const body = (await response.json()) as { status: string } & CacheHealth
  console.log(`${label}GET /healthz -> ${response.status} ${body.status} (l2: ${body.l2}, coherence: ${body.coherence}, L1 entries: ${body.l1.entries})`)
}

console.log(`cache: ${process.env.REDIS_URL ? `L1 + Redis at ${process.env.REDIS_URL}` : 'L1 only'}`)
await cache.getOrSet('greeting', () => 'hello')
await probe('')
await cache.close()
await probe('after close(): ')
server.close()
