/**
 * Batches: many keys in one call, measured in one run against floors and peers.
 *
 *   100 L2 hits   memoredis `getMany` (no L1) against the floor, one ioredis MGET of the
 *                 same 100 stored values plus decoding each as memoredis does (its
 *                 envelope: header, tags, the hardened superjson codec): target ≤ 1.3x,
 *                 the cost of the batch over the bare round trip and decoding. Beside it
 *                 the floor bench/engine.ts uses (MGET of plain superjson, parsed), 100
 *                 `getOrSet` calls (awaited together, and one after another),
 *                 cache-manager's `mget` and a bentocache loop of `getOrSet`.
 *   cold batch    100 cold keys asked by 4 processes at once with `getOrSetMany`, the
 *                 function taking 200 ms: each key computed once in the fleet, and the wall
 *                 time at most 1.5x one call of the function (the median of 5 rounds).
 *
 * This same file, forked with `BATCH_MEMBER` set, is a member of the fleet. memoredis is
 * the built package (see built.ts). Run: cd bench && npm ci && cd .. && npm run build &&
 * node --import tsx bench/batch.ts. BENCH_MS and BENCH_ROUNDS as in support.ts.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import superjson from 'superjson'
import { createCache, Envelope, superjsonCodec } from './built.ts'
import { RedisServer } from '../spec/support/redis-server.ts'
import { bentocache, cacheManager, memoredis, TTL_MS } from './subjects.ts'
import { measure, median, now, RootRedis, ROUND_MS, ROUNDS, user, type Case } from './support.ts'

const N = 100
const PROCESSES = 4
const FN_MS = 200
const keys = Array.from({ length: N }, (_, i) => `batch:${i}`)
const fail = async (): Promise<never> => {
  throw new Error('a hit was expected')
}
const verdict = (ok: boolean): string => (ok ? 'PASS' : 'FAIL')

async function hits(url: string, raw: InstanceType<typeof RootRedis>): Promise<boolean> {
  console.log(`\n── ${N} L2 hits in one call (memoredis with l1: false; peers with Redis only) ──`)
  const mr = await memoredis(url, 'l2')
  const cm = await cacheManager(url, 'l2')
  const bento = await bentocache(url, 'l2')
  await mr.cache.setMany(keys.map((key, i) => [key, user(i)] as const), { ttl: TTL_MS })
  for (const [i, key] of keys.entries()) {
    await raw.set(`floor:${key}`, superjson.stringify(user(i)))
    await cm?.getOrSet(key, async () => user(i))
    await bento?.getOrSet(key, async () => user(i))
  }
  const floorKeys = keys.map((key) => `floor:${key}`)
  const storedKeys = keys.map((key) => `bench:default:${key}`)
  const envelope = new Envelope({ codec: superjsonCodec, signingKeys: [], maxValueSize: 8 * 1024 * 1024, compressThreshold: Number.POSITIVE_INFINITY, maxDecompressedSize: 32 * 1024 * 1024, strictClasses: false, onUnregisteredClass: () => undefined })
  const floor = 'floor: one MGET + decoding each (envelope)'
  const cases: Case[] = [
    { name: floor, op: async () => (await raw.mgetBuffer(...storedKeys)).map((b, i) => envelope.decode(b as Buffer, storedKeys[i] as string).value) },
    { name: 'one MGET + superjson.parse of each (plain)', op: async () => (await raw.mgetBuffer(...floorKeys)).map((b) => superjson.parse((b as Buffer).toString())) },
    { name: 'memoredis getMany', op: () => mr.cache.getMany(keys) },
    { name: `memoredis ${N} getOrSet, awaited together`, op: () => Promise.all(keys.map((key) => mr.cache.getOrSet(key, fail))) },
    {
      name: `memoredis ${N} getOrSet, one after another`,
      op: async () => {
        for (const key of keys) await mr.cache.getOrSet(key, fail)
      },
    },
  ]
  if (cm !== undefined) cases.push({ name: 'cache-manager mget', op: () => cm.manager.mget(keys) })
  if (bento !== undefined) {
    cases.push({
      name: `bentocache ${N} getOrSet, one after another`,
      op: async () => {
        for (const key of keys) await bento.getOrSet(key, fail)
      },
    })
  }
  const results = await measure(cases)
  console.log(`  ${'case'.padEnd(44)} ${'median'.padStart(10)}     ratio to the floor`)
  for (const name of results.names) {
    console.log(`  ${name.padEnd(44)} ${(results.ns(name) / 1000).toFixed(0).padStart(7)} µs/${N}  ${results.ratio(name, floor).toFixed(2).padStart(6)}x`)
  }
  await Promise.all([mr.close(), cm?.close(), bento?.close()])
  const ratio = results.ratio('memoredis getMany', floor)
  console.log(`  getMany of ${N} L2 hits: ${ratio.toFixed(2)}x the floor, target ≤ 1.3x  ${verdict(ratio <= 1.3)}`)
  return ratio <= 1.3
}

interface Go {
  round: string
  startAt: number
}
/** A member's answer: when its call ended, and how long each call of its function took, ms. */
interface Done {
  ended: number
  fnMs: number[]
}

