// Configuration from the environment: the worker's task polls against its task slots, the CORS origins, refused before anything starts.
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

it('sends no CORS headers by default, and takes a list of exact origins or `*`', () => {
  expect(loadConfig(base).api.corsOrigins).toEqual([]);
  expect(loadConfig({ ...base, CORS_ORIGINS: ' https://shop.example, http://localhost:5173 ,' }).api.corsOrigins).toEqual([
    'https://shop.example',
    'http://localhost:5173',
  ]);
  expect(loadConfig({ ...base, CORS_ORIGINS: '*' }).api.corsOrigins).toEqual(['*']);
});

it('refuses a CORS origin a browser would never send, saying how to write it', () => {
  expect(() => loadConfig({ ...base, CORS_ORIGINS: 'https://shop.example/' })).toThrow(
    'CORS_ORIGINS: "https://shop.example/" is not an origin (http(s)://host[:port], no path); write it as https://shop.example',
  );
  expect(() => loadConfig({ ...base, CORS_ORIGINS: 'https://shop.example/checkout' })).toThrow(/write it as https:\/\/shop\.example$/);
  expect(() => loadConfig({ ...base, CORS_ORIGINS: 'https://Shop.example' })).toThrow(/write it as https:\/\/shop\.example$/);
  expect(() => loadConfig({ ...base, CORS_ORIGINS: 'https://shop.example:443' })).toThrow(/write it as https:\/\/shop\.example$/);
  expect(() => loadConfig({ ...base, CORS_ORIGINS: 'shop.example' })).toThrow('CORS_ORIGINS: "shop.example" is not an origin');
  expect(() => loadConfig({ ...base, CORS_ORIGINS: 'ftp://shop.example' })).toThrow('CORS_ORIGINS: "ftp://shop.example" is not an origin');
  expect(() => loadConfig({ ...base, CORS_ORIGINS: '*,https://shop.example' })).toThrow('CORS_ORIGINS: `*` allows every origin and stands alone');
});
