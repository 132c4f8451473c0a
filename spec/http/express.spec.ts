import { expect } from 'chai'
import cookieSession from 'cookie-session'
import express, { type Express, type RequestHandler } from 'express'
import expressSession from 'express-session'
import { randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { PassThrough, Readable } from 'node:stream'
import { createCache, InvalidOptionError, type Cache } from '../../lib/index.ts'
import { expressCache, type ExpressCacheOptions } from '../../lib/http/express.ts'
import { call, closeServers, expectSessionsApart, expectTruncatedUnstored, firstChunk, gate, listen } from '../support/http.ts'
import { useRedis } from '../support/redis.ts'

describe('expressCache (Express 5, real HTTP)', () => {
  const redis = useRedis()
  const servers: Server[] = []
  const caches: Cache[] = []

  function newCache(): Cache {
    const cache = createCache({ redis: redis.url, prefix: 'spec' })
    caches.push(cache)
    return cache
  }

  /** An app with `expressCache(options)` in front of `routes`, listening on a free loopback port. */
  async function serve(options: Partial<ExpressCacheOptions>, routes: (app: Express) => void, cache = newCache()): Promise<string> {
    const app = express()
    app.use(expressCache({ cache, ...options }))
    routes(app)
    const server = createServer(app)
    servers.push(server)
    return listen(server)
  }

  afterEach(async () => {
    closeServers(servers)
    await Promise.all(caches.splice(0).map((cache) => cache.close()))
  })

  describe('what is cached', () => {
    it('caches a streamed body whole', async () => {
      let runs = 0
      const url = await serve({}, (app) => {
        app.get('/stream', (_req, res) => {
          runs++
          res.type('text')
          Readable.from(['one ', 'two ', 'three']).pipe(res)
        })
      })
      const first = await call(url, '/stream')
      const second = await call(url, '/stream')
      expect([first.body, second.body]).to.deep.equal(['one two three', 'one two three'])
      expect([first.headers['x-cache'], second.headers['x-cache']]).to.deep.equal(['MISS', 'HIT'])
      expect(second.headers['content-length']).to.equal('13')
      expect(runs).to.equal(1)
    })

    it('passes a streamed body larger than maxBodySize through whole and uncached', async () => {
      let runs = 0
      const chunk = 'x'.repeat(1000)
      const url = await serve({ maxBodySize: 2048 }, (app) => {
        app.get('/big', (_req, res) => {
          runs++
          res.type('text')
          Readable.from(Array.from({ length: 10 }, (_, i) => `${i}${chunk}`)).pipe(res)
        })
      })
      const first = await call(url, '/big')
      const second = await call(url, '/big')
      expect(first.bytes.length).to.equal(10_010)
      expect(second.body).to.equal(first.body)
      expect([first.headers['x-cache'], second.headers['x-cache']]).to.deep.equal(['BYPASS', 'BYPASS'])
      expect(runs).to.equal(2)
    })

    it('never holds server-sent events back', async () => {
      const events = new PassThrough()
      const url = await serve({}, (app) => {
        app.get('/events', (_req, res) => {
          res.set('Content-Type', 'text/event-stream')
          res.flushHeaders()
          events.pipe(res)
          events.write('data: first\n\n')
        })
      })
      const { headers, chunk } = await firstChunk(url, '/events')
      expect([chunk, headers['x-cache']]).to.deep.equal(['data: first\n\n', 'BYPASS'])
      events.end()
    })

    it('caches the default statuses (404, 410, 301...) but not 500, and only `statuses` when given', async () => {
      const runs: Record<string, number> = {}
      const routes = (app: Express): void => {
        app.get('/status/:code', (req, res) => {
          runs[req.originalUrl] = (runs[req.originalUrl] ?? 0) + 1
          res.status(Number(req.params.code)).send(`status ${req.params.code}`)
        })
      }
      const url = await serve({}, routes)
      for (const code of [404, 410, 301, 500]) {
        await call(url, `/status/${code}`)
        const again = await call(url, `/status/${code}`)
        expect(again.status).to.equal(code)
        expect(again.headers['x-cache'], String(code)).to.equal(code === 500 ? 'BYPASS' : 'HIT')
      }
      expect(runs).to.deep.equal({ '/status/404': 1, '/status/410': 1, '/status/301': 1, '/status/500': 2 })
      const only200 = await serve({ statuses: [200] }, routes)
      await call(only200, '/status/404')
      expect((await call(only200, '/status/404')).headers['x-cache']).to.equal('BYPASS')
    })

    it('replays every header the handler set but those named in `dropHeaders`', async () => {
      const url = await serve({ dropHeaders: ['X-Other'] }, (app) => {
        app.get('/h', (_req, res) => {
          res.set({ 'Content-Language': 'fr', 'X-Version': '7', 'X-Other': 'no', 'X-Request-Id': 'r1', 'Cache-Control': 'public, max-age=60' })
          res.send('bonjour')
        })
      })
      await call(url, '/h')
      const hit = await call(url, '/h')
      expect(hit.headers['x-cache']).to.equal('HIT')
      expect(hit.headers).to.include({ 'content-language': 'fr', 'x-version': '7', 'cache-control': 'public, max-age=60', 'x-request-id': 'r1' })
      expect(hit.headers['x-other']).to.equal(undefined)
    })
  })

  describe('session middleware (cookies set as the headers go out)', () => {
    /** A form with a per-session token, behind `session` mounted before or after the cache. */
    async function form(session: RequestHandler, order: 'before' | 'after'): Promise<{ url: string; runs: () => number }> {
      let runs = 0
      const app = express()
      const cached = expressCache({ cache: newCache() })
      if (order === 'before') app.use(session, cached)
      else app.use(cached, session)
      app.get('/form', (req, res) => {
        runs++
        const own = req.session as unknown as { csrf?: string }
        own.csrf ??= randomUUID()
        res.send(`<input name="csrf" value="${own.csrf}">`)
      })
      const server = createServer(app)
      servers.push(server)
      return { url: await listen(server), runs: () => runs }
    }

    /** Each session middleware, and the name of its cookie. */
    const sessions: Record<string, [() => RequestHandler, string]> = {
      'express-session (saveUninitialized)': [() => expressSession({ secret: 'spec', resave: false, saveUninitialized: true }), 'connect.sid'],
      'cookie-session': [() => cookieSession({ name: 'session', keys: ['spec'] }), 'session'],
    }
    for (const [name, [session, cookie]] of Object.entries(sessions)) {
      for (const order of ['before', 'after'] as const) {
        it(`never serves one visitor’s session page to the next, and still sends the cookie: ${name} mounted ${order} the cache`, async () => {
          const { url, runs } = await form(session(), order)
          await expectSessionsApart(url, '/form', cookie)
          expect(runs()).to.equal(2)
        })
      }
    }
  })

  describe('truncated bodies', () => {
    it('never stores a body shorter than its Content-Length, and sends it as the handler did', async () => {
      let runs = 0
      const url = await serve({}, (app) => {
        app.get('/short', (_req, res) => {
          runs++
          res.setHeader('Content-Length', '26')
          res.write('0123456789')
          res.end()
        })
      })
      await expectTruncatedUnstored(url, '/short')
      expect(runs).to.equal(2)
    })
  })

  describe('keys', () => {
    it('keys the query as sent (its order too) and leaves out the ignored parameters', async () => {
      let runs = 0
      const url = await serve({ ignoreQuery: ['utm_*', 'fbclid'] }, (app) => {
        app.get('/q', (req, res) => void res.json({ query: req.query, run: ++runs }))
      })
      const first = await call(url, '/q?b=2&a=1')
      expect((await call(url, '/q?b=2&utm_source=x&a=1&fbclid=y')).headers['x-cache']).to.equal('HIT')
      expect((await call(url, '/q?a=1&b=2')).headers['x-cache']).to.equal('MISS')
      expect(JSON.parse(first.body)).to.deep.equal({ query: { b: '2', a: '1' }, run: 1 })
      expect(runs).to.equal(2)
    })

    it('keys on the request headers named in `vary` and on the response’s own Vary', async () => {
      const url = await serve({ vary: ['Accept-Language'] }, (app) => {
        app.get('/lang', (req, res) => void res.send(`lang ${req.get('accept-language') ?? '-'}`))
        app.get('/enc', (req, res) => void res.vary('X-Flavor').send(`flavor ${req.get('x-flavor') ?? '-'}`))
      })
      expect((await call(url, '/lang', { headers: { 'accept-language': 'fr' } })).body).to.equal('lang fr')
      const en = await call(url, '/lang', { headers: { 'accept-language': 'en' } })
      expect([en.body, en.headers['x-cache']]).to.deep.equal(['lang en', 'MISS'])
      const fr = await call(url, '/lang', { headers: { 'accept-language': 'fr' } })
      expect([fr.body, fr.headers['x-cache']]).to.deep.equal(['lang fr', 'HIT'])

      expect((await call(url, '/enc', { headers: { 'x-flavor': 'a' } })).body).to.equal('flavor a')
      const b = await call(url, '/enc', { headers: { 'x-flavor': 'b' } })
      expect([b.body, b.headers['x-cache']]).to.deep.equal(['flavor b', 'MISS'])
      const a = await call(url, '/enc', { headers: { 'x-flavor': 'a' } })
      expect([a.body, a.headers['x-cache'], a.headers.vary]).to.deep.equal(['flavor a', 'HIT', 'X-Flavor'])
      const none = await call(url, '/enc')
      expect(none.body).to.equal('flavor -')
    })

    it('keys on the Host, so that a forged Host never reaches other clients', async () => {
      const url = await serve({}, (app) => void app.get('/link', (req, res) => void res.send(`https://${req.get('host')}/next`)))
      await call(url, '/link', { headers: { host: 'evil.example' } })
      const honest = await call(url, '/link', { headers: { host: 'api.example' } })
      expect([honest.body, honest.headers['x-cache']]).to.deep.equal(['https://api.example/next', 'MISS'])
    })

    it('uses a custom key instead of host and URL', async () => {
      let runs = 0
      const url = await serve({ key: (req) => req.path }, (app) => {
        app.get('/k', (_req, res) => void res.send(`run ${++runs}`))
      })
      await call(url, '/k?a=1')
      expect((await call(url, '/k?b=2')).body).to.equal('run 1')
    })
  })

  describe('privacy', () => {
    it('bypasses a request with Cache-Control: no-store, and ignores no-cache unless honorNoCache', async () => {
      let runs = 0
      const routes = (app: Express): void => void app.get('/r', (_req, res) => void res.send(`run ${++runs}`))
      const url = await serve({}, routes)
      await call(url, '/r')
      const noStore = await call(url, '/r', { headers: { 'cache-control': 'no-store' } })
      const noCache = await call(url, '/r', { headers: { 'cache-control': 'no-cache' } })
      expect([noStore.body, noStore.headers['x-cache']]).to.deep.equal(['run 2', 'BYPASS'])
      expect([noCache.body, noCache.headers['x-cache']]).to.deep.equal(['run 1', 'HIT'])

      const honoring = await serve({ honorNoCache: true }, routes)
      await call(honoring, '/r')
      const forced = await call(honoring, '/r', { headers: { 'cache-control': 'no-cache' } })
      expect([forced.body, forced.headers['x-cache']]).to.deep.equal(['run 4', 'MISS'])
      expect((await call(honoring, '/r')).body).to.equal('run 4')
    })

    it('leaves other methods and `bypass` requests alone', async () => {
      let runs = 0
      const url = await serve({ bypass: (req) => req.path.startsWith('/admin') }, (app) => {
        app.post('/r', (_req, res) => void res.send(`post ${++runs}`))
        app.get('/admin', (_req, res) => void res.send(`admin ${++runs}`))
      })
      expect((await call(url, '/r', { method: 'POST' })).headers['x-cache']).to.equal('BYPASS')
      await call(url, '/admin')
      expect((await call(url, '/admin')).body).to.equal('admin 3')
    })
  })

  describe('X-Cache, Age and conditional requests', () => {
    it('gives a response without an ETag a strong one, the same on MISS and HIT, and an Age', async () => {
      const url = await serve({}, (app) => {
        app.set('etag', false)
        app.get('/plain', (_req, res) => void res.send('plain'))
      })
      const miss = await call(url, '/plain')
      const hit = await call(url, '/plain')
      expect(miss.headers.etag).to.match(/^"[^W]/)
      expect(hit.headers.etag).to.equal(miss.headers.etag)
      expect([miss.headers.age, Number(hit.headers.age) >= 0]).to.deep.equal(['0', true])
    })

    it('adds no ETag with `etag: false`, and answers If-Modified-Since from Last-Modified', async () => {
      const modified = new Date('2024-01-01T00:00:00Z').toUTCString()
      const url = await serve({ etag: false }, (app) => {
        app.set('etag', false)
        app.get('/m', (_req, res) => void res.set('Last-Modified', modified).send('dated'))
      })
      const miss = await call(url, '/m')
      const same = await call(url, '/m', { headers: { 'if-modified-since': modified } })
      expect([miss.headers.etag, same.status, same.headers['x-cache']]).to.deep.equal([undefined, 304, 'HIT'])
    })
  })

  describe('stampede protection and lifetime', () => {
    it('computes again after ttl', async () => {
      let runs = 0
      const url = await serve({ ttl: 100 }, (app) => void app.get('/t', (_req, res) => void res.send(`run ${++runs}`)))
      await call(url, '/t')
      expect((await call(url, '/t')).body).to.equal('run 1')
      await new Promise((resolve) => setTimeout(resolve, 150)) // past the ttl; nothing to wait on
      const after = await call(url, '/t')
      expect([after.body, after.headers['x-cache']]).to.deep.equal(['run 2', 'MISS'])
    })

    it('serves STALE within grace while one background refresh runs, then the fresh response', async () => {
      let runs = 0
      const second = gate()
      const cache = newCache()
      const refreshed = new Promise((resolve) => cache.on('refresh', resolve))
      const url = await serve({ ttl: 100, grace: '1m' }, (app) => {
        app.get('/swr', async (req, res) => {
          const run = ++runs
          if (run === 2) await second.opened
          res.send(`run ${run} for ${req.ip}`)
        })
      }, cache)
      const first = await call(url, '/swr')
      await new Promise((resolve) => setTimeout(resolve, 150)) // past the ttl; nothing to wait on
      const stale = await call(url, '/swr') // answered while the refresh waits on the gate
      expect([stale.body, stale.headers['x-cache']]).to.deep.equal([first.body, 'STALE'])
      second.open()
      await refreshed
      const fresh = await call(url, '/swr')
      expect(fresh.body).to.equal('run 2 for 127.0.0.1')
      expect(fresh.headers['x-cache']).to.equal('HIT')
      expect(runs).to.equal(2)
    })
  })

  describe('L1 only', () => {
    it('serves STALE while the refresh runs detached, never on the client’s response', async () => {
      let runs = 0
      const second = gate()
      const cache = createCache({})
      caches.push(cache)
      const refreshed = new Promise((resolve) => cache.on('refresh', resolve))
      const url = await serve({ ttl: 100, grace: '1m' }, (app) => {
        app.get('/swr', async (_req, res) => {
          const run = ++runs
          if (run === 2) await second.opened
          res.set('X-Run', String(run)).send(`run ${run}`)
        })
      }, cache)
      await call(url, '/swr')
      await new Promise((resolve) => setTimeout(resolve, 150)) // past the ttl; nothing to wait on
      const stale = await call(url, '/swr')
      expect([stale.body, stale.headers['x-cache'], stale.headers['x-run']]).to.deep.equal(['run 1', 'STALE', '1'])
      second.open()
      await refreshed
      const fresh = await call(url, '/swr')
      expect([fresh.body, fresh.headers['x-cache'], runs]).to.deep.equal(['run 2', 'HIT', 2])
    })
  })

  describe('mounted under a path', () => {
    it('refreshes a stale response through the app, from the top, like the original request', async () => {
      let runs = 0
      let seenByAuth = 0
      const second = gate()
      const cache = createCache({})
      caches.push(cache)
      const refreshed = new Promise((resolve) => cache.on('refresh', resolve))
      const app = express()
      app.use((req, _res, next) => {
        seenByAuth++ // middleware in front of the cache sees the refresh too
        next()
      })
      const api = express.Router()
      api.use(expressCache({ cache, ttl: 100, grace: '1m', tags: (req) => [`api:${req.originalUrl}`] }))
      api.get('/items/:id', async (req, res) => {
        const run = ++runs
        if (run === 2) await second.opened
        res.json({ id: req.params.id, run, url: req.originalUrl })
      })
      app.use('/api', api)
      const server = createServer(app)
      servers.push(server)
      const url = await listen(server)

      await call(url, '/api/items/7?x=1')
      await new Promise((resolve) => setTimeout(resolve, 150)) // past the ttl; nothing to wait on
      const stale = await call(url, '/api/items/7?x=1')
      expect(stale.headers['x-cache']).to.equal('STALE')
      second.open()
      await refreshed
      const fresh = await call(url, '/api/items/7?x=1')
      expect([JSON.parse(fresh.body), fresh.headers['x-cache']]).to.deep.equal([{ id: '7', run: 2, url: '/api/items/7?x=1' }, 'HIT'])
      expect(seenByAuth).to.equal(4)
      await cache.invalidateTags(['api:/api/items/7?x=1'])
      expect(JSON.parse((await call(url, '/api/items/7?x=1')).body).run).to.equal(3)
    })
  })

  describe('Redis', () => {
    it('serves uncached, and never fails, when the cache cannot answer', async () => {
      let runs = 0
      const cache = newCache()
      const errors: unknown[] = []
      const url = await serve({ onError: (error) => errors.push(error) }, (app) => {
        app.get('/c', (_req, res) => void res.send(`run ${++runs}`))
      }, cache)
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
      const url = await serve({}, (app) => void app.get('/d', (_req, res) => void res.send(`run ${++runs}`)), cache)
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
    expect(() => expressCache({} as ExpressCacheOptions)).to.throw(InvalidOptionError, /cache/)
    expect(() => expressCache({ cache, ttl: -1 })).to.throw(InvalidOptionError, /ttl/)
    expect(() => expressCache({ cache, headers: ['link'] } as ExpressCacheOptions)).to.throw(InvalidOptionError, /has no option "headers"/)
    expect(() => expressCache({ cache, statuses: [99] })).to.throw(InvalidOptionError, /statuses/)
    expect(() => expressCache({ cache, maxBodySize: -5 })).to.throw(InvalidOptionError, /maxBodySize/)
    expect(() => expressCache({ cache, tll: '30s' } as ExpressCacheOptions)).to.throw(InvalidOptionError, /has no option "tll"/)
  })
})
