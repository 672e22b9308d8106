// /api/v1/callbacks/{alipay,wechat}: the gateways' payment notifications. Each is verified (signature, app id; for
// WeChat the decrypted resource), checked against the order (number, method, amount), then signalled to the
// order's workflow. The answer is the one the gateway expects; a refused one is logged and changes nothing.
import { WorkflowNotFoundError } from '@temporalio/client';
import express, { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { CallbackRejected, PAYMENT_METHODS, type DonationGateway, type PaymentMethod } from '../../activities/providers/donation-gateway';
import { getDonation } from '../../db/donations';
import { paymentNoticeSignal } from '../../domain/donation';
import { money } from '../../domain/money';
import type { RouteContext } from '../app';

/** Callbacks are small; the raw text is needed as sent, since the signature covers it. */
const rawBody = express.text({ type: () => true, limit: '64kb' });

function answer(res: Response, gateway: DonationGateway, accepted: boolean): void {
  const { status, contentType, body } = gateway.callbackAnswer(accepted);
  if (contentType) res.type(contentType);
  res.status(status).send(body);
}

export function callbackRoutes(ctx: RouteContext): Router {
  const { registry, gateways, client, db } = ctx;
  const router = Router();

  for (const method of PAYMENT_METHODS) {
    registry.registerPath({
      method: 'post',
      path: `/api/v1/callbacks/${method}`,
      summary: `${method === 'alipay' ? 'Alipay' : 'WeChat Pay'}'s payment notification (called by the gateway)`,
      description:
        method === 'alipay'
          ? 'Form-encoded, RSA2-signed by Alipay. Answered `success` once taken; anything else makes Alipay send it again.'
          : 'JSON with an AES-256-GCM encrypted resource, signed by the WeChat Pay platform key (Wechatpay-* headers). Answered 204 once taken.',
      request: { body: { content: { [method === 'alipay' ? 'application/x-www-form-urlencoded' : 'application/json']: { schema: z.string() } } } },
      responses: { 200: { description: 'Taken (Alipay: `success`).' }, 204: { description: 'Taken (WeChat).' }, 400: { description: 'Refused: not genuine or not matching the order.' } },
    });
  }

  const take = (method: PaymentMethod) => async (req: Request, res: Response) => {
    const gateway = await gateways.gateway(method);
    const refuse = (reason: string, details: Record<string, unknown> = {}) => {
      req.log.warn({ method, reason, ...details }, 'payment callback refused');
      answer(res, gateway, false);
    };

    let notice;
    try {
      notice = gateway.verifyCallback({ headers: req.headers as Record<string, string | undefined>, body: typeof req.body === 'string' ? req.body : '' });
    } catch (err) {
      if (err instanceof CallbackRejected) return refuse(err.reason);
      throw err;
    }
    if (notice === null) return answer(res, gateway, true); // genuine, but reports no payment (a refund or close sync)

    const order = await getDonation(db, notice.orderNo);
    if (!order || order.method !== method) return refuse('unknown order', { orderNo: notice.orderNo });
    if (!money(notice.amount).equals(order.amount)) return refuse('amount differs from the order', { orderNo: order.orderNo, amount: notice.amount, expected: order.amount });

    try {
      await client.workflow.getHandle(order.workflowId).signal(paymentNoticeSignal, notice);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      // The run has ended: paid already (this is a repeat), or expired past its late window.
      if (order.status === 'paid' || order.status === 'paid_late') return answer(res, gateway, true);
      req.log.error({ method, orderNo: order.orderNo, status: order.status }, 'payment reported after the late window: settle it by hand');
      return answer(res, gateway, false);
    }
    req.log.info({ method, orderNo: order.orderNo }, 'payment callback taken');
    answer(res, gateway, true);
  };
  for (const method of PAYMENT_METHODS) router.post(`/api/v1/callbacks/${method}`, rawBody, take(method));
  return router;
}
