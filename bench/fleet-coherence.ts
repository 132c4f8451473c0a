/**
 * What coherence costs a fleet: one writer process runs cold misses as fast as it can
 * (each a GET, the lock script, the fill script) for a short window while 0, 10 and 50
 * idle memoredis processes sit on the same Redis, each with coherence on and 20 keys of
 * its own read into L1. Per fleet size it prints the writer's misses per second as a
 * ratio to the 0-process case (solo windows just before and after that fleet), the
 * notices each idle process received per miss, and the idle processes' CPU time over the
 * window (process.cpuUsage).
 *
 * Two modes, measured on the same processes one after the other:
 *   tracking  memoredis as it is: client tracking in its default mode (a process is told
 *             only of keys it read)
 *   bcast     what memoredis ran before: every idle process also opens the pair the old
 *             coherence opened — a RESP2 subscriber on __redis__:invalidate and a
 *             connection with CLIENT TRACKING on REDIRECT <id> BCAST PREFIX fc: NOLOOP —
 *             and turns each notice into key strings, as the old handler did. Emulated:
 *             the writer itself runs the current code in both modes.
 *
 * Run: node --conditions=source --import tsx bench/fleet-coherence.ts
 * (FLEET_WINDOW_MS: one measured window of the writer, default 3000; FLEET_TRIES: windows per
 * measurement, the best counts, default 3; FLEET_SIZES: default 10,50.)
 */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { Redis, RedisOptions } from 'ioredis'
import { createCache, type Cache } from '../lib/index.ts'
import { RedisServer } from '../spec/support/redis-server.ts'
import { RootRedis, user } from './support.ts'

const PREFIX = 'fc'
const WINDOW_MS = Number(process.env.FLEET_WINDOW_MS ?? 3000)
const SIZES = (process.env.FLEET_SIZES ?? '10,50').split(',').map(Number)
/** Cold misses the writer keeps in flight. */
const WRITER_CONCURRENCY = 16
const OWN_KEYS = 20

type Mode = 'tracking' | 'bcast'

/** Parent → member messages, and what they answer. */
type Command = { do: 'bcast' } | { do: 'mark' } | { do: 'report' } | { do: 'run'; run: string; ms: number } | { do: 'exit' }
interface Report {
  notices: number
  cpuMs: number
}
/** The writer's window: its misses, how long it took (ms), the notices it received itself. */
interface Done {
  misses: number
  ms: number
  notices: number
}
/** Each measurement is the best of this many windows (the machine is shared: load comes and goes). */
const TRIES = Number(process.env.FLEET_TRIES ?? 3)

// ── Members ────────────────────────────────────────────────────────────────

/**
 * Reads `key` until a read is an L1 hit: the key is held, and coherence is in place.
 * Slowly (a timer between tries): a loop of reads that fail at once, while the connection
 * is still starting on a loaded machine, would keep the event loop from ever finishing it.
 */
async function held(cache: Cache, key: string): Promise<void> {
  const deadline = Date.now() + 120_000
  for (;;) {
    await cache.getOrSet(key, () => user(0))
    const hits = cache.stats().l1.hits
    await cache.getOrSet(key, () => user(0))
    if (cache.stats().l1.hits > hits) return
    if (Date.now() > deadline) throw new Error(`${key}: not held in L1 within 120 s`)
    await delay(20)
  }
}

