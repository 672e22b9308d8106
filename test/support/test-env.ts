// Where the test stack started by globalSetup is, for test files: typed accessors over the variables it exported.
function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\` (jest's globalSetup starts the test stack)`);
  return value;
}

export const testEnv = {
  /** mysql:// URL of the `durapay_test` database, dropped and migrated afresh at every run. */
  get databaseUrl(): string {
    return required('DATABASE_URL');
  },
  /** host:port of the in-memory Temporal dev server. */
  get temporalAddress(): string {
    return required('TEMPORAL_ADDRESS');
  },
  get temporalUiUrl(): string {
    return required('TEMPORAL_UI_URL');
  },
  /** The workflows bundled once by globalSetup: pass its code as `workflowBundle: { code }` to Worker.create. */
  get workflowBundlePath(): string {
    return required('WORKFLOW_BUNDLE_PATH');
  },
  /** The temporal CLI binary, for `TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path } } })`. */
  get temporalCli(): string {
    return required('TEMPORAL_CLI');
  },
};
