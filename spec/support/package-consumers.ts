/**
 * The apps that use the packed package, shared by spec/repo/package.spec.ts (on the lockfile's
 * versions) and `npm run check:latest` (on the newest): what each app depends on, and the
 * source of each file it runs or typechecks.
 */

/** The main app: memoredis and ioredis 6, plus types and Fastify for the TypeScript consumer. */
export const MAIN_APP = ['ioredis', '@types/node', '@types/express', '@types/koa', 'fastify'] as const

/** Apps whose only Redis client is one library, by its package name (the root's lockfile pins each). */
export const CLIENT_APPS = {
  ioredis: ['ioredis', '@types/node'],
  iovalkey: ['iovalkey', '@types/node'],
  redis: ['redis', '@types/node'],
} as const satisfies Record<string, readonly string[]>

/** An app with no Redis client library at all. */
export const NO_CLIENT_APP = ['@types/node'] as const

/** The Redis client packages a module may load (CommonJS ones land in the require cache). */
const CLIENTS = String.raw`/node_modules[\\/](ioredis|iovalkey|redis|@redis[\\/]client)[\\/]/`

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

/** Which framework and Redis client packages an import loaded (CommonJS ones, as these are, land in the require cache). */
export const LOADS = `import { createRequire } from 'node:module'
await import(process.argv[2])
const cache = createRequire(import.meta.url).cache
const frameworks = Object.keys(cache).map((file) => /node_modules[\\\\/](express|koa|fastify)[\\\\/]/.exec(file)?.[1]).filter(Boolean)
const clients = Object.keys(cache).filter((file) => ${CLIENTS}.test(file))
console.log(JSON.stringify([...new Set(frameworks), ...(clients.length > 0 ? ['a Redis client'] : [])]))
`

/**
 * An app whose only Redis client is \`process.argv[2]\`: caches on a URL (memoredis loads
 * that library) and on the app's own client, a value written by one read back by another
 * through Redis, and which client packages got loaded.
 */
export const CLIENT_RUN = `import { createRequire } from 'node:module'
import { createCache } from 'memoredis'

const [library, url] = process.argv.slice(2)
const before = Object.keys(createRequire(import.meta.url).cache).filter((file) => ${CLIENTS}.test(file)).length
const client = await import(library)
// The app's own client, never connected: node-redis's createClient, or a lazy ioredis/iovalkey Redis.
const own = library === 'redis' ? client.createClient({ url }) : new client.Redis(url, { lazyConnect: true })
const writer = createCache({ redis: url, prefix: 'app-' + library })
const reader = createCache({ redis: own, prefix: 'app-' + library })
await writer.set('answer', { n: 42, at: new Date(0), tags: new Set(['a']) })
const read = await reader.get('answer')
const health = await reader.health()
await writer.close()
await reader.close()
// memoredis used the app's lazy client as a template only: never connected it, never closed it.
const ownStatus = library === 'redis' ? (own.isOpen ? 'open' : 'wait') : own.status
if (library !== 'redis') own.disconnect()
console.log(JSON.stringify({ before, n: read.n, date: read.at instanceof Date, set: read.tags instanceof Set, l2: health.l2, ownStatus }))
`

/** The app with no Redis client: an L1-only cache works, a URL fails at once with the packages to install. */
export const NO_CLIENT_RUN = `import { createCache, NoRedisClientError } from 'memoredis'

const cache = createCache()
const value = await cache.getOrSet('k', () => 7)
await cache.close()
try {
  createCache({ redis: 'redis://127.0.0.1:6379' })
  console.log(JSON.stringify({ value, threw: false }))
} catch (error) {
  console.log(JSON.stringify({ value, threw: error instanceof NoRedisClientError, code: error.code, packages: error.packages, message: error.message }))
}
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

/** The node-redis app's file: its own client and cluster handed to createCache. */
export const NODE_REDIS_APP = `import { createClient, createCluster } from 'redis'
import { createCache, type Cache } from 'memoredis'

const caches: Cache[] = [
  createCache({ redis: createClient({ url: 'redis://127.0.0.1:6379' }) }),
  createCache({ redis: createClient({ url: 'redis://127.0.0.1:6379', RESP: 3 }) }),
  createCache({ redis: createCluster({ rootNodes: [{ url: 'redis://127.0.0.1:7000' }] }) }),
]
export { caches }
`

/** An app's file handing createCache its own Redis, Cluster or options, from `library` (ioredis 5 or 6, or iovalkey). */
export const ioredisLikeApp = (library: string): string => `import { Cluster, Redis } from '${library}'
import { createCache, type Cache } from 'memoredis'

const caches: Cache[] = [
  createCache({ redis: new Redis({ lazyConnect: true }) }),
  createCache({ redis: new Cluster([{ host: '127.0.0.1', port: 7000 }], { lazyConnect: true }) }),
  createCache({ redis: { host: '127.0.0.1', port: 6380, db: 2 } }),
]
export { caches }
`
