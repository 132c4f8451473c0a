/**
 * A length of time: a number of milliseconds, or a string with a unit:
 * `'250ms'`, `'30s'`, `'5m'`, `'2h'`, `'1d'`. Any string is accepted by the type, so
 * that one read from configuration (`process.env.CACHE_TTL ?? '5m'`) or kept in an
 * options object typechecks; it is checked when the option is given, and a string
 * that is not a duration is refused with `InvalidOptionError`
 * (`ttl must be a positive duration like '5m' or 300000 (ms; units ms, s, m, h, d), got "5 minutes"`).
 * The literal forms are kept for editors' suggestions.
 */
export type Duration = number | `${number}ms` | `${number}s` | `${number}m` | `${number}h` | `${number}d` | (string & NonNullable<unknown>)
