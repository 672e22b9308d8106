// Jest globalTeardown: stops the test stack's processes (the sandbox, Temporal, MariaDB) and releases its lock.
import type {} from './global-setup'; // the type of globalThis.__durapayTestStack

export default async function globalTeardown(): Promise<void> {
  const stack = globalThis.__durapayTestStack;
  if (!stack) return;
  globalThis.__durapayTestStack = undefined;
  await stack.services.stopAll();
  stack.lock.release();
}
