// The no-op activity of the no-op workflow: the ceiling the transfers benchmark is measured against.
export function noopActivities() {
  return {
    /** Does nothing, so it is trivially idempotent. */
    async noop(): Promise<void> {},
  };
}
