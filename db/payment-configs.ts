// Payment configs: per method, enabled, CNY limits and the merchant credentials, sealed at rest (secret-box.ts).
import type { SecretKey } from '../config';
import { PAYMENT_METHODS, type PaymentMethod } from '../activities/providers/donation-gateway';
import { DomainError } from '../domain/errors';
import { formatAmount, parseAmount } from '../domain/money';
import { CREDENTIALS_SCHEMA, type CredentialsOf, type PaymentConfig } from '../domain/payment-config';
import { retryOnLockConflict, type Db } from './knex';
import { open, seal } from './secret-box';

const CURRENCY = 'CNY';

/** The limits a method gets when it is first configured without any. */
const DEFAULT_LIMITS = { minAmount: '0.01', maxAmount: '50000.00' } as const;

export interface PaymentConfigPatch<M extends PaymentMethod = PaymentMethod> {
  enabled?: boolean;
  minAmount?: string;
  maxAmount?: string;
  credentials?: CredentialsOf[M];
}

/** What donors may choose: an enabled method with credentials, and its limits. */
export interface AvailableMethod {
  method: PaymentMethod;
  minAmount: string;
  maxAmount: string;
}

interface PaymentConfigRow {
  method: string;
  enabled: 0 | 1;
  min_amount: string;
  max_amount: string;
  credentials_sealed: string | null;
  credentials_key_id: string | null;
  updated_at: string;
}

const isMethod = (value: string): value is PaymentMethod => (PAYMENT_METHODS as readonly string[]).includes(value);

function openCredentials<M extends PaymentMethod>(method: M, sealed: string, keys: SecretKey[]): CredentialsOf[M] {
  const parsed = CREDENTIALS_SCHEMA[method].safeParse(JSON.parse(open(sealed, keys)));
  if (!parsed.success) throw new Error(`payment_configs.${method}: the stored credentials do not match the ${method} schema: ${parsed.error.issues[0].message}`);
  return parsed.data as CredentialsOf[M];
}

function toConfig<M extends PaymentMethod>(method: M, row: PaymentConfigRow, keys: SecretKey[]): PaymentConfig<M> {
  return {
    method,
    enabled: Boolean(row.enabled),
    minAmount: formatAmount(row.min_amount, CURRENCY),
    maxAmount: formatAmount(row.max_amount, CURRENCY),
    credentials: row.credentials_sealed === null ? null : openCredentials(method, row.credentials_sealed, keys),
    updatedAt: `${row.updated_at.replace(' ', 'T')}Z`,
  };
}

/** One primary-key read; `updatedAt` changes with every save, so a cache can tell a stale adapter. */
export async function loadPaymentConfig<M extends PaymentMethod>(db: Db, keys: SecretKey[], method: M): Promise<PaymentConfig<M> | undefined> {
  const row = await db<PaymentConfigRow>('payment_configs').where({ method }).first();
  return row && toConfig(method, row, keys);
}

/** Every stored config of a known method, in method order. */
export async function listPaymentConfigs(db: Db, keys: SecretKey[]): Promise<PaymentConfig[]> {
  const rows = await db<PaymentConfigRow>('payment_configs').whereIn('method', [...PAYMENT_METHODS]).orderBy('method');
  return rows.map((row) => toConfig(row.method as PaymentMethod, row, keys));
}

/** The enabled methods that have credentials, without opening them (for the public list). */
export async function listAvailableMethods(db: Db): Promise<AvailableMethod[]> {
  const rows = await db<PaymentConfigRow>('payment_configs')
    .where({ enabled: 1 })
    .whereNotNull('credentials_sealed')
    .whereIn('method', [...PAYMENT_METHODS])
    .orderBy('method');
  return rows.map((row) => ({
    method: row.method as PaymentMethod,
    minAmount: formatAmount(row.min_amount, CURRENCY),
    maxAmount: formatAmount(row.max_amount, CURRENCY),
  }));
}

/**
 * Creates or changes a method's config: the patch over what is stored (or over DEFAULT_LIMITS, disabled), checked as a
 * whole before anything is written: limits are CNY amounts with 0 < min ≤ max, credentials match the method's schema,
 * and an enabled method has credentials. Credentials are sealed with the first key. updated_at strictly increases.
 */
export async function savePaymentConfig<M extends PaymentMethod>(db: Db, keys: SecretKey[], method: M, patch: PaymentConfigPatch<M>): Promise<PaymentConfig<M>> {
  if (!isMethod(method)) throw new DomainError('not_found', `no payment method ${method}`);
  let sealed: { sealed: string; keyId: string } | undefined;
  if (patch.credentials !== undefined) {
    const parsed = CREDENTIALS_SCHEMA[method].safeParse(patch.credentials);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new DomainError('invalid_request', `credentials.${issue.path.join('.')}: ${issue.message}`);
    }
    sealed = seal(JSON.stringify(parsed.data), keys);
  }

  const save = () => db.transaction(async (trx) => {
    const row = await trx<PaymentConfigRow>('payment_configs').where({ method }).forUpdate().first();
    const minAmount = parseAmount(patch.minAmount ?? row?.min_amount ?? DEFAULT_LIMITS.minAmount, CURRENCY, 'minAmount');
    const maxAmount = parseAmount(patch.maxAmount ?? row?.max_amount ?? DEFAULT_LIMITS.maxAmount, CURRENCY, 'maxAmount');
    if (minAmount.gt(maxAmount)) {
      throw new DomainError('invalid_amount', `minAmount ${formatAmount(minAmount, CURRENCY)} is above maxAmount ${formatAmount(maxAmount, CURRENCY)}`);
    }
    const enabled = patch.enabled ?? Boolean(row?.enabled);
    if (enabled && !sealed && !row?.credentials_sealed) {
      throw new DomainError('invalid_request', `${method} cannot be enabled without credentials: send them in the same request or first`);
    }
    const values = {
      enabled,
      min_amount: minAmount.toFixed(),
      max_amount: maxAmount.toFixed(),
      ...(sealed && { credentials_sealed: sealed.sealed, credentials_key_id: sealed.keyId }),
    };
    if (row) {
      // Two saves within one millisecond still give two updatedAt values: caches key on it.
      await trx('payment_configs')
        .where({ method })
        .update({ ...values, updated_at: trx.raw('GREATEST(NOW(3), updated_at + INTERVAL 1000 MICROSECOND)') });
    } else {
      await trx('payment_configs').insert({ method, ...values });
    }
    const saved = await trx<PaymentConfigRow>('payment_configs').where({ method }).first();
    return toConfig(method, saved!, keys);
  });
  // The first save of a method locks the gap its row goes into; two first saves at once (of the same method, or of two
  // in one gap) deadlock on their inserts. The one that lost runs again and finds the row.
  return retryOnLockConflict(save, { attempts: 3 });
}
