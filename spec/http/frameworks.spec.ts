import { expect } from 'chai'
import { request } from 'node:http'
import { createCache, type Cache } from '../../lib/index.ts'
import type { Framework, Route, RouteReply, ServeInput, Served } from '../support/http-framework-types.ts'
import { readWithinCoherence } from '../support/coherence.ts'
import { frameworks } from '../support/http-frameworks.ts'
import { call, callAsSent, gate } from '../support/http.ts'
import { useRedis } from '../support/redis.ts'

/**
 * The rules of the HTTP cache that every framework must keep, each written once and run
 * on every framework of `support/http-frameworks.ts` over real HTTP and a real Redis.
 * What only one framework has (Express mounted under a path, Koa's streams and errors,
 * Fastify's route config and serializer) stays in that framework's own spec.
 */

/** A route whose handler counts its runs. */
function counted(path: string, reply: (run: number) => RouteReply | Promise<RouteReply>): { route: Route; runs: () => number } {
  let runs = 0
  return { route: { method: 'GET', path, reply: () => reply(++runs) }, runs: () => runs }
}

for (const framework of frameworks) describeFramework(framework)

function describeFramework(framework: Framework): void {
  describe(`HTTP cache rules on ${framework.name} (real HTTP, real Redis)`, () => {
    const redis = useRedis()
    const caches: Cache[] = []
    const apps: Served[] = []

    function newCache(): Cache {
      const cache = createCache({ redis: redis.url, prefix: 'spec' })
      caches.push(cache)
      return cache
    }

    async function serve(routes: readonly Route[], options: Omit<ServeInput, 'cache' | 'routes'> = {}, cache = newCache()): Promise<string> {
      const app = await framework.serve({ cache, routes, ...options })
      apps.push(app)
      return app.url
    }

    afterEach(async () => {
      await Promise.all(apps.splice(0).map((app) => app.close()))
      await Promise.all(caches.splice(0).map((cache) => cache.close()))
    })

    it('runs the handler once for 100 concurrent requests of a cold URL', async () => {
      const all = gate()
      const cache = newCache()
      let looked = 0
      // Every request has looked in the cache before the one handler run may finish.
      cache.on('miss', (event) => {
        if (event.tier === 'l1' && ++looked === 100) setImmediate(all.open)
      })
      const slow = counted('/slow', async () => {
        await all.opened
        return { body: 'computed once' }
      })
      const url = await serve([slow.route], {}, cache)
      const replies = await Promise.all(Array.from({ length: 100 }, () => call(url, '/slow')))
      expect(slow.runs()).to.equal(1)
      expect(new Set(replies.map((r) => r.body))).to.deep.equal(new Set(['computed once']))
      const statuses = replies.map((r) => r.headers['x-cache'])
      expect([statuses.filter((s) => s === 'MISS').length, statuses.filter((s) => s === 'HIT').length]).to.deep.equal([1, 99])
    })

    it('still serves the 19 requests that joined a cold URL’s run when its first requester hangs up', async () => {
      const started = gate()
      const all = gate()
      const cache = newCache()
      let looked = 0
      cache.on('miss', (event) => {
        if (event.tier === 'l1' && ++looked === 20) setImmediate(all.open)
      })
      const slow = counted('/slow', async () => {
        started.open()
        await all.opened
        return { body: 'computed once' }
      })
      const url = await serve([slow.route], {}, cache)
      const first = request(url + '/slow')
      const closed = new Promise((resolve) => first.on('error', resolve))
      first.end()
      await started.opened
      first.destroy()
      await closed
      const replies = await Promise.all(Array.from({ length: 19 }, () => call(url, '/slow')))
      expect(replies.map((r) => `${r.headers['x-cache']} ${r.body}`)).to.deep.equal(Array(19).fill('HIT computed once'))
      expect(slow.runs()).to.equal(1)
      const later = await call(url, '/slow')
      expect([later.body, later.headers['x-cache'], slow.runs()]).to.deep.equal(['computed once', 'HIT', 1])
    })

    it('round-trips JSON, text and Buffer bodies with their status and content type, running each handler once', async () => {
      const json = counted('/json', (n) => ({ body: { n, list: [1, 'two'] } }))
      const text = counted('/text', (n) => ({ body: `text ${n}`, headers: { 'content-type': 'text/plain; charset=utf-8' } }))
      const bytes = counted('/bytes', (n) => ({ body: Buffer.from([0, 1, 2, 255, n]) }))
      const gone = counted('/gone', (n) => ({ status: 410, body: `gone ${n}` }))
      const url = await serve([json.route, text.route, bytes.route, gone.route])
      for (const path of ['/json', '/text', '/bytes', '/gone']) {
        const first = await call(url, path)
        const second = await call(url, path)
        expect([first.headers['x-cache'], second.headers['x-cache']], path).to.deep.equal(['MISS', 'HIT'])
        expect([second.status, second.bytes.equals(first.bytes)], path).to.deep.equal([first.status, true])
        expect(second.headers['content-type'], path).to.equal(first.headers['content-type'])
        expect(second.headers['content-length'], path).to.equal(String(first.bytes.length))
      }
      const hit = await call(url, '/json')
      expect([JSON.parse(hit.body), hit.headers['content-type']]).to.deep.equal([{ n: 1, list: [1, 'two'] }, 'application/json; charset=utf-8'])
      expect((await call(url, '/text')).body).to.equal('text 1')
      expect((await call(url, '/bytes')).bytes).to.deep.equal(Buffer.from([0, 1, 2, 255, 1]))
      expect((await call(url, '/gone')).status).to.equal(410)
      expect([json.runs(), text.runs(), bytes.runs(), gone.runs()]).to.deep.equal([1, 1, 1, 1])
    })

    it('never serves one user’s response to another: cookie and Authorization requests bypass the cache', async () => {
      let runs = 0
      const me: Route = { method: 'GET', path: '/me', reply: (req) => ({ body: `hello ${String(req.headers.cookie ?? req.headers.authorization ?? 'anonymous')} #${++runs}` }) }
      const url = await serve([me])
      const anonymous = await call(url, '/me')
      const users = [{ cookie: 'session=A' }, { cookie: 'session=B' }, { authorization: 'Bearer A' }, { authorization: 'Bearer B' }]
      for (const headers of users) {
        const reply = await call(url, '/me', { headers })
        expect([reply.body, reply.headers['x-cache']]).to.deep.equal([`hello ${Object.values(headers)[0]} #${runs}`, 'BYPASS'])
      }
      const again = await call(url, '/me')
      expect([again.body, again.headers['x-cache']]).to.deep.equal([anonymous.body, 'HIT'])
      const a = await call(url, '/me', { headers: { cookie: 'session=A' } })
      expect([a.body, a.headers['x-cache']]).to.deep.equal([`hello session=A #6`, 'BYPASS'])
    })

    it('caches per user when `vary` names the cookie, and never crosses users', async () => {
      let runs = 0
      const route: Route = { method: 'GET', path: '/me', reply: (req) => ({ body: `hello ${String(req.headers.cookie)} #${++runs}` }) }
      const url = await serve([route], { vary: ['cookie'] })
      await call(url, '/me', { headers: { cookie: 'session=A' } })
      await call(url, '/me', { headers: { cookie: 'session=B' } })
      const a = await call(url, '/me', { headers: { cookie: 'session=A' } })
      const b = await call(url, '/me', { headers: { cookie: 'session=B' } })
      expect([a.body, a.headers['x-cache'], b.body, b.headers['x-cache']]).to.deep.equal(['hello session=A #1', 'HIT', 'hello session=B #2', 'HIT'])
    })

    it('never caches a response that sets a cookie, nor a private, no-store or Vary: * one', async () => {
      const cases: Record<string, Record<string, string>> = {
        '/cookie': { 'set-cookie': 'id=1; Path=/' },
        '/private': { 'cache-control': 'private, max-age=60' },
        '/no-store': { 'cache-control': 'no-store' },
        '/star': { vary: '*' },
      }
      const routes = Object.entries(cases).map(([path, headers]) => counted(path, (n) => ({ headers, body: `${path} ${n}` })))
      const url = await serve(routes.map((r) => r.route))
      for (const path of Object.keys(cases)) {
        const first = await call(url, path)
        const second = await call(url, path)
        expect([first.body, second.body], path).to.deep.equal([`${path} 1`, `${path} 2`])
        expect([first.headers['x-cache'], second.headers['x-cache']], path).to.deep.equal(['BYPASS', 'BYPASS'])
      }
      expect((await call(url, '/cookie')).headers['set-cookie']).to.deep.equal(['id=1; Path=/'])
    })

    it('gives the waiters of a response that sets a cookie their own handler run', async () => {
      const all = gate()
      const cache = newCache()
      let looked = 0
      cache.on('miss', (event) => {
        if (event.tier === 'l1' && ++looked === 5) setImmediate(all.open)
      })
      const login = counted('/login', async (n) => {
        await all.opened
        return { headers: { 'set-cookie': `session=s${n}` }, body: `yours is s${n}` }
      })
      const url = await serve([login.route], {}, cache)
      const replies = await Promise.all(Array.from({ length: 5 }, () => call(url, '/login')))
      expect(login.runs()).to.equal(5)
      for (const reply of replies) {
        expect([reply.body, reply.headers['x-cache']]).to.deep.equal([`yours is ${String(reply.headers['set-cookie']?.[0]).slice(8)}`, 'BYPASS'])
      }
      expect(new Set(replies.map((r) => r.body)).size).to.equal(5)
    })

    it('answers If-None-Match with 304 from the cache (and on the MISS that fills it), a stale tag with 200, and If-Modified-Since', async () => {
      const modified = new Date('2024-01-01T00:00:00Z').toUTCString()
      const tagged = counted('/e', (n) => ({ body: `etagged ${n}` }))
      const fixed = counted('/v1', () => ({ headers: { etag: '"v1"' }, body: 'v1' }))
      const dated = counted('/m', () => ({ headers: { 'last-modified': modified }, body: 'dated' }))
      const url = await serve([tagged.route, fixed.route, dated.route])
      const first = await call(url, '/e')
      const etag = String(first.headers.etag)
      const hit = await call(url, '/e')
      expect([etag !== 'undefined', hit.headers.etag, hit.headers['x-cache'], Number(hit.headers.age) >= 0]).to.deep.equal([true, etag, 'HIT', true])
      const revalidated = await call(url, '/e', { headers: { 'if-none-match': etag } })
      expect([revalidated.status, revalidated.headers['x-cache'], revalidated.body, revalidated.headers.etag]).to.deep.equal([304, 'HIT', '', etag])
      const other = await call(url, '/e', { headers: { 'if-none-match': '"nope"' } })
      expect([other.status, other.body]).to.deep.equal([200, 'etagged 1'])
      const miss = await call(url, '/v1', { headers: { 'if-none-match': '"v1"' } })
      expect([miss.status, miss.headers['x-cache'], miss.body]).to.deep.equal([304, 'MISS', ''])
      expect((await call(url, '/v1')).body).to.equal('v1')
      await call(url, '/m')
      const same = await call(url, '/m', { headers: { 'if-modified-since': modified } })
      const older = await call(url, '/m', { headers: { 'if-modified-since': new Date('2023-01-01T00:00:00Z').toUTCString() } })
      expect([same.status, same.headers['x-cache'], older.status, older.body]).to.deep.equal([304, 'HIT', 200, 'dated'])
      expect([tagged.runs(), fixed.runs(), dated.runs()]).to.deep.equal([1, 1, 1])
    })

    it('serves HEAD from the GET entry; a cold HEAD runs the handler and fills nothing', async () => {
      const h = counted('/h', (n) => ({ body: `head or get ${n}` }))
      const url = await serve([h.route])
      const coldHead = await call(url, '/h', { method: 'HEAD' })
      expect([coldHead.status, coldHead.headers['x-cache'], coldHead.body]).to.deep.equal([200, 'MISS', ''])
      const get = await call(url, '/h')
      expect([get.headers['x-cache'], get.body]).to.deep.equal(['MISS', 'head or get 2'])
      const head = await call(url, '/h', { method: 'HEAD' })
      expect([head.status, head.headers['x-cache'], head.body, head.headers['content-length']]).to.deep.equal([200, 'HIT', '', '13'])
      expect(head.headers['content-type']).to.equal(get.headers['content-type'])
      expect(h.runs()).to.equal(2)
    })

    it('passes a body larger than maxBodySize through whole, and never stores it', async () => {
      const big = counted('/big', (n) => ({ body: Buffer.alloc(5000, n) }))
      const small = counted('/small', (n) => ({ body: Buffer.alloc(2048, n) }))
      const url = await serve([big.route, small.route], { maxBodySize: 2048 })
      const first = await call(url, '/big')
      const second = await call(url, '/big')
      expect([first.bytes.length, first.bytes[0], first.headers['x-cache']]).to.deep.equal([5000, 1, 'BYPASS'])
      expect([second.bytes.length, second.bytes[4999], second.headers['x-cache']]).to.deep.equal([5000, 2, 'BYPASS'])
      await call(url, '/small')
      expect((await call(url, '/small')).headers['x-cache']).to.equal('HIT') // the limit is inclusive
      expect([big.runs(), small.runs()]).to.deep.equal([2, 1])
    })

    it('never caches the reply of a handler that throws; the next run that works is kept', async () => {
      let runs = 0
      let failing = true
      const route: Route = {
        method: 'GET',
        path: '/fails',
        reply: () => {
          runs++
          if (failing) throw new Error('the handler failed')
          return { body: 'works now' }
        },
      }
      const url = await serve([route])
      const one = await call(url, '/fails')
      const two = await call(url, '/fails')
      expect([one.status, two.status, runs]).to.deep.equal([500, 500, 2])
      expect([one.headers['x-cache'], two.headers['x-cache']].filter((s) => s === 'HIT' || s === 'MISS')).to.deep.equal([])
      failing = false
      const works = await call(url, '/fails')
      const kept = await call(url, '/fails')
      expect([works.body, works.headers['x-cache'], kept.body, kept.headers['x-cache'], runs]).to.deep.equal(['works now', 'MISS', 'works now', 'HIT', 3])
    })

    it('sees an invalidation made by a write route of another instance (own cache, same Redis)', async () => {
      let version = 1
      const routes: Route[] = [
        { method: 'GET', path: '/products', reply: () => ({ body: { version } }), tags: () => ['products'] },
        { method: 'GET', path: '/other', reply: () => ({ body: { version } }), tags: () => ['other'] },
        {
          method: 'POST',
          path: '/products',
          reply: () => ({ body: { version: ++version } }),
          invalidates: () => ['products'],
        },
      ]
      const one = await serve(routes)
      const two = await serve(routes)
      // Behind a load balancer every instance sees the same Host.
      const host = { host: 'api.example' }
      for (const path of ['/products', '/other']) await call(one, path, { headers: host })
      const shared = await call(two, '/products', { headers: host })
      expect([JSON.parse(shared.body), shared.headers['x-cache']]).to.deep.equal([{ version: 1 }, 'HIT'])
      const wrote = await call(one, '/products', { method: 'POST', headers: host })
      const written = performance.now()
      expect(JSON.parse(wrote.body)).to.deep.equal({ version: 2 })
      // Redis tells the other instance just after answering the write: its L1 stops
      // serving the old response within the coherence bound, not necessarily at once.
      const after = await readWithinCoherence(() => call(two, '/products', { headers: host }), (r) => r.headers['x-cache'] !== 'HIT', written)
      expect([JSON.parse(after.body), after.headers['x-cache']]).to.deep.equal([{ version: 2 }, 'MISS'])
      const untouched = await call(two, '/other', { headers: host })
      expect([JSON.parse(untouched.body), untouched.headers['x-cache']]).to.deep.equal([{ version: 1 }, 'HIT'])
    })

    it('keeps Host and URL apart: a Host holding a path runs uncached and plants nothing on another URL', async () => {
      const app = counted('/app.js', (n) => ({ body: `the app #${n}` }))
      const file = counted('/static/app.js', (n) => ({ body: `the static file #${n}` }))
      const url = await serve([app.route, file.route])
      const planted = await call(url, '/app.js', { headers: { host: 'shop.example/static' } })
      expect([planted.body, planted.headers['x-cache']]).to.deep.equal(['the app #1', 'BYPASS'])
      const victim = await call(url, '/static/app.js', { headers: { host: 'shop.example' } })
      expect([victim.body, victim.headers['x-cache']]).to.deep.equal(['the static file #1', 'MISS'])
    })

    it('caches under a Host that is a name, an IPv4 or an [IPv6] address with an optional port, and bypasses any other', async () => {
      const page = counted('/page', (n) => ({ body: `page #${n}` }))
      const url = await serve([page.route])
      for (const host of ['shop.example', 'shop.example:8080', '127.0.0.1:3000', '[::1]:3000', '[2001:db8::1]']) {
        const first = await call(url, '/page', { headers: { host } })
        const second = await call(url, '/page', { headers: { host } })
        expect([first.headers['x-cache'], second.headers['x-cache'], second.body], host).to.deep.equal(['MISS', 'HIT', first.body])
      }
      for (const host of ['shop.example/static', 'shop.example?a=1', 'user@shop.example', 'shop.example:80:80', 'shop.example:http', '[::1', 'shop example', '']) {
        const reply = await callAsSent(url, '/page', { headers: { host } })
        expect([reply.status, reply.headers['x-cache']], JSON.stringify(host)).to.deep.equal([200, 'BYPASS'])
      }
    })

    it('keys the URL as the handler reads it: a raw #, an escaped one and two invalid escapes are never served each other’s page', async () => {
      const search: Route = { method: 'GET', path: '/search', reply: (req) => ({ body: { query: req.query } }) }
      const url = await serve([search])
      // What the handler makes of a URL, without the cache (a request's no-store bypasses it).
      const truth = async (target: string): Promise<string> => (await callAsSent(url, target, { headers: { 'cache-control': 'no-store' } })).body
      for (const [planted, victim] of [['/search?tag=#news', '/search?tag=%23news'], ['/search?q=%FE', '/search?q=%FF']] as const) {
        await callAsSent(url, planted)
        const served = await callAsSent(url, victim)
        expect([served.body, served.headers['x-cache']], victim).to.deep.equal([await truth(victim), 'MISS'])
      }
    })

    it('runs a request with a body uncached (Content-Length or chunked), so that a GET body cannot plant a page', async () => {
      let runs = 0
      const search: Route = {
        method: 'GET',
        path: '/search',
        reply: (req) => ({ body: { q: (req.body as { q?: string } | undefined)?.q ?? req.query.q, run: ++runs } }),
      }
      const url = await serve([search])
      const json = { 'content-type': 'application/json' }
      const planted = await callAsSent(url, '/search?q=shoes', { headers: json, body: '{"q":"<planted>"}' })
      const chunked = await callAsSent(url, '/search?q=shoes', { headers: json, body: '{"q":"<chunked>"}', chunked: true })
      expect([planted.headers['x-cache'], chunked.headers['x-cache']]).to.deep.equal(['BYPASS', 'BYPASS'])
      const victim = await call(url, '/search?q=shoes')
      expect([JSON.parse(victim.body), victim.headers['x-cache']]).to.deep.equal([{ q: 'shoes', run: 3 }, 'MISS'])
      const empty = await callAsSent(url, '/search?q=shoes', { body: '' })
      expect([JSON.parse(empty.body), empty.headers['x-cache']]).to.deep.equal([{ q: 'shoes', run: 3 }, 'HIT'])
    })

    it('replays every header the handler set on a HIT, from L1 and from another instance: a 301’s Location, pagination’s Link and X-Total-Count', async () => {
      const moved = counted('/old', () => ({ status: 301, headers: { location: '/new', 'x-request-id': 'r1' }, body: 'moved' }))
      const page = counted('/items', (n) => ({
        headers: { link: '</items?page=2>; rel="next"', 'x-total-count': '42', 'access-control-allow-origin': '*', 'content-disposition': 'inline; filename="items.json"' },
        body: { items: [n] },
      }))
      const routes = [moved.route, page.route]
      const one = await serve(routes)
      const two = await serve(routes)
      const host = { host: 'api.example' }
      const wanted = { link: '</items?page=2>; rel="next"', 'x-total-count': '42', 'access-control-allow-origin': '*', 'content-disposition': 'inline; filename="items.json"' }
      for (const [url, first] of [[one, 'MISS'], [one, 'HIT'], [two, 'HIT']] as const) {
        const redirect = await call(url, '/old', { headers: host })
        expect([redirect.status, redirect.headers.location, redirect.headers['x-cache']], url).to.deep.equal([301, '/new', first])
        const list = await call(url, '/items', { headers: host })
        expect([list.headers['x-cache'], JSON.parse(list.body)], url).to.deep.equal([first, { items: [1] }])
        expect(list.headers, url).to.include(wanted)
        expect(Number.isNaN(Date.parse(String(list.headers.date))), url).to.equal(false)
        if (first !== 'MISS') expect(redirect.headers['x-request-id'], url).to.equal(undefined)
      }
      expect([moved.runs(), page.runs()]).to.deep.equal([1, 1])
    })

    it('keeps a response as long as its Cache-Control says: max-age, and s-maxage over it', async () => {
      const short = counted('/short', (n) => ({ headers: { 'cache-control': 'max-age=3600, s-maxage=0' }, body: `short ${n}` }))
      const long = counted('/long', (n) => ({ headers: { 'cache-control': 'max-age=3600' }, body: `long ${n}` }))
      const url = await serve([short.route, long.route])
      for (let i = 0; i < 2; i++) {
        await call(url, '/short')
        await call(url, '/long')
      }
      const age = (await call(url, '/long')).headers.age
      expect([short.runs(), long.runs(), age]).to.deep.equal([2, 1, '0'])
    })

    it('revalidates a stale response with its ETag through the handler; a 304 refreshes what is kept and its headers', async () => {
      const seen: (string | undefined)[] = []
      let version = 1
      const route: Route = {
        method: 'GET',
        path: '/doc',
        reply: (req) => {
          seen.push(req.headers['if-none-match'] as string | undefined)
          const headers = { etag: '"v1"', 'cache-control': version === 1 ? 'max-age=0' : 'max-age=600', 'x-version': String(version++) }
          return req.headers['if-none-match'] === '"v1"' ? { status: 304, headers, body: '' } : { headers, body: 'the document' }
        },
      }
      const one = await serve([route])
      const two = await serve([route])
      const host = { host: 'api.example' }
      const first = await call(one, '/doc', { headers: host })
      const revalidated = await call(two, '/doc', { headers: host })
      expect([first.headers['x-cache'], revalidated.headers['x-cache'], revalidated.status, revalidated.body]).to.deep.equal(['MISS', 'REVALIDATED', 200, 'the document'])
      expect([revalidated.headers['x-version'], revalidated.headers['cache-control']]).to.deep.equal(['2', 'max-age=600'])
      const hit = await call(two, '/doc', { headers: host })
      expect([hit.headers['x-cache'], hit.body, hit.headers['x-version']]).to.deep.equal(['HIT', 'the document', '2'])
      const conditional = await call(two, '/doc', { headers: { ...host, 'if-none-match': '"v1"' } })
      expect([conditional.status, conditional.headers['x-cache']]).to.deep.equal([304, 'HIT'])
      expect(seen).to.deep.equal([undefined, '"v1"'])
    })

    it('drops the kept response of a URL, in every instance, once a write to it succeeds', async () => {
      let version = 1
      const routes: Route[] = [
        { method: 'GET', path: '/things', reply: () => ({ headers: { 'cache-control': 'max-age=600' }, body: { version } }) },
        { method: 'POST', path: '/things', reply: () => ({ status: 201, headers: { location: '/things' }, body: { version: ++version } }) },
      ]
      const one = await serve(routes)
      const two = await serve(routes)
      const host = { host: 'api.example' }
      await call(one, '/things', { headers: host })
      expect((await call(two, '/things', { headers: host })).headers['x-cache']).to.equal('HIT')
      const wrote = await call(one, '/things', { method: 'POST', headers: host })
      const written = performance.now()
      expect([wrote.status, wrote.headers['x-cache']]).to.deep.equal([201, 'BYPASS'])
      const here = await call(one, '/things', { headers: host })
      expect([JSON.parse(here.body), here.headers['x-cache']]).to.deep.equal([{ version: 2 }, 'MISS'])
      const there = await readWithinCoherence(() => call(two, '/things', { headers: host }), (r) => JSON.parse(r.body).version === 2, written)
      expect(JSON.parse(there.body)).to.deep.equal({ version: 2 })
    })

    it('runs `tags` once per handler run, and reports its error once', async () => {
      const calls = { ok: 0, failing: 0 }
      const errors: unknown[] = []
      const boom = new Error('tags failed')
      const routes: Route[] = [
        { method: 'GET', path: '/ok', reply: () => ({ body: 'tagged' }), tags: () => (calls.ok++, ['ok']) },
        { method: 'GET', path: '/failing', reply: () => ({ body: 'untagged' }), tags: () => { calls.failing++; throw boom } },
      ]
      const url = await serve(routes, { onError: (error) => errors.push(error) })
      const ok = [await call(url, '/ok'), await call(url, '/ok')]
      expect([ok[0]?.headers['x-cache'], ok[1]?.headers['x-cache'], calls.ok]).to.deep.equal(['MISS', 'HIT', 1])
      const failing = await call(url, '/failing')
      expect([failing.body, failing.headers['x-cache'], calls.failing, errors]).to.deep.equal(['untagged', 'BYPASS', 1, [boom]])
    })
  })
}
