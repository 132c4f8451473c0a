import { expect } from 'chai'
import fastifyCookie from '@fastify/cookie'
import Fastify, { type FastifyInstance } from 'fastify'
import { randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import { createCache, InvalidOptionError, type Cache } from '../../lib/index.ts'
import { fastifyCache, type FastifyCacheOptions } from '../../lib/http/fastify.ts'
import { call, expectSessionsApart, expectTruncatedUnstored, gate } from '../support/http.ts'
import { useRedis } from '../support/redis.ts'

/**
 * What only the Fastify plugin has: registration and route config checks, Fastify's
 * serializer and hooks around a hit, stream payloads in onSend, reply.cacheInvalidate,
 * and background refreshes through fastify.inject(). The rules every framework keeps
 * are in http-frameworks.spec.ts.
 */
describe('fastifyCache (Fastify 5, real HTTP)', () => {
  const redis = useRedis()
  const apps: FastifyInstance[] = []
  const caches: Cache[] = []

  function newCache(): Cache {
    const cache = createCache({ redis: redis.url, prefix: 'spec' })
    caches.push(cache)
    return cache
  }

  /** A Fastify app with the plugin registered (awaited), before `routes`. */
  async function app(options: Partial<FastifyCacheOptions> = {}, cache = newCache()): Promise<FastifyInstance> {
    const fastify = Fastify()
    apps.push(fastify)
    await fastify.register(fastifyCache, { cache, ...options })
    return fastify
  }

  async function listen(fastify: FastifyInstance): Promise<string> {
    await fastify.listen({ port: 0, host: '127.0.0.1' })
    const address = fastify.server.address()
    return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  }

  afterEach(async () => {
    for (const fastify of apps.splice(0)) {
      fastify.server.closeAllConnections()
      await fastify.close()
    }
    await Promise.all(caches.splice(0).map((cache) => cache.close()))
  })

  describe('options', () => {
    it('refuses an unknown option or a wrong type when the plugin is registered, and accepts Fastify’s own', async () => {
      const cache = newCache()
      const refused = async (options: unknown): Promise<unknown> => {
        const fastify = Fastify()
        apps.push(fastify)
        return fastify.register(fastifyCache, options as FastifyCacheOptions).then(() => undefined, (error: unknown) => error)
      }
      for (const [options, message] of [
        [{ cache, tll: '30s' }, /has no option "tll"/],
        [{ cache, ttl: 'soon' }, /ttl/],
        [{ cache, maxBodySize: -1 }, /maxBodySize/],
        [{ cache, vary: 'accept' }, /vary/],
        [{ cache: {} }, /cache/],
      ] as const) {
        const error = await refused(options)
        expect(error, String(message)).to.be.instanceOf(InvalidOptionError)
        expect((error as InvalidOptionError).code).to.equal('ERR_INVALID_OPTION')
        expect((error as Error).message).to.match(message)
      }
      expect(await refused({ cache, prefix: '/api', logLevel: 'warn' })).to.equal(undefined)
    })

    it('checks a route’s config.memoredis when the route is registered', async () => {
      const fastify = await app()
      const handler = async (): Promise<string> => 'x'
      const route = (memoredis: unknown) => () => fastify.get(`/r${Math.random()}`, { config: { memoredis: memoredis as never } }, handler)
      expect(route({ ttl: -1 })).to.throw(InvalidOptionError, /config\.memoredis: ttl/)
      expect(route({ ttl: '1m', tagz: ['a'] })).to.throw(InvalidOptionError, /has no option "tagz"/)
      expect(route({ bypass: 'yes' })).to.throw(InvalidOptionError, /bypass must be true or false/)
      expect(route({ tags: [1] })).to.throw(InvalidOptionError, /tags must be an array of strings or a function/)
      expect(route({ vary: ['bad header'] })).to.throw(InvalidOptionError, /vary/)
      expect(route(false)).to.throw(InvalidOptionError, /must be an object/)
      expect(route({ ttl: '5m', tags: ['a'], vary: ['x-tenant'], bypass: false, key: () => 'k' })).to.not.throw()
    })

    it('refuses, at its first request, a bad config.memoredis of a route registered before the plugin was loaded', async () => {
      const fastify = Fastify()
      apps.push(fastify)
      void fastify.register(fastifyCache, { cache: newCache() }) // not awaited: the route below comes first
      fastify.get('/early', { config: { memoredis: { ttl: -1 } } }, async () => 'early')
      const url = await listen(fastify)
      const reply = await call(url, '/early')
      expect(reply.status).to.equal(500)
      expect(JSON.parse(reply.body).message).to.match(/config\.memoredis: ttl/)
    })
  })

  describe('route config', () => {
    it('bypasses a route with bypass: true, and gives another its own ttl, key, vary and tags', async () => {
      const runs: Record<string, number> = {}
      const ran = (path: string): number => (runs[path] = (runs[path] ?? 0) + 1)
      const cache = newCache()
      const fastify = await app({ tags: () => ['site'] }, cache)
      fastify.get('/never', { config: { memoredis: { bypass: true } } }, async () => `never ${ran('never')}`)
      fastify.get('/own', {
        config: { memoredis: { key: (req) => req.url.split('?')[0] ?? '', vary: ['x-tenant'], tags: (req) => [`tenant:${String(req.headers['x-tenant'])}`] } },
      }, async (req) => `own ${String(req.headers['x-tenant'])} ${ran('own')}`)
      fastify.get('/short', { config: { memoredis: { ttl: 100 } } }, async () => `short ${ran('short')}`)
      const url = await listen(fastify)

      const never = [await call(url, '/never'), await call(url, '/never')]
      expect(never.map((r) => [r.body, r.headers['x-cache']])).to.deep.equal([['never 1', 'BYPASS'], ['never 2', 'BYPASS']])

      const a = { headers: { 'x-tenant': 'a' } }
      await call(url, '/own?x=1', a)
      const sameKey = await call(url, '/own?x=2', a)
      const otherTenant = await call(url, '/own?x=1', { headers: { 'x-tenant': 'b' } })
      expect([sameKey.body, sameKey.headers['x-cache'], otherTenant.body]).to.deep.equal(['own a 1', 'HIT', 'own b 2'])
      await cache.invalidateTags(['tenant:a']) // the route's tag
      expect((await call(url, '/own', a)).body).to.equal('own a 3')
      expect((await call(url, '/own', { headers: { 'x-tenant': 'b' } })).headers['x-cache']).to.equal('HIT')
      await cache.invalidateTags(['site']) // the plugin's tag, still there
      expect((await call(url, '/own', { headers: { 'x-tenant': 'b' } })).body).to.equal('own b 4')

      await call(url, '/short')
      expect((await call(url, '/short')).headers['x-cache']).to.equal('HIT')
      await new Promise((resolve) => setTimeout(resolve, 150)) // past the route's ttl; nothing to wait on
      expect((await call(url, '/short')).body).to.equal('short 2')
    })
  })

  describe('Fastify’s serialization and hooks', () => {
    it('caches what the response schema’s serializer made, with its content type', async () => {
      let runs = 0
      const fastify = await app()
      const schema = { response: { 200: { type: 'object', properties: { id: { type: 'integer' }, name: { type: 'string' } } } } }
      fastify.get('/item', { schema }, async () => ({ id: ++runs, name: 'widget', secret: 'never serialized' }))
      fastify.get('/vnd', async (_req, reply) => reply.type('application/vnd.api+json').send({ data: ++runs }))
      const url = await listen(fastify)
      const miss = await call(url, '/item')
      const hit = await call(url, '/item')
      expect([miss.body, hit.body, hit.headers['x-cache']]).to.deep.equal(['{"id":1,"name":"widget"}', '{"id":1,"name":"widget"}', 'HIT'])
      expect([miss.headers['content-type'], hit.headers['content-type']]).to.deep.equal(['application/json; charset=utf-8', 'application/json; charset=utf-8'])
      await call(url, '/vnd')
      const vnd = await call(url, '/vnd')
      expect([vnd.body, vnd.headers['content-type'], vnd.headers['x-cache']]).to.deep.equal(['{"data":2}', 'application/vnd.api+json; charset=utf-8', 'HIT'])
    })

    it('serves a hit after every onRequest hook (even one registered after it) and runs the onSend hooks registered after it', async () => {
      let runs = 0
      const fastify = await app()
      const seen: string[] = []
      fastify.addHook('onRequest', async (req, reply) => {
        seen.push(`auth ${req.url}`)
        if (req.headers['x-api-key'] !== 'secret') return reply.code(401).send('no key')
      })
      fastify.addHook('onSend', async (_req, reply, payload) => {
        reply.header('x-served-by', 'app')
        return payload
      })
      fastify.get('/key', async () => `keyed ${++runs}`)
      const url = await listen(fastify)
      const key = { headers: { 'x-api-key': 'secret' } }
      const miss = await call(url, '/key', key)
      const hit = await call(url, '/key', key)
      const refused = await call(url, '/key')
      expect([miss.headers['x-cache'], hit.headers['x-cache'], hit.body]).to.deep.equal(['MISS', 'HIT', 'keyed 1'])
      expect([miss.headers['x-served-by'], hit.headers['x-served-by']]).to.deep.equal(['app', 'app'])
      expect([refused.status, refused.body, refused.headers['x-cache']]).to.deep.equal([401, 'no key', undefined])
      expect(seen).to.deep.equal(['auth /key', 'auth /key', 'auth /key'])
    })

    it('caches a stream payload read whole in onSend, and passes one past maxBodySize through whole, uncached', async () => {
      let runs = 0
      const chunk = 'x'.repeat(1000)
      const fastify = await app({ maxBodySize: 2048 })
      fastify.get('/stream', async (_req, reply) => reply.type('text/plain').send(Readable.from(['one ', 'two ', `three ${++runs}`])))
      fastify.get('/big', async (_req, reply) => {
        runs++
        return reply.type('text/plain').send(Readable.from(Array.from({ length: 10 }, (_, i) => `${i}${chunk}`)))
      })
      const url = await listen(fastify)
      const first = await call(url, '/stream')
      const second = await call(url, '/stream')
      expect([first.body, second.body, first.headers['x-cache'], second.headers['x-cache']]).to.deep.equal(['one two three 1', 'one two three 1', 'MISS', 'HIT'])
      expect([second.headers['content-length'], second.headers['content-type']]).to.deep.equal(['15', 'text/plain'])
      const big = await call(url, '/big')
      const bigAgain = await call(url, '/big')
      expect([big.bytes.length, big.body.startsWith(`0${chunk}1${chunk}`), bigAgain.body === big.body]).to.deep.equal([10_010, true, true])
      expect([big.headers['x-cache'], bigAgain.headers['x-cache'], runs]).to.deep.equal(['BYPASS', 'BYPASS', 3])
    })
  })

  describe('invalidation', () => {
    it('decorates the instance with the cache and replies with cacheInvalidate(tags)', async () => {
      let version = 1
      const cache = newCache()
      const fastify = await app({}, cache)
      fastify.get('/price', { config: { memoredis: { tags: ['price'] } } }, async () => ({ version }))
      fastify.post('/price', async (_req, reply) => {
        version++
        await reply.cacheInvalidate(['price'])
        return { version }
      })
      const url = await listen(fastify)
      expect(fastify.memoredis).to.equal(cache)
      await call(url, '/price')
      expect((await call(url, '/price')).headers['x-cache']).to.equal('HIT')
      await call(url, '/price', { method: 'POST' })
      const after = await call(url, '/price')
      expect([JSON.parse(after.body), after.headers['x-cache']]).to.deep.equal([{ version: 2 }, 'MISS'])
    })
  })

  describe('cookies set by a later onSend hook (@fastify/cookie)', () => {
    for (const order of ['before', 'after'] as const) {
      it(`never serves one visitor’s session page to the next, and still sends the cookie: @fastify/cookie registered ${order} the plugin`, async () => {
        let runs = 0
        const fastify = Fastify()
        apps.push(fastify)
        if (order === 'before') await fastify.register(fastifyCookie)
        await fastify.register(fastifyCache, { cache: newCache() })
        if (order === 'after') await fastify.register(fastifyCookie)
        fastify.get('/form', async (_request, reply) => {
          runs++
          const csrf = randomUUID()
          reply.setCookie('session', csrf)
          return `<input name="csrf" value="${csrf}">`
        })
        const url = await listen(fastify)
        await expectSessionsApart(url, '/form', 'session')
        expect(runs).to.equal(2)
      })
    }
  })

  describe('truncated bodies', () => {
    it('never stores a stream shorter than its Content-Length, and sends it as the handler did', async () => {
      let runs = 0
      const fastify = await app()
      fastify.get('/short', async (_request, reply) => {
        runs++
        reply.header('content-length', '26')
        return Readable.from([Buffer.from('0123456789')])
      })
      const url = await listen(fastify)
      await expectTruncatedUnstored(url, '/short')
      expect(runs).to.equal(2)
    })
  })

  describe('stale-while-revalidate', () => {
    it('serves STALE while one refresh goes through the app by inject (hooks, client address), then the fresh response', async () => {
      let runs = 0
      const second = gate()
      const cache = createCache({})
      caches.push(cache)
      const refreshed = new Promise((resolve) => cache.on('refresh', resolve))
      const fastify = await app({ ttl: 100, grace: '1m' }, cache)
      let seenByHook = 0
      fastify.addHook('onRequest', async () => void seenByHook++)
      fastify.get('/swr', async (req) => {
        const run = ++runs
        if (run === 2) await second.opened
        return `run ${run} for ${req.ip}, marker ${String(req.headers['x-memoredis-refresh'])}`
      })
      const url = await listen(fastify)
      const first = await call(url, '/swr')
      await new Promise((resolve) => setTimeout(resolve, 150)) // past the ttl; nothing to wait on
      const stale = await call(url, '/swr')
      expect([stale.body, stale.headers['x-cache']]).to.deep.equal([first.body, 'STALE'])
      second.open()
      await refreshed
      const fresh = await call(url, '/swr')
      expect([fresh.body, fresh.headers['x-cache'], runs]).to.deep.equal(['run 2 for 127.0.0.1, marker undefined', 'HIT', 2])
      expect(seenByHook).to.equal(4) // the refresh's copy went through the hook too
    })

    it('treats a client’s own refresh header as any other request', async () => {
      let runs = 0
      const fastify = await app()
      fastify.get('/forged', async () => `run ${++runs}`)
      const url = await listen(fastify)
      await call(url, '/forged')
      const forged = await call(url, '/forged', { headers: { 'x-memoredis-refresh': 'guess.1' } })
      expect([forged.body, forged.headers['x-cache']]).to.deep.equal(['run 1', 'HIT'])
    })
  })
})
