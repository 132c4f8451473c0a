import 'reflect-metadata'
import { expect } from 'chai'
import Fastify from 'fastify'
import { createCache, InvalidateTags, InvalidOptionError, Memoize, memoize, type Cache } from 'memoredis'
import { expressCache } from 'memoredis/express'
import { fastifyCache } from 'memoredis/fastify'
import { koaCache } from 'memoredis/koa'
import { CacheResponse, InvalidateRouteTags, MemoredisModule } from 'memoredis/nestjs'
import { instrument } from 'memoredis/otel'

/**
 * Every call that takes options refuses one it does not know, in the same words, from one
 * checker (`lib/options/known.ts`): a typo such as `tll` never runs silently with the
 * default ttl. `getOrSet` and `set` used to take `{ tll: '5m' }` without a word.
 */

/** `where has no option "name" (known: ...)`, the one message. */
const typo = (where: string, name: string): RegExp => new RegExp(`^${where.replace(/[()[\]]/g, '\\$&')} has no option "${name}" \\(known: [a-zA-Z0-9, ]+\\)$`)

/** The rejection or throw of `run`, whichever it gives. */
async function refusal(run: () => unknown): Promise<unknown> {
  try {
    await run()
  } catch (error) {
    return error
  }
  throw new Error('expected the call to be refused')
}

describe('unknown options, at every entry point', () => {
  let cache: Cache

  beforeEach(() => {
    cache = createCache()
  })

  afterEach(() => cache.close())

  const entryPoints: [string, string, string, () => unknown][] = [
    ['createCache', 'createCache', 'tll', () => createCache({ tll: '5m' } as never)],
    ['createCache, a nested object', 'createCache: l1', 'mx', () => createCache({ l1: { mx: 10 } } as never)],
    ['memoize', 'memoize(f)', 'tll', () => memoize(async function f() {}, { tll: '5m' } as never)],
    ['cache.memoize', 'memoize(g)', 'tll', () => cache.memoize(async function g() {}, { tll: '5m' } as never)],
    ['@Memoize', 'Memoize', 'tll', () => Memoize({ tll: '5m' } as never)],
    ['getOrSet', 'getOrSet', 'tll', () => cache.getOrSet('k', () => 1, { tll: '5m' } as never)],
    ['getOrSet, a nested object', 'getOrSet: timeout', 'sfot', () => cache.getOrSet('k', () => 1, { timeout: { sfot: '1s' } } as never)],
    ['getOrSetEntry', 'getOrSetEntry', 'tll', () => cache.getOrSetEntry('k', () => 1, { tll: '5m' } as never)],
    ['set', 'set', 'tll', () => cache.set('k', 1, { tll: '5m' } as never)],
    ['set, an entry option set does not take', 'set', 'shouldCache', () => cache.set('k', 1, { shouldCache: () => true } as never)],
    ['a namespace view’s getOrSet', 'getOrSet', 'tll', () => cache.namespace('n').getOrSet('k', () => 1, { tll: '5m' } as never)],
    ['expressCache', 'expressCache', 'tll', () => expressCache({ cache, tll: '5m' } as never)],
    ['koaCache', 'koaCache', 'tll', () => koaCache({ cache, tll: '5m' } as never)],
    ['fastifyCache', 'fastifyCache', 'tll', () => Fastify().register(fastifyCache, { cache, tll: '5m' } as never).ready()],
    ['@CacheResponse', 'CacheResponse', 'tll', () => CacheResponse({ tll: '5m' } as never)],
    ['@InvalidateRouteTags', 'InvalidateRouteTags', 'onErorr', () => InvalidateRouteTags(['t'], { onErorr: () => undefined } as never)],
    ['@InvalidateTags', 'InvalidateTags', 'onErorr', () => InvalidateTags(['t'], { onErorr: () => undefined } as never)],
    ['MemoredisModule.forRoot, http', 'MemoredisModule.forRoot: http', 'tll', () => MemoredisModule.forRoot({ http: { tll: '5m' } } as never)],
    ['MemoredisModule.forRootAsync', 'MemoredisModule.forRootAsync', 'injcet', () => MemoredisModule.forRootAsync({ useFactory: () => ({}), injcet: [] } as never)],
    ['instrument', 'instrument', 'roundTrip', () => instrument(cache, { roundTrip: false } as never)],
  ]

  for (const [entry, where, name, run] of entryPoints) {
    it(`${entry} refuses a misspelt option with InvalidOptionError, naming it and the known ones`, async () => {
      const error = await refusal(run)
      expect(error).to.be.instanceOf(InvalidOptionError)
      expect((error as InvalidOptionError).code).to.equal('ERR_INVALID_OPTION')
      expect((error as Error).message).to.match(typo(where, name))
    })
  }

  it('a Fastify route’s config.memoredis refuses one too, when the route is registered', async () => {
    const app = Fastify()
    await app.register(fastifyCache, { cache })
    const error = await refusal(() => {
      app.get('/x', { config: { memoredis: { tll: '5m' } as never } }, async () => 'x')
      return app.ready()
    })
    expect(error).to.be.instanceOf(InvalidOptionError)
    expect((error as Error).message).to.match(/has no option "tll" \(known: /)
    await app.close()
  })

  it('namespace() takes a name only: options given to it are refused, not dropped', () => {
    expect(() => (cache.namespace as (name: string, options: unknown) => Cache)('n', { ttl: '5m' })).to.throw(InvalidOptionError, /namespace takes only a name/)
  })

  it('stores nothing for a refused call: the function never ran and the key stays empty', async () => {
    let runs = 0
    await refusal(() => cache.getOrSet('k', () => ++runs, { tll: '5m' } as never))
    await refusal(() => cache.set('k', 1, { tll: '5m' } as never))
    expect(runs).to.equal(0)
    expect(await cache.get('k')).to.equal(undefined)
  })
})
