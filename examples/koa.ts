/**
 * Caching whole HTTP responses in Koa.
 *
 * Shows: a slow route computed once then served from the cache (MISS, then HIT), one
 * computation for many concurrent requests, a streamed body kept whole, a 304 for a
 * client whose copy is current, a route invalidated by tag, and a request carrying a
 * session cookie, which bypasses the cache.
 *
 * Run: node --conditions=source --import tsx examples/koa.ts
 * With REDIS_URL=redis://127.0.0.1:6379 responses are shared through Redis with every
 * process of the app; without it the cache is in this process only.
 */
import { once } from 'node:events'
import { createServer } from 'node:http'
import { Readable } from 'node:stream'
import Koa from 'koa'
import { createCache } from 'memoredis'
import { koaCache } from 'memoredis/koa'

const cache = createCache({ redis: process.env.REDIS_URL || undefined, prefix: 'example-koa' })

let computations = 0
const app = new Koa()
app.use(koaCache({ cache, ttl: '30s', tags: (ctx) => [`path:${ctx.path}`] }))
app.use(async (ctx) => {
  if (ctx.path === '/slow') {
    computations++
    await new Promise((resolve) => setTimeout(resolve, 500)) // an expensive query
    ctx.body = { total: 42, at: new Date().toISOString() }
  } else if (ctx.path === '/feed') {
    ctx.type = 'text'
    ctx.body = Readable.from(['line 1\n', 'line 2\n', 'line 3\n'])
  } else if (ctx.path === '/me') {
    ctx.body = `hello ${ctx.cookies.get('session') ?? 'stranger'}`
  }
})

const server = createServer(app.callback()).listen(0, '127.0.0.1')
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

const first = await show('/slow')
await show('/slow')
await show('/slow', { headers: { 'If-None-Match': first.headers.get('etag') ?? '' } })
await cache.invalidateTags(['path:/slow'])
console.log('invalidated tag "path:/slow"; now 20 requests at once:')
const replies = await Promise.all(Array.from({ length: 20 }, () => fetch(base + '/slow')))
const statuses = replies.map((r) => r.headers.get('x-cache'))
console.log(`  ${statuses.filter((s) => s === 'MISS').length} MISS, ${statuses.filter((s) => s === 'HIT').length} HIT; the route ran ${computations} times in all`)
await show('/feed')
await show('/feed')
await show('/me', { headers: { Cookie: 'session=alice' } })

server.closeAllConnections()
server.close()
await cache.close()
