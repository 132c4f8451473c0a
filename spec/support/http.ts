import { expect } from 'chai'
import { once } from 'node:events'
import { connect } from 'node:net'
import { request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders, type Server } from 'node:http'

/**
 * Real HTTP requests over loopback for the middleware specs (Express and Koa alike).
 */

export interface Reply {
  status: number
  headers: IncomingHttpHeaders
  body: string
  bytes: Buffer
}

/** A real request over loopback. */
export function call(base: string, path: string, options: { method?: string; headers?: OutgoingHttpHeaders } = {}): Promise<Reply> {
  return exchange(httpRequest(base + path, { method: options.method ?? 'GET', headers: options.headers }))
}

/**
 * A real request whose target goes out byte for byte as given (`call` parses it as a URL,
 * which cuts a `#` off and escapes bytes), its headers as given (an empty `host` too; the
 * server's by default), with an optional body: sent with its `Content-Length`, or with
 * `chunked` as `Transfer-Encoding: chunked`.
 */
export function callAsSent(base: string, target: string, options: { method?: string; headers?: OutgoingHttpHeaders; body?: string; chunked?: boolean } = {}): Promise<Reply> {
  const { hostname, port, host } = new URL(base)
  const headers: OutgoingHttpHeaders = { host, ...options.headers }
  // Node sends a GET's body unframed unless told how.
  if (options.body !== undefined) Object.assign(headers, options.chunked === true ? { 'transfer-encoding': 'chunked' } : { 'content-length': Buffer.byteLength(options.body) })
  const req = httpRequest({ hostname, port, path: target, method: options.method ?? 'GET', headers, setHost: false })
  return exchange(req, options.body)
}

/** Sends `req` (with `body`) and reads its response whole. */
function exchange(req: ClientRequest, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const bytes = Buffer.concat(chunks)
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bytes.toString(), bytes })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** The headers and first chunk of a response that does not end (server-sent events); then hangs up. */
export function firstChunk(base: string, path: string): Promise<{ headers: IncomingHttpHeaders; chunk: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(base + path, (res) => {
      res.once('data', (chunk: Buffer) => {
        resolve({ headers: res.headers, chunk: chunk.toString() })
        req.destroy()
      })
    })
    req.on('error', reject)
    req.end()
  })
}

/** A promise and the function that resolves it. */
export function gate(): { opened: Promise<void>; open: () => void } {
  let open = (): void => undefined
  const opened = new Promise<void>((resolve) => (open = resolve))
  return { opened, open }
}

/** Listens on a free loopback port; resolves with the server's base URL. */
export async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
}

/** Closes the servers (and their keep-alive connections) and empties the list. */
export function closeServers(servers: Server[]): void {
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    server.close()
  }
}

/** What came over the socket, as it came: the status line and headers, and every byte after them. */
export interface RawReply {
  head: string
  headers: Record<string, string>
  body: Buffer
}

/**
 * A GET over a plain socket with `Connection: close`, read until the server closes it:
 * a body shorter than its declared Content-Length shows as it was sent, where an HTTP
 * client would fail.
 */
export async function rawCall(base: string, path: string): Promise<RawReply> {
  const { hostname, port } = new URL(base)
  const socket = connect(Number(port), hostname)
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n\r\n`)
  const chunks: Buffer[] = []
  for await (const chunk of socket) chunks.push(chunk as Buffer)
  const all = Buffer.concat(chunks)
  const end = all.indexOf('\r\n\r\n')
  const head = all.subarray(0, end).toString()
  const headers: Record<string, string> = {}
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { head, headers, body: all.subarray(end + 4) }
}

/**
 * Two visitors without a cookie ask for `path`, a page with a token of the visitor's
 * session: each must get a page of their own (never one from the cache), with their own
 * session cookie named `cookie`.
 */
export async function expectSessionsApart(base: string, path: string, cookie: string): Promise<void> {
  const one = await call(base, path)
  const two = await call(base, path)
  expect([one.headers['x-cache'], two.headers['x-cache']]).to.deep.equal(['BYPASS', 'BYPASS'])
  expect(one.body).to.not.equal(two.body)
  const own = [one, two].map((reply) => reply.headers['set-cookie']?.find((line) => line.startsWith(`${cookie}=`)))
  expect(own.map((line) => line !== undefined)).to.deep.equal([true, true])
  expect(own[0]).to.not.equal(own[1])
}

/** `path` answers 10 bytes with a declared Content-Length of 26: twice sent as made, never from the cache. */
export async function expectTruncatedUnstored(base: string, path: string): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const reply = await rawCall(base, path)
    expect([reply.headers['content-length'], reply.body.toString(), reply.headers['x-cache']]).to.deep.equal(['26', '0123456789', 'BYPASS'])
  }
}
