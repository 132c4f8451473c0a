/**
 * A cold stampede across real processes: `processes` child processes × `callers` callers
 * of one cold key whose function takes `fnMs`, all released by one start signal. Each
 * round counts the runs of the function in the whole fleet (a Redis INCR inside it) and
 * the time from the start signal until the last caller had its answer.
 *
 * `stampede()` runs in the parent; this same file, forked with `FLEET_LIBRARY` set, is a
 * member of the fleet: it opens the library (layout `full`, see subjects.ts) and answers
 * each round with the moment its last caller resolved. Library `none` is the floor: no
 * cache, every caller runs the function.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { open, type Library, type Subject } from './subjects.ts'
import { now, RootRedis } from './support.ts'

export type FleetLibrary = Library | 'none'

export interface StampedeOptions {
  library: FleetLibrary
  /** The Redis URL every member uses. */
  url: string
  processes: number
  callers: number
  /** How long the function takes, ms. */
  fnMs: number
  /** Measured rounds (one more warm-up round runs first, not counted). */
  rounds: number
}

/** One round's outcome. */
export interface StampedeRound {
  /** Runs of the function in the whole fleet. */
  runs: number
  /** From the start signal until the last caller resolved, ms. */
  ms: number
  /** Every caller got the right value. */
  ok: boolean
}

interface Go {
  key: string
  startAt: number
}
interface Done {
  ended: number
  ok: boolean
}
/** How long after sending it the start signal fires, ms: every member has it by then. */
const LEAD_MS = 100

const valueOf = (key: string): string => `value of ${key}`

/** Runs the stampede for one library; `undefined` when the library is not installed. */
export async function stampede(o: StampedeOptions): Promise<StampedeRound[] | undefined> {
  const counter = new RootRedis(o.url)
  const fleet = await start(o)
  try {
    if (fleet === undefined) return undefined
    const rounds: StampedeRound[] = []
    for (let r = -1; r < o.rounds; r++) {
      const key = `stampede:${o.library}:${r}:${Date.now()}`
      const startAt = now() + LEAD_MS
      const replies = fleet.map((child) => once(child, 'message') as Promise<[Done]>)
      for (const child of fleet) child.send({ key, startAt } satisfies Go)
      const done = (await Promise.all(replies)).map(([d]) => d)
      if (r < 0) continue
      rounds.push({ runs: Number(await counter.get(`runs:${key}`)), ms: Math.max(...done.map((d) => d.ended)) - startAt, ok: done.every((d) => d.ok) })
    }
    return rounds
  } finally {
    await Promise.all((fleet ?? []).map((child) => (child.send('exit'), once(child, 'exit'))))
    counter.disconnect()
  }
}

/** Forks the members and waits until each has opened its cache ('ready') or found the library missing ('missing'). */
async function start(o: StampedeOptions): Promise<ChildProcess[] | undefined> {
  const children = Array.from({ length: o.processes }, () =>
    fork(fileURLToPath(import.meta.url), [], {
      execArgv: ['--conditions=source', '--import', 'tsx'],
      env: { ...process.env, FLEET_LIBRARY: o.library, FLEET_REDIS: o.url, FLEET_CALLERS: String(o.callers), FLEET_FN_MS: String(o.fnMs) },
    }),
  )
  const states = await Promise.all(children.map(async (child) => ((await once(child, 'message')) as [string])[0]))
  if (states.every((s) => s === 'ready')) return children
  await Promise.all(children.map((child) => (child.send('exit'), once(child, 'exit'))))
  return undefined
}

/** A member of the fleet. */
async function member(library: FleetLibrary, url: string, callers: number, fnMs: number): Promise<void> {
  const counter = new RootRedis(url)
  const subject: Pick<Subject, 'getOrSet' | 'close'> | undefined =
    library === 'none' ? { getOrSet: (_key, fn) => fn(), close: async () => undefined } : await open(library, url, 'full')
  if (subject === undefined) {
    process.send?.('missing')
  }
  process.on('message', (message: Go | 'exit') => {
    if (message === 'exit') {
      void Promise.all([subject?.close(), counter.quit()]).finally(() => process.exit(0))
      return
    }
    if (subject !== undefined) void round(subject, message)
  })
  const round = async (s: Pick<Subject, 'getOrSet'>, { key, startAt }: Go): Promise<void> => {
    const fn = async (): Promise<string> => {
      await counter.incr(`runs:${key}`)
      await delay(fnMs)
      return valueOf(key)
    }
    await delay(Math.max(0, startAt - now()))
    const values = await Promise.all(Array.from({ length: callers }, () => s.getOrSet(key, fn)))
    process.send?.({ ended: now(), ok: values.every((v) => v === valueOf(key)) } satisfies Done)
  }
  if (subject !== undefined) process.send?.('ready')
}

const library = process.env.FLEET_LIBRARY as FleetLibrary | undefined
if (library !== undefined && process.send !== undefined) {
  await member(library, process.env.FLEET_REDIS ?? '', Number(process.env.FLEET_CALLERS), Number(process.env.FLEET_FN_MS))
}
