// The zod building blocks shared by routes (validation and OpenAPI come from the same schemas) and parseWith.
import { z } from 'zod';
import { DomainError, ErrorCodes, isErrorCode } from '../domain/errors';
import { CURRENCY_SCALES } from '../domain/money';
import { isIdempotencyKey } from '../domain/transfer';
import { InexactNumber } from './json-body';

/** Turns an inexact JSON number into an issue carrying a domain code, before the inner schema sees it. */
function rejectInexact(code: 'amount_not_exact' | 'invalid_request', what: string) {
  return (value: unknown, ctx: z.RefinementCtx) => {
    if (value instanceof InexactNumber) {
      ctx.addIssue({
        code: 'custom',
        message: `${value.literal} cannot be represented exactly as a JSON number; send ${what} as a string`,
        params: { code },
      });
      return z.NEVER;
    }
    return value;
  };
}

export const Uid = z
  .preprocess(rejectInexact('invalid_request', 'it'), z.number().int().positive().max(Number.MAX_SAFE_INTEGER))
  .meta({ description: 'User id: a positive integer.', example: 1001 });

/** One-Pass callers may send uids as numeric strings too. */
export const LooseUid = z
  .preprocess(
    (value, ctx) => {
      if (typeof value === 'string' && /^\d{1,16}$/.test(value.trim())) return Number(value.trim());
      return rejectInexact('invalid_request', 'it')(value, ctx);
    },
    z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  )
  .meta({ description: 'User id: a positive integer (a numeric string is accepted too).', example: 1001 });

/** The value is checked by domain/money.ts parseAmount once the currency is known; here only its JSON type. */
export const Amount = z
  .preprocess(
    (value, ctx) => {
      if (value !== undefined && value !== null && typeof value !== 'string' && typeof value !== 'number' && !(value instanceof InexactNumber)) {
        ctx.addIssue({ code: 'custom', message: 'must be a decimal string such as "100.50" or a number', params: { code: 'invalid_amount' } });
        return z.NEVER;
      }
      return rejectInexact('amount_not_exact', 'the amount')(value, ctx);
    },
    z.union([z.string(), z.number()], {
      error: (issue) => (issue.input === undefined ? 'is required' : 'must be a decimal string such as "100.50" or a number'),
    }),
  )
  .meta({
    description: 'A positive decimal amount with at most the currency\'s places (CNY: 2). A string is preferred; a JSON number is accepted only when a double holds it exactly.',
    example: '100.50',
  });

export const Currency = z
  .string()
  .refine((c) => c in CURRENCY_SCALES, { params: { code: 'unsupported_currency' }, message: 'currency is not supported' })
  .meta({ description: 'Currency code.', example: 'CNY', enum: Object.keys(CURRENCY_SCALES) });

export const IdempotencyKey = z
  .string()
  .refine(isIdempotencyKey, { message: 'must be 1-100 characters of A-Z a-z 0-9 . _ : -' })
  .meta({ description: 'The business idempotency key: the same key with the same body gives the same answer.', example: 'order-20240723-0001' });

export const Timestamp = z.string().meta({ description: 'ISO 8601 time, UTC.', example: '2024-07-23T10:00:00.000Z' });

export const ApiError = z
  .object({
    error: z.object({
      code: z.enum(ErrorCodes),
      message: z.string(),
      requestId: z.string(),
    }),
  })
  .meta({ id: 'Error' });

/** Validates input with a schema; the first problem becomes a DomainError (its code from the issue, else invalid_request). */
export function parseWith<T extends z.ZodType>(schema: T, input: unknown, what = 'request'): z.output<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const code = (issue as { params?: { code?: unknown } }).params?.code;
  const where = issue.path.length ? issue.path.join('.') : what;
  const message = input === undefined && issue.path.length === 0 ? `${what} is required` : `${where}: ${issue.message}`;
  throw new DomainError(isErrorCode(code) ? code : 'invalid_request', message);
}
