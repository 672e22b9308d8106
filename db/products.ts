// Products a checkout session can be made for (seed 003): a name, a description and a price in stablecoin units.
import { normalizeAmount } from '../domain/money';
import type { Db } from './knex';

export interface Product {
  /** e.g. `coffee-beans`. */
  id: string;
  name: string;
  description: string | null;
  /** Stablecoin units ("6.5"): the amount of a session made for it, in whichever token it is paid. */
  price: string;
  active: boolean;
}

interface ProductRow {
  id: string;
  name: string;
  description: string | null;
  price: string;
  active: 0 | 1;
}

const toProduct = (row: ProductRow): Product => ({
  id: row.id,
  name: row.name,
  description: row.description,
  price: normalizeAmount(row.price),
  active: Boolean(row.active),
});

/** Active products (or all of them) by id. */
export async function listProducts(db: Db, options: { includeInactive?: boolean } = {}): Promise<Product[]> {
  const query = db<ProductRow>('products').orderBy('id');
  if (!options.includeInactive) query.where({ active: 1 });
  return (await query).map(toProduct);
}

/** A product, active or not. */
export async function getProduct(db: Db, id: string): Promise<Product | undefined> {
  const row = await db<ProductRow>('products').where({ id }).first();
  return row && toProduct(row);
}

/** Creates the product or replaces its fields; whether it was created. */
export async function saveProduct(db: Db, product: Product): Promise<boolean> {
  const [result] = await db.raw(
    'INSERT INTO products (id, name, description, price, active) VALUES (?, ?, ?, ?, ?) ' +
      'ON DUPLICATE KEY UPDATE name = VALUES(name), description = VALUES(description), price = VALUES(price), active = VALUES(active), updated_at = NOW(3)',
    [product.id, product.name, product.description, product.price, product.active],
  );
  // MySQL counts 1 for an insert, 2 for a changed row and 0 for an unchanged one.
  return (result as { affectedRows: number }).affectedRows === 1;
}
