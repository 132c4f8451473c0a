import { stopAllChildren } from './child.ts'
import { stopAllServers } from './redis-server.ts'

/**
 * Mocha root hooks: any unhandled rejection or uncaught exception during the run fails
 * the run (memoredis promises never to leak one), and every server a spec started is
 * stopped at the end.
 */

const escaped: unknown[] = []
process.on('unhandledRejection', (reason) => escaped.push(reason))

export const mochaHooks = {
  afterEach(): void {
    if (escaped.length > 0) {
      const reasons = escaped.splice(0)
      throw new Error(`unhandled rejection during this test: ${reasons.map(String).join('; ')}`)
    }
  },
  async afterAll(): Promise<void> {
    await stopAllChildren()
    await stopAllServers()
  },
}
