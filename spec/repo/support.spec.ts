import { expect } from 'chai'
import { Redis } from 'ioredis'
import { Child } from '../support/child.ts'
import { CEILING_MS, COHERENCE_MS, expectPrompt, expectPromptly } from '../support/coherence.ts'
import { RedisServer } from '../support/redis-server.ts'

describe('spec support', () => {
  it('starts a real redis-server on a free port and stops it', async () => {
    const server = await RedisServer.start()
    const client = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => null })
    expect(await client.ping()).to.equal('PONG')
    client.disconnect()
    await server.stop()
    expect(() => process.kill(server.pid, 0)).to.throw()
  })

  it('runs a real child process and calls it over IPC with rich values', async () => {
    const child = await Child.start(new URL('../fixtures/echo-child.ts', import.meta.url))
    const sent = { when: new Date(0), big: 10n ** 20n, map: new Map([[1, 'a']]) }
    expect(await child.call('echo', sent)).to.deep.equal(sent)
    expect(await child.call('pid')).to.equal(child.pid).and.not.equal(process.pid)
    const error = await child.call('fail').catch((e: unknown) => e)
    expect(String(error)).to.match(/asked to fail/)
    await child.stop()
    expect(child.process.exitCode).to.equal(0)
  })

  describe('coherence lags, as a shared machine allows', () => {
    const rounds = (late: number, ms = COHERENCE_MS): number[] => Array.from({ length: 100 }, (_, i) => (i < late ? ms : 1))

    it('passes 5 late rounds in 100 and fails 6, or one past the ceiling', () => {
      expect(() => expectPrompt(rounds(5))).not.to.throw()
      expect(() => expectPrompt(rounds(6))).to.throw(/rounds over 50 ms/)
      expect(() => expectPrompt(rounds(1, CEILING_MS))).to.throw(/the slowest round/)
    })

    it('measures one change again while it is late, up to three times', async () => {
      const measure = (lags: number[]) => async (): Promise<number> => lags.shift() as number
      const once = [3, COHERENCE_MS]
      await expectPromptly(measure(once))
      expect(once).to.deep.equal([COHERENCE_MS])
      await expectPromptly(measure([COHERENCE_MS, COHERENCE_MS, 3]))
      const error = await expectPromptly(measure([COHERENCE_MS, COHERENCE_MS, COHERENCE_MS, 3])).catch((e: Error) => e)
      expect(String(error)).to.match(/the quickest of the rounds/)
    })
  })
})
