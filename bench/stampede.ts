/**
 * A stampede, side by side: 4 processes × 50 callers of one cold key whose function
 * takes 50 ms, on one local Redis. For each library, every round prints how many times
 * the function ran in the whole fleet (counted with a Redis INCR) and the time from the
 * common start until the last of the 200 calls resolved.
 *
 *   floor          no cache: every caller runs the function (200 runs, ~50 ms)
 *   memoredis      getOrSet: single-flight in each process, a Redis lock across them
 *   bentocache     getOrSet with L1 (memory), L2 (Redis) and the Redis bus
 *   cache-manager  wrap() over Keyv with @keyv/redis
 *
 * Target for memoredis: 1 run, all callers resolved within function time + 10 ms.
 *
 * Run: cd bench && npm install && cd .. && node --conditions=source --import tsx bench/stampede.ts
 * It starts its own redis-server on a free port (and stops it). Each library first runs
 * one warm-up round (not counted: JIT, connections), then BENCH_ROUNDS rounds (default 11);
 * the median is the figure to read, since other work on the machine skews single rounds.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { createCache } from '../lib/index.ts'
import { RedisServer } from '../spec/support/redis-server.ts'

const LIBRARIES = ['floor', 'memoredis', 'bentocache', 'cache-manager'] as const
type Library = (typeof LIBRARIES)[number]
const PROCESSES = 4
const CALLERS = 50
const FN_MS = 50
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 11)

/** Epoch ms with sub-ms precision, comparable across the processes of this machine. */
const now = (): number => performance.timeOrigin + performance.now()
const valueOf = (key: string): string => `value of ${key}`

interface Round {
  key: string
  startAt: number
}
interface Done {
  ended: number
  ok: boolean
}
type GetOrSet = (key: string, fn: () => Promise<string>) => Promise<string>

// Peer libraries are loaded by name at run time (from bench/node_modules), with just the
// types used here, so that the project's typecheck does not need them installed.
interface Bento {
  getOrSet(options: { key: string; factory: () => Promise<string>; ttl: string }): Promise<string>
  disconnectAll(): Promise<void>
}
interface BentoModule {
  BentoCache: new (options: unknown) => Bento
  bentostore: () => { useL1Layer(d: unknown): ReturnType<BentoModule['bentostore']>; useL2Layer(d: unknown): ReturnType<BentoModule['bentostore']>; useBus(d: unknown): ReturnType<BentoModule['bentostore']> }
}
interface Manager {
  wrap(key: string, fn: () => Promise<string>, ttl: number): Promise<string>
  disconnect(): Promise<unknown>
}
const load = (name: string): Promise<unknown> => import(name)

/** This process's cache of `library`, as one getOrSet function and a close. */
async function open(library: Library, url: string): Promise<{ getOrSet: GetOrSet; close(): Promise<unknown> }> {
  const { hostname: host, port } = new URL(url)
  const connection = { host, port: Number(port) }
  switch (library) {
    case 'floor':
      return { getOrSet: (_key, fn) => fn(), close: async () => undefined }
    case 'memoredis': {
      const cache = createCache({ redis: url, prefix: 'bench', ttl: '1m' })
      await cache.get('warm-up')
      for (let i = 0; i < 200 && cache.core.coherence?.settled === false; i++) await delay(10)
      return { getOrSet: (key, fn) => cache.getOrSet(key, fn), close: () => cache.close() }
    }
    case 'bentocache': {
      const { BentoCache, bentostore } = (await load('bentocache')) as BentoModule
      const { redisDriver, redisBusDriver } = (await load('bentocache/drivers/redis')) as Record<string, (o: unknown) => unknown>
      const { memoryDriver } = (await load('bentocache/drivers/memory')) as Record<string, (o: unknown) => unknown>
      const store = bentostore()
        .useL1Layer(memoryDriver?.({ maxItems: 10_000 }))
        .useL2Layer(redisDriver?.({ connection }))
        .useBus(redisBusDriver?.({ connection }))
      const bento = new BentoCache({ default: 'cache', stores: { cache: store } })
      return { getOrSet: (key, fn) => bento.getOrSet({ key, factory: fn, ttl: '1m' }), close: () => bento.disconnectAll() }
    }
    case 'cache-manager': {
      const { createCache: createManager } = (await load('cache-manager')) as { createCache(o: unknown): Manager }
      const { Keyv } = (await load('keyv')) as { Keyv: new (o: unknown) => unknown }
      const { default: KeyvRedis } = (await load('@keyv/redis')) as { default: new (url: string) => unknown }
      const manager = createManager({ stores: [new Keyv({ store: new KeyvRedis(url) })] })
      return { getOrSet: (key, fn) => manager.wrap(key, fn, 60_000), close: () => manager.disconnect() }
    }
  }
}

