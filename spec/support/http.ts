import { once } from 'node:events'
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
