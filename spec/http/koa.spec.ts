import { expect } from 'chai'
import Koa, { type Context } from 'koa'
import createSession from 'koa-session'
import { randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { PassThrough, Readable } from 'node:stream'
import { createCache, InvalidOptionError, type Cache } from '../../lib/index.ts'
import { koaCache, type KoaCacheOptions } from '../../lib/http/koa.ts'
import { call, closeServers, expectSessionsApart, expectTruncatedUnstored, firstChunk, gate, listen } from '../support/http.ts'
import { useRedis } from '../support/redis.ts'

type Handler = (ctx: Context) => void | Promise<void>
/** Routes by exact path (GET and HEAD), enough for these specs. */
type Routes = Record<string, Handler>

describe('koaCache (Koa 3, real HTTP)', () => {
  const redis = useRedis()
  const servers: Server[] = []
  const caches: Cache[] = []

  function newCache(): Cache {
    const cache = createCache({ redis: redis.url, prefix: 'spec' })
    caches.push(cache)
    return cache
  }

  async function serve(options: Partial<KoaCacheOptions>, routes: Routes, cache = newCache()): Promise<string> {
    const app = new Koa()
    app.silent = true
    app.use(koaCache({ cache, ...options }))
    app.use(async (ctx) => {
      const handler = routes[ctx.path]
      if (handler !== undefined && (ctx.method === 'GET' || ctx.method === 'HEAD')) await handler(ctx)
    })
    const server = createServer(app.callback())
    servers.push(server)
    return listen(server)
  }

  afterEach(async () => {
    closeServers(servers)
    await Promise.all(caches.splice(0).map((cache) => cache.close()))
  })

  describe('session middleware (a cookie set after next() returns)', () => {
    for (const order of ['before', 'after'] as const) {
      it(`never serves one visitor’s session page to the next, and still sends the cookie: koa-session mounted ${order} the cache`, async () => {
        let runs = 0
        const app = new Koa()
        app.silent = true
        app.keys = ['spec']
        const session = createSession({}, app)
        const cached = koaCache({ cache: newCache() })
        for (const middleware of order === 'before' ? [session, cached] : [cached, session]) app.use(middleware)
        app.use((ctx) => {
          runs++
          const own = ctx.session as unknown as { csrf?: string }
          own.csrf ??= randomUUID()
          ctx.body = `<input name="csrf" value="${own.csrf}">`
        })
        const server = createServer(app.callback())
        servers.push(server)
        const url = await listen(server)
        await expectSessionsApart(url, '/form', 'koa.sess')
        expect(runs).to.equal(2)
      })
    }
  })

  describe('truncated bodies', () => {
    it('never stores a body shorter than its Content-Length, and sends it as the handler did', async () => {
      let runs = 0
      const url = await serve({}, {
        '/short': (ctx) => {
          runs++
          ctx.body = Buffer.from('0123456789')
          ctx.length = 26
        },
      })
      await expectTruncatedUnstored(url, '/short')
      expect(runs).to.equal(2)
    })
  })

  describe('what is cached', () => {
    it('caches a streamed body whole', async () => {
      let runs = 0
      const url = await serve({}, {
        '/stream': (ctx) => {
          runs++
          ctx.type = 'text'
          ctx.body = Readable.from(['one ', 'two ', 'three'])
        },
      })
      const first = await call(url, '/stream')
      const second = await call(url, '/stream')
      expect([first.body, second.body]).to.deep.equal(['one two three', 'one two three'])
      expect([first.headers['x-cache'], second.headers['x-cache']]).to.deep.equal(['MISS', 'HIT'])
      expect(second.headers['content-type']).to.equal('text/plain; charset=utf-8')
      expect(runs).to.equal(1)
    })

    it('passes a streamed body larger than maxBodySize through whole and uncached', async () => {
      let runs = 0
      const chunk = 'x'.repeat(1000)
      const url = await serve({ maxBodySize: 2048 }, {
        '/big': (ctx) => {
          runs++
          ctx.type = 'text'
          ctx.body = Readable.from(Array.from({ length: 10 }, (_, i) => `${i}${chunk}`))
        },
      })
      const first = await call(url, '/big')
      const second = await call(url, '/big')
      expect(first.bytes.length).to.equal(10_010)
      expect(first.body.startsWith(`0${chunk}1${chunk}`)).to.equal(true)
      expect(second.body).to.equal(first.body)
      expect([first.headers['x-cache'], second.headers['x-cache']]).to.deep.equal(['BYPASS', 'BYPASS'])
      expect(runs).to.equal(2)
    })

    it('never holds server-sent events back', async () => {
      const events = new PassThrough()
      const url = await serve({}, {
        '/events': (ctx) => {
          ctx.type = 'text/event-stream'
          ctx.body = events
          events.write('data: first\n\n')
        },
      })
      const { headers, chunk } = await firstChunk(url, '/events')
      expect([chunk, headers['x-cache']]).to.deep.equal(['data: first\n\n', 'BYPASS'])
      events.end()
    })

    it('caches the default statuses (404 without a body too) but not 500, and only `statuses` when given', async () => {
      const runs: Record<string, number> = {}
      const routes: Routes = {}
      for (const code of [404, 410, 301, 500]) {
        routes[`/status/${code}`] = (ctx) => {
          runs[code] = (runs[code] ?? 0) + 1
          ctx.status = code
          ctx.body = `status ${code}`
        }
      }
      const url = await serve({}, routes)
      for (const code of [404, 410, 301, 500]) {
        const first = await call(url, `/status/${code}`)
        const again = await call(url, `/status/${code}`)
        expect([again.status, again.body]).to.deep.equal([code, first.body])
        expect(again.headers['x-cache'], String(code)).to.equal(code === 500 ? 'BYPASS' : 'HIT')
      }
      expect(runs).to.deep.equal({ 404: 1, 410: 1, 301: 1, 500: 2 })
      const missing = await call(url, '/nowhere')
      const missingAgain = await call(url, '/nowhere')
      expect([missing.status, missing.body, missingAgain.status, missingAgain.body, missingAgain.headers['x-cache']]).to.deep.equal([
        404, 'Not Found', 404, 'Not Found', 'HIT',
      ])
      const only200 = await serve({ statuses: [200] }, routes)
      await call(only200, '/status/404')
      expect((await call(only200, '/status/404')).headers['x-cache']).to.equal('BYPASS')
    })
  })

  describe('keys', () => {
    it('keys the query as sent (its order too) and leaves out the ignored parameters', async () => {
      let runs = 0
      const url = await serve({ ignoreQuery: ['utm_*', /^fbclid$/] }, { '/q': (ctx) => void (ctx.body = { query: ctx.query, run: ++runs }) })
      await call(url, '/q?b=2&a=1')
      expect((await call(url, '/q?b=2&utm_source=x&a=1&fbclid=y')).headers['x-cache']).to.equal('HIT')
      expect((await call(url, '/q?a=1&b=2')).headers['x-cache']).to.equal('MISS')
      expect(runs).to.equal(2)
    })

    it('keys on the request headers named in `vary` and on the response’s own Vary', async () => {
      const url = await serve({ vary: ['accept-language'] }, {
        '/lang': (ctx) => void (ctx.body = `lang ${ctx.get('accept-language') || '-'}`),
        '/flavor': (ctx) => {
          ctx.vary('X-Flavor')
          ctx.body = `flavor ${ctx.get('x-flavor') || '-'}`
        },
      })
      await call(url, '/lang', { headers: { 'accept-language': 'fr' } })
      const en = await call(url, '/lang', { headers: { 'accept-language': 'en' } })
      const fr = await call(url, '/lang', { headers: { 'accept-language': 'fr' } })
      expect([en.body, en.headers['x-cache'], fr.body, fr.headers['x-cache']]).to.deep.equal(['lang en', 'MISS', 'lang fr', 'HIT'])
      await call(url, '/flavor', { headers: { 'x-flavor': 'a' } })
      const b = await call(url, '/flavor', { headers: { 'x-flavor': 'b' } })
      const a = await call(url, '/flavor', { headers: { 'x-flavor': 'a' } })
      expect([b.body, b.headers['x-cache'], a.body, a.headers['x-cache']]).to.deep.equal(['flavor b', 'MISS', 'flavor a', 'HIT'])
    })

    it('uses a custom key from ctx', async () => {
      let runs = 0
      const url = await serve({ key: (ctx) => ctx.path }, { '/k': (ctx) => void (ctx.body = `run ${++runs}`) })
      await call(url, '/k?a=1')
      expect((await call(url, '/k?b=2')).body).to.equal('run 1')
    })
  })

  describe('privacy', () => {
    it('caches per credential when `vary` names authorization, and never crosses users', async () => {
      let runs = 0
      const url = await serve({ vary: ['authorization'] }, { '/me': (ctx) => void (ctx.body = `hello ${ctx.get('authorization')} #${++runs}`) })
      await call(url, '/me', { headers: { authorization: 'Bearer A' } })
      await call(url, '/me', { headers: { authorization: 'Bearer B' } })
      const a = await call(url, '/me', { headers: { authorization: 'Bearer A' } })
      const b = await call(url, '/me', { headers: { authorization: 'Bearer B' } })
      expect([a.body, a.headers['x-cache'], b.body, b.headers['x-cache']]).to.deep.equal(['hello Bearer A #1', 'HIT', 'hello Bearer B #2', 'HIT'])
    })

    it('bypasses a request with Cache-Control: no-store, and ignores no-cache unless honorNoCache', async () => {
      let runs = 0
      const routes: Routes = { '/r': (ctx) => void (ctx.body = `run ${++runs}`) }
      const url = await serve({}, routes)
      await call(url, '/r')
      const noStore = await call(url, '/r', { headers: { 'cache-control': 'no-store' } })
      const noCache = await call(url, '/r', { headers: { 'cache-control': 'no-cache' } })
      expect([noStore.body, noStore.headers['x-cache'], noCache.body, noCache.headers['x-cache']]).to.deep.equal(['run 2', 'BYPASS', 'run 1', 'HIT'])
      const honoring = await serve({ honorNoCache: true }, routes)
      await call(honoring, '/r')
      const forced = await call(honoring, '/r', { headers: { 'cache-control': 'no-cache' } })
      expect([forced.body, forced.headers['x-cache'], (await call(honoring, '/r')).body]).to.deep.equal(['run 4', 'MISS', 'run 4'])
    })
  })

  describe('X-Cache, Age and conditional requests', () => {
    it('gives a response without an ETag (Koa makes none) a strong one, the same on MISS and HIT', async () => {
      let runs = 0
      const url = await serve({}, { '/e': (ctx) => void (ctx.body = `etagged ${++runs}`) })
      const miss = await call(url, '/e')
      const etag = String(miss.headers.etag)
      expect(etag).to.match(/^"[^W]/)
      const hit = await call(url, '/e')
      expect([hit.headers.etag, hit.headers['x-cache'], runs]).to.deep.equal([etag, 'HIT', 1])
    })
  })

  describe('stampede protection and lifetime', () => {
    it('passes a handler’s error on to Koa, and its waiters run their own', async () => {
      let runs = 0
      const url = await serve({}, {
        '/fails': (ctx) => {
          if (++runs === 1) ctx.throw(503, 'first run fails')
          ctx.body = 'second run works'
        },
      })
      const failed = await call(url, '/fails')
      const worked = await call(url, '/fails')
      expect([failed.status, worked.status, worked.body, worked.headers['x-cache']]).to.deep.equal([503, 200, 'second run works', 'MISS'])
    })

    it('serves STALE within grace while one background refresh runs, then the fresh response', async () => {
      let runs = 0
      const second = gate()
      const cache = newCache()
      const refreshed = new Promise((resolve) => cache.on('refresh', resolve))
      const url = await serve({ ttl: 100, grace: '1m', tags: (ctx) => [`tagged ${ctx.path}`] }, {
        '/swr': async (ctx) => {
          const run = ++runs
          if (run === 2) await second.opened
          ctx.body = `run ${run} for ${ctx.ip}`
        },
      }, cache)
      const first = await call(url, '/swr')
      await new Promise((resolve) => setTimeout(resolve, 150)) // past the ttl; nothing to wait on
      const stale = await call(url, '/swr')
      expect([stale.body, stale.headers['x-cache']]).to.deep.equal([first.body, 'STALE'])
      second.open()
      await refreshed
      const fresh = await call(url, '/swr')
      expect([fresh.body, fresh.headers['x-cache'], runs]).to.deep.equal(['run 2 for 127.0.0.1', 'HIT', 2])
      await cache.invalidateTags(['tagged /swr'])
      expect((await call(url, '/swr')).body).to.equal('run 3 for 127.0.0.1')
    })
  })

  describe('Redis', () => {
    it('serves uncached, and never fails, when the cache cannot answer', async () => {
      let runs = 0
      const cache = newCache()
      const errors: unknown[] = []
      const url = await serve({ onError: (error) => errors.push(error) }, { '/c': (ctx) => void (ctx.body = `run ${++runs}`) }, cache)
      await cache.close()
      const one = await call(url, '/c')
      const two = await call(url, '/c')
      expect([one.status, one.body, two.body, two.headers['x-cache']]).to.deep.equal([200, 'run 1', 'run 2', 'BYPASS'])
      expect(errors.length).to.be.greaterThan(0)
    })
  })

  describe('with Redis down', () => {
    const down = useRedis({ args: [] })

    it('runs the handler and serves the response', async () => {
      let runs = 0
      const cache = createCache({ redis: down.url, prefix: 'spec', redisTimeout: 200, connectWait: 200, l1: false })
      caches.push(cache)
      cache.on('error', () => undefined)
      const url = await serve({}, { '/d': (ctx) => void (ctx.body = `run ${++runs}`) }, cache)
      down.client.on('error', () => undefined) // the spec's own client, about to lose its server
      await down.server?.kill()
      try {
        const one = await call(url, '/d')
        const two = await call(url, '/d')
        expect([one.status, one.body, two.status, two.body]).to.deep.equal([200, 'run 1', 200, 'run 2'])
      } finally {
        await down.server?.restart()
      }
    })
  })

  it('refuses wrong and unknown options with InvalidOptionError', () => {
    const cache = newCache()
    expect(() => koaCache({} as KoaCacheOptions)).to.throw(InvalidOptionError, /cache/)
    expect(() => koaCache({ cache, grace: 'soon' as '1s' })).to.throw(InvalidOptionError, /grace/)
    expect(() => koaCache({ cache, vary: ['bad header'] })).to.throw(InvalidOptionError, /vary/)
    expect(() => koaCache({ cache, ignoreQuery: [42 as unknown as string] })).to.throw(InvalidOptionError, /ignoreQuery/)
    expect(() => koaCache({ cache, varies: ['x-tenant'] } as KoaCacheOptions)).to.throw(InvalidOptionError, /has no option "varies"/)
  })
})
