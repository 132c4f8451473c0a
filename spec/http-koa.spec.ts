import { expect } from 'chai'
import Koa, { type Context } from 'koa'
import { createServer, type Server } from 'node:http'
import { PassThrough, Readable } from 'node:stream'
import { createCache, InvalidOptionError, type Cache } from '../lib/index.ts'
import { koaCache, type KoaCacheOptions } from '../lib/http/koa.ts'
import { call, closeServers, firstChunk, gate, listen } from './support/http.ts'
import { useRedis } from './support/redis.ts'

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

  describe('what is cached', () => {
    it('caches JSON, text and Buffer bodies with their status and content type, running each handler once', async () => {
      const runs = { json: 0, text: 0, bytes: 0 }
      const url = await serve({}, {
        '/json': (ctx) => void (ctx.body = { n: ++runs.json }),
        '/text': (ctx) => void (ctx.body = `text ${++runs.text}`),
        '/bytes': (ctx) => void (ctx.body = Buffer.from([0, 1, 2, 255, ++runs.bytes])),
      })
      for (const path of ['/json', '/text', '/bytes']) {
        const first = await call(url, path)
        const second = await call(url, path)
        expect([first.headers['x-cache'], second.headers['x-cache']], path).to.deep.equal(['MISS', 'HIT'])
        expect(second.status).to.equal(200)
        expect(second.bytes.equals(first.bytes), path).to.equal(true)
        expect(second.headers['content-type']).to.equal(first.headers['content-type'])
      }
      expect(JSON.parse((await call(url, '/json')).body)).to.deep.equal({ n: 1 })
      expect((await call(url, '/json')).headers['content-type']).to.equal('application/json; charset=utf-8')
      expect(runs).to.deep.equal({ json: 1, text: 1, bytes: 1 })
    })

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

    it('passes a body larger than maxBodySize through whole and uncached', async () => {
      let runs = 0
      const chunk = 'x'.repeat(1000)
      const url = await serve({ maxBodySize: 2048 }, {
        '/big': (ctx) => {
          runs++
          ctx.type = 'text'
          ctx.body = Readable.from(Array.from({ length: 10 }, (_, i) => `${i}${chunk}`))
        },
        '/big-buffer': (ctx) => void (ctx.body = Buffer.alloc(5000, ++runs)),
      })
      const first = await call(url, '/big')
      const second = await call(url, '/big')
      expect(first.bytes.length).to.equal(10_010)
      expect(first.body.startsWith(`0${chunk}1${chunk}`)).to.equal(true)
      expect(second.body).to.equal(first.body)
      expect([first.headers['x-cache'], second.headers['x-cache']]).to.deep.equal(['BYPASS', 'BYPASS'])
      expect(runs).to.equal(2)
      const sent = await call(url, '/big-buffer')
      expect([sent.bytes.length, sent.headers['x-cache']]).to.deep.equal([5000, 'BYPASS'])
      expect((await call(url, '/big-buffer')).bytes[0]).to.equal(4)
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
    it('sorts query parameters and leaves out the ignored ones', async () => {
      let runs = 0
      const url = await serve({ ignoreQuery: ['utm_*', /^fbclid$/] }, { '/q': (ctx) => void (ctx.body = { query: ctx.query, run: ++runs }) })
      await call(url, '/q?b=2&a=1')
      expect((await call(url, '/q?a=1&b=2&utm_source=x&fbclid=y')).headers['x-cache']).to.equal('HIT')
      expect((await call(url, '/q?a=1&b=3')).headers['x-cache']).to.equal('MISS')
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
    it('never serves user A’s response to user B (cookie or Authorization: bypassed)', async () => {
      let runs = 0
      const url = await serve({}, {
        '/me': (ctx) => {
          runs++
          ctx.body = `hello ${ctx.get('cookie') || ctx.get('authorization') || 'anonymous'}`
        },
      })
      const a = await call(url, '/me', { headers: { cookie: 'session=A' } })
      const b = await call(url, '/me', { headers: { cookie: 'session=B' } })
      const aAuth = await call(url, '/me', { headers: { authorization: 'Bearer A' } })
      const bAuth = await call(url, '/me', { headers: { authorization: 'Bearer B' } })
      await call(url, '/me')
      const anonymous = await call(url, '/me')
      expect([a.body, b.body, aAuth.body, bAuth.body]).to.deep.equal(['hello session=A', 'hello session=B', 'hello Bearer A', 'hello Bearer B'])
      expect([a, b, aAuth, bAuth].map((r) => r.headers['x-cache'])).to.deep.equal(['BYPASS', 'BYPASS', 'BYPASS', 'BYPASS'])
      expect([anonymous.body, anonymous.headers['x-cache']]).to.deep.equal(['hello anonymous', 'HIT'])
      expect((await call(url, '/me', { headers: { cookie: 'session=B' } })).body).to.equal('hello session=B')
      expect(runs).to.equal(6)
    })

    it('caches per credential when `vary` names authorization, and never crosses users', async () => {
      let runs = 0
      const url = await serve({ vary: ['authorization'] }, { '/me': (ctx) => void (ctx.body = `hello ${ctx.get('authorization')} #${++runs}`) })
      await call(url, '/me', { headers: { authorization: 'Bearer A' } })
      await call(url, '/me', { headers: { authorization: 'Bearer B' } })
      const a = await call(url, '/me', { headers: { authorization: 'Bearer A' } })
      const b = await call(url, '/me', { headers: { authorization: 'Bearer B' } })
      expect([a.body, a.headers['x-cache'], b.body, b.headers['x-cache']]).to.deep.equal(['hello Bearer A #1', 'HIT', 'hello Bearer B #2', 'HIT'])
    })

    it('does not cache a response that sets a cookie, nor private, no-store or Vary: * ones', async () => {
      let runs = 0
      const url = await serve({}, {
        '/cookie': (ctx) => {
          ctx.cookies.set('id', String(++runs))
          ctx.body = 'with cookie'
        },
        '/private': (ctx) => {
          ctx.set('Cache-Control', 'private')
          ctx.body = `private ${++runs}`
        },
        '/no-store': (ctx) => {
          ctx.set('Cache-Control', 'no-store')
          ctx.body = `no-store ${++runs}`
        },
        '/star': (ctx) => {
          ctx.set('Vary', '*')
          ctx.body = `star ${++runs}`
        },
      })
      await call(url, '/cookie')
      const two = await call(url, '/cookie')
      expect([two.headers['set-cookie']?.[0]?.startsWith('id=2;'), two.headers['x-cache']]).to.deep.equal([true, 'BYPASS'])
      for (const path of ['/private', '/no-store', '/star']) {
        const first = await call(url, path)
        const second = await call(url, path)
        expect(second.body, path).to.not.equal(first.body)
        expect(second.headers['x-cache'], path).to.equal('BYPASS')
      }
      expect(runs).to.equal(8)
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
    it('gives a strong ETag and an Age, and answers a matching If-None-Match with 304 from the cache', async () => {
      let runs = 0
      const url = await serve({}, { '/e': (ctx) => void (ctx.body = `etagged ${++runs}`) })
      const miss = await call(url, '/e')
      const etag = String(miss.headers.etag)
      expect(etag).to.match(/^"[^W]/)
      const hit = await call(url, '/e')
      expect([hit.headers.etag, hit.headers['x-cache'], Number(hit.headers.age) >= 0]).to.deep.equal([etag, 'HIT', true])
      const revalidated = await call(url, '/e', { headers: { 'if-none-match': etag } })
      expect([revalidated.status, revalidated.headers['x-cache'], revalidated.body, revalidated.headers.etag]).to.deep.equal([304, 'HIT', '', etag])
      expect(runs).to.equal(1)
    })

    it('answers If-None-Match with 304 on the MISS that fills the cache, and If-Modified-Since too', async () => {
      const modified = new Date('2024-01-01T00:00:00Z').toUTCString()
      const url = await serve({}, {
        '/e': (ctx) => {
          ctx.set('ETag', '"v1"')
          ctx.body = 'v1'
        },
        '/m': (ctx) => {
          ctx.set('Last-Modified', modified)
          ctx.body = 'dated'
        },
      })
      const miss = await call(url, '/e', { headers: { 'if-none-match': '"v1"' } })
      expect([miss.status, miss.headers['x-cache'], miss.body]).to.deep.equal([304, 'MISS', ''])
      expect((await call(url, '/e')).body).to.equal('v1')
      await call(url, '/m')
      const same = await call(url, '/m', { headers: { 'if-modified-since': modified } })
      expect([same.status, same.headers['x-cache']]).to.deep.equal([304, 'HIT'])
    })

    it('serves HEAD from the GET entry; a cold HEAD runs the handler and fills nothing', async () => {
      let runs = 0
      const url = await serve({}, { '/h': (ctx) => void (ctx.body = `head or get ${++runs}`) })
      const coldHead = await call(url, '/h', { method: 'HEAD' })
      expect([coldHead.status, coldHead.headers['x-cache'], coldHead.body]).to.deep.equal([200, 'MISS', ''])
      expect((await call(url, '/h')).headers['x-cache']).to.equal('MISS')
      const head = await call(url, '/h', { method: 'HEAD' })
      expect([head.status, head.headers['x-cache'], head.body, head.headers['content-length']]).to.deep.equal([200, 'HIT', '', '13'])
      expect(runs).to.equal(2)
    })
  })

  describe('stampede protection and lifetime', () => {
    it('runs the handler once for 100 concurrent requests of a cold URL', async () => {
      let runs = 0
      let arrived = 0
      const all = gate()
      const url = await serve({}, {
        '/slow': async (ctx) => {
          runs++
          await all.opened
          ctx.body = 'computed once'
        },
      })
      servers[0]?.on('request', () => {
        if (++arrived === 100) setImmediate(all.open)
      })
      const replies = await Promise.all(Array.from({ length: 100 }, () => call(url, '/slow')))
      expect(runs).to.equal(1)
      expect(new Set(replies.map((r) => r.body))).to.deep.equal(new Set(['computed once']))
      const statuses = replies.map((r) => r.headers['x-cache'])
      expect([statuses.filter((s) => s === 'MISS').length, statuses.filter((s) => s === 'HIT').length]).to.deep.equal([1, 99])
    })

    it('gives the waiters of a response that may not be shared their own handler run', async () => {
      let runs = 0
      let arrived = 0
      const all = gate()
      const url = await serve({}, {
        '/login': async (ctx) => {
          const run = ++runs
          await all.opened
          ctx.cookies.set('session', `s${run}`)
          ctx.body = `yours is s${run}`
        },
      })
      servers[0]?.on('request', () => {
        if (++arrived === 5) setImmediate(all.open)
      })
      const replies = await Promise.all(Array.from({ length: 5 }, () => call(url, '/login')))
      expect(runs).to.equal(5)
      for (const reply of replies) {
        expect(reply.body).to.equal(`yours is ${String(reply.headers['set-cookie']?.[0]).slice(8, 10)}`)
        expect(reply.headers['x-cache']).to.equal('BYPASS')
      }
      expect(new Set(replies.map((r) => r.body)).size).to.equal(5)
    })

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

    it('invalidates a route by tag', async () => {
      const version: Record<string, number> = { '/products/1': 1, '/products/2': 1 }
      const cache = newCache()
      const routes: Routes = {}
      for (const path of Object.keys(version)) routes[path] = (ctx) => void (ctx.body = { version: version[ctx.path] })
      const url = await serve({ tags: (ctx) => [`product:${ctx.path.split('/')[2]}`] }, routes, cache)
      await call(url, '/products/1')
      await call(url, '/products/2')
      version['/products/1'] = 2
      version['/products/2'] = 2
      await cache.invalidateTags(['product:1'])
      const one = await call(url, '/products/1')
      const two = await call(url, '/products/2')
      expect([JSON.parse(one.body).version, one.headers['x-cache']]).to.deep.equal([2, 'MISS'])
      expect([JSON.parse(two.body).version, two.headers['x-cache']]).to.deep.equal([1, 'HIT'])
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
    it('shares a response between processes through Redis', async () => {
      let runs = 0
      const routes: Routes = { '/shared': (ctx) => void (ctx.body = Buffer.from(`bytes ${++runs}`)) }
      const one = await serve({}, routes)
      const two = await serve({}, routes)
      await call(one, '/shared', { headers: { host: 'api.example' } })
      const other = await call(two, '/shared', { headers: { host: 'api.example' } })
      expect([other.body, other.headers['x-cache'], runs]).to.deep.equal(['bytes 1', 'HIT', 1])
    })

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

  it('refuses wrong options with InvalidOptionError', () => {
    const cache = newCache()
    expect(() => koaCache({} as KoaCacheOptions)).to.throw(InvalidOptionError, /cache/)
    expect(() => koaCache({ cache, grace: 'soon' as '1s' })).to.throw(InvalidOptionError, /grace/)
    expect(() => koaCache({ cache, vary: ['bad header'] })).to.throw(InvalidOptionError, /vary/)
    expect(() => koaCache({ cache, ignoreQuery: [42 as unknown as string] })).to.throw(InvalidOptionError, /ignoreQuery/)
  })
})
