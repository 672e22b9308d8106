// Replays every recorded history under test/histories/ against today's workflow code: a change that
// breaks determinism for runs already in flight fails here, not in production.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';

const DIR = path.join(__dirname, '..', 'histories');
const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));

/** The workflow type a history ran, read from its first event. */
function workflowTypeOf(json: { events: { workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }[] }) {
  return json.events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
}

describe('recorded histories', () => {
  it('include at least one real TransferWorkflow run', () => {
    const types = files.map((f) => workflowTypeOf(JSON.parse(readFileSync(path.join(DIR, f), 'utf8'))));
    expect(types).toContain('TransferWorkflow');
  });

  it.each(files)('%s replays without nondeterminism', async (file) => {
    const history = historyFromJSON(JSON.parse(readFileSync(path.join(DIR, file), 'utf8')));
    const bundlePath = process.env.WORKFLOW_BUNDLE_PATH;
    if (!bundlePath) throw new Error('WORKFLOW_BUNDLE_PATH is not set: run the tests through `npm test`');
    await Worker.runReplayHistory({ workflowBundle: { code: readFileSync(bundlePath, 'utf8') } }, history, file);
  });
});
