/**
 * Holding a Node response back: what a handler writes to a `ServerResponse` is kept
 * here, not sent, until the cache has judged it; the detached copy of a request that a background
 * refresh sends through the app; and a response from the cache sent on a Node response.
 */
import { IncomingMessage, ServerResponse } from 'node:http'
import { Socket } from 'node:net'
import { CONDITIONAL } from './conditional.ts'
import type { Answer, Head, Release } from './types.ts'

/** What a handler made (status, headers with lowercase names, body), and how it finally went out. */
export interface Captured extends Head {
  body: Buffer
  /** The status and headers as they went out, once every header-time hook (`on-headers`) had run. */
  out: Head
}

/** A response being held: `captured` settles when the handler ends it (undefined: it went out as it was). */
export interface Hold {
  captured: Promise<Captured | undefined>
  /** Sends the held response with `extra` headers, or as a 304 without its body. */
  release: Release
  /** Sends `answer` instead of the held response. */
  replace(answer: Answer): void
}

/** The release of a response nobody waits for (a background refresh's): it goes nowhere. */
export const NOWHERE: Pick<Hold, 'release' | 'replace'> = { release: () => undefined, replace: () => undefined }

type Method = (this: ServerResponse, ...args: unknown[]) => unknown
interface Writes { writeHead: Method; write: Method; end: Method; flushHeaders: Method }
const WRITES = ['writeHead', 'write', 'end', 'flushHeaders'] as const

const CONTENT = ['content-length', 'content-type', 'content-encoding', 'content-language', 'transfer-encoding']
const nothing = (): void => undefined

/**
 * Holds what the handler writes to `res`. With `live` (the client's own response), a
 * body past `limit` bytes goes out as it is made, uncached, with `X-Cache: BYPASS`.
 * Without it (a background refresh), nothing ever goes out and a body past `limit` is
 * dropped. A client that leaves does not end the hold: the handler's response is still
 * taken whole, for the requests that wait for it.
 */
export function holdResponse(res: ServerResponse, limit: number, live: boolean): Hold {
  return new ResponseHold(res, limit, live)
}

/** Where a held response stands ('final': running the header-time hooks, nothing sent). */
type HoldState = 'holding' | 'final' | 'passing' | 'dropping' | 'held' | 'released'

/**
 * The hold puts its own write methods on the response; whatever was there before (the
 * prototype's, or another middleware's wrappers) is `original`, and every byte that goes
 * out goes through it. Wrappers put on after the hold (a session middleware mounted after
 * the cache) stay on top of it: the hold never removes them.
 */
class ResponseHold implements Hold {
  readonly captured: Promise<Captured | undefined>
  private readonly res: ServerResponse
  private readonly target: Writes
  private readonly original: Writes
  private readonly mine: Writes
  private readonly limit: number
  private readonly live: boolean
  private readonly chunks: Buffer[] = []
  private size = 0
  private state: HoldState = 'holding'
  private result: Captured | undefined
  private settle: (captured: Captured | undefined) => void = () => undefined

  constructor(res: ServerResponse, limit: number, live: boolean) {
    this.res = res
    this.limit = limit
    this.live = live
    this.target = res as unknown as Writes
    const target = this.target
    this.original = { writeHead: target.writeHead, write: target.write, end: target.end, flushHeaders: target.flushHeaders }
    this.captured = new Promise<Captured | undefined>((resolve) => (this.settle = resolve))
    this.mine = {
      writeHead: (...args) => this.writeHead(args),
      write: (...args) => this.write(args),
      end: (...args) => this.end(args),
      flushHeaders: (...args) => this.flushHeaders(args),
    }
    Object.assign(target, this.mine)
  }

  /** Bound: the adapters hand it on as a plain function. */
  readonly release = (extra: Readonly<Record<string, string>>, notModified: boolean): void => {
    const { res, result } = this
    if (this.state !== 'held' || result === undefined) return
    this.state = 'released'
    this.restore()
    for (const [name, value] of Object.entries(extra)) res.setHeader(name, value)
    if (notModified) {
      res.statusCode = 304
      for (const name of CONTENT) res.removeHeader(name)
      this.original.end.call(res)
      return
    }
    // Its Content-Length as the handler declared it, or as Node counts it: a body that
    // does not match the declared length fails for the client as it would without us.
    this.original.end.call(res, result.body)
  }

