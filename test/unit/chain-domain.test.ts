import {
  checksumAddress,
  confirmationWorkflowId,
  depositWorkflowId,
  fromBaseUnits,
  parseAddress,
  parseTokenAmount,
  parseTxHash,
  scannerWorkflowId,
  toBaseUnits,
} from '../../domain/chain';
import { DomainError } from '../../domain/errors';

const USDT = { symbol: 'USDT', decimals: 6 };
const DAI = { symbol: 'DAI', decimals: 18 };
const CHECKSUMMED = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

function refusal(fn: () => unknown): { code: string; message: string } | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof DomainError ? { code: err.code, message: err.message } : { code: 'not-a-domain-error', message: String(err) };
  }
  return undefined;
}

describe('addresses', () => {
  test('a checksummed, an all-lower and an all-upper address are accepted and kept in lower case', () => {
    expect(parseAddress(CHECKSUMMED)).toBe(CHECKSUMMED.toLowerCase());
    expect(parseAddress(CHECKSUMMED.toLowerCase())).toBe(CHECKSUMMED.toLowerCase());
    expect(parseAddress(`0x${CHECKSUMMED.slice(2).toUpperCase()}`)).toBe(CHECKSUMMED.toLowerCase());
    expect(parseAddress(`  ${CHECKSUMMED} `)).toBe(CHECKSUMMED.toLowerCase());
  });

  test('mixed case with one letter of the wrong case fails its checksum (a typo), with the field named', () => {
    const typo = CHECKSUMMED.replace('C51812', 'c51812');
    expect(refusal(() => parseAddress(typo, 'toAddress'))).toEqual({ code: 'invalid_request', message: expect.stringMatching(/^toAddress has a bad checksum/) });
  });

  test.each([
    ['too short', CHECKSUMMED.slice(0, 41)],
    ['too long', `${CHECKSUMMED}0`],
    ['without 0x', CHECKSUMMED.slice(2)],
    ['not hex', `0x${'g'.repeat(40)}`],
    ['empty', ''],
    ['a number', 123],
    ['null', null],
  ])('%s is refused as not an address', (_what, input) => {
    expect(refusal(() => parseAddress(input))).toEqual({ code: 'invalid_request', message: expect.stringMatching(/^address must be/) });
  });

  test('the zero address is never a party', () => {
    expect(refusal(() => parseAddress(`0x${'0'.repeat(40)}`))?.message).toMatch(/zero address/);
  });

  test('shown to people with the EIP-55 checksum', () => {
    expect(checksumAddress(CHECKSUMMED.toLowerCase())).toBe(CHECKSUMMED);
  });

  test('transaction hashes are kept in lower case; anything else is refused', () => {
    expect(parseTxHash(`0x${'AB'.repeat(32)}`)).toBe(`0x${'ab'.repeat(32)}`);
    expect(refusal(() => parseTxHash(`0x${'a'.repeat(63)}`))?.code).toBe('invalid_request');
  });
});

describe('token amounts', () => {
  test('decimal text becomes base units as a decimal string, and back', () => {
    expect(toBaseUnits('1.5', USDT)).toBe('1500000');
    expect(toBaseUnits('0.000001', USDT)).toBe('1');
    expect(toBaseUnits('10', DAI)).toBe('10000000000000000000');
    expect(toBaseUnits('0', USDT)).toBe('0');
    expect(toBaseUnits('007.10', USDT)).toBe('7100000');
    expect(fromBaseUnits('1500000', 6)).toBe('1.5');
    expect(fromBaseUnits('1', 18)).toBe('0.000000000000000001');
    expect(fromBaseUnits('0', 6)).toBe('0');
    expect(fromBaseUnits('12000000', 6)).toBe('12');
    expect(fromBaseUnits('5', 0)).toBe('5');
  });

  test('base units beyond a double stay exact', () => {
    const big = '123456789012345678901234567890';
    expect(toBaseUnits(fromBaseUnits(big, 18), DAI)).toBe(big);
  });

  test('a caller amount has at most the token\'s places: 7 places of USDT are refused, trailing zeros are not places', () => {
    expect(parseTokenAmount('12.345678', USDT)).toBe('12.345678');
    expect(parseTokenAmount('12.3456780000', USDT)).toBe('12.345678');
    expect(refusal(() => parseTokenAmount('12.3456789', USDT))).toEqual({ code: 'too_many_decimals', message: 'amount has more than the 6 decimal places USDT has' });
    expect(parseTokenAmount('0.000000000000000001', DAI)).toBe('0.000000000000000001');
  });

  test.each([
    ['zero', '0'],
    ['zero with places', '0.000000'],
    ['negative', '-1'],
    ['exponent notation', '1e6'],
    ['a sign', '+1'],
    ['no digits before the point', '.5'],
    ['words', 'ten'],
    ['an object', { amount: 1 }],
    ['more than 20 integer digits', '100000000000000000000'],
  ])('%s is refused as invalid_amount', (_what, input) => {
    expect(refusal(() => parseTokenAmount(input, USDT))?.code).toBe('invalid_amount');
  });

  test('an exact JSON number is taken as its decimal text', () => {
    expect(parseTokenAmount(10.25, USDT)).toBe('10.25');
  });
});

describe('workflow ids', () => {
  const hash = `0x${'Ab'.repeat(32)}`;
  test('name the chain and the transfer, with the hash in lower case, so the same log always maps to the same workflow', () => {
    expect(depositWorkflowId(31337, hash, 3)).toBe(`deposit-31337-0x${'ab'.repeat(32)}-3`);
    expect(confirmationWorkflowId(56, hash)).toBe(`confirm-56-0x${'ab'.repeat(32)}`);
    expect(scannerWorkflowId(1, 'USDT')).toBe('scanner-1-USDT');
  });
});
