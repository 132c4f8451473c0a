/**
 * Caching whole HTTP responses in Express.
 *
 * Shows: a slow route computed once then served from the cache (MISS, then HIT), a HEAD
 * answered from the GET's entry, a 304 for a client whose copy is current, tracking
 * parameters left out of the key, a route invalidated by tag, and a response that sets a
 * cookie, which is never cached.
 *
 * Run: node --conditions=source --import tsx examples/express.ts
 * With REDIS_URL=redis://127.0.0.1:6379 responses are shared through Redis with every
 * process of the app; without it the cache is in this process only.
 */
import { once } from 'node:events'
import express from 'express'
import { createCache } from 'memoredis'
import { expressCache } from 'memoredis/express'

const cache = createCache({ redis: process.env.REDIS_URL || undefined, prefix: 'example-express' })

const app = express()
app.use(
  expressCache({
    cache,
    ttl: '30s',
    ignoreQuery: ['utm_*'],
    tags: (req) => (req.path.startsWith('/report') ? ['reports'] : []),
  }),
)
app.get('/report', async (_req, res) => {
  await new Promise((resolve) => setTimeout(resolve, 500)) // an expensive query
  res.json({ total: 42, at: new Date().toISOString() })
})
app.get('/login', (_req, res) => {
  res.cookie('session', 'abc123').send('welcome') // per visitor: never cached
})

const server = app.listen(0, '127.0.0.1')
await once(server, 'listening')
const address = server.address()
const base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`

async function show(path: string, init: RequestInit = {}): Promise<Response> {
  const started = performance.now()
  const response = await fetch(base + path, init)
  await response.arrayBuffer()
  const ms = Math.round(performance.now() - started)
  console.log(`${init.method ?? 'GET'} ${path} -> ${response.status} ${response.headers.get('x-cache')} in ${ms}ms`)
  return response
}

const first = await show('/report')
await show('/report')
await show('/report?utm_source=newsletter')
await show('/report', { method: 'HEAD' })
await show('/report', { headers: { 'If-None-Match': first.headers.get('etag') ?? '' } })
await cache.invalidateTags(['reports'])
console.log('invalidated tag "reports"')
await show('/report')
await show('/login')
await show('/login')

server.closeAllConnections()
server.close()
await cache.close()
