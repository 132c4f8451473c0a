/**
 * HTTP response caching, side by side, measured with autocannon in one run:
 *
 *   floor      Express sending the same bytes from memory with `res.send` (no work, no cache)
 *   uncached   the route doing its work on every request
 *   memoredis  the same route behind `expressCache` (L1 hit; Redis too with REDIS_URL)
 *   apicache   the same route behind `apicache.middleware`
 *   fastify-floor      Fastify sending the same bytes from memory with `reply.send`
 *   fastify-uncached   the route on Fastify doing its work on every request
 *   fastify-memoredis  the same route on Fastify with the `fastifyCache` plugin
 *
 * Each server runs in its own child process so that autocannon does not share its CPU.
 * The cases run interleaved, in rounds (forward, then backward, and so on), and each
 * ratio is the median over rounds of the case's req/s over its floor's in the same
 * round: a shared machine's speed drifts by up to 2x over minutes, and a case compared
 * only with a floor measured at another speed says nothing. Besides req/s, each server
 * reports the CPU time it spent per request; all columns are medians over rounds.
 * Target: memoredis ≥ 0.8x the floor's requests per second, on Express and on Fastify
 * (each against its own floor).
 *
 * memoredis is the built package (see built.ts). Run: cd bench && npm install && npm run
 * http   (or, from the repo root, npm run build && node --import tsx bench/http.ts). BENCH_SECONDS sets the length of
 * one round of one case (default 1.5), BENCH_ROUNDS the number of rounds (default 5).
 * BENCH_CASES picks the cases: `fastify` (the three Fastify cases), `express` (the four
 * others), or names separated by commas (default: all).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import type { Server } from 'node:http'
import { createRequire } from 'node:module'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import express, { type RequestHandler } from 'express'
import Fastify from 'fastify'
import { createCache, expressCache, fastifyCache } from './built.ts'

interface AutocannonResult {
  requests: { average: number; total: number }
  latency: { p99: number }
  non2xx: number
  errors: number
}
type Autocannon = (options: { url: string; connections: number; duration: number; pipelining: number }) => Promise<AutocannonResult>
interface Apicache { middleware(duration: string): RequestHandler }

const require = createRequire(import.meta.url)
const autocannon = (options: Parameters<Autocannon>[0]): Promise<AutocannonResult> => (require('autocannon') as Autocannon)(options)
const ALL = ['floor', 'uncached', 'memoredis', 'apicache', 'fastify-floor', 'fastify-uncached', 'fastify-memoredis'] as const
type Case = (typeof ALL)[number]

/** The cases BENCH_CASES names (see the header). */
function chosen(given: string | undefined): readonly Case[] {
  if (given === undefined || given === '') return ALL
  if (given === 'fastify') return ALL.filter((c) => c.startsWith('fastify'))
  if (given === 'express') return ALL.filter((c) => !c.startsWith('fastify'))
  const names = given.split(',').map((name) => name.trim())
  const unknown = names.find((name) => !(ALL as readonly string[]).includes(name))
  if (unknown !== undefined) throw new Error(`BENCH_CASES: no case ${unknown} (cases: fastify, express, or ${ALL.join(', ')})`)
  return ALL.filter((c) => names.includes(c))
}

/** The route's work: a report built and serialized on every call (~50 items), after a 1ms wait. */
async function report(): Promise<object> {
  await delay(1)
  return { items: Array.from({ length: 50 }, (_, i) => ({ id: i, name: `item ${i}`, price: i * 1.5, tags: ['a', 'b'] })) }
}

interface Measured {
  rps: number
  p99: number
  /** Server CPU time per request, µs. */
  cpu: number
  failed: number
}

/** The Fastify cases' server: the bytes from memory, the route doing its work, or the route behind the plugin. */
async function serveFastify(which: Case): Promise<Server> {
  const app = Fastify()
  if (which === 'fastify-floor') {
    const bytes = Buffer.from(JSON.stringify(await report()))
    app.get('/report', (_req, reply) => void reply.type('application/json; charset=utf-8').send(bytes))
  } else {
    if (which === 'fastify-memoredis') {
      const cache = createCache({ redis: process.env.REDIS_URL || undefined, prefix: 'bench-http-fastify' })
      await app.register(fastifyCache, { cache, ttl: '1h' })
    }
    app.get('/report', async () => report())
  }
  await app.listen({ port: 0, host: '127.0.0.1' })
  return app.server
}

async function serve(which: Case): Promise<void> {
  const server = which.startsWith('fastify') ? await serveFastify(which) : await serveExpress(which)
  let since = process.cpuUsage()
  process.on('message', (message: string) => {
    if (message === 'start') since = process.cpuUsage()
    if (message === 'stop') {
      const used = process.cpuUsage(since)
      process.send?.({ cpu: used.user + used.system })
    }
  })
  const address = server.address()
  process.send?.({ port: typeof address === 'object' && address !== null ? address.port : 0 })
}

