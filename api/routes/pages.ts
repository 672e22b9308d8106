// The web pages (the donation page, the donor ranking, the checkout and the ops page) and their scripts and styles, all
// from api/public.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import express, { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { ROOT_DIR } from '../../config';
import type { RouteContext } from '../app';

const PUBLIC_DIR = path.join(ROOT_DIR, 'api', 'public');
const ASSETS_DIR = path.join(PUBLIC_DIR, 'static');

// The pages build their DOM from their own scripts: nothing inline, nothing from elsewhere.
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** A hash of every asset: the pages link `/static/x.js?v=<it>`, so a deploy changes the URLs and browsers may cache them for good. */
function assetVersion(): string {
  const hash = createHash('sha256');
  for (const name of fs.readdirSync(ASSETS_DIR).sort()) hash.update(name).update(fs.readFileSync(path.join(ASSETS_DIR, name)));
  return hash.digest('hex').slice(0, 12);
}

function page(file: string, version: string): RequestHandler {
  const html = fs.readFileSync(path.join(PUBLIC_DIR, file), 'utf8').replaceAll('{{assetVersion}}', version);
  return (_req, res) => {
    res.set({
      'Content-Security-Policy': CONTENT_SECURITY_POLICY,
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'same-origin',
    });
    res.type('html').send(html);
  };
}

const Html = { description: 'HTML.', content: { 'text/html': { schema: z.string() } } };

export function pageRoutes(ctx: RouteContext): Router {
  const { registry } = ctx;
  const router = Router();
  const version = assetVersion();

  registry.registerPath({
    method: 'get',
    path: '/',
    summary: 'Redirects to the donation page (no key needed)',
    responses: { 302: { description: 'To /donate.' } },
  });
  router.get('/', (_req, res) => res.redirect(302, '/donate'));

  registry.registerPath({
    method: 'get',
    path: '/donate',
    summary: 'The donation page: category, amount and method → a QR code to scan → its status, polled every 2 s (no key needed)',
    request: { query: z.object({ order: z.string().optional().meta({ description: 'An order number: the page shows that donation (its QR code while pending, else its outcome).' }) }) },
    responses: { 200: Html },
  });
  router.get('/donate', page('donate.html', version));

  registry.registerPath({
    method: 'get',
    path: '/ranking',
    summary: 'The donor ranking page, by category and time range (no key needed)',
    request: {
      query: z.object({
        category: z.string().optional().meta({ description: '`all` (the default) or a category id.' }),
        range: z.enum(['today', 'week', 'month', 'year', 'all']).optional().meta({ description: 'Defaults to `all`.' }),
        page: z.string().optional().meta({ description: 'From 1.' }),
        pageSize: z.string().optional().meta({ description: 'Donors per page, 20 unless given.' }),
      }),
    },
    responses: { 200: Html },
  });
  router.get('/ranking', page('ranking.html', version));

  registry.registerPath({
    method: 'get',
    path: '/checkout',
    summary: 'The checkout page: token, network and amount → QR code, address and countdown → live status over the WebSocket (polling as fallback) → success (no key needed)',
    request: { query: z.object({ id: z.string().optional().meta({ description: 'A payment id: the page shows that payment.' }) }) },
    responses: { 200: Html },
  });
  router.get('/checkout', page('checkout.html', version));

  registry.registerPath({
    method: 'get',
    path: '/ops',
    summary: 'The ops page: the stats endpoints and the latest payments, with links to their runs in the Temporal UI (asks for an API key)',
    responses: { 200: Html },
  });
  router.get('/ops', page('ops.html', version));

  // A versioned URL never changes content; an unversioned one (a stale page, a curl) revalidates.
  router.use(
    '/static',
    (req, res, next) => {
      res.set('Cache-Control', req.query.v === version ? 'public, max-age=31536000, immutable' : 'no-cache');
      next();
    },
    express.static(ASSETS_DIR, { index: false, cacheControl: false, redirect: false }),
  );

  return router;
}
