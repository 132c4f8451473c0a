/**
 * A streamed body (Koa's and Fastify's) read up to a limit: whole, to be kept, or too
 * large, to go on to the client as a stream with the chunks read first put back in front.
 */
import { Readable } from 'node:stream'

/** A streamed body read up to a limit: whole, or too large to keep (then `rest` gives all of it, the chunks read first included). */
export type StreamRead = { kind: 'whole'; body: Buffer } | { kind: 'over'; rest: Readable }

/** Reads `stream` to its end, or until it passes `limit` bytes. Rejects when the stream fails. */
export async function readStream(stream: Readable, limit: number): Promise<StreamRead> {
  const chunks: Buffer[] = []
  let size = 0
  const it = stream[Symbol.asyncIterator]()
  for (;;) {
    const next = await it.next()
    if (next.done === true) break
    const chunk = chunkOf(next.value)
    chunks.push(chunk)
    size += chunk.length
    if (size > limit) return { kind: 'over', rest: Readable.from(resume(chunks, it)) }
  }
  return { kind: 'whole', body: Buffer.concat(chunks, size) }
}

function chunkOf(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value
  if (typeof value === 'string') return Buffer.from(value)
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  throw new TypeError(`a streamed body must give strings, Buffers or Uint8Arrays, got ${typeof value}`)
}

async function* resume(head: Buffer[], it: AsyncIterator<unknown>): AsyncGenerator<Buffer> {
  try {
    yield* head
    for (;;) {
      const next = await it.next()
      if (next.done === true) return
      yield chunkOf(next.value)
    }
  } finally {
    await it.return?.()
  }
}

