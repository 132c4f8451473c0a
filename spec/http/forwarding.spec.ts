import { expect } from 'chai'
import express from 'express'
import Fastify from 'fastify'
import Koa from 'koa'
import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http'
import { createCache, type Cache } from '../../lib/index.ts'
import { expressCache } from '../../lib/http/express.ts'
import { fastifyCache } from '../../lib/http/fastify.ts'
import { koaCache } from '../../lib/http/koa.ts'
import type { HttpCacheOptions } from '../../lib/http/options.ts'
import { call, closeServers, listen, type Reply } from '../support/http.ts'
import { useRedis } from '../support/redis.ts'

/**
 * Web cache poisoning through request headers that are not in the key. Behind a proxy,
 * Express (`trust proxy`), Koa (`app.proxy`) and Fastify (`trustProxy`) build `protocol`
 * and `hostname` from forwarding headers, and other middleware rewrites the URL or the
 * method from others. One table, run against every framework over real HTTP.
 */

/** A forwarding header joins the key when present; a rewrite header bypasses the cache unless keyed. */
interface Row {
  header: string
  value: string
  kind: 'forwarding' | 'rewrite'
}

const TABLE: readonly Row[] = [
  { header: 'Forwarded', value: 'for=192.0.2.60;host=evil.example;proto=https', kind: 'forwarding' },
  { header: 'X-Forwarded-Host', value: 'evil.example', kind: 'forwarding' },
  { header: 'X-Forwarded-Proto', value: 'https', kind: 'forwarding' },
  { header: 'X-Forwarded-Scheme', value: 'https', kind: 'forwarding' },
  { header: 'X-Forwarded-Prefix', value: '/evil', kind: 'forwarding' },
  { header: 'X-Forwarded-Port', value: '8443', kind: 'forwarding' },
  { header: 'X-Original-URL', value: '/admin', kind: 'rewrite' },
  { header: 'X-Rewrite-URL', value: '/admin', kind: 'rewrite' },
  { header: 'X-HTTP-Method-Override', value: 'DELETE', kind: 'rewrite' },
  { header: 'X-HTTP-Method', value: 'DELETE', kind: 'rewrite' },
  { header: 'X-Method-Override', value: 'DELETE', kind: 'rewrite' },
]
const ECHOED = [...TABLE.map((row) => row.header.toLowerCase()), 'x-tenant']
const REWRITES = TABLE.filter((row) => row.kind === 'rewrite')

/** What the handler puts in its page: a link built as apps build them, and the headers it saw. */
interface Page {
  link: string
  seen: Record<string, string | null>
}

function page(protocol: string, hostname: string, path: string, headers: IncomingHttpHeaders): Page {
  const seen: Record<string, string | null> = {}
  for (const name of ECHOED) seen[name] = (headers[name] as string | undefined) ?? null
  return { link: `${protocol}://${hostname}${path}/next`, seen }
}

/** The page of a request without any header of the table. */
function plainPage(path: string): Page {
  return page('http', '127.0.0.1', path, {})
}

/** A request to the app under test, its JSON page parsed (none for HEAD). */
type Get = (path: string, headers?: Record<string, string>, method?: string) => Promise<Reply & { page: Page | undefined }>

type ProxyOptions = Pick<HttpCacheOptions<unknown, unknown>, 'vary' | 'rewriteHeaders' | 'key'>

interface Framework {
  name: string
  /** A proxy-trusting app: the cache in front of a handler that echoes what it saw (`ran` counts its runs). */
  app(cache: Cache, options: ProxyOptions, ran: (path: string) => void): RequestListener
}

const FRAMEWORKS: readonly Framework[] = [
  {
    name: "Express 5 with 'trust proxy'",
    app(cache, options, ran) {
      const app = express()
      app.set('trust proxy', true)
      app.use(expressCache({ cache, ...options }))
      app.use((req, res) => {
        ran(req.path)
        res.json(page(req.protocol, req.hostname, req.path, req.headers))
      })
      return app
    },
  },
  {
    name: 'Koa 3 with app.proxy',
    app(cache, options, ran) {
      const app = new Koa()
      app.proxy = true
      app.silent = true
      app.use(koaCache({ cache, ...options }))
      app.use((ctx) => {
        ran(ctx.path)
        ctx.body = page(ctx.protocol, ctx.hostname, ctx.path, ctx.headers)
      })
      return app.callback()
    },
  },
  {
    name: 'Fastify 5 with trustProxy',
    app(cache, options, ran) {
      let handle: RequestListener | undefined
      const app = Fastify({
        trustProxy: true,
        serverFactory: (handler) => {
          handle = handler
          return createServer()
        },
      })
      void app.register(fastifyCache, { cache, ...options })
      app.get('/*', async (request) => {
        const path = request.url.split('?')[0] ?? ''
        ran(path)
        return page(request.protocol, request.hostname, path, request.headers)
      })
      // Fastify's own server never listens: the spec's server hands it requests once it is ready.
      const ready = app.ready()
      return (req, res) => void ready.then(() => handle?.(req, res))
    },
  },
]

