// The ops page: the stats endpoints and the latest payments every 5 s, with links to each run in the Temporal UI. The API
// key is kept for this tab only (sessionStorage) and sent as a bearer token.
'use strict';

(function () {
  const api = window.durapayApi;
  const REFRESH_MS = 5000;
  const KEY_STORAGE = 'durapay.opsKey';
  const $ = (id) => document.getElementById(id);

  let timer = null;

  const cell = (text, className) => {
    const td = document.createElement('td');
    td.textContent = text === null || text === undefined ? '—' : String(text);
    if (className) td.className = className;
    return td;
  };
  const linkCell = (text, href) => {
    const td = document.createElement('td');
    const a = document.createElement('a');
    a.textContent = text;
    a.href = href;
    if (/^https?:/.test(href)) a.rel = 'noopener';
    td.append(a);
    return td;
  };
  const row = (cells) => {
    const tr = document.createElement('tr');
    tr.append(...cells);
    return tr;
  };
  const figure = (label, value, id) => {
    const box = document.createElement('div');
    box.className = 'figure';
    if (id) box.id = id;
    const name = document.createElement('div');
    name.className = 'label';
    name.textContent = label;
    const shown = document.createElement('div');
    shown.className = 'value';
    shown.textContent = value === null || value === undefined ? '—' : String(value);
    box.append(name, shown);
    return box;
  };
  const runUrl = (temporal, workflowId) => `${temporal.uiUrl}/namespaces/${encodeURIComponent(temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  const time = (iso) => (iso ? new Date(iso).toLocaleString() : '—');

  function showError(message) {
    $('ops-error').textContent = message;
    $('ops-error').hidden = !message;
  }

  async function refresh() {
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (!key) return;
    const headers = { authorization: `Bearer ${key}` };
    let answers;
    try {
      answers = await Promise.all(
        [
          '/api/v1/stats/payments',
          '/api/v1/stats/monitoring',
          '/api/v1/stats/system',
          '/api/v1/stats/websocket',
          '/api/v1/stats/websocket/messages?limit=15',
          '/api/v1/stats/alerts',
          '/api/v1/payments?limit=20',
        ].map((path) => api.get(path, { headers })),
      );
    } catch (err) {
      showError(err.status === 401 || err.status === 403 ? `The key was refused: ${err.message}` : `The stats could not be read: ${err.message}`);
      if (err.status === 401 || err.status === 403) {
        sessionStorage.removeItem(KEY_STORAGE);
        $('dashboard').hidden = true;
        return;
      }
      schedule();
      return;
    }
    showError('');
    const [payments, monitoring, system, websocket, messages, alerts, recent] = answers;
    renderPayments(payments);
    renderMonitoring(monitoring);
    renderSystem(system);
    renderWebSocket(websocket);
    renderMessages(messages.messages);
    renderAlerts(alerts);
    renderRecent(recent.data, monitoring.temporal);
    $('updated-at').textContent = new Date().toLocaleTimeString();
    $('dashboard').hidden = false;
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, REFRESH_MS);
  }

  function renderPayments(p) {
    $('payment-figures').replaceChildren(
      figure('Payments', p.total_payments, 'figure-total'),
      figure('Successful', p.successful_payments, 'figure-successful'),
      figure('Failed', p.failed_payments),
      figure('Open', p.open_payments),
      figure('Success rate', `${p.success_rate}%`),
      figure('Mean time to paid', p.average_processing_time === null ? null : `${p.average_processing_time} s`),
      figure('Last 24 h', p.payments_by_period['24h']),
      ...Object.entries(p.payments_by_status).map(([status, count]) => figure(status.replace('_', ' '), count, `figure-status-${status}`)),
    );
    $('token-rows').replaceChildren(
      ...Object.entries(p.amounts_by_token).map(([symbol, amounts]) =>
        row([cell(symbol), cell(p.payments_by_token[symbol], 'num'), cell(amounts.requested, 'num'), cell(amounts.received, 'num')]),
      ),
    );
  }

  function renderMonitoring(m) {
    $('temporal-ui').href = m.temporal.uiUrl;
    $('temporal-ui').hidden = false;
    $('network-rows').replaceChildren(
      ...m.networks.map((n) =>
        row([
          cell(`${n.network} (${n.chainId})`),
          cell(n.head, n.connected ? 'num' : 'num bad'),
          cell(n.error || time(n.headBlockTime), n.error ? 'bad' : undefined),
          cell(n.rpcLatencyMs, 'num'),
          cell(n.endpoints.map((e) => `${e.url} ${e.healthy ? 'up' : `down${e.lastError ? ` (${e.lastError})` : ''}`}`).join(', ')),
        ]),
      ),
    );
    $('scanner-rows').replaceChildren(
      ...m.networks.flatMap((n) =>
        n.scanners.map((s) =>
          row([cell(`${n.network} ${s.token}`), cell(s.cursor, 'num'), cell(s.lag, s.lag !== null && s.lag > 10 ? 'num bad' : 'num'), linkCell(s.workflowId, runUrl(m.temporal, s.workflowId))]),
        ),
      ),
    );
  }

  function renderSystem(s) {
    const health = (value) => (value === 'healthy' || value === 'connected' ? `✓ ${value}` : `✗ ${value}`);
    $('system-figures').replaceChildren(
      figure('Uptime', `${Math.round(s.uptime)} s`),
      figure('CPU (this process)', `${s.cpu_usage}%`),
      figure('Memory in use', `${s.memory_usage}%`),
      figure('Disk in use', s.disk_usage === null ? null : `${s.disk_usage}%`),
      figure('API mean response', s.api_response_time === null ? null : `${s.api_response_time} ms`),
      figure('API 5xx rate', `${s.error_rate}%`),
      figure('Database', health(s.database_health), 'figure-database'),
      figure('Temporal', health(s.temporal_health)),
      figure('Chains', health(s.blockchain_connection)),
      figure('Workers', s.workers.present ? `${s.workers.pollers.length} polling ${s.workers.taskQueue}` : `✗ none on ${s.workers.taskQueue}`, 'figure-workers'),
    );
  }

  function renderWebSocket(w) {
    const f = w.frontend;
    $('websocket-figures').replaceChildren(
      figure('Open connections', f.activeConnections, 'figure-ws-active'),
      figure('Connections', f.totalConnections),
      figure('Payments followed', f.subscribedPayments),
      figure('Updates sent', f.messagesSent.payment_status_update),
      figure('Errors', f.connectionErrors),
      figure('Chain RPC', w.blockchain.isConnected ? '✓ connected' : '✗ disconnected'),
    );
  }

  /** What a message says, in a few words: a transfer's amount and addresses, a payment's status, an error's code. */
  function summary(m) {
    const d = m.data;
    if (m.type === 'transfer_event') return `${d.amount} ${d.token} ${d.from.slice(0, 10)}… → ${d.to.slice(0, 10)}… (block ${d.blockNumber})`;
    if (d && d.status) return d.status;
    if (d && d.code) return d.code;
    return '';
  }

  function renderMessages(messages) {
    $('message-rows').replaceChildren(
      ...messages.map((m) =>
        row([
          cell(time(m.timestamp)),
          cell(m.source),
          cell(m.direction),
          cell(m.type),
          m.paymentId ? linkCell(m.paymentId, `/checkout?id=${encodeURIComponent(m.paymentId)}`) : cell(m.data && m.data.routedTo ? m.data.routedTo.kind : ''),
          cell(summary(m)),
        ]),
      ),
    );
  }

  function renderAlerts(report) {
    $('alerts-status').textContent = report.status;
    $('alerts-status').className = report.status === 'ok' ? '' : 'bad';
    $('alert-list').replaceChildren(
      ...report.alerts.map((alert) => {
        const item = document.createElement('li');
        item.className = alert.level === 'critical' ? 'bad' : '';
        item.textContent = `${alert.level}: ${alert.message}`;
        return item;
      }),
    );
  }

  function renderRecent(payments, temporal) {
    $('payment-rows').replaceChildren(
      ...payments.map((p) =>
        row([
          linkCell(p.id, `/checkout?id=${encodeURIComponent(p.id)}`),
          cell(p.status),
          cell(`${p.amount} ${p.token}`, 'num'),
          cell(p.receivedAmount, 'num'),
          cell(time(p.createdAt)),
          linkCell('run', runUrl(temporal, p.workflowId)),
        ]),
      ),
    );
  }

  $('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const key = $('api-key').value.trim();
    if (!key) return showError('Enter an API key.');
    sessionStorage.setItem(KEY_STORAGE, key);
    $('api-key').value = '';
    refresh();
  });

  refresh();
})();
