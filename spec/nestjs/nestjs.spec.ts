import 'reflect-metadata'
import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import type { IncomingMessage, Server } from 'node:http'
import { fileURLToPath } from 'node:url'
import { Controller, Get, Inject, Injectable, Module, NotFoundException, Param, Put, Query, Req, Res, UseInterceptors, type INestApplication } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { ExpressAdapter } from '@nestjs/platform-express'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import { CacheClosedError, createCache, InvalidOptionError, Memoize, type Cache, type TagInvalidationError } from 'memoredis'
import {
  CacheResponse,
  InjectCache,
  InvalidateRouteTags,
  MEMOREDIS_CACHE,
  MemoredisCache,
  MemoredisInterceptor,
  MemoredisModule,
  type MemoredisModuleOptions,
  type MemoredisRequest,
} from 'memoredis/nestjs'
import { nestjsExpress, nestjsFastify } from '../support/http-framework-nestjs.ts'
import { call, gate, type Reply } from '../support/http.ts'
import { RedisServer } from '../support/redis-server.ts'
import { useRedis } from '../support/redis.ts'

/**
 * memoredis/nestjs in real Nest apps (NestJS 12 on Express and on Fastify) over real HTTP, against a
 * real Redis. The specs run without `experimentalDecorators`, so Nest's method and
 * parameter decorators are applied as the compiler would apply them (`Reflect.decorate`);
 * the decorator syntax itself is exercised by examples/nestjs.ts (spec/repo/examples.spec.ts).
 */

/** Express's `req` or Fastify's `request`. */
type Request = MemoredisRequest & { socket: IncomingMessage['socket'] }
/** Express's `res` or Fastify's `reply`. */
interface PlatformReply { header(name: string, value: string): unknown }

/** The two platforms the interceptor caches on. */
const PLATFORMS = [
  { name: 'Express', adapter: (): ExpressAdapter | FastifyAdapter => new ExpressAdapter() },
  { name: 'Fastify', adapter: (): ExpressAdapter | FastifyAdapter => new FastifyAdapter() },
]

/** What the shop's handlers did, shared by every app instance of a test (one database). */
interface Shop {
  runs: Record<'slow' | 'me' | 'login' | 'etag' | 'boom' | 'big' | 'product' | 'rename' | 'swr', number>
  slowGate: Promise<void>
  /** What the stale-while-revalidate route's second run does. */
  swrSecond: () => Promise<void>
  products: Map<string, string>
}

const newShop = (): Shop => ({
  runs: { slow: 0, me: 0, login: 0, etag: 0, boom: 0, big: 0, product: 0, rename: 0, swr: 0 },
  slowGate: Promise.resolve(),
  swrSecond: () => Promise.resolve(),
  products: new Map([['1', 'tea']]),
})

/** Applies method decorators to `name` of `target`'s prototype, as a compiler does for legacy decorators. */
function decorate(target: { prototype: object }, name: string, ...decorators: MethodDecorator[]): void {
  const proto = target.prototype
  Reflect.decorate(decorators, proto, name, Object.getOwnPropertyDescriptor(proto, name))
}

/** The shop's controller, its handlers counting into `shop`. */
function shopController(shop: Shop): new () => object {
  class ShopController {
    async slow(): Promise<object> {
      const n = ++shop.runs.slow
      await shop.slowGate
      return { n }
    }
    me(req: Request): object {
      shop.runs.me++
      return { user: req.headers.authorization ?? req.headers.cookie ?? 'anonymous' }
    }
    login(res: PlatformReply): string {
      shop.runs.login++
      res.header('Set-Cookie', `session=${shop.runs.login}`)
      return 'welcome'
    }
    etag(): object {
      return { version: ++shop.runs.etag }
    }
    boom(): never {
      shop.runs.boom++
      throw new NotFoundException('no such thing')
    }
    big(): string {
      return 'x'.repeat(2000 + ++shop.runs.big)
    }
    async swr(req: Request): Promise<string> {
      const run = ++shop.runs.swr
      if (run === 2) await shop.swrSecond()
      return `run ${run} from ${req.socket.remoteAddress}`
    }
    product(id: string): object {
      shop.runs.product++
      return { id, name: shop.products.get(id) }
    }
    rename(id: string, name: string): object {
      shop.runs.rename++
      if (name === 'fail') throw new Error('the database said no')
      shop.products.set(id, name)
      return { renamed: id }
    }
  }
  for (const name of ['slow', 'me', 'login', 'etag', 'boom', 'big']) decorate(ShopController, name, Get(name))
  decorate(ShopController, 'product', Get('products/:id'), CacheResponse<Request>({ tags: (req) => [`product:${req.params?.id}`] }))
  decorate(ShopController, 'rename', Put('products/:id'), InvalidateRouteTags<Request>((req) => [`product:${req.params?.id}`]))
  decorate(ShopController, 'swr', Get('swr'), CacheResponse({ ttl: 100, grace: '1m' }))
  for (const name of ['me', 'swr']) Req()(ShopController.prototype, name, 0)
  Res({ passthrough: true })(ShopController.prototype, 'login', 0)
  Param('id')(ShopController.prototype, 'product', 0)
  Param('id')(ShopController.prototype, 'rename', 0)
  Query('name')(ShopController.prototype, 'rename', 1)
  // The product routes bind the interceptor themselves too: bound twice, it acts once.
  Reflect.decorate([Controller(), UseInterceptors(MemoredisInterceptor)], ShopController)
  return ShopController
}