  /** Bound, as {@link release}. */
  readonly replace = (answer: Answer): void => {
    if (this.state !== 'held') return
    this.state = 'released'
    this.restore()
    // The header-time hooks ran on the held status: a 304 told Node that no body follows.
    const res = this.res as ServerResponse & { _hasBody: boolean }
    res._hasBody = res.req.method !== 'HEAD'
    sendAnswer(res, answer)
  }

  /** True once what the handler writes goes out (past the limit, or released). */
  private sends(): boolean {
    return this.state === 'passing' || this.state === 'released'
  }

  /** Puts back the methods the hold replaced, where they are still its own (not wrapped since). */
  private restore(): void {
    for (const name of WRITES) if (this.target[name] === this.mine[name]) this.target[name] = this.original[name]
  }

  /** Stops holding: live, the response goes out as the handler makes it, uncached; else it is dropped. */
  private letGo(): void {
    this.settle(undefined)
    if (!this.live) {
      this.state = 'dropping'
      this.chunks.length = 0
      return
    }
    this.state = 'passing'
    this.restore()
    if (!this.res.headersSent) this.res.setHeader('X-Cache', 'BYPASS')
  }

  /** Keeps a chunk, or lets the response go (false): past the limit, or server-sent events, which never end. */
  private keep(chunk: unknown, encoding: unknown): boolean {
    const bytes = toBuffer(chunk, encoding)
    if (bytes !== undefined) {
      this.chunks.push(bytes)
      this.size += bytes.length
    }
    if (this.size <= this.limit && !isEventStream(this.res)) return true
    this.letGo() // From here on it goes to the client as the handler writes it.
    return false
  }

  private flush(): boolean {
    let ok = true
    for (const chunk of this.chunks.splice(0)) ok = this.original.write.call(this.res, chunk) as boolean
    return ok
  }

  private writeHead(args: unknown[]): unknown {
    const res = this.res
    if (this.sends()) return this.original.writeHead.apply(res, args)
    const [status, reason] = args
    let headers = args[2]
    res.statusCode = Number(status)
    if (typeof reason === 'string') res.statusMessage = reason
    else headers = reason
    if (Array.isArray(headers)) {
      const flat = (headers.length > 0 && Array.isArray(headers[0]) ? headers.flat() : headers) as string[]
      for (let i = 0; i + 1 < flat.length; i += 2) res.appendHeader(String(flat[i]), String(flat[i + 1]))
    } else if (typeof headers === 'object' && headers !== null) {
      for (const [name, value] of Object.entries(headers)) if (value !== undefined) res.setHeader(name, value as string)
    }
    // The header-time hooks under the hold run now (see `final`), with nothing sent.
    if (this.state === 'final') this.original.writeHead.call(res, res.statusCode)
    return res
  }

  private flushHeaders(args: unknown[]): unknown {
    if (this.state === 'holding' && isEventStream(this.res)) this.letGo()
    if (this.sends()) return this.original.flushHeaders.apply(this.res, args)
    return undefined
  }

  private write(args: unknown[]): unknown {
    if (this.sends()) return this.original.write.apply(this.res, args)
    const [chunk, encoding, callback] = args
    const done = typeof encoding === 'function' ? encoding : callback
    // While held (or dropped), the handler may write on; once passing, the client's pace rules.
    const ok = this.state !== 'holding' || this.keep(chunk, encoding) || !this.sends() || this.flush()
    if (typeof done === 'function') process.nextTick(done as () => void)
    return ok
  }

  private end(args: unknown[]): unknown {
    const res = this.res
    if (this.sends()) return this.original.end.apply(res, args)
    const [chunk, encoding] = args
    const done = args.find((a) => typeof a === 'function') as (() => void) | undefined
    if (this.state === 'holding' && typeof chunk !== 'function') this.keep(chunk, encoding)
    if (this.sends()) {
      this.flush()
      return this.original.end.call(res, done)
    }
    if (done !== undefined) res.once('finish', done)
    if (this.state === 'holding') this.hold()
    if (!this.live && !this.sends()) {
      this.state = 'released'
      detachedEnd(res)
    }
    return res
  }

