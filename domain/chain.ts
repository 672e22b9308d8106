// EVM chains, pure: addresses (checked, stored lower case), transaction hashes, token amounts (decimal text ↔ base units as
// decimal strings: a bigint never crosses a workflow boundary) and the workflow ids of chain events. No I/O here.
import { getAddress } from 'ethers';
import { DomainError } from './errors';

const HEX_ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const TX_HASH = /^0x[0-9a-fA-F]{64}$/;
const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000';
/** Most decimals a token may have (18 is the usual most; a few tokens have more). */
const MAX_TOKEN_DECIMALS = 36;
/** DECIMAL(38,18) holds 20 integer digits: the most any token amount may have, as for money. */
const MAX_INTEGER_DIGITS = 20;

/**
 * A caller's address, in lower case (how addresses are stored and compared). Mixed case must carry a valid EIP-55
 * checksum, all-lower or all-upper hex has none to check; the zero address is never a valid party.
 */
export function parseAddress(input: unknown, field = 'address'): string {
  const refuse = (why: string) => new DomainError('invalid_request', `${field} ${why}`, { field });
  if (typeof input !== 'string') throw refuse('must be a 0x-prefixed hex address');
  const text = input.trim();
  if (!HEX_ADDRESS.test(text)) throw refuse('must be 0x followed by 40 hex digits');
  try {
    getAddress(text);
  } catch {
    throw refuse('has a bad checksum (mixed case must be EIP-55): check for a typo');
  }
  const address = text.toLowerCase();
  if (address === ZERO_ADDRESS) throw refuse('is the zero address');
  return address;
}

/** An address as shown to people: EIP-55 mixed case. */
export function checksumAddress(address: string): string {
  return getAddress(address.toLowerCase());
}

/** A transaction hash in lower case. */
export function parseTxHash(input: unknown, field = 'txHash'): string {
  if (typeof input !== 'string' || !TX_HASH.test(input.trim())) {
    throw new DomainError('invalid_request', `${field} must be 0x followed by 64 hex digits`, { field });
  }
  return input.trim().toLowerCase();
}

export interface TokenScale {
  symbol: string;
  decimals: number;
}

const AMOUNT_TEXT = /^(\d+)(?:\.(\d+))?$/;

/**
 * A caller's amount of a token (a decimal string, or a JSON number the API found exact): greater than zero, with no
 * more places than the token has, returned as canonical text ("1.5", not "01.50").
 */
export function parseTokenAmount(input: unknown, token: TokenScale, field = 'amount'): string {
  let text: string;
  if (typeof input === 'string') text = input.trim();
  else if (typeof input === 'number' && Number.isFinite(input)) text = String(input);
  else throw new DomainError('invalid_amount', `${field} must be a decimal string such as "10.5"`, { field });
  if (text.startsWith('-')) throw new DomainError('invalid_amount', `${field} must be greater than zero`, { field });
  const units = toBaseUnits(text, token, field);
  if (units === '0') throw new DomainError('invalid_amount', `${field} must be greater than zero`, { field });
  return fromBaseUnits(units, token.decimals);
}

/** "1.5" of a 6-decimal token → "1500000". Refuses text that is not a plain non-negative decimal, or has too many places. */
export function toBaseUnits(amount: string, token: TokenScale, field = 'amount'): string {
  checkDecimals(token.decimals);
  const match = AMOUNT_TEXT.exec(amount);
  if (!match) throw new DomainError('invalid_amount', `${field} must be a plain decimal number such as "10.5"`, { field });
  const [, whole, fraction = ''] = match;
  const places = fraction.replace(/0+$/, '');
  if (places.length > token.decimals) {
    throw new DomainError('too_many_decimals', `${field} has more than the ${token.decimals} decimal places ${token.symbol} has`, {
      field,
      scale: token.decimals,
    });
  }
  const integer = whole.replace(/^0+(?=\d)/, '');
  if (integer.length > MAX_INTEGER_DIGITS) throw new DomainError('invalid_amount', `${field} is too large`, { field });
  return (integer + places.padEnd(token.decimals, '0')).replace(/^0+(?=\d)/, '');
}

/** "1500000" base units of a 6-decimal token → "1.5"; "0" → "0". */
export function fromBaseUnits(units: string, decimals: number): string {
  checkDecimals(decimals);
  if (!/^\d+$/.test(units)) throw new Error(`base units must be a non-negative integer in decimal, not ${JSON.stringify(units)}`);
  const digits = units.replace(/^0+(?=\d)/, '').padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : whole;
}

function checkDecimals(decimals: number): void {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > MAX_TOKEN_DECIMALS) throw new Error(`a token cannot have ${decimals} decimals`);
}

// Workflow ids (DESIGN.md's catalogue): the business key of each, so a transfer seen twice starts one workflow.

/** DepositWorkflow: one per Transfer log, `deposit-{chainId}-{txHash}-{logIndex}`. */
export function depositWorkflowId(chainId: number, txHash: string, logIndex: number): string {
  return `deposit-${chainId}-${parseTxHash(txHash)}-${logIndex}`;
}

/** ChainConfirmationWorkflow: one per transaction, `confirm-{chainId}-{txHash}`. */
export function confirmationWorkflowId(chainId: number, txHash: string): string {
  return `confirm-${chainId}-${parseTxHash(txHash)}`;
}

/** ChainScannerWorkflow: one per network and token, `scanner-{chainId}-{symbol}`. */
export function scannerWorkflowId(chainId: number, tokenSymbol: string): string {
  return `scanner-${chainId}-${tokenSymbol}`;
}
