import { expect } from 'chai'
import express, { type Express } from 'express'
import { createServer, type Server } from 'node:http'
import { PassThrough, Readable } from 'node:stream'
import { createCache, InvalidOptionError, type Cache } from '../lib/index.ts'
import { expressCache, type ExpressCacheOptions } from '../lib/http/express.ts'
import { call, closeServers, firstChunk, gate, listen } from './support/http.ts'
import { useRedis } from './support/redis.ts'

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
    it('caches JSON, text and Buffer bodies with their status and content type, running each handler once', async () => {
      const runs = { json: 0, text: 0, bytes: 0 }
      const url = await serve({}, (app) => {
        app.get('/json', (_req, res) => void res.json({ n: ++runs.json }))
        app.get('/text', (_req, res) => void res.type('text').send(`text ${++runs.text}`))
        app.get('/bytes', (_req, res) => void res.send(Buffer.from([0, 1, 2, 255, ++runs.bytes])))
      })
      for (const path of ['/json', '/text', '/bytes']) {
        const first = await call(url, path)
        const second = await call(url, path)
        expect(first.headers['x-cache'], path).to.equal('MISS')
        expect(second.headers['x-cache'], path).to.equal('HIT')
        expect(second.status).to.equal(200)
        expect(second.bytes.equals(first.bytes), path).to.equal(true)
        expect(second.headers['content-type']).to.equal(first.headers['content-type'])
      }
      expect(JSON.parse((await call(url, '/json')).body)).to.deep.equal({ n: 1 })
      expect((await call(url, '/bytes')).bytes).to.deep.equal(Buffer.from([0, 1, 2, 255, 1]))
      expect(runs).to.deep.equal({ json: 1, text: 1, bytes: 1 })
    })

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

    it('passes a body larger than maxBodySize through whole and uncached', async () => {
      let runs = 0
      const chunk = 'x'.repeat(1000)
      const url = await serve({ maxBodySize: 2048 }, (app) => {
        app.get('/big', (_req, res) => {
          runs++
          res.type('text')
          Readable.from(Array.from({ length: 10 }, (_, i) => `${i}${chunk}`)).pipe(res)
        })
        app.get('/big-send', (_req, res) => void res.send(Buffer.alloc(5000, ++runs)))
      })
      const first = await call(url, '/big')
      const second = await call(url, '/big')
      expect(first.bytes.length).to.equal(10_010)
      expect(second.body).to.equal(first.body)
      expect([first.headers['x-cache'], second.headers['x-cache']]).to.deep.equal(['BYPASS', 'BYPASS'])
      expect(runs).to.equal(2)
      const sent = await call(url, '/big-send')
      expect(sent.bytes.length).to.equal(5000)
      expect(sent.headers['x-cache']).to.equal('BYPASS')
      expect((await call(url, '/big-send')).bytes[0]).to.equal(4)
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

    it('keeps the body-describing headers and those named in `headers`, and no others', async () => {
      const url = await serve({ headers: ['X-Version'] }, (app) => {
        app.get('/h', (_req, res) => {
          res.set({ 'Content-Language': 'fr', 'X-Version': '7', 'X-Other': 'no', 'Cache-Control': 'public, max-age=60' })
          res.send('bonjour')
        })
      })
      await call(url, '/h')
      const hit = await call(url, '/h')
      expect(hit.headers['x-cache']).to.equal('HIT')
      expect(hit.headers).to.include({ 'content-language': 'fr', 'x-version': '7', 'cache-control': 'public, max-age=60' })
      expect(hit.headers['x-other']).to.equal(undefined)
    })
  })

  describe('keys', () => {
    it('sorts query parameters and leaves out the ignored ones', async () => {
      let runs = 0
      const url = await serve({ ignoreQuery: ['utm_*', 'fbclid'] }, (app) => {
        app.get('/q', (req, res) => void res.json({ query: req.query, run: ++runs }))
      })
      const first = await call(url, '/q?b=2&a=1')
      expect((await call(url, '/q?a=1&b=2&utm_source=x&fbclid=y')).headers['x-cache']).to.equal('HIT')
      expect((await call(url, '/q?a=1&b=3')).headers['x-cache']).to.equal('MISS')
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
    it('never serves user A’s response to user B (cookie or Authorization: bypassed)', async () => {
      let runs = 0
      const url = await serve({}, (app) => {
        app.get('/me', (req, res) => {
          runs++
          res.send(`hello ${req.get('cookie') ?? req.get('authorization') ?? 'anonymous'}`)
        })
      })
      const a = await call(url, '/me', { headers: { cookie: 'session=A' } })
      const b = await call(url, '/me', { headers: { cookie: 'session=B' } })
      const aAuth = await call(url, '/me', { headers: { authorization: 'Bearer A' } })
      const bAuth = await call(url, '/me', { headers: { authorization: 'Bearer B' } })
      const anonymous = await call(url, '/me')
      const anonymousAgain = await call(url, '/me')
      expect([a.body, b.body, aAuth.body, bAuth.body]).to.deep.equal(['hello session=A', 'hello session=B', 'hello Bearer A', 'hello Bearer B'])
      expect([a, b, aAuth, bAuth].map((r) => r.headers['x-cache'])).to.deep.equal(['BYPASS', 'BYPASS', 'BYPASS', 'BYPASS'])
      expect([anonymous.body, anonymousAgain.body, anonymousAgain.headers['x-cache']]).to.deep.equal(['hello anonymous', 'hello anonymous', 'HIT'])
      expect((await call(url, '/me', { headers: { cookie: 'session=B' } })).body).to.equal('hello session=B')
      expect(runs).to.equal(6)
    })

    it('caches per user when `vary` names the cookie, and never crosses users', async () => {
      let runs = 0
      const url = await serve({ vary: ['cookie'] }, (app) => {
        app.get('/me', (req, res) => void res.send(`hello ${req.get('cookie')} #${++runs}`))
      })
      expect((await call(url, '/me', { headers: { cookie: 'session=A' } })).body).to.equal('hello session=A #1')
      expect((await call(url, '/me', { headers: { cookie: 'session=B' } })).body).to.equal('hello session=B #2')
      const a = await call(url, '/me', { headers: { cookie: 'session=A' } })
      const b = await call(url, '/me', { headers: { cookie: 'session=B' } })
      expect([a.body, a.headers['x-cache'], b.body, b.headers['x-cache']]).to.deep.equal(['hello session=A #1', 'HIT', 'hello session=B #2', 'HIT'])
    })

    it('does not cache a response that sets a cookie, nor private, no-store or Vary: * ones', async () => {
      let runs = 0
      const url = await serve({}, (app) => {
        app.get('/cookie', (_req, res) => void res.cookie('id', String(++runs)).send('with cookie'))
        app.get('/private', (_req, res) => void res.set('Cache-Control', 'private, max-age=60').send(`private ${++runs}`))
        app.get('/no-store', (_req, res) => void res.set('Cache-Control', 'no-store').send(`no-store ${++runs}`))
        app.get('/star', (_req, res) => void res.set('Vary', '*').send(`star ${++runs}`))
      })
      const one = await call(url, '/cookie')
      const two = await call(url, '/cookie')
      expect([one.headers['set-cookie'], two.headers['set-cookie']]).to.deep.equal([['id=1; Path=/'], ['id=2; Path=/']])
      expect(two.headers['x-cache']).to.equal('BYPASS')
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

    it('answers a matching If-None-Match with 304 from the cache, and a stale one with 200', async () => {
      let runs = 0
      const url = await serve({}, (app) => void app.get('/e', (_req, res) => void res.send(`etagged ${++runs}`)))
      const first = await call(url, '/e')
      const etag = String(first.headers.etag)
      const revalidated = await call(url, '/e', { headers: { 'if-none-match': etag } })
      expect([revalidated.status, revalidated.headers['x-cache'], revalidated.body]).to.deep.equal([304, 'HIT', ''])
      expect(revalidated.headers.etag).to.equal(etag)
      const other = await call(url, '/e', { headers: { 'if-none-match': '"nope"' } })
      expect([other.status, other.body]).to.deep.equal([200, 'etagged 1'])
      expect(runs).to.equal(1)
    })

    it('answers If-None-Match with 304 on the MISS that fills the cache', async () => {
      const url = await serve({}, (app) => {
        app.set('etag', false)
        app.get('/e', (_req, res) => void res.set('ETag', '"v1"').send('v1'))
      })
      const miss = await call(url, '/e', { headers: { 'if-none-match': '"v1"' } })
      expect([miss.status, miss.headers['x-cache'], miss.body]).to.deep.equal([304, 'MISS', ''])
      expect((await call(url, '/e')).body).to.equal('v1')
    })

    it('answers If-Modified-Since with 304 when Last-Modified is not newer', async () => {
      const modified = new Date('2024-01-01T00:00:00Z').toUTCString()
      const url = await serve({ etag: false }, (app) => {
        app.set('etag', false)
        app.get('/m', (_req, res) => void res.set('Last-Modified', modified).send('dated'))
      })
      await call(url, '/m')
      const same = await call(url, '/m', { headers: { 'if-modified-since': modified } })
      const older = await call(url, '/m', { headers: { 'if-modified-since': new Date('2023-01-01T00:00:00Z').toUTCString() } })
      expect([same.status, older.status, older.body]).to.deep.equal([304, 200, 'dated'])
    })

    it('serves HEAD from the GET entry; a cold HEAD runs the handler and fills nothing', async () => {
      let runs = 0
      const url = await serve({}, (app) => void app.get('/h', (_req, res) => void res.send(`head or get ${++runs}`)))
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
      const url = await serve(
        {},
        (app) => {
          app.get('/slow', async (_req, res) => {
            runs++
            await all.opened
            res.send('computed once')
          })
        },
      )
      // Every request is in before the one handler run may finish.
      servers[0]?.on('request', () => {
        if (++arrived === 100) setImmediate(all.open)
      })
      const replies = await Promise.all(Array.from({ length: 100 }, () => call(url, '/slow')))
      expect(runs).to.equal(1)
      expect(new Set(replies.map((r) => r.body))).to.deep.equal(new Set(['computed once']))
      const statuses = replies.map((r) => r.headers['x-cache'])
      expect(statuses.filter((s) => s === 'MISS')).to.have.length(1)
      expect(statuses.filter((s) => s === 'HIT')).to.have.length(99)
    })

    it('gives the waiters of a response that may not be shared their own handler run', async () => {
      let runs = 0
      let arrived = 0
      const all = gate()
      const url = await serve({}, (app) => {
        app.get('/login', async (_req, res) => {
          const run = ++runs
          await all.opened
          res.cookie('session', `s${run}`).send(`yours is s${run}`)
        })
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

    it('invalidates a route by tag', async () => {
      const version: Record<string, number> = { '1': 1, '2': 1 }
      const cache = newCache()
      const url = await serve({ tags: (req) => [`product:${req.path.split('/')[2]}`] }, (app) => {
        app.get('/products/:id', (req, res) => void res.json({ id: req.params.id, version: version[req.params.id] }))
      }, cache)
      await call(url, '/products/1')
      await call(url, '/products/2')
      version['1'] = 2
      version['2'] = 2
      expect(JSON.parse((await call(url, '/products/1')).body).version).to.equal(1)
      await cache.invalidateTags(['product:1'])
      const one = await call(url, '/products/1')
      const two = await call(url, '/products/2')
      expect([JSON.parse(one.body).version, one.headers['x-cache']]).to.deep.equal([2, 'MISS'])
      expect([JSON.parse(two.body).version, two.headers['x-cache']]).to.deep.equal([1, 'HIT'])
    })

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
      expect([stale.body, stale.headers['x-cache'], stale.headers['x-run']]).to.deep.equal(['run 1', 'STALE', undefined])
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
    it('shares a response between processes through Redis', async () => {
      let runs = 0
      const routes = (app: Express): void => void app.get('/shared', (_req, res) => void res.send(Buffer.from(`bytes ${++runs}`)))
      const one = await serve({}, routes)
      const two = await serve({}, routes)
      // Behind a load balancer every process sees the same Host.
      await call(one, '/shared', { headers: { host: 'api.example' } })
      const other = await call(two, '/shared', { headers: { host: 'api.example' } })
      expect([other.body, other.headers['x-cache'], runs]).to.deep.equal(['bytes 1', 'HIT', 1])
    })

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

  it('refuses wrong options with InvalidOptionError', () => {
    const cache = newCache()
    expect(() => expressCache({} as ExpressCacheOptions)).to.throw(InvalidOptionError, /cache/)
    expect(() => expressCache({ cache, ttl: -1 })).to.throw(InvalidOptionError, /ttl/)
    expect(() => expressCache({ cache, headers: ['set-cookie'] })).to.throw(InvalidOptionError, /set-cookie/)
    expect(() => expressCache({ cache, statuses: [99] })).to.throw(InvalidOptionError, /statuses/)
    expect(() => expressCache({ cache, maxBodySize: -5 })).to.throw(InvalidOptionError, /maxBodySize/)
  })
})
