import { expect } from 'chai'
import sinon from 'sinon'
import { Deadlines, type Pending } from '../../lib/redis/deadlines.ts'

/**
 * The one timer behind every Redis command's timeout (`RedisTier.run`), on fake timers
 * and a fake `performance.now()`: what expires and when, what never does, and how often
 * the timer fires.
 */
describe('Deadlines: one timer for every command in flight', () => {
  const TIMEOUT = 500
  let clock: sinon.SinonFakeTimers
  let deadlines: Deadlines
  let expired: string[]

  beforeEach(() => {
    clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    deadlines = new Deadlines()
    expired = []
  })
  afterEach(() => {
    deadlines.expireAll()
    // The stub of setTimeout first: it wraps the fake one, which clock.restore() then removes.
    sinon.restore()
    clock.restore()
  })

  /** A command sent now, which records its name when it expires. */
  function send(name: string): Pending {
    const pending: Pending = {
      done: false,
      deadline: performance.now() + TIMEOUT,
      expire: () => expired.push(name),
      older: undefined,
      newer: undefined,
    }
    deadlines.add(pending)
    return pending
  }

  it('expires a command at its deadline and not a millisecond before', () => {
    send('a')
    clock.tick(TIMEOUT - 1)
    expect(expired).to.deep.equal([])
    clock.tick(1)
    expect(expired).to.deep.equal(['a'])
  })

  it('never expires a command whose reply came, and says so once: a reply after the deadline is refused', () => {
    const answered = send('answered')
    const late = send('late')
    expect(deadlines.settle(answered)).to.equal(true)
    expect(deadlines.settle(answered)).to.equal(false)
    clock.tick(TIMEOUT)
    expect(expired).to.deep.equal(['late'])
    expect(deadlines.settle(late)).to.equal(false)
  })

  it('expires commands in the order they were sent, whichever were answered in between', () => {
    const sent = ['a', 'b', 'c', 'd', 'e'].map((name) => {
      const pending = send(name)
      clock.tick(10)
      return pending
    })
    deadlines.settle(sent[1] as Pending)
    deadlines.settle(sent[3] as Pending)
    clock.tick(TIMEOUT)
    expect(expired).to.deep.equal(['a', 'c', 'e'])
  })

  it('keeps one timer for a thousand commands in flight', () => {
    for (let i = 0; i < 1000; i++) send(`c${i}`)
    expect(clock.countTimers()).to.equal(1)
    clock.tick(TIMEOUT)
    expect(expired).to.have.length(1000)
    expect(clock.countTimers()).to.equal(0)
  })

  it('wakes once per timeout, not per command, under a stream of commands answered in time', () => {
    let fired = 0
    const realSetTimeout = globalThis.setTimeout
    sinon.stub(globalThis, 'setTimeout').callsFake(((callback: () => void, ms?: number) =>
      realSetTimeout(() => {
        fired++
        callback()
      }, ms)) as typeof setTimeout)
    // A command every millisecond for 5 s, each answered 1 ms after it was sent.
    let previous: Pending | undefined
    for (let ms = 0; ms < 5000; ms++) {
      const pending = send(`c${ms}`)
      if (previous !== undefined) deadlines.settle(previous)
      previous = pending
      clock.tick(1)
    }
    expect(expired).to.deep.equal([])
    expect(fired).to.be.within(5000 / TIMEOUT - 1, 5000 / TIMEOUT + 1)
  })

  it('arms one timer again when a command expiring sends another', () => {
    const pending = send('first')
    pending.expire = () => {
      expired.push('first')
      send('second')
    }
    clock.tick(TIMEOUT)
    expect(expired).to.deep.equal(['first'])
    expect(clock.countTimers()).to.equal(1)
    clock.tick(TIMEOUT)
    expect(expired).to.deep.equal(['first', 'second'])
  })

  it('expires everything still pending at once when the tier closes, oldest first', () => {
    const answered = send('a')
    send('b')
    send('c')
    deadlines.settle(answered)
    deadlines.expireAll()
    expect(expired).to.deep.equal(['b', 'c'])
    expect(clock.countTimers()).to.equal(0)
  })
})