  /** The handler ended the response: keep it whole, with the headers it will go out with. */
  private hold(): void {
    const res = this.res
    const body = Buffer.allocUnsafeSlow(this.size)
    let at = 0
    for (const part of this.chunks) at += part.copy(body, at)
    this.chunks.length = 0
    const made = { status: res.statusCode, headers: res.getHeaders() }
    try {
      this.final()
    } catch (error) {
      // A header-time hook threw, out of the handler's `end` as it would without us:
      // the response is not kept, and what the app sends next goes out as it is.
      this.letGo()
      throw error
    }
    this.state = 'held'
    this.result = { ...made, body, out: { status: res.statusCode, headers: res.getHeaders() } }
    this.settle(this.result)
  }

  /**
   * Runs the hooks that change the headers as they go out (`on-headers`: express-session,
   * cookie-session, compression...), wherever they wrap `writeHead`, above the hold or
   * under it, with nothing sent: under Node's own `writeHead`, the step that would turn
   * the headers into bytes (`_storeHeader`) is replaced by a no-op for this one call.
   * Such hooks fire once: when the response really goes out, they stay quiet.
   */
  private final(): void {
    const res = this.res
    const own = res as unknown as { _storeHeader?: unknown }
    const message = res.statusMessage
    this.state = 'final'
    own._storeHeader = nothing
    try {
      res.writeHead(res.statusCode)
    } finally {
      delete own._storeHeader
      res.statusMessage = message
    }
  }
}

/** Lets whoever waits on the end of a detached response (pipeline, on-finished) go on. */
function detachedEnd(res: ServerResponse): void {
  res.finished = true
  res.emit('prefinish')
  res.emit('finish')
  res.emit('close')
}

function isEventStream(res: ServerResponse): boolean {
  return String(res.getHeader('content-type') ?? '').startsWith('text/event-stream')
}

function toBuffer(chunk: unknown, encoding: unknown): Buffer | undefined {
  if (chunk === undefined || chunk === null) return undefined
  if (typeof chunk === 'string') return Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
  if (Buffer.isBuffer(chunk)) return chunk
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  throw new TypeError(`The "chunk" argument must be of type string or an instance of Buffer or Uint8Array`)
}

const shadows = new WeakSet<IncomingMessage>()

/** True for the detached copy of a request that a background refresh sends through the app. */
export function isShadow(req: IncomingMessage): boolean {
  return shadows.has(req)
}

/**
 * A detached GET copy of `from` for `url`, without its conditions, and a response that
 * goes nowhere. Its socket never connects; it shows the client's addresses to whoever
 * asks (`req.ip`, `req.protocol`).
 */
export function shadowRequest(from: IncomingMessage, url: string): { req: IncomingMessage; res: ServerResponse } {
  const socket = new Socket()
  const client = from.socket as unknown as Record<string, unknown> | null
  for (const name of ['remoteAddress', 'remotePort', 'remoteFamily', 'localAddress', 'localPort', 'encrypted']) {
    if (client?.[name] !== undefined) Object.defineProperty(socket, name, { value: client[name] })
  }
  const req = new IncomingMessage(socket)
  req.method = 'GET'
  req.url = url
  req.httpVersion = from.httpVersion
  req.httpVersionMajor = from.httpVersionMajor
  req.httpVersionMinor = from.httpVersionMinor
  const headers = { ...from.headers }
  for (const name of CONDITIONAL) delete headers[name]
  req.headers = headers
  req.rawHeaders = Object.entries(headers).flatMap(([name, value]) =>
    value === undefined ? [] : Array.isArray(value) ? value.flatMap((v) => [name, v]) : [name, value],
  )
  req.complete = true
  req.push(null)
  shadows.add(req)
  return { req, res: new ServerResponse(req) }
}

/** Sends `answer` on a Node response: its status and headers, `X-Cache`, `Age`, and its body with its length. */
export function sendAnswer(res: ServerResponse, answer: Answer): void {
  const { headers, body } = answer
  res.statusCode = answer.status
  for (const name of Object.keys(headers)) res.setHeader(name, headers[name] as string)
  res.setHeader('X-Cache', answer.cache)
  res.setHeader('Age', String(answer.age))
  if (body === undefined) {
    res.end()
    return
  }
  res.setHeader('Content-Length', body.length)
  res.end(body)
}
