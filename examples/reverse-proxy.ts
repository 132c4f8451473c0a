/**
 * A caching reverse proxy for a fleet: a backend-for-frontend in front of a slow API,
 * whose responses say how long they are fresh (`Cache-Control`, `Expires`, ETags), as
 * they would to any shared cache. Every method, header and body is forwarded; GET and
 * HEAD responses are kept in memoredis, shared by every instance through Redis, fresh as
 * the upstream says, revalidated with its validators, and dropped everywhere when a
 * write to their URL succeeds.
 *
 * Serve: ORIGIN=http://api.internal:3000 PORT=8080 REDIS_URL=redis://127.0.0.1:6379 \
 *   node --conditions=source --import tsx examples/reverse-proxy.ts
 * Without ORIGIN it shows itself: it starts a small upstream of its own, sends a few
 * requests through the proxy, prints what the cache did and exits.
 */
import { once } from 'node:events'
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server } from 'node:http'
import { request as requestTls } from 'node:https'
import type { AddressInfo } from 'node:net'
import express, { type Request, type Response } from 'express'
import { createCache, type Cache } from 'memoredis'
import { expressCache } from 'memoredis/express'

/** Hop-by-hop headers: they describe one connection, never forwarded either way. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']

/** `headers` without the hop-by-hop ones and those their `Connection` names. */
function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = String(headers.connection ?? '').toLowerCase().split(',').map((name) => name.trim())
  const out: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.includes(name) && !named.includes(name)) out[name] = value
  }
  return out
}

/** An Express app that caches and forwards everything to `origin`. */
function proxyApp(cache: Cache, origin: URL): express.Express {
  const app = express()
  app.disable('x-powered-by')
  app.disable('etag')
  // As a shared cache: freshness from the upstream only (no default ttl, no invented ETag), every header replayed.
  app.use(expressCache({ cache, freshness: 'response', ttl: 0, etag: false, dropHeaders: [] }))
  app.use((req, res) => forward(req, res, origin))
  return app
}

/** Sends `req` (method, headers, body) to the upstream and its response back, as it comes. */
function forward(req: Request, res: Response, origin: URL): void {
  const headers = { ...endToEnd(req.headers), host: origin.host }
  const send = origin.protocol === 'https:' ? requestTls : request
  const upstream = send(new URL(req.originalUrl, origin), { method: req.method, headers }, (answer: IncomingMessage) => {
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEnd(answer.headers))
    answer.pipe(res)
  })
  upstream.on('error', () => {
    if (!res.headersSent) res.status(502).set('content-type', 'text/plain').end('bad gateway')
    else res.destroy()
  })
  req.pipe(upstream)
}

/** Listens on `port` (0: any free one); resolves with the port. */
async function listen(server: Server, port: number): Promise<number> {
  server.listen(port)
  await once(server, 'listening')
  return (server.address() as AddressInfo).port
}

/** The demo's upstream: a slow price list, a document with an ETag, and a route that writes. */
function demoOrigin(): { server: Server; calls: () => number } {
  let calls = 0
  let price = 10
  const server = createServer((req, res) => {
    calls++
    if (req.method === 'POST') {
      price++
      res.writeHead(204, { location: '/prices' }).end()
    } else if (req.url === '/prices') {
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' }).end(JSON.stringify({ price })), 200)
    } else if (req.headers['if-none-match'] === '"v1"') {
      res.writeHead(304, { etag: '"v1"', 'cache-control': 'no-cache' }).end()
    } else {
      res.writeHead(200, { 'content-type': 'text/plain', etag: '"v1"', 'cache-control': 'no-cache', link: '</terms>; rel="canonical"' }).end('the terms')
    }
  })
  return { server, calls: () => calls }
}

async function demo(cache: Cache): Promise<void> {
  const upstream = demoOrigin()
  const origin = new URL(`http://127.0.0.1:${await listen(upstream.server, 0)}`)
  const proxy = createServer(proxyApp(cache, origin))
  const base = `http://127.0.0.1:${await listen(proxy, Number(process.env.PORT || 0))}`
  const show = async (method: string, path: string): Promise<void> => {
    const started = performance.now()
    const reply = await fetch(base + path, { method })
    const body = await reply.text()
    const ms = Math.round(performance.now() - started)
    console.log(`${method} ${path} -> ${reply.status} ${reply.headers.get('x-cache')} in ${ms}ms ${body}`.trimEnd())
  }
  await show('GET', '/prices')
  await show('GET', '/prices')
  await show('GET', '/terms')
  await show('GET', '/terms')
  await show('POST', '/prices')
  await show('GET', '/prices')
  console.log(`upstream calls in all: ${upstream.calls()}`)
  proxy.close()
  upstream.server.close()
}

async function serve(cache: Cache, origin: URL): Promise<void> {
  const server = createServer(proxyApp(cache, origin))
  const port = await listen(server, Number(process.env.PORT || 8080))
  console.log(`caching ${origin.href} on port ${port}${process.env.REDIS_URL ? ` (shared through ${process.env.REDIS_URL})` : ' (this process only)'}`)
  await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')])
  server.close()
}

const cache = createCache({ redis: process.env.REDIS_URL || undefined, prefix: 'reverse-proxy' })
try {
  if (process.env.ORIGIN) await serve(cache, new URL(process.env.ORIGIN))
  else await demo(cache)
} finally {
  await cache.close()
}
