import { createHmac, timingSafeEqual } from 'node:crypto'
import { constants as bufferConstants } from 'node:buffer'
import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { bounds, numberField, SPACE, splitHeader } from './envelope-header.ts'
import { encodeSuperjson, superjsonCodec } from './superjson.ts'
import type { Codec } from './types.ts'
import { checkCodec } from './check.ts'
import { DecodeError, InvalidOptionError, SignatureError, ValueTooLargeError } from '../errors.ts'

export { superjsonCodec } from './superjson.ts'
export type { Codec } from './types.ts'

/*
 * Envelope format, version 1: the bytes stored under a value's key.
 *
 *   MR1 <flags> <codec> <created> <freshUntil> <staleUntil> <tagsLength>[ <validator>]\n
 *   <tags>       tagsLength bytes: a JSON array of strings (UTF-8), or nothing for no tags
 *   <payload>    the codec's bytes, raw-deflated when flag 1 is set
 *   <mac>        32 bytes, when flag 2 is set: HMAC-SHA256 of the Redis key the value is
 *                stored under (length-prefixed) and every byte before it
 *
 * The first line is ASCII, at most 400 bytes, fields separated by one space: `flags` is
 * one digit (1 = payload deflated, 2 = signed), `codec` the payload codec's name (a value
 * written by another codec is refused, not misread), times are epoch milliseconds written
 * by `String(number)`, `tagsLength` a byte count, and `validator`, only when the entry has
 * one (`FactoryContext.setValidator`), its UTF-8 text in base64url (a reader before it
 * refuses such a value: a miss, never a misread one). Reading it is one pass over its ~60
 * bytes that makes no string (`envelope-header.ts`: integers are read from their
 * digits); the payload goes to the codec as a view of the input, not a copy.
 *
 * With signing keys, the mac is checked before a single header field is read: a value
 * that is unsigned, truncated, or signed by another key is refused as a `SignatureError`.
 * Without signing keys, a signed value still decodes (its mac is skipped, unchecked): the
 * reader has opted out of verification, and turning keys on is then a rolling change.
 */

const MAGIC = Buffer.from('MR1 ', 'latin1')
const FLAG_DEFLATE = 1
const FLAG_SIGNED = 2
const MAC_LENGTH = 32
const MAX_HEADER = 400
/** The longest validator, in UTF-8 bytes (its base64url keeps the header within `MAX_HEADER`). */
export const MAX_VALIDATOR = 200
const NO_TAGS: readonly string[] = Object.freeze([])

/** A cached value with its lifetimes. Times are epoch milliseconds. */
export interface Entry<T = unknown> {
  /** The cached value itself. */
  value: T
  /** When the value was computed (epoch ms). */
  created: number
  /** Until when the value is fresh (epoch ms); at least `created`. */
  freshUntil: number
  /** Until when the value may be served stale (epoch ms); at least `freshUntil`. */
  staleUntil: number
  /** Tags the entry was stored with (invalidating one invalidates the entry). */
  tags: readonly string[]
  /**
   * What a conditional refresh compares (an ETag, a version): set by the function
   * through its context; absent on most entries.
   */
  validator?: string
}

/**
 * What L1 counts for an entry, in bytes: its envelope's length with the payload as the
 * codec wrote it, before compression. L1 holds the decoded value, whose size follows the
 * uncompressed payload; counting the compressed bytes let a well-compressing value take
 * a thousand times the memory `l1.maxSize` allowed.
 */
export interface Sized {
  /** Bytes L1 counts for the entry (see above). */
  size: number
}

/** An entry read back from its envelope, with what L1 counts for it. */
export type DecodedEntry = Entry & Sized

/** An envelope's bytes, with what L1 counts for the entry in it. */
export interface Encoded extends Sized {
  /** The envelope, to be stored in Redis. */
  bytes: Buffer
}

