// GET /api/v1/workflows/:workflowId: what Temporal knows of a run, its `status` query, and a link to its history.
import { WorkflowFailedError, WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { Router } from 'express';
import { z } from 'zod';
import { DomainError } from '../../domain/errors';
import type { RouteContext } from '../app';
import { errorResponses, SECURITY } from '../openapi';

/** A query needs a worker; a run nobody polls must not hold the request for long. */
const QUERY_WAIT_MS = 1000;

const WorkflowParams = z.object({ workflowId: z.string().max(1000).meta({ example: 'transfer-order-20240723-0001' }) });

const Workflow = z
  .object({
    workflowId: z.string(),
    runId: z.string(),
    type: z.string().meta({ example: 'TransferWorkflow' }),
    status: z.string().meta({ description: 'RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT, CONTINUED_AS_NEW…' }),
    startTime: z.string(),
    closeTime: z.string().nullable(),
    result: z.unknown().optional().meta({ description: 'The result of a completed run.' }),
    failure: z.object({ message: z.string(), type: z.string().nullable() }).optional().meta({ description: 'Why a run did not complete.' }),
    query: z.unknown().nullable().meta({ description: "The answer of the workflow's `status` query, or null when it has none or no worker answered." }),
    temporalUiUrl: z.string(),
  })
  .meta({ id: 'Workflow' });

async function outcome(handle: WorkflowHandle, status: string): Promise<{ result?: unknown; failure?: { message: string; type: string | null } }> {
  if (status === 'RUNNING') return {};
  try {
    return { result: await handle.result() };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const cause = err.cause as (Error & { type?: string }) | undefined;
    return { failure: { message: cause?.message ?? err.message, type: cause?.type ?? null } };
  }
}

async function statusQuery(client: Client, handle: WorkflowHandle): Promise<unknown> {
  try {
    return await client.withDeadline(Date.now() + QUERY_WAIT_MS, () => handle.query<unknown>('status'));
  } catch {
    return null;
  }
}

export function workflowRoutes(ctx: RouteContext): Router {
  const { registry, requireScope, client, config } = ctx;
  const router = Router();

  registry.registerPath({
    method: 'get',
    path: '/api/v1/workflows/{workflowId}',
    summary: 'A workflow run as Temporal sees it',
    security: SECURITY,
    request: { params: WorkflowParams },
    responses: {
      200: { description: 'The latest run with this workflow ID.', content: { 'application/json': { schema: Workflow } } },
      ...errorResponses(401, 403, 404, 429, 503),
    },
  });
  router.get('/api/v1/workflows/:workflowId', requireScope('transfers:read'), async (req, res) => {
    const workflowId = String(req.params.workflowId);
    const handle = client.workflow.getHandle(workflowId);
    let description;
    try {
      description = await handle.describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new DomainError('not_found', `no workflow ${workflowId}`);
      throw err;
    }
    const runHandle = client.workflow.getHandle(workflowId, description.runId, { followRuns: false });
    const [{ result, failure }, query] = await Promise.all([outcome(runHandle, description.status.name), statusQuery(client, runHandle)]);
    const namespace = encodeURIComponent(config.temporal.namespace);
    res.json({
      workflowId,
      runId: description.runId,
      type: description.type,
      status: description.status.name,
      startTime: description.startTime.toISOString(),
      closeTime: description.closeTime?.toISOString() ?? null,
      ...(result !== undefined ? { result } : {}),
      ...(failure ? { failure } : {}),
      query: query ?? null,
      temporalUiUrl: `${config.temporal.uiUrl}/namespaces/${namespace}/workflows/${encodeURIComponent(workflowId)}/${description.runId}/history`,
    });
  });

  return router;
}
