/**
 * The libraries under test, each opened in a named layout and seen through one
 * `getOrSet(key, fn)` and a `close()`, with a line saying exactly how it is configured.
 *
 *   full  what a fleet of processes deploys: memory in the process, Redis shared, and the
 *         library's way of keeping the memory copies true (memoredis: client tracking;
 *         bentocache: its Redis bus; cache-manager: a Keyv memory store before a Keyv Redis store)
 *   l2    Redis only: every call goes to Redis (memoredis `l1: false`; bentocache with
 *         only its L2 layer; cache-manager with only a Keyv Redis store)
 *
 * memoredis is reached through its public API only (`createCache`, `getOrSet`), so that
 * the benchmarks keep working while its engine changes. Peer libraries are loaded by name
 * from bench/node_modules, with just the types used here.
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import type { Cache, CacheOptions } from '../lib/index.ts'
import { createCache } from './built.ts'
import { peer } from './support.ts'

export const LIBRARIES = ['memoredis', 'bentocache', 'cache-manager'] as const
export type Library = (typeof LIBRARIES)[number]
export type Layout = 'full' | 'l2'

/** One library in one layout. */
export interface Subject {
  library: Library
  /** How it is configured, in words, for the printed output. */
  config: string
  getOrSet<T>(key: string, fn: () => Promise<T>): Promise<T>
  close(): Promise<unknown>
}

/** The TTL every subject stores values with, ms. */
export const TTL_MS = 3_600_000

/**
 * Waits (at most `ms`) until `cache` keeps values it reads from Redis in L1, which it
 * does only once its coherence connection is set up: another cache writes a key, and
 * this one reads it until the second read is an L1 hit. Public API only.
 */
export async function untilL1Keeps(cache: Cache, redis: string, prefix: string, ms = 5000): Promise<boolean> {
  const writer = createCache({ redis, prefix, l1: false })
  const key = `l1-ready:${randomUUID()}`
  const fail = async (): Promise<never> => {
    throw new Error('the value was written before')
  }
  try {
    await writer.set(key, 1, { ttl: '1m' })
    const deadline = Date.now() + ms
    while (Date.now() < deadline) {
      await cache.getOrSet(key, fail)
      const hits = cache.stats().l1.hits
      await cache.getOrSet(key, fail)
      if (cache.stats().l1.hits > hits) return true
      await delay(10)
    }
    return false
  } finally {
    await writer.close()
  }
}

/** memoredis: `createCache` with L2 and, in the full layout, L1 kept coherent by client tracking. */
export async function memoredis(url: string, layout: Layout, prefix = 'bench'): Promise<Subject & { cache: Cache }> {
  const options: CacheOptions = { redis: url, prefix, ttl: TTL_MS }
  if (layout === 'l2') options.l1 = false
  const cache = createCache(options)
  if (layout === 'full' && !(await untilL1Keeps(cache, url, prefix))) console.log('  (memoredis: L1 did not settle within 5 s)')
  return {
    library: 'memoredis',
    config: layout === 'full' ? 'createCache({ redis, ttl }): L1 (lru-cache) + L2, coherence: tracking' : 'createCache({ redis, ttl, l1: false }): L2 only',
    cache,
    getOrSet: (key, fn) => cache.getOrSet(key, fn),
    close: () => cache.close(),
  }
}

/** The part of bentocache used here. */
export interface Bento {
  getOrSet<T>(options: { key: string; factory: () => Promise<T>; ttl: string | number; tags?: string[] }): Promise<T>
  deleteByTag(options: { tags: string[] }): Promise<boolean>
  disconnectAll(): Promise<void>
}
interface BentoStore {
  useL1Layer(driver: unknown): BentoStore
  useL2Layer(driver: unknown): BentoStore
  useBus(driver: unknown): BentoStore
}
type Driver = (options: unknown) => unknown

/** bentocache: its memory driver + Redis driver + Redis bus (full), or its Redis driver alone (l2); undefined when not installed. */
export async function bentocache(url: string, layout: Layout): Promise<(Subject & { bento: Bento }) | undefined> {
  const mod = await peer<{ BentoCache: new (options: unknown) => Bento; bentostore: () => BentoStore }>('bentocache')
  const redis = await peer<{ redisDriver: Driver; redisBusDriver: Driver }>('bentocache/drivers/redis')
  const memory = await peer<{ memoryDriver: Driver }>('bentocache/drivers/memory')
  if (mod === undefined || redis === undefined || memory === undefined) return undefined
  const { hostname: host, port } = new URL(url)
  const connection = { host, port: Number(port) }
  let store = mod.bentostore()
  if (layout === 'full') store = store.useL1Layer(memory.memoryDriver({ maxItems: 10_000 }))
  store = store.useL2Layer(redis.redisDriver({ connection }))
  if (layout === 'full') store = store.useBus(redis.redisBusDriver({ connection }))
  const bento = new mod.BentoCache({ default: 'cache', stores: { cache: store } })
  return {
    library: 'bentocache',
    config:
      layout === 'full'
        ? 'bentostore().useL1Layer(memoryDriver({ maxItems: 10000 })).useL2Layer(redisDriver).useBus(redisBusDriver) (the memory driver serializes entries: its default)'
        : 'bentostore().useL2Layer(redisDriver): L2 only',
    bento,
    getOrSet: (key, factory) => bento.getOrSet({ key, factory, ttl: TTL_MS }),
    close: () => bento.disconnectAll(),
  }
}

export interface Manager {
  wrap<T>(key: string, fn: () => Promise<T>, ttl: number): Promise<T>
  mget<T>(keys: string[]): Promise<(T | undefined)[]>
  disconnect(): Promise<unknown>
}

/** cache-manager 7: `createCache({ stores })` over Keyv (memory, then @keyv/redis), or the Redis store alone; undefined when not installed. */
export async function cacheManager(url: string, layout: Layout): Promise<(Subject & { manager: Manager }) | undefined> {
  const cm = await peer<{ createCache(options: unknown): Manager }>('cache-manager')
  const keyv = await peer<{ Keyv: new (options?: unknown) => unknown }>('keyv')
  const keyvRedis = await peer<{ default: new (url: string) => unknown }>('@keyv/redis')
  if (cm === undefined || keyv === undefined || keyvRedis === undefined) return undefined
  const redisStore = new keyv.Keyv({ store: new keyvRedis.default(url) })
  const stores = layout === 'full' ? [new keyv.Keyv(), redisStore] : [redisStore]
  const manager = cm.createCache({ stores })
  return {
    library: 'cache-manager',
    config: layout === 'full' ? 'createCache({ stores: [new Keyv(), new Keyv({ store: new KeyvRedis(url) })] })' : 'createCache({ stores: [new Keyv({ store: new KeyvRedis(url) })] }): L2 only',
    manager,
    getOrSet: (key, fn) => manager.wrap(key, fn, TTL_MS),
    close: () => manager.disconnect(),
  }
}

/** `library` in `layout`, or undefined when it is not installed. */
export function open(library: Library, url: string, layout: Layout): Promise<Subject | undefined> {
  switch (library) {
    case 'memoredis':
      return memoredis(url, layout)
    case 'bentocache':
      return bentocache(url, layout)
    case 'cache-manager':
      return cacheManager(url, layout)
  }
}
