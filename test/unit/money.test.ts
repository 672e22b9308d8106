import { DomainError } from '../../domain/errors';
import { formatAmount, parseAmount } from '../../domain/money';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof DomainError ? err.code : 'not-a-domain-error';
  }
  return undefined;
}

describe('money', () => {
  it('accepts decimal strings and exact numbers within the currency scale', () => {
    expect(parseAmount('100.50', 'CNY').toFixed()).toBe('100.5');
    expect(parseAmount(100.5, 'CNY').toFixed()).toBe('100.5');
    expect(parseAmount('0.000001', 'USDT-ERC20').toFixed()).toBe('0.000001');
    expect(parseAmount('99999999999999999999.99', 'CNY').toFixed()).toBe('99999999999999999999.99');
  });

  it('rejects zero, negative, non-numeric and over-precise amounts with named codes', () => {
    expect(codeOf(() => parseAmount('0', 'CNY'))).toBe('invalid_amount');
    expect(codeOf(() => parseAmount('-1', 'CNY'))).toBe('invalid_amount');
    expect(codeOf(() => parseAmount('abc', 'CNY'))).toBe('invalid_amount');
    expect(codeOf(() => parseAmount('1e3', 'CNY'))).toBe('invalid_amount');
    expect(codeOf(() => parseAmount(null, 'CNY'))).toBe('invalid_amount');
    expect(codeOf(() => parseAmount(Number.NaN, 'CNY'))).toBe('invalid_amount');
    expect(codeOf(() => parseAmount('1.001', 'CNY'))).toBe('too_many_decimals');
    expect(codeOf(() => parseAmount('100000000000000000000', 'CNY'))).toBe('invalid_amount');
    expect(codeOf(() => parseAmount('1', 'XXX'))).toBe('unsupported_currency');
  });

  it('formats with exactly the currency scale and never in exponent notation', () => {
    expect(formatAmount('100.5', 'CNY')).toBe('100.50');
    expect(formatAmount('0.0000001', 'ETH')).toBe('0.000000100000000000');
    expect(formatAmount('12345678901234567890.12', 'CNY')).toBe('12345678901234567890.12');
  });
});
