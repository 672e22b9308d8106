// Registers durapay's custom search attributes with the namespace at start-up; safe to run from every worker.
import type { NativeConnection } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { CUSTOM_SEARCH_ATTRIBUTES } from '../domain/search-attributes';

const TYPES = {
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  KEYWORD_LIST: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
} as const;

export async function ensureSearchAttributes(connection: NativeConnection, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = { ...existing.customAttributes, ...existing.systemAttributes };
  const missing = Object.entries(CUSTOM_SEARCH_ATTRIBUTES).filter(([name]) => !(name in known));
  if (missing.length === 0) return [];
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, TYPES[type]])),
    });
  } catch (err) {
    // Another worker registered them first.
    if (!/already exists/i.test(String((err as Error).message))) throw err;
  }
  return missing.map(([name]) => name);
}