async function serveExpress(which: Case): Promise<Server> {
  const app = express()
  const bytes = Buffer.from(JSON.stringify(await report()))
  if (which === 'floor') {
    app.get('/report', (_req, res) => void res.type('json').send(bytes))
  } else {
    if (which === 'memoredis') {
      const cache = createCache({ redis: process.env.REDIS_URL || undefined, prefix: 'bench-http' })
      app.use(expressCache({ cache, ttl: '1h' }))
    } else if (which === 'apicache') {
      app.use((require('apicache') as Apicache).middleware('1 hour'))
    }
    app.get('/report', async (_req, res) => void res.json(await report()))
  }
  const server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return server
}

/** One server per case, kept for both rounds. */
async function start(which: Case): Promise<{ url: string; child: ChildProcess }> {
  const child = fork(fileURLToPath(import.meta.url), ['serve', which], { execArgv: ['--conditions=source', '--import', 'tsx'] })
  const [message] = (await once(child, 'message')) as [{ port: number }]
  const url = `http://127.0.0.1:${message.port}/report`
  const first = await fetch(url) // fills the caches
  await first.arrayBuffer()
  await autocannon({ url, connections: 50, duration: 1, pipelining: 1 }) // warm-up, not counted
  return { url, child }
}

async function measure(server: { url: string; child: ChildProcess }, seconds: number): Promise<Measured> {
  server.child.send('start')
  const r = await autocannon({ url: server.url, connections: 50, duration: seconds, pipelining: 1 })
  server.child.send('stop')
  const [message] = (await once(server.child, 'message')) as [{ cpu: number }]
  return { rps: r.requests.average, p99: r.latency.p99, cpu: message.cpu / Math.max(1, r.requests.total), failed: r.non2xx + r.errors }
}

/** The middle value (the mean of the two middle ones for an even count). */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** The floor a case is compared with. */
const floorOf = (which: Case): Case => (which.startsWith('fastify') ? 'fastify-floor' : 'floor')

async function main(): Promise<void> {
  const seconds = Number(process.env.BENCH_SECONDS ?? 1.5)
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
  const CASES = chosen(process.env.BENCH_CASES)
  const servers = new Map<Case, { url: string; child: ChildProcess }>()
  const runs = new Map<Case, Measured[]>(CASES.map((c) => [c, []]))
  try {
    for (const which of CASES) servers.set(which, await start(which))
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? CASES : [...CASES].reverse()
      for (const which of order) runs.get(which)?.push(await measure(servers.get(which) as { url: string; child: ChildProcess }, seconds))
    }
  } finally {
    for (const { child } of servers.values()) child.kill()
  }
  /** The median over rounds of `which`'s req/s over `floor`'s in the same round. */
  const ratio = (which: Case, floor: Case): number | undefined => {
    const mine = runs.get(which)
    const theirs = runs.get(floor)
    if (mine === undefined || theirs === undefined) return undefined
    return median(mine.map((m, round) => m.rps / (theirs[round] as Measured).rps))
  }
  console.log(`case                req/s   vs its floor   p99    server CPU per request   (medians of ${rounds} rounds of ${seconds}s)`)
  for (const which of CASES) {
    const measured = runs.get(which) as Measured[]
    const versus = ratio(which, floorOf(which))
    const failed = measured.reduce((sum, m) => sum + m.failed, 0)
    console.log(
      `${which.padEnd(18)} ${Math.round(median(measured.map((m) => m.rps))).toString().padStart(6)}   ${(versus === undefined ? '-' : `${versus.toFixed(2)}x`).padStart(11)}  ` +
        `${String(median(measured.map((m) => m.p99))).padStart(4)}ms  ${median(measured.map((m) => m.cpu)).toFixed(0).padStart(5)}µs` +
        (failed > 0 ? `   (${failed} failed)` : ''),
    )
  }
  const versusApicache = ratio('memoredis', 'apicache')
  const mine = runs.get('memoredis')
  const theirs = runs.get('apicache')
  if (versusApicache !== undefined && mine !== undefined && theirs !== undefined) {
    const cpu = median(theirs.map((t, round) => t.cpu / (mine[round] as Measured).cpu))
    console.log(`\nmemoredis / apicache: ${versusApicache.toFixed(2)}x req/s, ${cpu.toFixed(2)}x CPU efficiency`)
  }
  const express = ratio('memoredis', 'floor')
  if (express !== undefined) console.log(`target memoredis ≥ 0.8x floor req/s: ${express >= 0.8 ? 'met' : 'NOT met'} (${express.toFixed(2)}x)`)
  const fastify = ratio('fastify-memoredis', 'fastify-floor')
  if (fastify !== undefined) console.log(`target fastify-memoredis ≥ 0.8x fastify-floor req/s: ${fastify >= 0.8 ? 'met' : 'NOT met'} (${fastify.toFixed(2)}x)`)
}

if (process.argv[2] === 'serve') await serve(process.argv[3] as Case)
else await main()
