/**
 * A payload codec: turns a value into bytes and back. `decode` receives bytes that may
 * have been written by an attacker (unless values are signed) and must never run code or
 * touch a prototype for them. Default: `superjsonCodec`.
 */
export interface Codec {
  /** Written into every envelope; a value written by a codec of another name is refused. Printable ASCII, no spaces, at most 64 characters. */
  readonly name: string
  /** The value's bytes (a string is stored as UTF-8). */
  encode(value: unknown): string | Buffer
  /** The value back from its bytes. */
  decode(bytes: Buffer): unknown
}
