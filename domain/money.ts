// Money: the only place that turns raw input into decimals. Amounts are decimal strings everywhere else.
import Decimal from 'decimal.js';
import { DomainError } from './errors';

// DECIMAL(38,18) holds 20 integer digits; 60 significant digits leave room for any sum of them.
const D = Decimal.clone({ precision: 60, rounding: Decimal.ROUND_DOWN, toExpNeg: -40, toExpPos: 60 });
export type Money = InstanceType<typeof D>;

/** Places after the decimal point each currency allows. */
export const CURRENCY_SCALES: Readonly<Record<string, number>> = {
  CNY: 2,
  USD: 2,
  'USDT-ERC20': 6,
  USDT: 18,
  DAI: 18,
  ETH: 18,
};

/** Largest amount that fits DECIMAL(38,18). */
const MAX_AMOUNT = new D('99999999999999999999.999999999999999999');

export function scaleOf(currency: string): number {
  const scale = CURRENCY_SCALES[currency];
  if (scale === undefined) throw new DomainError('unsupported_currency', `currency ${currency} is not supported`);
  return scale;
}

const DECIMAL_TEXT = /^-?\d+(\.\d+)?$/;

/**
 * Parses a caller's amount (a decimal string, or a JSON number that is exact) into a positive
 * decimal with no more places than the currency allows.
 */
export function parseAmount(input: unknown, currency: string, field = 'amount'): Money {
  const scale = scaleOf(currency);
  let text: string;
  if (typeof input === 'string') {
    text = input.trim();
    if (!DECIMAL_TEXT.test(text)) throw new DomainError('invalid_amount', `${field} must be a decimal number such as "100.50"`, { field });
  } else if (typeof input === 'number') {
    if (!Number.isFinite(input)) throw new DomainError('invalid_amount', `${field} must be a finite number`, { field });
    text = String(input);
  } else {
    throw new DomainError('invalid_amount', `${field} must be a decimal string or a number`, { field });
  }
  const amount = new D(text);
  if (amount.lte(0)) throw new DomainError('invalid_amount', `${field} must be greater than zero`, { field });
  if (amount.gt(MAX_AMOUNT)) throw new DomainError('invalid_amount', `${field} is too large`, { field });
  if (amount.decimalPlaces() > scale) {
    throw new DomainError('too_many_decimals', `${field} has more than ${scale} decimal places allowed for ${currency}`, { field, scale });
  }
  return amount;
}

/** Reads a decimal string that came from our own storage or payloads (already validated). */
export function money(value: string | number | Money): Money {
  return new D(value);
}

/** Canonical text of an amount in a currency: exactly `scale` places, never exponent notation. */
export function formatAmount(value: string | Money, currency: string): string {
  return new D(value).toFixed(scaleOf(currency));
}

/** Text of a stored DECIMAL(38,18) value without trailing zeros: "100.5", "0", "12". */
export function normalizeAmount(value: string | Money): string {
  return new D(value).toFixed();
}

export function sumAmounts(values: Iterable<string | Money>): Money {
  let total = new D(0);
  for (const v of values) total = total.plus(v);
  return total;
}

