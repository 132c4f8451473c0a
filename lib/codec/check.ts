import type { Codec } from './types.ts'
import { InvalidOptionError } from '../errors.ts'
import { describeValue } from '../options/checks.ts'

/** What makes a codec: its one check, for `createCache`'s `codec` option and for the envelope that uses it. */

/** A codec's name, as written into every envelope: 1 to 64 printable ASCII characters, no spaces. */
const CODEC_NAME = /^[\x21-\x7e]{1,64}$/

/**
 * `value` as a {@link Codec}: an object with `encode` and `decode` functions and a name
 * an envelope can carry.
 * @throws InvalidOptionError naming `option` otherwise.
 */
export function checkCodec(value: unknown, option: string): Codec {
  const codec = value as Partial<Codec> | null
  if (codec === null || typeof codec !== 'object' || typeof codec.encode !== 'function' || typeof codec.decode !== 'function') {
    throw new InvalidOptionError(`${option} must be an object with name, encode and decode, got ${describeValue(value)}`)
  }
  if (typeof codec.name !== 'string' || !CODEC_NAME.test(codec.name)) {
    throw new InvalidOptionError(`${option}.name must be 1 to 64 printable ASCII characters without spaces, got ${describeValue(codec.name)}`)
  }
  return codec as Codec
}