/** An idle process: a cache with 20 keys of its own in L1; in bcast mode, the old BCAST pair beside it. */
async function idle(url: string): Promise<void> {
  const cache = createCache({ redis: url, prefix: PREFIX, ttl: '1h' })
  for (let i = 0; i < OWN_KEYS; i++) await held(cache, `own:${process.pid}:${i}`)
  let raw = 0
  const pair: Redis[] = []
  let mark = { notices: 0, cpu: process.cpuUsage() }
  const notices = (): number => cache.stats().coherence.notices + raw
  process.on('message', (command: Command) => {
    void (async () => {
      if (command.do === 'bcast') {
        // RESP2, so that notices come as pub/sub messages (ioredis 6 speaks RESP3 by default; typed here as ioredis 5).
        const sub = new RootRedis(url, { protocol: 2 } as RedisOptions)
        const tracked = new RootRedis(url)
        pair.push(sub, tracked)
        const id = await sub.client('ID')
        // As the old coherence did: every key of a notice made a string, then looked at.
        sub.on('messageBuffer', (_channel: Buffer, message: Buffer | Buffer[] | null) => {
          if (message !== null) raw += (Array.isArray(message) ? message : [message]).map(String).length
        })
        await sub.subscribe('__redis__:invalidate')
        await tracked.call('CLIENT', 'TRACKING', 'on', 'REDIRECT', String(id), 'BCAST', 'PREFIX', `${PREFIX}:`, 'NOLOOP')
        process.send?.('bcast on')
      } else if (command.do === 'mark') {
        mark = { notices: notices(), cpu: process.cpuUsage() }
        process.send?.('marked')
      } else if (command.do === 'report') {
        const cpu = process.cpuUsage(mark.cpu)
        process.send?.({ notices: notices() - mark.notices, cpuMs: (cpu.user + cpu.system) / 1000 } satisfies Report)
      } else if (command.do === 'exit') {
        for (const r of pair) r.disconnect()
        await cache.close()
        process.exit(0)
      }
    })()
  })
  process.send?.('ready')
}

/** The writer: cold misses, `WRITER_CONCURRENCY` at a time, for `ms`; answers how many. */
async function writer(url: string): Promise<void> {
  const cache: Cache = createCache({ redis: url, prefix: PREFIX, ttl: '1h' })
  await held(cache, `writer:${process.pid}`)
  process.on('message', (command: Command) => {
    void (async () => {
      if (command.do === 'exit') {
        await cache.close()
        process.exit(0)
      }
      if (command.do !== 'run') return
      let misses = 0
      const heard = cache.stats().coherence.notices
      const deadline = performance.now() + command.ms
      const started = performance.now()
      await Promise.all(
        Array.from({ length: WRITER_CONCURRENCY }, async (_, w) => {
          for (let i = 0; performance.now() < deadline; i++) {
            await cache.getOrSet(`miss:${command.run}:${w}:${i}`, () => user(i))
            misses++
          }
        }),
      )
      process.send?.({ misses, ms: performance.now() - started, notices: cache.stats().coherence.notices - heard } satisfies Done)
    })()
  })
  process.send?.('ready')
}

// ── The parent ─────────────────────────────────────────────────────────────

function member(role: 'idle' | 'writer', url: string): ChildProcess {
  return fork(fileURLToPath(import.meta.url), [], {
    execArgv: ['--conditions=source', '--import', 'tsx'],
    env: { ...process.env, FLEET_COHERENCE_ROLE: role, FLEET_COHERENCE_REDIS: url },
  })
}

async function ask<T>(children: readonly ChildProcess[], command: Command): Promise<T[]> {
  const replies = children.map(async (child) => ((await once(child, 'message')) as [T])[0])
  for (const child of children) child.send(command)
  return Promise.all(replies)
}

async function started(children: ChildProcess[]): Promise<ChildProcess[]> {
  await Promise.all(children.map((child) => once(child, 'message')))
  return children
}

/**
 * Waits (up to 60 s) until the idle processes are done starting: under 2% of a core each
 * over a second. Forked on a loaded machine, they compile and warm up for a while.
 */
async function quiet(fleet: ChildProcess[]): Promise<void> {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    await ask(fleet, { do: 'mark' })
    await delay(1000)
    const reports = await ask<Report>(fleet, { do: 'report' })
    if (Math.max(...reports.map((r) => r.cpuMs)) < 20) return
  }
}

interface Measured {
  perSecond: number
  /** Notices the writer received per miss (its own writes' echoes). */
  writerNotices: number
  /** Notices per idle process per miss. */
  noticesPerMiss: number
  /** CPU ms per idle process over the window. */
  cpuMs: number
}

