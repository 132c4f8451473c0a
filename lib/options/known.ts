import { InvalidOptionError } from '../errors.ts'

/**
 * The one check that every call taking options runs: an option it does not know (a typo
 * such as `tll`) is refused with `InvalidOptionError`, in the same words everywhere:
 * `getOrSet has no option "tll" (known: ttl, grace, ...)`. A typo never passes silently
 * with a default in its place.
 */
export function refuseUnknownOptions(given: object, known: readonly string[], where: string): void {
  for (const name of Object.keys(given)) {
    if (!known.includes(name)) throw new InvalidOptionError(`${where} has no option ${JSON.stringify(name)} (known: ${known.join(', ')})`)
  }
}