/** 100 cold keys asked by 4 processes at once, 5 rounds (one more to warm up). */
async function coldFleet(url: string, raw: InstanceType<typeof RootRedis>): Promise<boolean> {
  console.log(`\n── A cold batch of ${N} keys asked by ${PROCESSES} processes at once (getOrSetMany, the function takes ${FN_MS} ms) ──`)
  const fleet: ChildProcess[] = Array.from({ length: PROCESSES }, () =>
    fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx'], env: { ...process.env, BATCH_MEMBER: url } }),
  )
  await Promise.all(fleet.map((child) => once(child, 'message')))
  const walls: number[] = []
  const fnMs: number[] = []
  let once1 = true
  for (let r = -1; r < 5; r++) {
    const round = `cold:${r}:${Date.now()}`
    const startAt = now() + 100
    const replies = fleet.map((child) => once(child, 'message') as Promise<[Done]>)
    for (const child of fleet) child.send({ round, startAt } satisfies Go)
    const done = (await Promise.all(replies)).map(([d]) => d)
    if (r < 0) continue
    fnMs.push(...done.flatMap((d) => d.fnMs))
    const runs = await raw.mget(...keys.map((key) => `runs:${round}:${key}`))
    once1 &&= runs.every((n) => n === '1')
      walls.push(Math.max(...done.map((d) => d.ended)) - startAt)
  }
  for (const child of fleet) child.send('exit')
  await Promise.all(fleet.map((child) => once(child, 'exit')))
  const ratio = median(walls) / median(fnMs)
  console.log(`  wall time ${walls.map((ms) => ms.toFixed(0)).join(', ')} ms (median ${median(walls).toFixed(0)} ms); one call of the function ${median(fnMs).toFixed(0)} ms (${fnMs.length} calls in 5 rounds: its INCRs, then ${FN_MS} ms)`)
  console.log(`  wall time / one call of the function: ${ratio.toFixed(2)}x, target ≤ 1.5x  ${verdict(ratio <= 1.5)}`)
  console.log(`  each key computed once in the fleet, every round: ${verdict(once1)}`)
  return ratio <= 1.5 && once1
}

/** A member of the fleet: its own cache (L1 + L2, tracking); each round, one getOrSetMany of every key. */
async function member(url: string): Promise<void> {
  const cache = createCache({ redis: url, prefix: 'bench-batch', ttl: TTL_MS })
  const counter = new RootRedis(url)
  await cache.get('warm-up')
  process.on('message', (message: Go | 'exit') => {
    if (message === 'exit') {
      void Promise.all([cache.close(), counter.quit()]).finally(() => process.exit(0))
      return
    }
    void (async () => {
      const took: number[] = []
      const fn = async (missing: string[]): Promise<string[]> => {
        const started = now()
        await Promise.all(missing.map((key) => counter.incr(`runs:${key}`)))
        await delay(FN_MS)
        took.push(now() - started)
        return missing.map((key) => `value of ${key}`)
      }
      await delay(Math.max(0, message.startAt - now()))
      await cache.getOrSetMany(keys.map((key) => `${message.round}:${key}`), fn)
      process.send?.({ ended: now(), fnMs: took } satisfies Done)
    })()
  })
  process.send?.('ready')
}

if (process.env.BATCH_MEMBER !== undefined) {
  await member(process.env.BATCH_MEMBER)
} else {
  console.log(`node ${process.version}; ${ROUNDS} rounds of ${ROUND_MS} ms per case (times: the median round; ratios: the median of the rounds' ratios)`)
  const server = await RedisServer.start()
  const raw = new RootRedis(server.url)
  try {
    const passed = [await hits(server.url, raw), await coldFleet(server.url, raw)]
    console.log(`\n${passed.every(Boolean) ? 'PASS' : 'FAIL'}: batch targets`)
  } finally {
    raw.disconnect()
    await server.stop()
  }
}
