/**
 * Holding a Node response back: what a handler writes to a `ServerResponse` is kept
 * here, not sent, until the cache has judged it; and the detached copy of a request
 * that a background refresh sends through the app.
 */
import { IncomingMessage, ServerResponse, type OutgoingHttpHeaders } from 'node:http'
import { Socket } from 'node:net'

/** What a handler made: status, headers (lowercase names) and body. */
export interface Captured {
  status: number
  headers: OutgoingHttpHeaders
  body: Buffer
}

/** A response being held: `captured` settles when the handler ends it (undefined: it went out as it was, or nowhere). */
export interface Hold {
  captured: Promise<Captured | undefined>
  /** Sends the held response with `extra` headers, or as a 304 without its body. */
  release(extra: Readonly<Record<string, string>>, notModified: boolean): void
}

type Method = (...args: unknown[]) => unknown
interface Writes { writeHead: Method; write: Method; end: Method; flushHeaders: Method }

const BODILESS = new Set([204, 304])
const CONTENT = ['content-length', 'content-type', 'content-encoding', 'content-language', 'transfer-encoding']

/**
 * Holds what the handler writes to `res`. With `live` (the client's own response), a
 * body past `limit` bytes goes out as it is made, uncached, with `X-Cache: BYPASS`; and a
 * client that leaves settles the hold. Without it (a background refresh), nothing ever
 * goes out and a body past `limit` is dropped.
 */
export function holdResponse(res: ServerResponse, limit: number, live: boolean): Hold {
  const target = res as unknown as Writes
  const original: Writes = { writeHead: target.writeHead, write: target.write, end: target.end, flushHeaders: target.flushHeaders }
  const chunks: Buffer[] = []
  let size = 0
  let state: 'holding' | 'passing' | 'dropping' | 'held' | 'released' = 'holding'
  let result: Captured | undefined
  let settle: (captured: Captured | undefined) => void = () => undefined
  const captured = new Promise<Captured | undefined>((resolve) => (settle = resolve))

  const restore = (): void => {
    Object.assign(target, original)
    res.off('close', onClose)
  }
  const onClose = (): void => {
    // The client left before the handler was done: nobody to answer, nothing trustworthy to keep.
    if (state !== 'holding') return
    state = 'dropping'
    settle(undefined)
  }
  if (live) res.on('close', onClose)

  /** Stops holding: live, the response goes out as the handler makes it, uncached; else it is dropped. */
  const letGo = (): void => {
    settle(undefined)
    if (!live) {
      state = 'dropping'
      chunks.length = 0
      return
    }
    state = 'passing'
    restore()
    if (!res.headersSent) res.setHeader('X-Cache', 'BYPASS')
  }
  /** Keeps a chunk, or lets the response go (False): past the limit, or server-sent events, which never end. */
  const keep = (chunk: unknown, encoding: unknown): boolean => {
    const bytes = toBuffer(chunk, encoding)
    if (state !== 'holding') return false
    if (bytes !== undefined) {
      chunks.push(bytes)
      size += bytes.length
    }
    if (size <= limit && !isEventStream(res)) return true
    letGo() // From here on it goes to the client as the handler writes it.
    return false
  }
  const flush = (): boolean => {
    let ok = true
    for (const chunk of chunks.splice(0)) ok = res.write(chunk)
    return ok
  }
  const detachedEnd = (): void => {
    // Let whoever waits on the end of a detached response (pipeline, on-finished) go on.
    res.finished = true
    res.emit('prefinish')
    res.emit('finish')
    res.emit('close')
  }

  target.writeHead = (status: unknown, reason?: unknown, headers?: unknown): ServerResponse => {
    res.statusCode = Number(status)
    if (typeof reason === 'string') res.statusMessage = reason
    else headers = reason
    if (Array.isArray(headers)) {
      const flat = (headers.length > 0 && Array.isArray(headers[0]) ? headers.flat() : headers) as string[]
      for (let i = 0; i + 1 < flat.length; i += 2) res.appendHeader(String(flat[i]), String(flat[i + 1]))
    } else if (typeof headers === 'object' && headers !== null) {
      for (const [name, value] of Object.entries(headers)) if (value !== undefined) res.setHeader(name, value as string)
    }
    return res
  }
  target.flushHeaders = () => {
    if (state === 'holding' && isEventStream(res)) {
      letGo()
      res.flushHeaders()
    }
  }
  target.write = (chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
    const done = typeof encoding === 'function' ? encoding : callback
    // While held (or dropped), the handler may write on; once passing, the client's pace rules.
    const ok = keep(chunk, encoding) || state !== 'passing' || flush()
    if (typeof done === 'function') process.nextTick(done as () => void)
    return ok
  }
  target.end = (chunk?: unknown, encoding?: unknown, callback?: unknown): ServerResponse => {
    const done = [chunk, encoding, callback].find((a) => typeof a === 'function') as (() => void) | undefined
    if (typeof chunk !== 'function') keep(chunk, encoding)
    if (state === 'passing') {
      flush()
      res.end(done)
      return res
    }
    if (done !== undefined) res.once('finish', done)
    if (state === 'holding') {
      state = 'held'
      const body = Buffer.allocUnsafeSlow(size)
      let at = 0
      for (const part of chunks) at += part.copy(body, at)
      chunks.length = 0
      result = { status: res.statusCode, headers: res.getHeaders(), body }
      settle(result)
    }
    if (!live && state !== 'released') {
      state = 'released'
      detachedEnd()
    }
    return res
  }

  return {
    captured,
    release(extra, notModified) {
      if (state !== 'held' || result === undefined) return
      state = 'released'
      restore()
      for (const [name, value] of Object.entries(extra)) res.setHeader(name, value)
      if (notModified) {
        res.statusCode = 304
        for (const name of CONTENT) res.removeHeader(name)
        res.end()
        return
      }
      if (!BODILESS.has(res.statusCode)) res.setHeader('Content-Length', result.body.length)
      res.end(result.body)
    },
  }
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
  delete headers['if-none-match']
  delete headers['if-modified-since']
  req.headers = headers
  req.rawHeaders = Object.entries(headers).flatMap(([name, value]) =>
    value === undefined ? [] : Array.isArray(value) ? value.flatMap((v) => [name, v]) : [name, value],
  )
  req.complete = true
  req.push(null)
  shadows.add(req)
  return { req, res: new ServerResponse(req) }
}
