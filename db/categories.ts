// Donation categories (seed 000's 分类): what donors give to, in the order the pages show them.
import type { Knex } from 'knex';
import type { Db } from './knex';

export interface Category {
  id: string;
  name: string;
  description: string;
  active: boolean;
  sortOrder: number;
  updatedAt: string;
}

export interface CategoryInput {
  name: string;
  description?: string;
  active?: boolean;
  sortOrder?: number;
}

interface CategoryRow {
  id: string;
  name: string;
  description: string;
  active: 0 | 1;
  sort_order: number;
  updated_at: string;
}

const toCategory = (row: CategoryRow): Category => ({
  id: row.id,
  name: row.name,
  description: row.description,
  active: Boolean(row.active),
  sortOrder: row.sort_order,
  updatedAt: `${row.updated_at.replace(' ', 'T')}Z`,
});

/** Active categories (or all of them) by sort order, then id. */
export async function listCategories(db: Db, options: { includeInactive?: boolean } = {}): Promise<Category[]> {
  const query = db<CategoryRow>('donation_categories').orderBy([{ column: 'sort_order' }, { column: 'id' }]);
  if (!options.includeInactive) query.where({ active: 1 });
  return (await query).map(toCategory);
}

/** A category, active or not. */
export async function getCategory(db: Db, id: string): Promise<Category | undefined> {
  const row = await db<CategoryRow>('donation_categories').where({ id }).first();
  return row && toCategory(row);
}

/** Creates the category, or changes the fields given and keeps the others. */
export async function upsertCategory(db: Db, id: string, input: CategoryInput): Promise<{ category: Category; created: boolean }> {
  const fields = {
    name: input.name,
    ...(input.description !== undefined && { description: input.description }),
    ...(input.active !== undefined && { active: input.active }),
    ...(input.sortOrder !== undefined && { sort_order: input.sortOrder }),
  };
  const upsert = db('donation_categories')
    .insert({ id, ...fields })
    .onConflict('id')
    .merge({ ...fields, updated_at: db.fn.now(3) })
    .toSQL()
    .toNative();
  const [result] = await db.raw(upsert.sql, upsert.bindings as readonly unknown[] as Knex.RawBinding[]);
  const category = await getCategory(db, id);
  // MySQL counts an inserted row as 1 and an updated one as 2.
  return { category: category!, created: result.affectedRows === 1 };
}
