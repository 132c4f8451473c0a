import { expect } from 'chai'
import { Redis } from 'ioredis'
import { Child } from '../support/child.ts'
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
})
