import 'reflect-metadata'
import { expect } from 'chai'
import {
  createCache,
  defaultCache,
  InvalidateTags,
  InvalidOptionError,
  Memoize,
  memoize,
  TagInvalidationError,
  type Cache,
} from 'memoredis'
import { RedisServer } from '../support/redis-server.ts'
import { useRedis } from '../support/redis.ts'

/**
 * `@InvalidateTags`: after a write succeeds, its tags are invalidated before the caller
 * sees the result; a write that fails invalidates nothing; an invalidation that fails is
 * not silent. Against a real Redis, with a reader in another cache on the same server.
 */

const settle = <T>(p: Promise<T>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e)

/** Reads with `read` until it returns `want` (the other cache hears of the stamp a round trip later), within 1 s. */
async function readUntil<T>(read: () => Promise<T>, want: T): Promise<T> {
  const deadline = Date.now() + 1000
  let got = await read()
  while (got !== want && Date.now() < deadline) {
    await new Promise((resolve) => setImmediate(resolve))
    got = await read()
  }
  return got
}

describe('@InvalidateTags', () => {
  const redis = useRedis()
  let writer: Cache
  let reader: Cache
  beforeEach(() => {
    writer = createCache({ redis: redis.url, prefix: 'it' })
    reader = createCache({ redis: redis.url, prefix: 'it' })
  })
  afterEach(() => Promise.all([writer.close(), reader.close()]))

  /** A store of prices, its writes decorated, its reads memoized in `reader` (another cache on the same Redis). */
  function define(onError?: (error: TagInvalidationError) => void) {
    const db = new Map<string, number>([['a', 1]])
    const log: string[] = []
    class Prices {
      readonly who = 'prices'

      @Memoize({ cache: reader, tags: ([id]: [string]) => [`price:${id}`] })
      async price(id: string): Promise<number | undefined> {
        log.push(`read ${id}`)
        return db.get(id)
      }

      @InvalidateTags(function (this: Prices, [id]: [string, number], result: string) {
        log.push(`tags ${this.who} ${result}`)
        return [`price:${id}`]
      }, { cache: writer, onError })
      async set(id: string, value: number): Promise<string> {
        db.set(id, value)
        return `${this.who} set ${id}`
      }

      @InvalidateTags(['price:a'], { cache: writer })
      async fail(): Promise<never> {
        throw new Error('the database said no')
      }
    }
    return { Prices, db, log }
  }

  it('invalidates after the write, so that a @Memoize reader in another cache on the same Redis reads fresh data', async () => {
    const { Prices, log } = define()
    const prices = new Prices()
    expect(await prices.price('a')).to.equal(1)
    expect(await prices.price('a')).to.equal(1)
    expect(await prices.set('a', 2)).to.equal('prices set a')
    expect(await readUntil(() => prices.price('a'), 2)).to.equal(2)
    expect(log).to.deep.equal(['read a', 'tags prices prices set a', 'read a'])
  })

  it('calls the tags function with the instance, the arguments and the resolved result, once the method resolved', async () => {
    const { Prices, log } = define()
    const prices = new Prices()
    let invalidated: string[] = []
    writer.on('invalidate', ({ tags }) => (invalidated = tags))
    const call = prices.set('b', 5)
    expect(log).to.deep.equal([])
    await call
    expect(log).to.deep.equal(['tags prices prices set b'])
    expect(invalidated).to.deep.equal(['price:b'])
  })

  it('invalidates nothing when the method rejects, and rejects with the very same error', async () => {
    const { Prices, log } = define()
    const prices = new Prices()
    await prices.price('a')
    let invalidations = 0
    writer.on('invalidate', () => invalidations++)
    const error = await settle(prices.fail())
    expect(error).to.be.an('error').with.property('message', 'the database said no')
    expect(error).to.not.be.an.instanceOf(TagInvalidationError)
    expect(invalidations).to.equal(0)
    expect(await prices.price('a')).to.equal(1)
    expect(log).to.deep.equal(['read a'])
  })

  it('rethrows a synchronous throw synchronously and unchanged; a synchronous method resolves after the invalidation', async () => {
    const thrown = new RangeError('bad id')
    let invalidations = 0
    writer.on('invalidate', () => invalidations++)
    class Sync {
      @InvalidateTags(['t'], { cache: writer })
      async bad(): Promise<void> {
        throw thrown
      }
    }
    // A method that throws before it returns a promise (not async), as plain JavaScript may have it.
    const method = function (): number {
      throw thrown
    }
    const legacy = (InvalidateTags(['t'], { cache: writer }) as unknown as (t: object, k: string, d: PropertyDescriptor) => PropertyDescriptor)(
      {}, 'm', { value: method, writable: true, configurable: true },
    )
    expect(() => (legacy.value as () => unknown)()).to.throw(RangeError).that.equals(thrown)
    expect(await settle(new Sync().bad())).to.equal(thrown)
    const plain = (InvalidateTags(['t'], { cache: writer }) as unknown as (t: object, k: string, d: PropertyDescriptor) => PropertyDescriptor)(
      {}, 'n', { value: () => 42, writable: true, configurable: true },
    )
    const returned = (plain.value as () => unknown)()
    expect(returned).to.be.an.instanceOf(Promise)
    expect(invalidations).to.equal(0)
    expect(await returned).to.equal(42)
    expect(invalidations).to.equal(1)
  })

  it('rejects with a TagInvalidationError carrying the result when the tags function throws; the write happened', async () => {
    const cause = new Error('no tags for you')
    class Broken {
      @InvalidateTags(() => {
        throw cause
      }, { cache: writer })
      async save(): Promise<string> {
        return 'saved'
      }
    }
    const error = await settle(new Broken().save())
    expect(error).to.be.an.instanceOf(TagInvalidationError)
    expect(error).to.include({ code: 'ERR_TAG_INVALIDATION', result: 'saved', cause })
  })

  it('uses the default cache (the one @Memoize uses) when given none', async () => {
    let runs = 0
    const read = memoize(async (id: string) => `${id}:${++runs}`, { name: 'itDefaultRead', tags: ([id]) => [`d:${id}`] })
    class Writes {
      @InvalidateTags(([id]: [string]) => [`d:${id}`])
      async write(_id: string): Promise<void> {}
    }
    expect(await read('x')).to.equal('x:1')
    expect(await read('x')).to.equal('x:1')
    await new Writes().write('x')
    expect(await read('x')).to.equal('x:2')
    expect(read.cache).to.equal(defaultCache())
  })

  it('keeps the name, the length and the reflect-metadata of the method under legacy decorators', () => {
    async function save(_id: string, _value: number): Promise<void> {}
    Reflect.defineMetadata('path', '/save', save)
    const proto = {}
    const descriptor = (InvalidateTags(['t'], { cache: writer }) as unknown as (t: object, k: string, d: PropertyDescriptor) => PropertyDescriptor)(
      proto, 'save', { value: save, writable: true, configurable: true, enumerable: false },
    )
    const replaced = descriptor.value as typeof save
    expect(replaced).to.not.equal(save)
    expect(replaced.name).to.equal('save')
    expect(replaced.length).to.equal(2)
    expect(Reflect.getMetadata('path', replaced)).to.equal('/save')
    expect(descriptor).to.include({ writable: true, configurable: true, enumerable: false })
  })

  it('refuses bad options when the decorator is applied, with InvalidOptionError (ERR_INVALID_OPTION)', () => {
    const bad: [string, () => unknown][] = [
      ['tags of another type', () => InvalidateTags('price' as unknown as string[])],
      ['tags with a number', () => InvalidateTags([1] as unknown as string[])],
      ['an unknown option', () => InvalidateTags(['t'], { ttl: 5 } as never)],
      ['a cache that is not one', () => InvalidateTags(['t'], { cache: {} as Cache })],
      ['onError not a function', () => InvalidateTags(['t'], { onError: 'log' as never })],
      ['options not an object', () => InvalidateTags(['t'], null as never)],
      ['a field, not a method', () => (InvalidateTags(['t']) as unknown as (v: unknown, c: unknown) => unknown)(undefined, { kind: 'field', name: 'x' })],
    ]
    for (const [what, make] of bad) {
      expect(make, what).to.throw(InvalidOptionError).with.property('code', 'ERR_INVALID_OPTION')
    }
  })

  it('takes what memoize takes for a cache: one made by createCache, a look-alike refused, a namespace view accepted', async () => {
    const lookAlike = { invalidateTags: async () => undefined } as unknown as Cache
    expect(() => InvalidateTags(['t'], { cache: lookAlike })).to.throw(
      InvalidOptionError,
      /^InvalidateTags: cache must be a cache made by createCache\(\), got an object$/,
    )
    expect(() => memoize(async () => 1, { name: 'f', cache: lookAlike })).to.throw(InvalidOptionError, /cache must be a cache made by createCache/)
    const cache = createCache()
    try {
      expect(InvalidateTags(['t'], { cache: cache.namespace('view') })).to.be.a('function')
    } finally {
      await cache.close()
    }
  })

  it('tells which item of a tags list is not a string', () => {
    expect(() => InvalidateTags(['a', 42] as unknown as string[])).to.throw(
      InvalidOptionError,
      /^InvalidateTags: tags must be an array of strings or a function, got an array holding 42$/,
    )
  })

  describe('when Redis cannot be told', () => {
    let server: RedisServer
    let cache: Cache
    before(async () => {
      server = await RedisServer.start()
    })
    after(() => server.stop())
    beforeEach(async () => {
      cache = createCache({ redis: server.url, prefix: 'down', redisTimeout: '200ms' })
      await cache.invalidateTags(['warm-up']) // connected and working
      await server.kill()
    })
    afterEach(async () => {
      await cache.close()
      await server.restart()
    })

    function writes(onError?: (error: TagInvalidationError) => void) {
      const saved: string[] = []
      class Orders {
        @InvalidateTags(([id]: [string]) => [`order:${id}`], { cache, onError })
        async save(id: string): Promise<string> {
          saved.push(id)
          return `order ${id}`
        }
      }
      return { orders: new Orders(), saved }
    }

    it('rejects with a TagInvalidationError that carries the result, the tags and the RedisError: the write happened', async () => {
      const { orders, saved } = writes()
      const error = await settle(orders.save('7'))
      expect(saved).to.deep.equal(['7'])
      expect(error).to.be.an.instanceOf(TagInvalidationError)
      const e = error as TagInvalidationError
      expect(e).to.include({ code: 'ERR_TAG_INVALIDATION', result: 'order 7' })
      expect(e.tags).to.deep.equal(['order:7'])
      expect(e.cause).to.have.property('code').that.matches(/^ERR_(REDIS|REDIS_TIMEOUT|CIRCUIT_OPEN)$/)
    })

    it('with onError, resolves with the result and hands it the error; an onError that rethrows rejects', async () => {
      const seen: TagInvalidationError[] = []
      const { orders } = writes((error) => seen.push(error))
      expect(await orders.save('8')).to.equal('order 8')
      expect(seen).to.have.length(1)
      expect(seen[0]).to.include({ result: 'order 8' })
      const rethrown = writes((error) => {
        throw error
      })
      expect(await settle(rethrown.orders.save('9'))).to.be.an.instanceOf(TagInvalidationError)
    })
  })
})