/** A shop app on `platform`, on a free loopback port; `arrived` is called as each request arrives. */
async function startShop(input: { shop: Shop; options: MemoredisModuleOptions; platform: () => ExpressAdapter | FastifyAdapter; arrived?: () => void }): Promise<{ app: INestApplication; url: string }> {
  class AppModule {}
  Module({ imports: [MemoredisModule.forRoot(input.options)], controllers: [shopController(input.shop)] })(AppModule)
  const app = await NestFactory.create(AppModule, input.platform(), { logger: false, abortOnError: false })
  const arrived = input.arrived
  if (arrived !== undefined) (app.getHttpServer() as Server).prependListener('request', () => arrived())
  await app.listen(0, '127.0.0.1')
  const { port } = (app.getHttpServer() as { address(): AddressInfo }).address()
  return { app, url: `http://127.0.0.1:${port}` }
}

/** Reads `path` until its body is `want` (another process hears of an invalidation a round trip later), within 1 s. */
async function readUntil(url: string, path: string, want: string): Promise<Reply> {
  const deadline = Date.now() + 1000
  let reply = await call(url, path)
  while (reply.body !== want && Date.now() < deadline) {
    await new Promise((resolve) => setImmediate(resolve))
    reply = await call(url, path)
  }
  return reply
}

const settle = <T>(p: Promise<T>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e)

