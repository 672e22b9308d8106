// A stand-in for M2Pool's business system on the local stack: it receives the engine's signed topup / withdraw / pay
// notifications, checks their signature, and lists what it got, so `npm start` has somewhere to deliver them.
import express, { Router } from 'express';
import { verifyWebhookSignature } from '../domain/m2pool';

interface Received {
  at: string;
  channel: string;
  notificationId: string | null;
  signatureValid: boolean;
  body: unknown;
}

/** Keeps the newest deliveries only: a long-running local stack must not grow without bound. */
const KEEP = 1000;

export function createBusinessSystem(webhookSecret: string): Router {
  const received: Received[] = [];
  const router = Router();
  router.post('/m2pool/:channel', express.text({ type: () => true, limit: '64kb' }), (req, res) => {
    const body = typeof req.body === 'string' ? req.body : '';
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(body);
    } catch {
      // kept as null: the list shows it arrived unreadable
    }
    received.push({
      at: new Date().toISOString(),
      channel: String(req.params.channel),
      notificationId: req.get('durapay-notification-id') ?? null,
      signatureValid: verifyWebhookSignature(req.get('durapay-signature'), body, webhookSecret, Date.now()),
      body: parsed,
    });
    if (received.length > KEEP) received.splice(0, received.length - KEEP);
    res.status(204).end();
  });
  router.get('/m2pool', (_req, res) => {
    res.json({ data: [...received].reverse() });
  });
  return router;
}