let runs = 0

/** The best of `TRIES` windows of the writer with `fleet` idle. */
async function measure(w: ChildProcess, fleet: ChildProcess[]): Promise<Measured> {
  let best: Measured | undefined
  for (let i = 0; i < TRIES; i++) {
    const m = await window(w, fleet)
    if (best === undefined || m.perSecond > best.perSecond) best = m
  }
  return best as Measured
}

async function window(w: ChildProcess, fleet: ChildProcess[]): Promise<Measured> {
  await ask(fleet, { do: 'mark' })
  const [done] = await ask<Done>([w], { do: 'run', run: String(++runs), ms: WINDOW_MS })
  const reports = await ask<Report>(fleet, { do: 'report' })
  const { misses, ms, notices: own } = done as Done
  const notices = reports.reduce((sum, r) => sum + r.notices, 0)
  const cpu = reports.reduce((sum, r) => sum + r.cpuMs, 0)
  return {
    perSecond: (misses / ms) * 1000,
    writerNotices: own / misses,
    noticesPerMiss: fleet.length === 0 ? 0 : notices / fleet.length / misses,
    cpuMs: fleet.length === 0 ? 0 : cpu / fleet.length,
  }
}

const line = (size: number, mode: Mode, m: Measured, solo: number): string =>
  `  ${String(size).padStart(2)} idle  ${mode.padEnd(8)}  writer ${Math.round(m.perSecond).toString().padStart(6)} misses/s = ${(m.perSecond / solo).toFixed(2)}x solo` +
  `   notices per idle process per miss ${m.noticesPerMiss.toFixed(2)}` +
  `   idle CPU ${m.cpuMs.toFixed(0)} ms per process in ${WINDOW_MS} ms   (writer: ${m.writerNotices.toFixed(2)} notices per miss)`

async function main(): Promise<void> {
  const server = await RedisServer.start()
  const w = (await started([member('writer', server.url)]))[0] as ChildProcess
  try {
    console.log(`fleet coherence: one writer of cold misses (${WRITER_CONCURRENCY} in flight, ${WINDOW_MS} ms windows), idle processes with ${OWN_KEYS} keys each in L1`)
    await window(w, []) // warm-up, not counted: JIT, connections
    // Each fleet size against solo windows just before it starts and just after it stops:
    // load from elsewhere on the machine comes and goes, and skews a ratio of neighbours least.
    const results: { size: number; mode: Mode; m: Measured; solo: number[] }[] = []
    for (const size of SIZES) {
      const before = await measure(w, [])
      const fleet = await started(Array.from({ length: size }, () => member('idle', server.url)))
      await quiet(fleet)
      const tracking = await measure(w, fleet)
      await ask(fleet, { do: 'bcast' })
      const bcast = await measure(w, fleet)
      await Promise.all(fleet.map((child) => (child.send({ do: 'exit' } satisfies Command), once(child, 'exit'))))
      const after = await measure(w, [])
      const solo = [before.perSecond, after.perSecond]
      results.push({ size, mode: 'tracking', m: tracking, solo }, { size, mode: 'bcast', m: bcast, solo })
    }
    for (const r of results) {
      const solo = ((r.solo[0] as number) + (r.solo[1] as number)) / 2
      if (r.mode === 'tracking') console.log(`   0 idle            writer ${r.solo.map((x) => Math.round(x)).join(' and ')} misses/s (solo, just before and after the ${r.size}: their mean counts)`)
      console.log(line(r.size, r.mode, r.m, solo))
    }
  } finally {
    w.send({ do: 'exit' } satisfies Command)
    await once(w, 'exit')
    await server.stop()
  }
}

const role = process.env.FLEET_COHERENCE_ROLE
if (role === 'idle') await idle(process.env.FLEET_COHERENCE_REDIS ?? '')
else if (role === 'writer') await writer(process.env.FLEET_COHERENCE_REDIS ?? '')
else await main()