/** Options of {@link Envelope}; `options.ts` resolves the user's options into these. */
export interface EnvelopeOptions {
  /** The payload codec. The cache's default is {@link superjsonCodec}. */
  codec: Codec
  /** HMAC-SHA256 keys: the first signs, any verifies (rotation). `[]` = unsigned (the cache's default). */
  signingKeys: readonly Buffer[]
  /** Largest envelope written or read, in bytes; larger input is refused before it is parsed. The cache's default is 8 MiB. */
  maxValueSize: number
  /** Payloads of at least this many bytes are raw-deflated (kept only if smaller). `Infinity` = never (the cache's default). */
  compressThreshold: number
  /** Largest payload a compressed value may inflate to, in bytes (also refused on encode). The cache's default is 4 × maxValueSize. */
  maxDecompressedSize: number
  /**
   * With the superjson codec: `true` refuses to encode a value holding an instance of an
   * unregistered class (`UnregisteredClassError`); `false` stores it as a plain object of
   * its own enumerable fields. Other codecs own their type support and are not checked.
   */
  strictClasses: boolean
  /** Called once per class name per process when `strictClasses` is false and such an instance is stored. */
  onUnregisteredClass: (className: string) => void
}

/** Class names already reported through `onUnregisteredClass`, process-wide. */
const reportedClasses = new Set<string>()

/**
 * Turns entries into envelope bytes and back; see the format above. `decode` throws only
 * `DecodeError`, `SignatureError` (a `DecodeError`) or `ValueTooLargeError`.
 *
 * @example
 * const envelope = new Envelope({ codec: superjsonCodec, signingKeys: [], maxValueSize: 8 << 20,
 *   compressThreshold: Infinity, maxDecompressedSize: 32 << 20, strictClasses: false, onUnregisteredClass: () => {} })
 * const bytes = envelope.encode({ value: new Map([[1, 'a']]), created: now, freshUntil: now + 60_000, staleUntil: now + 90_000, tags: [] })
 * envelope.decode(bytes).value // Map { 1 => 'a' }
 */
export class Envelope {
  private readonly codec: Codec
  private readonly codecName: Buffer
  private readonly keys: readonly Buffer[]
  private readonly maxValueSize: number
  private readonly compressThreshold: number
  private readonly maxDecompressedSize: number
  private readonly strictClasses: boolean
  private readonly report: (className: string) => void

  /** @throws InvalidOptionError when an option is out of range. */
  constructor(options: EnvelopeOptions) {
    const { signingKeys, maxValueSize, compressThreshold, maxDecompressedSize, onUnregisteredClass } = options
    const codec = checkCodec(options.codec, 'codec')
    if (!Array.isArray(signingKeys) || !signingKeys.every((k) => Buffer.isBuffer(k) && k.length > 0)) {
      throw new InvalidOptionError('signingKeys must be an array of non-empty Buffers')
    }
    positive(maxValueSize, 'maxValueSize')
    positive(maxDecompressedSize, 'maxDecompressedSize')
    if (typeof compressThreshold !== 'number' || !(compressThreshold >= 0)) {
      throw new InvalidOptionError(`compressThreshold must be a number of bytes or Infinity, got ${String(compressThreshold)}`)
    }
    if (typeof onUnregisteredClass !== 'function') throw new InvalidOptionError('onUnregisteredClass must be a function')
    this.codec = codec
    this.codecName = Buffer.from(codec.name, 'latin1')
    this.keys = Object.freeze([...signingKeys])
    this.maxValueSize = maxValueSize
    this.compressThreshold = compressThreshold
    this.maxDecompressedSize = Math.min(maxDecompressedSize, bufferConstants.MAX_LENGTH)
    this.strictClasses = options.strictClasses === true
    this.report = (name) => {
      if (reportedClasses.has(name)) return
      reportedClasses.add(name)
      onUnregisteredClass(name)
    }
  }

  /**
   * The envelope of `entry`, to be stored under the Redis key `key` (signed with it).
   * @throws ValueTooLargeError when the envelope would exceed `maxValueSize`, or the payload `maxDecompressedSize`.
   * @throws UnregisteredClassError with `strictClasses` and an unregistered class instance in the value.
   * @throws TypeError or RangeError when the entry's times or tags are malformed, and whatever the codec throws
   *   (superjson refuses own keys named `__proto__`, `constructor` or `prototype`).
   */
  encode(entry: Entry, key = ''): Buffer {
    return this.encodeSized(entry, key).bytes
  }

