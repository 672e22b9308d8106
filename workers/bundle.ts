// Bundles the workflow code once (webpack), so tests and several workers in one process share the result.
import { bundleWorkflowCode } from '@temporalio/worker';

const WORKFLOWS_PATH = require.resolve('../workflows');

export async function bundleWorkflows(): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  return code;
}

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error, log: noop };