/** A process of the fleet: answers each round with the time its last caller resolved. */
async function worker(library: Library, url: string): Promise<void> {
  const counter = new Redis(url)
  const cache = await open(library, url)
  process.on('message', (message: Round | 'exit') => {
    if (message === 'exit') {
      void Promise.all([cache.close(), counter.quit()]).finally(() => process.exit(0))
      return
    }
    void (async () => {
      const { key, startAt } = message
      await delay(Math.max(0, startAt - now()))
      const fn = async (): Promise<string> => {
        await counter.incr(`runs:${key}`)
        await delay(FN_MS)
        return valueOf(key)
      }
      const values = await Promise.all(Array.from({ length: CALLERS }, () => cache.getOrSet(key, fn)))
      process.send?.({ ended: now(), ok: values.every((v) => v === valueOf(key)) } satisfies Done)
    })()
  })
  process.send?.('ready')
}

async function fleetOf(library: Library, url: string): Promise<ChildProcess[]> {
  const children = Array.from({ length: PROCESSES }, () =>
    fork(fileURLToPath(import.meta.url), [], {
      execArgv: ['--conditions=source', '--import', 'tsx'],
      env: { ...process.env, STAMPEDE_LIBRARY: library, STAMPEDE_REDIS: url },
    }),
  )
  await Promise.all(children.map((child) => once(child, 'message')))
  return children
}

async function main(): Promise<void> {
  const server = await RedisServer.start()
  const counter = new Redis(server.url)
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
  const rows: { library: Library; runs: number[]; ms: number[]; ok: boolean }[] = []
  try {
    for (const library of LIBRARIES) {
      const fleet = await fleetOf(library, server.url)
      const row = { library, runs: [] as number[], ms: [] as number[], ok: true }
      for (let round = -1; round < ROUNDS; round++) {
        const key = `${library}:cold:${round}`
        const startAt = now() + 100
        const replies = fleet.map((child) => once(child, 'message') as Promise<[Done]>)
        for (const child of fleet) child.send({ key, startAt } satisfies Round)
        const done = (await Promise.all(replies)).map(([d]) => d)
        if (round < 0) continue
        row.runs.push(Number(await counter.get(`runs:${key}`)))
        row.ms.push(Math.max(...done.map((d) => d.ended)) - startAt)
        row.ok &&= done.every((d) => d.ok)
      }
      rows.push(row)
      await Promise.all(fleet.map((child) => (child.send('exit'), once(child, 'exit'))))
    }
  } finally {
    counter.disconnect()
    await server.stop()
  }

  console.log(`stampede: ${PROCESSES} processes × ${CALLERS} callers, cold key, function ${FN_MS} ms, ${ROUNDS} rounds each\n`)
  console.log('library        runs per round   all resolved after: median   min–max (ms)   × function time   values')
  for (const { library, runs, ms, ok } of rows) {
    const m = median(ms)
    const perRound = runs.every((r) => r === runs[0]) ? String(runs[0]) : runs.join(',')
    const range = `${Math.min(...ms).toFixed(0)}–${Math.max(...ms).toFixed(0)}`
    console.log(
      `${library.padEnd(14)} ${perRound.padEnd(16)} ${`${m.toFixed(1)} ms`.padStart(27)}   ${range.padStart(12)}   ${`${(m / FN_MS).toFixed(2)}×`.padStart(15)}   ${ok ? 'right' : 'WRONG'}`,
    )
  }
  const ours = rows.find((r) => r.library === 'memoredis')
  if (ours !== undefined) {
    const met = ours.runs.every((r) => r === 1) && median(ours.ms) <= FN_MS + 10
    console.log(`\nmemoredis target (1 run, median within ${FN_MS} + 10 ms): ${met ? 'met' : 'NOT met'}`)
  }
}

const library = process.env.STAMPEDE_LIBRARY as Library | undefined
if (library === undefined) await main()
else await worker(library, process.env.STAMPEDE_REDIS ?? '')