  /** {@link encode}, with what L1 counts for the entry (see {@link Sized}). Same errors. */
  encodeSized(entry: Entry, key = ''): Encoded {
    const { created, freshUntil, staleUntil, tags } = entry
    checkTimes(created, freshUntil, staleUntil, (why) => new RangeError(`Envelope.encode: ${why}`))
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) throw new TypeError('Envelope.encode: tags must be an array of strings')
    const encoded = this.codec === superjsonCodec ? encodeSuperjson(entry.value, this.strictClasses, this.report) : this.codec.encode(entry.value)
    let payload = typeof encoded === 'string' ? Buffer.from(encoded, 'utf8') : encoded
    if (!Buffer.isBuffer(payload)) throw new TypeError(`codec ${this.codec.name} must encode to a string or a Buffer`)
    let flags = this.keys.length > 0 ? FLAG_SIGNED : 0
    const written = payload.length
    if (payload.length >= this.compressThreshold) {
      if (payload.length > this.maxDecompressedSize) throw new ValueTooLargeError(payload.length, this.maxDecompressedSize, 'uncompressed value')
      const packed = deflateRawSync(payload)
      if (packed.length < payload.length) {
        payload = packed
        flags |= FLAG_DEFLATE
      }
    }
    if (payload.length > this.maxValueSize) throw new ValueTooLargeError(payload.length, this.maxValueSize)
    const tagText = tags.length === 0 ? '' : JSON.stringify(tags)
    const tagLength = Buffer.byteLength(tagText)
    const validator = entry.validator === undefined ? '' : ` ${validatorField(entry.validator)}`
    const header = `MR1 ${flags} ${this.codec.name} ${created} ${freshUntil} ${staleUntil} ${tagLength}${validator}\n`
    const size = header.length + tagLength + payload.length + (flags & FLAG_SIGNED ? MAC_LENGTH : 0)
    if (size > this.maxValueSize) throw new ValueTooLargeError(size, this.maxValueSize)
    const out = Buffer.allocUnsafe(size)
    let offset = out.write(header, 0, 'latin1')
    offset += out.write(tagText, offset, 'utf8')
    offset += payload.copy(out, offset)
    if (flags & FLAG_SIGNED) mac(this.keys[0] as Buffer, key, out.subarray(0, offset)).copy(out, offset)
    return { bytes: out, size: size - payload.length + written }
  }

  /**
   * The entry in `bytes` as read from the Redis key `key` (e.g. with ioredis `getBuffer`),
   * with what L1 counts for it (see {@link Sized}).
   * @throws ValueTooLargeError when `bytes` exceed `maxValueSize` or inflate past `maxDecompressedSize`.
   * @throws SignatureError when signing keys are set and the value is unsigned or its mac matches none.
   * @throws DecodeError for anything else that is wrong (the original error is its `cause`).
   */
  decode(bytes: Buffer, key = ''): DecodedEntry {
    if (!Buffer.isBuffer(bytes)) throw new DecodeError(`a stored value must be a Buffer, got ${typeof bytes}`)
    if (bytes.length > this.maxValueSize) throw new ValueTooLargeError(bytes.length, this.maxValueSize, 'stored value')
    try {
      return this.read(bytes, key)
    } catch (error) {
      if (error instanceof DecodeError || error instanceof ValueTooLargeError) throw error
      throw new DecodeError('the stored value could not be decoded', { cause: error })
    }
  }

  private read(bytes: Buffer, key: string): DecodedEntry {
    let end = bytes.length
    if (this.keys.length > 0) {
      this.verify(bytes, key)
      end -= MAC_LENGTH
    }
    if (end < MAGIC.length + 2 || bytes[0] !== 77 || bytes[1] !== 82 || bytes[2] !== 49 || bytes[3] !== SPACE) {
      throw new DecodeError('not a memoredis envelope (version 1)')
    }
    const newline = splitHeader(bytes, MAGIC.length, Math.min(end, MAX_HEADER))
    const flags = bytes[MAGIC.length] === undefined ? -1 : (bytes[MAGIC.length] as number) - 48
    if (bounds[1] !== MAGIC.length + 1 || flags < 0 || flags > 3) throw new DecodeError('unknown envelope flags')
    if (flags & FLAG_SIGNED) {
      if (this.keys.length === 0) end -= MAC_LENGTH // signed, but this reader does not verify: skip the mac
    } else if (this.keys.length > 0) throw new SignatureError('the stored value is not signed')
    if (!this.isOurCodec(bytes, bounds[2] as number, bounds[3] as number)) {
      throw new DecodeError(`the stored value was written by codec ${bytes.toString('latin1', bounds[2], bounds[3])}, not ${this.codec.name}`)
    }
    const created = numberField(bytes, 4)
    const freshUntil = numberField(bytes, 6)
    const staleUntil = numberField(bytes, 8)
    checkTimes(created, freshUntil, staleUntil, (why) => new DecodeError(`envelope header: ${why}`))
    const tagLength = numberField(bytes, 10)
    if (!Number.isSafeInteger(tagLength) || tagLength < 0) throw new DecodeError('envelope header: bad tags length')
    const tagStart = newline + 1
    const payloadStart = tagStart + tagLength
    if (payloadStart > end) throw new DecodeError('envelope is truncated')
    const tags = tagLength === 0 ? NO_TAGS : parseTags(bytes.toString('utf8', tagStart, payloadStart))
    const stored = bytes.subarray(payloadStart, end)
    const payload = flags & FLAG_DEFLATE ? this.inflate(stored) : stored
    const size = bytes.length - stored.length + payload.length
    const validatorEnd = bounds[13] as number
    if (validatorEnd === 0) return { value: this.codec.decode(payload), created, freshUntil, staleUntil, tags, size }
    const validator = Buffer.from(bytes.toString('latin1', bounds[12], validatorEnd), 'base64url').toString('utf8')
    return { value: this.codec.decode(payload), created, freshUntil, staleUntil, tags, size, validator }
  }

  private isOurCodec(bytes: Buffer, start: number, end: number): boolean {
    const name = this.codecName
    if (end - start !== name.length) return false
    for (let i = 0; i < name.length; i++) if (bytes[start + i] !== name[i]) return false
    return true
  }

  /**
   * Refuses `bytes` unless their last 32 bytes are the mac of `key` and the rest under one
   * of the signing keys. The Redis key is signed too, so a signed value copied to another
   * key (another user's, say) is refused.
   */
  private verify(bytes: Buffer, key: string): void {
    const signed = bytes.length > MAGIC.length + MAC_LENGTH && ((bytes[MAGIC.length] ?? 0) - 48) & FLAG_SIGNED
    if (!signed) throw new SignatureError('the stored value is not signed')
    const data = bytes.subarray(0, bytes.length - MAC_LENGTH)
    const given = bytes.subarray(bytes.length - MAC_LENGTH)
    for (const secret of this.keys) if (timingSafeEqual(mac(secret, key, data), given)) return
    throw new SignatureError('the stored value is not signed by any of the signing keys')
  }

  private inflate(payload: Buffer): Buffer {
    try {
      return inflateRawSync(payload, { maxOutputLength: this.maxDecompressedSize })
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new ValueTooLargeError(this.maxDecompressedSize + 1, this.maxDecompressedSize, 'decompressed value')
      }
      throw new DecodeError('the stored value does not inflate', { cause: error })
    }
  }
}

