/**
 * Memoizing methods with the @Memoize decorator.
 *
 * Shows: a `Catalog` class whose `product(id)` is memoized — keyed by class, method and
 * arguments, so every instance shares entries — and whose `price(id)` depends on the
 * instance's currency, through a `key` that reads `this`. `memoized(instance, 'method')`
 * reaches a decorated method's entries to invalidate, peek or refresh them.
 *
 * This file uses TC39 standard decorators (what tsx, esbuild and TypeScript 5 do when
 * `experimentalDecorators` is off); the same code works under legacy
 * `experimentalDecorators` too.
 *
 * Run:        node --conditions=source --import tsx examples/decorator.ts
 * With Redis: REDIS_URL=redis://127.0.0.1:6379 node --conditions=source --import tsx examples/decorator.ts
 */
import { createCache, Memoize, memoized } from 'memoredis'

const redis = process.env.REDIS_URL || undefined
const cache = createCache({ redis, prefix: 'decorator-example' })
console.log(redis === undefined ? 'cache: L1 only (set REDIS_URL to add Redis)' : 'cache: L1 + Redis')

const RATES: Record<string, number> = { EUR: 1, USD: 1.1 }
const log: string[] = []
const slow = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 100))

class Catalog {
  constructor(readonly currency: string) {}

  /** Shared by every Catalog: the key is `Catalog.product` and the id. */
  @Memoize({ cache, ttl: '1m' })
  async product(id: string): Promise<{ id: string; name: string }> {
    log.push(`product(${id})`)
    await slow()
    return { id, name: `Product ${id.toUpperCase()}` }
  }

  /** Depends on the instance: the key is the currency and the id. */
  @Memoize({ cache, ttl: '1m', key(this: Catalog, id: string) { return [this.currency, id] } })
  async price(id: string): Promise<string> {
    log.push(`price(${id}) in ${this.currency}`)
    await slow()
    return `${(9.99 * (RATES[this.currency] ?? 1)).toFixed(2)} ${this.currency}`
  }
}

const eur = new Catalog('EUR')
const usd = new Catalog('USD')
// Start clean, even if Redis still holds values from an earlier run.
await Promise.all([
  memoized(eur, 'product').invalidate('a'),
  memoized(eur, 'price').invalidate('a'),
  memoized(usd, 'price').invalidate('a'),
])

/** Runs a call and prints its result, and whether the method itself ran. */
async function show(what: string, call: () => Promise<unknown>): Promise<void> {
  const ran = log.length
  const value = await call()
  const status = log.length > ran ? `MISS (ran ${log.slice(ran).join(', ')})` : 'HIT'
  console.log(`${what.padEnd(26)} ${JSON.stringify(value)}  ${status}`)
}

await show('eur.product("a")', () => eur.product('a'))
await show('usd.product("a")', () => usd.product('a'))
await show('eur.price("a")', () => eur.price('a'))
await show('usd.price("a")', () => usd.price('a'))
await show('usd.price("a") again', () => usd.price('a'))

console.log(`key of product("a"): ${memoized(eur, 'product').keyFor('a')}`)
console.log(`key of usd's price("a"): ${memoized(usd, 'price').keyFor('a')}`)

await memoized(eur, 'product').invalidate('a')
await show('after invalidate', () => usd.product('a'))
console.log(`peek eur price("a"): ${JSON.stringify(await memoized(eur, 'price').peek('a'))}`)

await cache.close()
