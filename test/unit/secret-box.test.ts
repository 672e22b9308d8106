import { randomBytes } from 'node:crypto';
import type { SecretKey } from '../../config';
import { open, seal } from '../../db/secret-box';

const key = (id: string): SecretKey => ({ id, key: randomBytes(32) });
const OLD = key('old');
const NEW = key('new');
const SECRET = '{"appSecret":"s3cr3t-密钥","apiV3Key":"0123456789abcdef0123456789abcdef"}';

/** Flips one bit of the base64url part at `index` of a sealed text. */
function flipBit(sealed: string, index: number): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[index], 'base64url');
  bytes[0] ^= 1;
  parts[index] = bytes.toString('base64url');
  return parts.join('.');
}

describe('secret box', () => {
  test('opens what it sealed, and the sealed text names the key but shows nothing of the secret', () => {
    const { sealed, keyId } = seal(SECRET, [NEW]);
    expect(keyId).toBe('new');
    expect(sealed).toMatch(/^v1\.new\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain('s3cr3t');
    expect(open(sealed, [NEW])).toBe(SECRET);
  });

  test('seals the same text differently every time (a fresh IV)', () => {
    const a = seal(SECRET, [NEW]).sealed;
    const b = seal(SECRET, [NEW]).sealed;
    expect(a).not.toBe(b);
    expect(open(a, [NEW])).toBe(open(b, [NEW]));
  });

  test('after a rotation, seals with the first key and still opens what the older key sealed', () => {
    // given a text sealed before the rotation
    const before = seal(SECRET, [OLD]).sealed;
    // when NEW is put in front of OLD
    const keys = [NEW, OLD];
    // then old texts open, new ones are sealed with NEW
    expect(open(before, keys)).toBe(SECRET);
    const after = seal(SECRET, keys);
    expect(after.keyId).toBe('new');
    expect(open(after.sealed, [NEW])).toBe(SECRET);
  });

  test('names the missing key when the key that sealed a text is gone', () => {
    const sealed = seal(SECRET, [OLD]).sealed;
    expect(() => open(sealed, [NEW])).toThrow(/sealed with key 'old', which SECRETS_KEYS does not hold \(keys: new\)/);
  });

  test.each([
    ['the IV', 2],
    ['the tag', 3],
    ['the ciphertext', 4],
  ])('refuses a text whose %s was altered', (_what, index) => {
    const sealed = seal(SECRET, [NEW]).sealed;
    expect(() => open(flipBit(sealed, index), [NEW])).toThrow(/does not authenticate/);
  });

  test('refuses a text relabelled with another key id, even when that key is the same bytes', () => {
    const twin: SecretKey = { id: 'twin', key: NEW.key };
    const relabelled = seal(SECRET, [NEW]).sealed.replace(/^v1\.new\./, 'v1.twin.');
    expect(() => open(relabelled, [NEW, twin])).toThrow(/does not authenticate/);
  });

  test('refuses a text sealed under the same key id with other key bytes', () => {
    const sealed = seal(SECRET, [NEW]).sealed;
    expect(() => open(sealed, [key('new')])).toThrow(/does not authenticate/);
  });

  test('refuses what is not a sealed text', () => {
    expect(() => open('plaintext', [NEW])).toThrow(/not a v1 sealed text/);
    expect(() => open('v2.new.a.b.c', [NEW])).toThrow(/not a v1 sealed text/);
    expect(() => open('v1.new.AAAA.BBBB.CCCC', [NEW])).toThrow(/malformed/);
  });

  test('cannot seal without a key', () => {
    expect(() => seal(SECRET, [])).toThrow(/no key to seal with/);
  });
});
