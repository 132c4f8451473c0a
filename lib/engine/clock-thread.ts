import { Worker } from 'node:worker_threads'

/**
 * The hot path's clock: `Date.now()` as a thread of its own last wrote it into shared
 * memory. An L1 hit reads one number instead of calling `Date.now()` (which costs as much
 * as the rest of the hit on the machines measured), and, unlike a value cached until a
 * timer clears it, this one moves while the event loop is busy: a loop of awaited hits
 * that never yields to timers still sees its entries expire.
 *
 * The thread writes the time every {@link TICK_MS} while the process reads it, so a read
 * is at most about a millisecond late (more only while the OS leaves the thread off the
 * CPU). It parks after {@link IDLE_TICKS} ticks without a read — an idle process is not
 * woken a thousand times a second — and the first read after that wakes it and, until
 * it writes again, reads `Date.now()` itself. Where no worker thread can be started, and
 * while `Date.now` is replaced (fake timers), every read is a `Date.now()`.
 */

/** How often the thread writes the time while it is read, ms. */
export const TICK_MS = 0.5
/** Ticks without a read after which the thread parks (100 ms). */
export const IDLE_TICKS = 200

// Slots of the shared Int32Array: READ is set by every read and cleared by the thread;
// PARKED is 1 while the thread sleeps until it is notified.
const READ = 0
const PARKED = 1

/** What the thread runs (plain JavaScript: the same source serves the build and the sources). */
const SOURCE = `
const { workerData } = require('node:worker_threads')
const time = new Float64Array(workerData.time)
const flags = new Int32Array(workerData.flags)
const sleep = new Int32Array(new SharedArrayBuffer(4))
let idle = 0
for (;;) {
  time[0] = Date.now()
  if (Atomics.exchange(flags, ${READ}, 0) === 1) idle = 0
  else if (++idle >= ${IDLE_TICKS}) {
    Atomics.store(flags, ${PARKED}, 1)
    // A read between the exchange above and this store saw PARKED 0 and a time one tick old: fine.
    Atomics.wait(flags, ${PARKED}, 1)
    idle = 0
    continue
  }
  Atomics.wait(sleep, 0, 0, ${TICK_MS})
}
`

const nativeDateNow = Date.now

class ClockThread {
  private readonly time = new Float64Array(new SharedArrayBuffer(8))
  private readonly flags = new Int32Array(new SharedArrayBuffer(8))
  private started = false

  /** Epoch ms, to the millisecond, at most about {@link TICK_MS} late while the thread runs. */
  now(): number {
    const flags = this.flags
    flags[READ] = 1
    if (flags[PARKED] === 0) {
      const time = this.time[0] as number
      if (time !== 0 && Date.now === nativeDateNow) return time
      if (!this.started) this.start()
    } else this.wake()
    return Date.now()
  }

  /** `running`: writing the time; `parked`: asleep until the next read; `off`: not started, or could not be. */
  get state(): 'running' | 'parked' | 'off' {
    if (this.time[0] === 0) return 'off'
    return this.flags[PARKED] === 1 ? 'parked' : 'running'
  }

  private wake(): void {
    // The thread's time is old: zero it so that reads take Date.now() until the thread writes again.
    this.time[0] = 0
    Atomics.store(this.flags, PARKED, 0)
    Atomics.notify(this.flags, PARKED)
  }

  private start(): void {
    this.started = true
    try {
      const worker = new Worker(SOURCE, { eval: true, workerData: { time: this.time.buffer, flags: this.flags.buffer } })
      // It must never keep the process alive, nor take it down.
      worker.unref()
      worker.on('error', () => undefined)
    } catch {
      // No worker threads here (a restricted runtime): every read is Date.now().
    }
  }
}

/** The process's one clock thread, started by the first read. */
export const clockThread = new ClockThread()
