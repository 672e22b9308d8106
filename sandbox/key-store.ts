// The sandbox's credentials (the gateways' platform keys, the test merchant's keys): made on first start and kept in
// a file under the sandbox's data directory, so that a restarted sandbox still matches what the engine was given.
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface PemKeyPair {
  privateKey: string;
  publicKey: string;
}

/** A fresh RSA 2048 key pair in PEM (PKCS#8 private, SPKI public), as both gateways use. */
export function newRsaKeyPair(): PemKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKey, publicKey };
}

/** Reads `<dir>/<name>.json`, or writes what `create` makes there (atomically, so concurrent starts agree) and reads it back. */
export function loadOrCreate<T>(dir: string, name: string, create: () => T): T {
  const file = path.join(dir, `${name}.json`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(create(), null, 2), { mode: 0o600 });
    try {
      fs.linkSync(tmp, file); // fails if another process got there first: theirs wins
    } catch {
      // keep the existing file
    } finally {
      fs.unlinkSync(tmp);
    }
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}
