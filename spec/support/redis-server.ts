import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'

/**
 * Real `redis-server` processes for the specs: started on free loopback ports, in a
 * temporary folder, and stopped (with their folder removed) when the spec is done.
 * No mock Redis anywhere.
 */

const live = new Set<RedisServer>()

/** A free TCP port on 127.0.0.1 (asked of the OS, then released). */
export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  server.close()
  await once(server, 'close')
  return port
}

export interface StartOptions {
  /** The port to listen on. Default: a free one. */
  port?: number
  /** More `redis-server` arguments, e.g. `['--cluster-enabled', 'yes']`. */
  args?: string[]
  /** A folder to run in (kept by the caller). Default: a fresh temporary one. */
  dir?: string
}

/** One `redis-server` process that this spec run owns. */
export class RedisServer {
  readonly port: number
  readonly host = '127.0.0.1'
  private proc: ChildProcess
  private readonly dir: string
  private readonly ownsDir: boolean
  private readonly args: string[]

  private constructor(port: number, dir: string, ownsDir: boolean, args: string[], proc: ChildProcess) {
    this.port = port
    this.dir = dir
    this.ownsDir = ownsDir
    this.args = args
    this.proc = proc
  }

  /** `redis://127.0.0.1:PORT` */
  get url(): string {
    return `redis://${this.host}:${this.port}`
  }

  /** The server's process id (to kill, SIGSTOP or SIGCONT it). */
  get pid(): number {
    return this.proc.pid ?? -1
  }

  static async start(options: StartOptions = {}): Promise<RedisServer> {
    const port = options.port ?? (await freePort())
    const ownsDir = options.dir === undefined
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'memoredis-spec-'))
    const args = options.args ?? []
    const proc = await launch(port, dir, args)
    const server = new RedisServer(port, dir, ownsDir, args, proc)
    live.add(server)
    return server
  }

  /** Sends a signal to the process (SIGSTOP to pause it, SIGCONT to resume). */
  signal(signal: NodeJS.Signals): void {
    this.proc.kill(signal)
  }

  /** Kills the process with SIGKILL and waits until it is gone. */
  async kill(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return
    const exited = once(this.proc, 'exit')
    this.proc.kill('SIGCONT')
    this.proc.kill('SIGKILL')
    await exited
  }

  /** Starts the server again on the same port and folder after {@link kill}. */
  async restart(): Promise<void> {
    await this.kill()
    this.proc = await launch(this.port, this.dir, this.args)
  }

  /** Stops the process and removes its folder. */
  async stop(): Promise<void> {
    await this.kill()
    live.delete(this)
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true })
  }
}

async function launch(port: number, dir: string, args: string[]): Promise<ChildProcess> {
  const proc = spawn(
    'redis-server',
    [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', dir,
      '--save', '',
      '--appendonly', 'no',
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString()
      if (/Ready to accept connections/.test(output)) {
        proc.stdout?.off('data', onData)
        resolve()
      }
    }
    proc.stdout?.on('data', onData)
    proc.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
    proc.once('error', reject)
    proc.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready:\n${output}`)))
  })
  await ready
  // Keep draining the pipes so a chatty server never blocks on a full pipe.
  proc.stdout?.resume()
  proc.stderr?.resume()
  return proc
}

/** Stops every server still running (registered as a mocha root hook in hooks.ts). */
export async function stopAllServers(): Promise<void> {
  await Promise.all([...live].map((server) => server.stop()))
}

// A spec run that dies must not leave servers behind.
process.once('exit', () => {
  for (const server of live) server.signal('SIGKILL')
})