describe('forwarding and rewrite headers (cache poisoning, real HTTP)', () => {
  const redis = useRedis()
  const servers: Server[] = []
  const caches: Cache[] = []
  afterEach(async () => {
    closeServers(servers)
    await Promise.all(caches.splice(0).map((cache) => cache.close()))
  })

  for (const framework of FRAMEWORKS) {
    describe(framework.name, () => {
      let runs: Map<string, number>
      const ran = (path: string): void => void runs.set(path, (runs.get(path) ?? 0) + 1)

      /** Serves a fresh app; resolves with a function that requests a path from it, its cache and its Host. */
      async function serve(options: ProxyOptions = {}): Promise<{ get: Get; cache: Cache; host: string }> {
        runs = new Map()
        const cache = createCache({ redis: redis.url, prefix: 'spec' })
        caches.push(cache)
        const server = createServer(framework.app(cache, options, ran))
        servers.push(server)
        const url = await listen(server)
        const get: Get = async (path, headers = {}, method = 'GET') => {
          const reply = await call(url, path, { headers, method })
          return { ...reply, page: reply.body === '' ? undefined : (JSON.parse(reply.body) as Page) }
        }
        return { get, cache, host: new URL(url).host }
      }

      it('builds links from the forwarding headers (the app trusts the proxy)', async () => {
        const { get } = await serve()
        const reply = await get('/page', { 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Proto': 'https' })
        expect(reply.page?.link).to.equal('https://evil.example/page/next')
        expect((await get('/page')).page?.link).to.equal('http://127.0.0.1/page/next')
      })

      it('keeps the key of a request without them: an entry made before is still served', async () => {
        const { get, cache, host } = await serve()
        const now = Date.now()
        const before = { k: 'r', s: 200, h: { 'content-type': 'application/json' }, b: Buffer.from('{"made":"before"}'), c: now, a: 0, f: now + 60_000, w: now + 60_000, e: now + 60_000, t: [] }
        await cache.namespace('http').set(`GET ${host} /page`, before)
        const plain = await get('/page')
        expect([plain.headers['x-cache'], plain.body]).to.deep.equal(['HIT', '{"made":"before"}'])
        const forwarded = await get('/page', { 'X-Forwarded-Proto': 'https' })
        expect([forwarded.headers['x-cache'], forwarded.page?.link]).to.deep.equal(['MISS', 'https://127.0.0.1/page/next'])
        expect(runs.get('/page')).to.equal(1)
      })

      for (const row of TABLE) {
        const poisoned = { [row.header]: row.value }
        const first = row.kind === 'forwarding' ? 'MISS' : 'BYPASS'
        const again = row.kind === 'forwarding' ? 'HIT' : 'BYPASS'

        it(`${row.header}: a response made for it is never served to a plain request`, async () => {
          const { get } = await serve()
          const bad = await get('/page', poisoned)
          expect([bad.headers['x-cache'], bad.page?.seen[row.header.toLowerCase()]]).to.deep.equal([first, row.value])
          const plain = await get('/page')
          expect([plain.headers['x-cache'], plain.page]).to.deep.equal(['MISS', plainPage('/page')])
          const plainAgain = await get('/page')
          expect([plainAgain.headers['x-cache'], plainAgain.page]).to.deep.equal(['HIT', plainPage('/page')])
          expect(runs.get('/page')).to.equal(2)
        })

        it(`${row.header}: a plain response is never served to a request with it`, async () => {
          const { get } = await serve()
          const plain = await get('/page')
          expect([plain.headers['x-cache'], plain.page]).to.deep.equal(['MISS', plainPage('/page')])
          const bad = await get('/page', poisoned)
          expect([bad.headers['x-cache'], bad.page?.seen[row.header.toLowerCase()]]).to.deep.equal([first, row.value])
          const badAgain = await get('/page', poisoned)
          expect([badAgain.headers['x-cache'], badAgain.body]).to.deep.equal([again, bad.body])
          expect((await get('/page')).headers['x-cache']).to.equal('HIT')
          expect(runs.get('/page')).to.equal(row.kind === 'forwarding' ? 2 : 3)
        })
      }

      it('lets clients that send the same forwarding headers share one entry, and no other value', async () => {
        const { get } = await serve()
        const proxy = { 'X-Forwarded-Host': 'www.example', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Port': '443', 'X-Forwarded-Prefix': '/shop' }
        const one = await get('/page', proxy)
        const two = await get('/page', proxy)
        expect([one.headers['x-cache'], two.headers['x-cache']]).to.deep.equal(['MISS', 'HIT'])
        expect([one.page?.link, two.body]).to.deep.equal(['https://www.example/page/next', one.body])
        expect(runs.get('/page')).to.equal(1)
        const other = await get('/page', { ...proxy, 'X-Forwarded-Host': 'evil.example' })
        expect([other.headers['x-cache'], other.page?.link]).to.deep.equal(['MISS', 'https://evil.example/page/next'])
        expect((await get('/page', proxy)).body).to.equal(one.body)
      })

      it('keys the forwarding headers under a key of the app\'s own too', async () => {
        const { get } = await serve({ key: () => 'the-page' })
        const bad = await get('/page', { 'X-Forwarded-Host': 'evil.example' })
        const plain = await get('/page')
        const plainAgain = await get('/page')
        expect([bad.headers['x-cache'], plain.headers['x-cache'], plainAgain.headers['x-cache']]).to.deep.equal(['MISS', 'MISS', 'HIT'])
        expect([plain.page, plainAgain.page]).to.deep.equal([plainPage('/page'), plainPage('/page')])
      })

      it('never answers a HEAD with forwarding headers from the plain entry', async () => {
        const { get } = await serve()
        await get('/page')
        expect((await get('/page', {}, 'HEAD')).headers['x-cache']).to.equal('HIT')
        const head = await get('/page', { 'X-Forwarded-Host': 'evil.example' }, 'HEAD')
        expect([head.headers['x-cache'], head.body]).to.deep.equal(['MISS', ''])
        expect(runs.get('/page')).to.equal(2)
      })

      it("keys the rewrite headers instead of bypassing with rewriteHeaders: 'key'", async () => {
        const { get } = await serve({ rewriteHeaders: 'key' })
        for (const row of REWRITES) {
          const path = `/rewrite/${row.header}`
          const bad = await get(path, { [row.header]: row.value })
          const badAgain = await get(path, { [row.header]: row.value })
          expect([bad.headers['x-cache'], badAgain.headers['x-cache']], row.header).to.deep.equal(['MISS', 'HIT'])
          expect([bad.page?.seen[row.header.toLowerCase()], badAgain.body], row.header).to.deep.equal([row.value, bad.body])
          const plain = await get(path)
          expect([plain.headers['x-cache'], plain.page], row.header).to.deep.equal(['MISS', plainPage(path)])
          const other = await get(path, { [row.header]: '/other' })
          expect([other.headers['x-cache'], other.page?.seen[row.header.toLowerCase()]], row.header).to.deep.equal(['MISS', '/other'])
          expect(runs.get(path), row.header).to.equal(3)
        }
      })

      it('keys a rewrite header named in `vary` and still bypasses the others', async () => {
        const { get } = await serve({ vary: ['X-Original-URL'] })
        const bad = await get('/page', { 'X-Original-URL': '/admin' })
        const badAgain = await get('/page', { 'X-Original-URL': '/admin' })
        expect([bad.headers['x-cache'], badAgain.headers['x-cache']]).to.deep.equal(['MISS', 'HIT'])
        const plain = await get('/page')
        expect([plain.headers['x-cache'], plain.page]).to.deep.equal(['MISS', plainPage('/page')])
        expect((await get('/page', { 'X-Rewrite-URL': '/admin' })).headers['x-cache']).to.equal('BYPASS')
      })

      it('keys an input the app reads (X-Tenant) once `vary` names it', async () => {
        const { get } = await serve({ vary: ['X-Tenant'] })
        const a = await get('/page', { 'X-Tenant': 'a' })
        const b = await get('/page', { 'X-Tenant': 'b' })
        const aAgain = await get('/page', { 'X-Tenant': 'a' })
        expect([a.headers['x-cache'], b.headers['x-cache'], aAgain.headers['x-cache']]).to.deep.equal(['MISS', 'MISS', 'HIT'])
        expect([a.page?.seen['x-tenant'], b.page?.seen['x-tenant'], aAgain.page?.seen['x-tenant']]).to.deep.equal(['a', 'b', 'a'])
        expect(runs.get('/page')).to.equal(2)
      })
    })
  }
})
