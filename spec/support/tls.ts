import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * Throw-away certificates for TLS specs, made with the `openssl` command line into a
 * temporary folder: a CA, a server certificate for 127.0.0.1 and localhost (in the
 * subjectAltName, which is what Node checks), and a client certificate for mutual TLS.
 * EC P-256 keys, valid for two days: generating all three takes a few tens of ms.
 *
 * @example
 * const certs = makeCertificates()
 * const server = await RedisServer.start({ port, args: ['--port', '0', '--tls-port', String(port), ...certs.serverArgs] })
 * new Redis({ host: '127.0.0.1', port, tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } })
 * certs.remove()
 */
export interface Certificates {
  /** The folder holding every file below. */
  readonly dir: string
  /** PEM of the CA certificate (give it to clients as `tls.ca`). */
  readonly ca: Buffer
  /** PEM of a client certificate and its key, signed by the CA (mutual TLS). */
  readonly clientCert: Buffer
  readonly clientKey: Buffer
  /** Paths of the CA, server certificate and server key. */
  readonly caFile: string
  readonly serverCertFile: string
  readonly serverKeyFile: string
  /** `redis-server` arguments naming the server's certificate, key and CA. */
  readonly serverArgs: string[]
  /** Removes the folder. */
  remove(): void
}

const DAYS = '2'
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

export function makeCertificates(): Certificates {
  const dir = mkdtempSync(join(tmpdir(), 'memoredis-tls-'))
  const file = (name: string): string => join(dir, name)
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  }
  try {
    openssl(
      'req', '-x509', ...EC, '-days', DAYS, '-subj', '/CN=memoredis spec CA',
      '-keyout', file('ca.key'), '-out', file('ca.crt'),
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    )
    sign(openssl, file, 'server', '/CN=127.0.0.1', [
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      'extendedKeyUsage=serverAuth',
    ])
    sign(openssl, file, 'client', '/CN=memoredis spec client', ['extendedKeyUsage=clientAuth'])
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? ''
    throw new Error(`openssl could not make the spec certificates: ${stderr || String(error)}`, { cause: error })
  }
  return {
    dir,
    ca: readFileSync(file('ca.crt')),
    clientCert: readFileSync(file('client.crt')),
    clientKey: readFileSync(file('client.key')),
    caFile: file('ca.crt'),
    serverCertFile: file('server.crt'),
    serverKeyFile: file('server.key'),
    serverArgs: [
      '--tls-cert-file', file('server.crt'),
      '--tls-key-file', file('server.key'),
      '--tls-ca-cert-file', file('ca.crt'),
    ],
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}

/** A key and a certificate for `subject`, signed by the CA, with the given v3 extensions. */
function sign(
  openssl: (...args: string[]) => void,
  file: (name: string) => string,
  name: string,
  subject: string,
  extensions: string[],
): void {
  writeFileSync(file(`${name}.ext`), ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', ...extensions, ''].join('\n'))
  openssl('req', ...EC, '-subj', subject, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`))
  openssl(
    'x509', '-req', '-in', file(`${name}.csr`), '-days', DAYS,
    '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-extfile', file(`${name}.ext`), '-out', file(`${name}.crt`),
  )
}
