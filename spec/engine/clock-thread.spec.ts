import { expect } from 'chai'
import { createCache, memoize } from '../../lib/index.ts'
import { clockThread, IDLE_TICKS, TICK_MS } from '../../lib/engine/clock-thread.ts'

/**
 * The hot path's clock moves without timers: a clock thread writes the time into shared
 * memory, so a loop of awaited L1 hits that never yields to timers still sees its
 * entries expire (it used to see one `Date.now()` until a timer ran, and served values
 * twenty times past their ttl).
 */

/** Resolves once the clock thread is in `state` (it changes on its own thread: looked at each turn of the loop), or after 5 s. */
async function until(state: typeof clockThread.state): Promise<void> {
  const deadline = Date.now() + 5_000
  while (clockThread.state !== state && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve))
}

/** Resolves after the clock thread has had `ms` of real time, spent by this thread in a busy loop that lets no timer run. */
async function spinFor(ms: number, each: () => Promise<void>): Promise<void> {
  const until = performance.now() + ms
  while (performance.now() < until) await each()
}

describe('the hot path clock', function () {
  this.timeout(10_000)

  it('moves while the event loop never yields to timers: a read is within a few ms of Date.now()', async () => {
    clockThread.now()
    // A worker starts in tens of ms; until it writes, reads are Date.now().
    await until('running')
    expect(clockThread.state).to.equal('running')
    let worst = 0
    await spinFor(300, async () => {
      const late = Date.now() - clockThread.now()
      if (late > worst) worst = late
    })
    // At most a millisecond or so (one tick, and Date.now()'s own rounding); the loop
    // spun 300 ms without a timer, so a clock cached until a timer would be 300 ms late.
    expect(worst).to.be.below(50)
  })

  it('parks after a spell without reads, and the first read after that reads Date.now() and wakes it', async () => {
    clockThread.now()
    await until('running')
    // No read for IDLE_TICKS ticks (100 ms): the thread parks.
    const started = Date.now()
    await until('parked')
    expect(clockThread.state).to.equal('parked')
    expect(Date.now() - started).to.be.at.least(IDLE_TICKS * TICK_MS - 5)
    const before = Date.now()
    const read = clockThread.now()
    expect(read).to.be.at.least(before)
    expect(clockThread.state).to.not.equal('parked')
    await until('running')
    expect(clockThread.state).to.equal('running')
  })

  it('expires L1 entries on time in a loop of awaited hits that never yields to timers', async () => {
    const cache = createCache({ l1: { max: 100 } })
    const ttl = 40
    let runs = 0
    const created = new Map<number, number>()
    const load = memoize(
      async (id: number) => {
        runs++
        created.set(id, Date.now())
        return id
      },
      { cache, name: 'load', ttl },
    )
    let latest = 0
    const started = Date.now()
    await spinFor(400, async () => {
      for (const id of [1, 2, 3, 4]) {
        await load(id)
        // How long after its computation the value was served.
        const age = Date.now() - (created.get(id) as number)
        if (age > latest) latest = age
      }
    })
    const elapsed = Date.now() - started
    // Every value served was at most ttl + a few ms old (the clock's lag, and the loop's own
    // time between the read and this check); a clock that timers move served 400 ms old ones.
    expect(latest).to.be.below(ttl + 30)
    // So each key ran about once per ttl: well above the 4 runs of a clock that stood still.
    expect(runs).to.be.at.least(4 * Math.floor(elapsed / (ttl + 30)))
    await cache.close()
  })

  it('reads Date.now() itself while Date.now is replaced (fake timers move time without the thread)', () => {
    const real = Date.now
    try {
      Date.now = () => 42
      expect(clockThread.now()).to.equal(42)
    } finally {
      Date.now = real
    }
  })
})
