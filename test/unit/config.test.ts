// Configuration from the environment: the worker's task polls against its task slots, refused before anything starts.
import { loadConfig } from '../../config';

const base = { DATABASE_URL: 'mysql://u:p@127.0.0.1:3306/db' };

it('keeps 40 task polls of each kind by default, or autoscaling when asked', () => {
  expect(loadConfig(base).worker).toMatchObject({ workflowTaskPollers: 40, activityTaskPollers: 40 });
  expect(loadConfig({ ...base, WORKER_WORKFLOW_TASK_POLLERS: 'autoscaling', WORKER_ACTIVITY_TASK_POLLERS: '5' }).worker).toMatchObject({
    workflowTaskPollers: 'autoscaling',
    activityTaskPollers: 5,
  });
});

it('refuses more task polls than task slots, or a number that is not one', () => {
  expect(() => loadConfig({ ...base, WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '20' })).toThrow(
    'invalid configuration: WORKER_WORKFLOW_TASK_POLLERS: 40 polls need as many task slots, 20 configured',
  );
  expect(() => loadConfig({ ...base, WORKER_MAX_CONCURRENT_ACTIVITIES: '8', WORKER_ACTIVITY_TASK_POLLERS: '9' })).toThrow(/WORKER_ACTIVITY_TASK_POLLERS: 9 polls/);
  expect(() => loadConfig({ ...base, WORKER_WORKFLOW_TASK_POLLERS: 'lots' })).toThrow(/WORKER_WORKFLOW_TASK_POLLERS/);
  expect(() => loadConfig({ ...base, WORKER_WORKFLOW_TASK_POLLERS: '1' })).toThrow(/WORKER_WORKFLOW_TASK_POLLERS/);
});
