/**
 * The apps that use the packed package, shared by spec/repo/package.spec.ts (on the lockfile's
 * versions) and `npm run check:latest` (on the newest): what each app depends on, and the
 * source of each file it runs or typechecks.
 */

/** The main app: memoredis with its peers as npm installs them (ioredis 6), plus types and Fastify for the TypeScript consumer. */
export const MAIN_APP = ['@types/node', '@types/express', '@types/koa', 'fastify'] as const

/** An app on ioredis 5 (the root's `ioredis5` alias) that passes its own clients. */
export const IOREDIS5_APP = ['ioredis5', '@types/node'] as const

/** An ESM app: memoizes with an L1-only cache and prints what it got. */
export const ESM = `import { createCache, memoize } from 'memoredis'
import { expressCache } from 'memoredis/express'
import { koaCache } from 'memoredis/koa'
import { fastifyCache } from 'memoredis/fastify'

const cache = createCache()
let runs = 0
const square = memoize(async (n) => {
  runs++
  return n * n
}, { cache, name: 'square' })
const first = await square(12)
const second = await square(12)
console.log(JSON.stringify({ first, second, runs, express: typeof expressCache, koa: typeof koaCache, fastify: typeof fastifyCache }))
await cache.close()
`

/** Which framework packages an import loaded (CommonJS ones, as these are, land in the require cache). */
export const LOADS = `import { createRequire } from 'node:module'
await import(process.argv[2])
const cache = createRequire(import.meta.url).cache
const frameworks = Object.keys(cache).map((file) => /node_modules[\\\\/](express|koa|fastify)[\\\\/]/.exec(file)?.[1]).filter(Boolean)
console.log(JSON.stringify([...new Set(frameworks)]))
`

/** The same from CommonJS (require(esm)). */
export const CJS = `const { createCache, memoize, InvalidOptionError } = require('memoredis')
const { expressCache } = require('memoredis/express')
const { koaCache } = require('memoredis/koa')
const { fastifyCache } = require('memoredis/fastify')

const cache = createCache({ l1: { max: 10 } })
const double = memoize(async (n) => n * 2, { cache, name: 'double' })
double(21).then(async (value) => {
  console.log(JSON.stringify({ value, error: typeof InvalidOptionError, express: typeof expressCache, koa: typeof koaCache, fastify: typeof fastifyCache }))
  await cache.close()
})
`

/** A strict TypeScript consumer of every entry point: it must typecheck. */
export const CONSUMER = `import { createCache, memoize, Memoize, InvalidOptionError, type Cache, type CacheOptions, type ErrorCode } from 'memoredis'
import { expressCache } from 'memoredis/express'
import { koaCache } from 'memoredis/koa'
import { fastifyCache } from 'memoredis/fastify'
import Fastify from 'fastify'
import type { RequestHandler } from 'express'
import type { Middleware } from 'koa'

const options: CacheOptions = { ttl: '5m', grace: '1m', l1: { max: 100 } }
const cache: Cache = createCache(options)
const square = memoize(async (n: number) => n * n, { cache, name: 'square', tags: (n) => [\`n:\${n}\`] })
const sixteen: Promise<number> = square(4)

class Users {
  @Memoize({ cache, ttl: '1m' })
  async byId(id: number): Promise<{ id: number; name: string }> {
    return { id, name: 'Ada' }
  }
}
const user: Promise<{ id: number; name: string }> = new Users().byId(1)
const express: RequestHandler = expressCache({ cache, ttl: '30s' })
const koa: Middleware = koaCache({ cache, ttl: '30s' })
const code: ErrorCode = new InvalidOptionError('x').code
const app = Fastify()
await app.register(fastifyCache, { cache, ttl: '30s', tags: (request) => [request.url] })
app.get('/x', { config: { memoredis: { ttl: '1m', tags: ['x'], vary: ['x-tenant'] } } }, async (_request, reply) => {
  await reply.cacheInvalidate(['x'])
  return app.memoredis === cache
})
export { sixteen, user, express, koa, code }
`

/** A consumer that touches an internal: it must not typecheck. */
export const INTERNAL = `import { createCache } from 'memoredis'

const cache = createCache()
export const core = cache.core
`

/** The ioredis 5 app's file: its own Redis, Cluster or options handed to createCache. */
export const IOREDIS5 = `import { Cluster, Redis } from 'ioredis'
import { createCache, type Cache } from 'memoredis'

const caches: Cache[] = [
  createCache({ redis: new Redis({ lazyConnect: true }) }),
  createCache({ redis: new Cluster([{ host: '127.0.0.1', port: 7000 }], { lazyConnect: true }) }),
  createCache({ redis: { host: '127.0.0.1', port: 6380, db: 2 } }),
]
export { caches }
`