describe('memoredis/nestjs', () => {
  const redis = useRedis()

  for (const platform of PLATFORMS) describe(`MemoredisInterceptor on a real Nest app (${platform.name} platform)`, () => {
    let shop: Shop
    let served: { app: INestApplication; url: string }
    let arrived: () => void = () => undefined
    beforeEach(async () => {
      shop = newShop()
      arrived = () => undefined
      served = await startShop({ shop, options: { redis: redis.url, prefix: 'nest', http: { maxBodySize: 1000 } }, platform: platform.adapter, arrived: () => arrived() })
    })
    afterEach(() => served.app.close())

    it('runs the handler once for 100 concurrent requests of a cold URL: one MISS, 99 HITs, one body', async () => {
      const opened = gate()
      shop.slowGate = opened.opened
      let count = 0
      arrived = () => {
        if (++count === 100) setImmediate(opened.open)
      }
      const replies = await Promise.all(Array.from({ length: 100 }, () => call(served.url, '/slow')))
      expect(shop.runs.slow).to.equal(1)
      expect(new Set(replies.map((r) => `${r.status} ${r.body}`))).to.deep.equal(new Set(['200 {"n":1}']))
      const statuses = replies.map((r) => r.headers['x-cache'])
      expect(statuses.filter((s) => s === 'MISS')).to.have.length(1)
      expect(statuses.filter((s) => s === 'HIT')).to.have.length(99)
    })

    it('never gives one user’s response to another: Authorization and Cookie requests bypass the cache', async () => {
      const alice = await call(served.url, '/me', { headers: { authorization: 'Bearer alice' } })
      const bob = await call(served.url, '/me', { headers: { authorization: 'Bearer bob' } })
      const carol = await call(served.url, '/me', { headers: { cookie: 'session=carol' } })
      const dave = await call(served.url, '/me', { headers: { cookie: 'session=dave' } })
      const anonymous = await call(served.url, '/me')
      const again = await call(served.url, '/me', { headers: { authorization: 'Bearer bob' } })
      expect([alice, bob, carol, dave, anonymous, again].map((r) => JSON.parse(r.body).user)).to.deep.equal([
        'Bearer alice', 'Bearer bob', 'session=carol', 'session=dave', 'anonymous', 'Bearer bob',
      ])
      expect([alice, bob, carol, dave, again].map((r) => r.headers['x-cache'])).to.deep.equal(['BYPASS', 'BYPASS', 'BYPASS', 'BYPASS', 'BYPASS'])
      expect(anonymous.headers['x-cache']).to.equal('MISS')
      expect(shop.runs.me).to.equal(6)
    })

    it('never caches a response that sets a cookie', async () => {
      const first = await call(served.url, '/login')
      const second = await call(served.url, '/login')
      expect([first.headers['set-cookie'], second.headers['set-cookie']]).to.deep.equal([['session=1'], ['session=2']])
      expect([first.headers['x-cache'], second.headers['x-cache']]).to.deep.equal(['BYPASS', 'BYPASS'])
      expect(shop.runs.login).to.equal(2)
    })

    it('answers If-None-Match with a 304 from the cache', async () => {
      const first = await call(served.url, '/etag')
      expect(first.headers.etag).to.be.a('string')
      const conditional = await call(served.url, '/etag', { headers: { 'if-none-match': first.headers.etag } })
      expect(conditional.status).to.equal(304)
      expect(conditional.headers['x-cache']).to.equal('HIT')
      expect(conditional.headers.etag).to.equal(first.headers.etag)
      expect(conditional.body).to.equal('')
      const stale = await call(served.url, '/etag', { headers: { 'if-none-match': '"another"' } })
      expect([stale.status, stale.body]).to.deep.equal([200, '{"version":1}'])
      expect(shop.runs.etag).to.equal(1)
    })

    it('never caches a handler that throws, even when its exception makes a cacheable status (404)', async () => {
      const first = await call(served.url, '/boom')
      const second = await call(served.url, '/boom')
      for (const reply of [first, second]) {
        expect(reply.status).to.equal(404)
        expect(reply.headers['x-cache']).to.equal('BYPASS')
        expect(JSON.parse(reply.body)).to.include({ message: 'no such thing', statusCode: 404 })
      }
      expect(shop.runs.boom).to.equal(2)
    })

    it('passes a reply larger than maxBodySize through whole, and never stores it', async () => {
      const first = await call(served.url, '/big')
      const second = await call(served.url, '/big')
      expect([first.body.length, second.body.length]).to.deep.equal([2001, 2002])
      expect([first.headers['x-cache'], second.headers['x-cache']]).to.deep.equal(['BYPASS', 'BYPASS'])
      expect(shop.runs.big).to.equal(2)
    })

    it('serves STALE within grace while one background refresh runs through the app, then the fresh response', async () => {
      const second = gate()
      shop.swrSecond = () => second.opened
      const cache = served.app.get<Cache>(MEMOREDIS_CACHE)
      const refreshed = new Promise((resolve) => cache.on('refresh', resolve))
      const first = await call(served.url, '/swr')
      await new Promise((resolve) => setTimeout(resolve, 150)) // past the ttl; nothing to wait on
      const stale = await call(served.url, '/swr') // answered while the refresh waits on the gate
      expect([stale.body, stale.headers['x-cache']]).to.deep.equal([first.body, 'STALE'])
      second.open()
      await refreshed
      const fresh = await call(served.url, '/swr')
      expect([fresh.body, fresh.headers['x-cache']]).to.deep.equal(['run 2 from 127.0.0.1', 'HIT'])
      expect(shop.runs.swr).to.equal(2)
    })

    it('keeps serving the stale response when the background refresh’s handler throws (its error response is never kept)', async () => {
      shop.swrSecond = () => Promise.reject(new NotFoundException('gone for a moment'))
      const cache = served.app.get<Cache>(MEMOREDIS_CACHE)
      const refreshed = new Promise((resolve) => cache.on('refresh', resolve))
      const first = await call(served.url, '/swr')
      await new Promise((resolve) => setTimeout(resolve, 150)) // past the ttl; nothing to wait on
      expect((await call(served.url, '/swr')).headers['x-cache']).to.equal('STALE')
      await refreshed
      const again = await call(served.url, '/swr')
      expect([again.status, again.body, again.headers['x-cache']]).to.deep.equal([200, first.body, 'STALE'])
      expect(shop.runs.swr).to.be.at.least(2)
    })

    it('sees in a second app instance on the same Redis the invalidation made by a write route of the first', async () => {
      const second = await startShop({ shop, options: { redis: redis.url, prefix: 'nest' }, platform: platform.adapter })
      try {
        expect((await call(second.url, '/products/1')).headers['x-cache']).to.equal('MISS')
        const hit = await call(second.url, '/products/1')
        expect([hit.headers['x-cache'], hit.body]).to.deep.equal(['HIT', '{"id":"1","name":"tea"}'])
        const put = await call(served.url, '/products/1?name=coffee', { method: 'PUT' })
        expect([put.status, put.body]).to.deep.equal([200, '{"renamed":"1"}'])
        const fresh = await readUntil(second.url, '/products/1', '{"id":"1","name":"coffee"}')
        expect(fresh.body).to.equal('{"id":"1","name":"coffee"}')
        expect(fresh.headers['x-cache']).to.equal('MISS')
        expect(shop.runs.product).to.equal(2)
      } finally {
        await second.app.close()
      }
    })

    it('invalidates nothing when a write route fails', async () => {
      let invalidations = 0
      served.app.get<Cache>(MEMOREDIS_CACHE).on('invalidate', () => invalidations++)
      await call(served.url, '/products/1')
      const failing = await call(served.url, '/products/1?name=fail', { method: 'PUT' })
      expect(failing.status).to.equal(500)
      expect(shop.runs.rename).to.equal(1)
      expect(invalidations).to.equal(0)
      const after = await call(served.url, '/products/1')
      expect([after.headers['x-cache'], after.body]).to.deep.equal(['HIT', '{"id":"1","name":"tea"}'])
    })
  })

  describe('options of a route, its controller and the module', () => {
    it("takes a route's @CacheResponse over its controller's, and the controller's over the module's", async () => {
      const runs: string[] = []
      class Tenants {
        plain(req: Request): string {
          runs.push(`plain ${String(req.headers['x-tenant'])}`)
          return `plain for ${String(req.headers['x-tenant'])}`
        }
        shared(req: Request): string {
          runs.push(`shared ${String(req.headers['x-tenant'])}`)
          return 'the same for every tenant'
        }
      }
      decorate(Tenants, 'plain', Get('plain'))
      decorate(Tenants, 'shared', Get('shared'), CacheResponse({ vary: [], tags: () => ['shared'] }))
      Req()(Tenants.prototype, 'plain', 0)
      Req()(Tenants.prototype, 'shared', 0)
      Reflect.decorate([Controller(), CacheResponse({ vary: ['x-tenant'] })], Tenants)
      class AppModule {}
      Module({ imports: [MemoredisModule.forRoot({ redis: redis.url, prefix: 'layers', http: { vary: ['x-other'], ttl: '1m' } })], controllers: [Tenants] })(AppModule)
      const app = await NestFactory.create(AppModule, new ExpressAdapter(), { logger: false, abortOnError: false })
      await app.listen(0, '127.0.0.1')
      const url = `http://127.0.0.1:${(app.getHttpServer() as { address(): AddressInfo }).address().port}`
      try {
        const get = async (path: string, tenant: string): Promise<string> => {
          const reply = await call(url, path, { headers: { 'x-tenant': tenant } })
          return `${reply.headers['x-cache']} ${reply.body}`
        }
        // The controller's vary (x-tenant) replaces the module's: one entry per tenant.
        expect([await get('/plain', 'a'), await get('/plain', 'b'), await get('/plain', 'a')]).to.deep.equal([
          'MISS plain for a', 'MISS plain for b', 'HIT plain for a',
        ])
        // The route's vary (none) replaces its controller's: one entry for all.
        expect([await get('/shared', 'a'), await get('/shared', 'b')]).to.deep.equal(['MISS the same for every tenant', 'HIT the same for every tenant'])
        await app.get<Cache>(MEMOREDIS_CACHE).invalidateTags(['shared'])
        expect(await get('/shared', 'b')).to.equal('MISS the same for every tenant')
        expect(runs).to.deep.equal(['plain a', 'plain b', 'shared a', 'shared b'])
      } finally {
        await app.close()
      }
    })
  })

  describe('a write route when Redis cannot be told', () => {
    let server: RedisServer
    before(async () => {
      server = await RedisServer.start()
    })
    after(() => server.stop())

    it('fails the request with the TagInvalidationError (500); with onError, the handler’s response goes out and onError is told', async () => {
      const seen: TagInvalidationError[] = []
      const writes: string[] = []
      class Orders {
        strict(id: string): object {
          writes.push(`strict ${id}`)
          return { saved: id }
        }
        lenient(id: string): object {
          writes.push(`lenient ${id}`)
          return { saved: id }
        }
      }
      decorate(Orders, 'strict', Put('strict/:id'), InvalidateRouteTags<Request>((req) => [`order:${req.params?.id}`]))
      decorate(Orders, 'lenient', Put('lenient/:id'), InvalidateRouteTags<Request>((req) => [`order:${req.params?.id}`], { onError: (e) => seen.push(e) }))
      Param('id')(Orders.prototype, 'strict', 0)
      Param('id')(Orders.prototype, 'lenient', 0)
      Controller()(Orders)
      class AppModule {}
      Module({ imports: [MemoredisModule.forRoot({ redis: server.url, prefix: 'down', redisTimeout: '200ms' })], controllers: [Orders] })(AppModule)
      const app = await NestFactory.create(AppModule, new ExpressAdapter(), { logger: false, abortOnError: false })
      await app.listen(0, '127.0.0.1')
      const url = `http://127.0.0.1:${(app.getHttpServer() as { address(): AddressInfo }).address().port}`
      try {
        await app.get<Cache>(MEMOREDIS_CACHE).invalidateTags(['warm-up']) // connected and working
        await server.kill()
        const strict = await call(url, '/strict/7', { method: 'PUT' })
        expect(strict.status).to.equal(500)
        const lenient = await call(url, '/lenient/8', { method: 'PUT' })
        expect([lenient.status, lenient.body]).to.deep.equal([200, '{"saved":"8"}'])
        expect(writes).to.deep.equal(['strict 7', 'lenient 8'])
        expect(seen).to.have.length(1)
        expect(seen[0]).to.include({ code: 'ERR_TAG_INVALIDATION' })
        expect(seen[0]?.result).to.deep.equal({ saved: '8' })
        expect(seen[0]?.tags).to.deep.equal(['order:8'])
      } finally {
        await app.close()
        await server.restart()
      }
    })
  })

  describe('MemoredisModule', () => {
    it('forRootAsync makes the cache from a factory with injected providers; the cache is a provider, closed on shutdown', async () => {
      class ConfigModule {}
      Module({ providers: [{ provide: 'CONFIG', useValue: { url: redis.url, prefix: 'async' } }], exports: ['CONFIG'] })(ConfigModule)
      class AppModule {}
      Module({
        imports: [
          MemoredisModule.forRootAsync({
            imports: [ConfigModule],
            inject: ['CONFIG'],
            useFactory: (config: { url: string; prefix: string }) => ({ redis: config.url, prefix: config.prefix }),
          }),
        ],
      })(AppModule)
      const app = await NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false })
      const cache = app.get<Cache>(MEMOREDIS_CACHE)
      expect(app.get(MemoredisCache)).to.equal(cache)
      await cache.set('k', 'v')
      expect(await redis.client.exists('async:default:k')).to.equal(1)
      await app.close()
      expect(await settle(cache.get('k'))).to.be.an.instanceOf(CacheClosedError)
    })

    it('provides a cache it was given, to @Memoize on an injectable service and by injection; closeOnShutdown: false keeps it open', async () => {
      const cache = createCache({ redis: redis.url, prefix: 'given' })
      let runs = 0
      @Injectable()
      class Prices {
        @Memoize({ cache })
        async price(id: string): Promise<string> {
          return `${id}:${++runs}`
        }
      }
      class Report {
        constructor(readonly cache: Cache, readonly prices: Prices) {}
      }
      Injectable()(Report)
      InjectCache()(Report, undefined, 0)
      Inject(Prices)(Report, undefined, 1)
      class AppModule {}
      Module({ imports: [MemoredisModule.forRoot({ cache, closeOnShutdown: false })], providers: [Prices, Report] })(AppModule)
      const app = await NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false })
      try {
        const report = app.get(Report)
        expect(report.cache).to.equal(cache)
        expect(await report.prices.price('a')).to.equal('a:1')
        expect(await app.get(Prices).price('a')).to.equal('a:1')
        expect(runs).to.equal(1)
      } finally {
        await app.close()
      }
      expect(await cache.get('missing')).to.equal(undefined) // still open
      await cache.close()
    })

    it('refuses unknown options and wrong types at registration with InvalidOptionError (ERR_INVALID_OPTION)', async () => {
      const cache = createCache({ prefix: 'refused' })
      const bad: [string, () => unknown][] = [
        ['an unknown cache option', () => MemoredisModule.forRoot({ redsi: 'x' } as never)],
        ['a cache option of the wrong type', () => MemoredisModule.forRoot({ ttl: true } as never)],
        ['a cache and cache options', () => MemoredisModule.forRoot({ cache, prefix: 'x' })],
        ['a cache that is not one', () => MemoredisModule.forRoot({ cache: {} as Cache })],
        ['closeOnShutdown not a boolean', () => MemoredisModule.forRoot({ closeOnShutdown: 'yes' } as never)],
        ['an unknown http option', () => MemoredisModule.forRoot({ http: { cache } as never })],
        ['an http option of the wrong type', () => MemoredisModule.forRoot({ http: { ttl: 'soon' as never } })],
        ['forRootAsync without useFactory', () => MemoredisModule.forRootAsync({} as never)],
        ['forRootAsync with an unknown option', () => MemoredisModule.forRootAsync({ useFactory: () => ({}), useClass: Object } as never)],
        ['CacheResponse with an unknown option', () => CacheResponse({ cache } as never)],
        ['CacheResponse with a ttl of the wrong type', () => CacheResponse({ ttl: 'soon' as never })],
        ['CacheResponse with tags not a function', () => CacheResponse({ tags: ['a'] } as never)],
        ['CacheResponse with a bad vary', () => CacheResponse({ vary: ['bad header'] })],
        ['InvalidateRouteTags with tags of another type', () => InvalidateRouteTags(5 as never)],
        ['InvalidateRouteTags with a cache', () => InvalidateRouteTags(['t'], { cache } as never)],
      ]
      try {
        for (const [what, make] of bad) expect(make, what).to.throw(InvalidOptionError).with.property('code', 'ERR_INVALID_OPTION')
        class AppModule {}
        Module({ imports: [MemoredisModule.forRootAsync({ useFactory: () => ({ prefix: 5 }) as never })] })(AppModule)
        const refused = await settle(NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false }))
        expect(refused, 'a factory that returns bad options').to.be.an.instanceOf(InvalidOptionError)
      } finally {
        await cache.close()
      }
    })
  })

  for (const framework of [nestjsExpress, nestjsFastify]) describe(`the framework adapter of the shared HTTP specs: ${framework.name}`, () => {
    it('serves a route: MISS, then HIT; a POST that invalidates its tag makes the next GET a MISS', async () => {
      const cache = createCache({ redis: redis.url, prefix: 'adapter' })
      let runs = 0
      const served = await framework.serve({
        cache,
        routes: [
          { method: 'GET', path: '/item', reply: () => ({ body: { runs: ++runs } }), tags: () => ['item'] },
          { method: 'POST', path: '/item', reply: () => ({ body: 'saved' }), invalidates: () => ['item'] },
        ],
      })
      try {
        const replies = [await call(served.url, '/item'), await call(served.url, '/item')]
        expect(replies.map((r) => `${r.headers['x-cache']} ${r.body}`)).to.deep.equal(['MISS {"runs":1}', 'HIT {"runs":1}'])
        expect((await call(served.url, '/item', { method: 'POST' })).body).to.equal('saved')
        const after = await call(served.url, '/item')
        expect(`${after.headers['x-cache']} ${after.body}`).to.equal('MISS {"runs":2}')
      } finally {
        await served.close()
        await cache.close()
      }
    })
  })

  it("import 'memoredis' loads none of the optional peers: no module it reaches imports NestJS, rxjs, reflect-metadata, Express or Koa", () => {
    const lib = fileURLToPath(new URL('../../lib/', import.meta.url))
    const seen = new Set<string>()
    const peers: string[] = []
    const walk = (file: string): void => {
      if (seen.has(file)) return
      seen.add(file)
      const source = readFileSync(lib + file, 'utf8')
      for (const match of source.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'/gm)) {
        const spec = match[1] ?? match[2]
        if (spec === undefined) continue
        if (spec.startsWith('.')) walk(new URL(spec, `file:///${file}`).pathname.slice(1))
        else if (/^(@nestjs\/|rxjs|reflect-metadata|express|koa)/.test(spec)) peers.push(`${file}: ${spec}`)
      }
    }
    walk('index.ts')
    expect(seen.size).to.be.above(20)
    expect([...seen].some((f) => f.startsWith('nestjs/') || f.startsWith('http/'))).to.equal(false)
    expect(peers).to.deep.equal([])
  })
})
