/**
 * Caching whole HTTP responses in Fastify.
 *
 * Shows: a slow route computed once then served from the cache (MISS, then HIT) with
 * the content type Fastify's serializer gave it, a 304 for a client whose copy is
 * current, one computation for many concurrent requests, a write route that invalidates
 * the cached reads with `reply.cacheInvalidate`, a route left out with `config.memoredis`,
 * and a request carrying a session cookie, which bypasses the cache.
 *
 * Run: node --conditions=source --import tsx examples/fastify.ts
 * With REDIS_URL=redis://127.0.0.1:6379 responses are shared through Redis with every
 * process of the app; without it the cache is in this process only.
 */
import Fastify from 'fastify'
import { createCache } from 'memoredis'
import { fastifyCache } from 'memoredis/fastify'

const cache = createCache({ redis: process.env.REDIS_URL || undefined, prefix: 'example-fastify' })

let computations = 0
let price = 10
const app = Fastify()
await app.register(fastifyCache, { cache, ttl: '30s' })

const schema = { response: { 200: { type: 'object', properties: { total: { type: 'number' }, price: { type: 'number' } } } } }
app.get('/slow', { schema, config: { memoredis: { tags: ['prices'] } } }, async () => {
  computations++
  await new Promise((resolve) => setTimeout(resolve, 500)) // an expensive query
  return { total: 42, price, internal: 'left out by the response schema' }
})
app.post('/price', async (_request, reply) => {
  price++
  await reply.cacheInvalidate(['prices']) // every process drops its cached /slow
  return { price }
})
app.get('/clock', { config: { memoredis: { bypass: true } } }, async () => ({ now: Date.now() }))
app.get('/me', async (request) => `hello ${request.headers.cookie ?? 'stranger'}`)

await app.listen({ port: 0, host: '127.0.0.1' })
const address = app.server.address()
const base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`

async function show(path: string, init: RequestInit = {}): Promise<Response> {
  const started = performance.now()
  const response = await fetch(base + path, init)
  const body = await response.text()
  const ms = Math.round(performance.now() - started)
  console.log(`${init.method ?? 'GET'} ${path} -> ${response.status} ${response.headers.get('x-cache')} in ${ms}ms ${body}`)
  return response
}

const first = await show('/slow')
const second = await show('/slow')
console.log(`  content-type on the HIT: ${second.headers.get('content-type')}`)
await show('/slow', { headers: { 'If-None-Match': first.headers.get('etag') ?? '' } })
await show('/price', { method: 'POST' })
console.log('the price changed and /slow was invalidated; now 20 requests at once:')
const replies = await Promise.all(Array.from({ length: 20 }, () => fetch(base + '/slow')))
const statuses = replies.map((r) => r.headers.get('x-cache'))
console.log(`  ${statuses.filter((s) => s === 'MISS').length} MISS, ${statuses.filter((s) => s === 'HIT').length} HIT; the route ran ${computations} times in all`)
await show('/clock')
await show('/me', { headers: { Cookie: 'session=alice' } })

await app.close()
await cache.close()
