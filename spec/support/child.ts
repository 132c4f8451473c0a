import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'

/**
 * Real child processes for cross-process specs. A child script calls {@link serve} with
 * named handlers; the spec starts it with {@link Child.start} and calls handlers over
 * IPC. Children run the TypeScript sources exactly like the specs do.
 *
 * @example
 * // spec/fixtures/worker.ts
 * serve({ async compute(key: string) { ... return value } })
 * // in a spec
 * const child = await Child.start(new URL('./fixtures/worker.ts', import.meta.url), { REDIS_URL: url })
 * const value = await child.call('compute', 'k')
 * await child.stop()
 */

interface Request {
  id: number
  command: string
  args: unknown[]
}
type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string }

const live = new Set<Child>()

export class Child {
  readonly process: ChildProcess
  private next = 0
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>()
  private stderr = ''

  private constructor(proc: ChildProcess) {
    this.process = proc
    proc.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()))
    proc.on('message', (message: Reply | 'ready') => {
      if (message === 'ready') return
      const waiter = this.pending.get(message.id)
      if (waiter === undefined) return
      this.pending.delete(message.id)
      if (message.ok) waiter.resolve(message.result)
      else waiter.reject(new Error(`child: ${message.error}`))
    })
    proc.on('exit', (code, signal) => {
      live.delete(this)
      for (const waiter of this.pending.values()) {
        waiter.reject(new Error(`child exited (${code ?? signal}) before answering:\n${this.stderr}`))
      }
      this.pending.clear()
    })
  }

  /** Starts `script` with the given environment and waits until it is serving. */
  static async start(script: URL | string, env: Record<string, string> = {}): Promise<Child> {
    const proc = fork(script instanceof URL ? script.pathname : script, [], {
      execArgv: ['--conditions=source', '--import', 'tsx'],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      // Structured clone: Dates, Maps, Sets and BigInts cross the boundary intact.
      serialization: 'advanced',
    })
    const child = new Child(proc)
    live.add(child)
    const [message] = (await Promise.race([
      once(proc, 'message'),
      once(proc, 'exit').then(() => {
        throw new Error(`child exited before it was ready:\n${child.stderr}`)
      }),
    ])) as [unknown]
    if (message !== 'ready') throw new Error(`child said ${String(message)} instead of ready`)
    return child
  }

  /** Calls the child's handler `command` and resolves with what it returned. */
  call<T = unknown>(command: string, ...args: unknown[]): Promise<T> {
    const id = this.next++
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      this.process.send({ id, command, args } satisfies Request)
    })
  }

  get pid(): number {
    return this.process.pid ?? -1
  }

  /** Kills the child with `signal` (default SIGKILL) and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return
    const exited = once(this.process, 'exit')
    this.process.kill(signal)
    await exited
  }

  /** Asks the child to close its caches (handler `close`, if any) and exit; kills it if it does not. */
  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return
    const exited = once(this.process, 'exit')
    this.process.send({ id: -1, command: '__exit', args: [] } satisfies Request)
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
}

/** Kills every child still running (mocha root hook). */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...live].map((child) => child.kill()))
}

type Handler = (...args: never[]) => unknown

/**
 * In a child script: answers the parent's calls with `handlers`. A handler named
 * `close` is run before the child exits on `stop()`.
 */
export function serve(handlers: Record<string, Handler>): void {
  process.on('message', (message: Request) => {
    void (async () => {
      if (message.command === '__exit') {
        await handlers.close?.()
        process.exit(0)
      }
      const handler = handlers[message.command]
      try {
        if (handler === undefined) throw new Error(`no handler ${message.command}`)
        const result = await handler(...(message.args as never[]))
        process.send?.({ id: message.id, ok: true, result } satisfies Reply)
      } catch (error) {
        const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
        process.send?.({ id: message.id, ok: false, error: text } satisfies Reply)
      }
    })()
  })
  process.send?.('ready')
}