/** A validator as its header field: base64url of its UTF-8 (never a space or a line break). */
function validatorField(validator: string): string {
  if (typeof validator !== 'string' || validator === '' || Buffer.byteLength(validator) > MAX_VALIDATOR) {
    throw new TypeError(`Envelope.encode: a validator must be a string of 1 to ${MAX_VALIDATOR} bytes`)
  }
  return Buffer.from(validator, 'utf8').toString('base64url')
}

function mac(secret: Buffer, key: string, data: Buffer): Buffer {
  return createHmac('sha256', secret).update(`${key.length}:${key}`).update(data).digest()
}

function positive(value: unknown, name: string): void {
  if (typeof value !== 'number' || !(value > 0)) throw new InvalidOptionError(`${name} must be a positive number of bytes, got ${String(value)}`)
}

function checkTimes(created: unknown, freshUntil: unknown, staleUntil: unknown, error: (why: string) => Error): void {
  if (!Number.isFinite(created) || !Number.isFinite(freshUntil) || !Number.isFinite(staleUntil)) throw error('times must be finite numbers')
  if (!((created as number) <= (freshUntil as number) && (freshUntil as number) <= (staleUntil as number))) {
    throw error('times must satisfy created <= freshUntil <= staleUntil')
  }
}

// Most entries of a function carry the same tags (its scope tags at least): parse each
// distinct tag text once. Bounded; the arrays are frozen, so sharing them is safe.
const parsedTags = new Map<string, readonly string[]>()

function parseTags(text: string): readonly string[] {
  const seen = parsedTags.get(text)
  if (seen !== undefined) return seen
  const tags: unknown = JSON.parse(text)
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) throw new DecodeError('envelope tags must be an array of strings')
  const frozen = Object.freeze(tags as string[])
  if (parsedTags.size >= 1000) parsedTags.clear()
  parsedTags.set(text, frozen)
  return frozen
}
