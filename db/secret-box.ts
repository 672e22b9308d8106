// Secrets at rest: AES-256-GCM sealed text that names the key which sealed it, so keys can be rotated.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { SecretKey } from '../config';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The version and key id are bound to the ciphertext as associated data: relabelling a sealed text breaks it. */
const associatedData = (keyId: string) => Buffer.from(`${VERSION}.${keyId}`, 'utf8');

/** Seals with the first key: `v1.<kid>.<iv>.<tag>.<ciphertext>`, the last three base64url; a fresh random IV each time. */
export function seal(plaintext: string, keys: SecretKey[]): { sealed: string; keyId: string } {
  const [current] = keys;
  if (!current) throw new Error('secret-box: no key to seal with (SECRETS_KEYS is empty)');
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', current.key, iv);
  cipher.setAAD(associatedData(current.id));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const parts = [VERSION, current.id, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ciphertext.toString('base64url')];
  return { sealed: parts.join('.'), keyId: current.id };
}

/** Opens a sealed text with the key it names, whichever place that key has in `keys`; throws if it is unknown, malformed or tampered with. */
export function open(sealed: string, keys: SecretKey[]): string {
  const parts = sealed.split('.');
  if (parts.length !== 5 || parts[0] !== VERSION) throw new Error(`secret-box: not a ${VERSION} sealed text`);
  const [, keyId, ivText, tagText, ciphertextText] = parts;
  const key = keys.find((k) => k.id === keyId);
  if (!key) throw new Error(`secret-box: sealed with key '${keyId}', which SECRETS_KEYS does not hold (keys: ${keys.map((k) => k.id).join(', ') || 'none'})`);
  const iv = Buffer.from(ivText, 'base64url');
  const tag = Buffer.from(tagText, 'base64url');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new Error('secret-box: malformed sealed text');
  const decipher = createDecipheriv('aes-256-gcm', key.key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(associatedData(keyId));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(Buffer.from(ciphertextText, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    throw new Error(`secret-box: the sealed text does not authenticate under key '${keyId}' (altered, or sealed with another key of that id)`);
  }
}
