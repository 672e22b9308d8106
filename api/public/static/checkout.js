// The checkout page: token, network and amount → the session's QR code, address and countdown → its status, live over the
// WebSocket (polling every 2 s whenever the socket is down, reconnecting meanwhile) → success. Reloading keeps it (?id=).
'use strict';

(function () {
  const api = window.durapayApi;
  const POLL_INTERVAL_MS = 2000;
  const PING_INTERVAL_MS = 20000;
  const RECONNECT_MAX_MS = 30000;
  const SUCCESS = ['paid', 'overpaid', 'paid_late'];
  const $ = (id) => document.getElementById(id);

  let tokens = [];
  let networks = [];
  let products = [];
  // Kept while the form is unchanged: sending the same payment again after a lost answer creates nothing new.
  let idempotencyKey = null;
  // What the current payment's views run (countdown, watching), stopped when another payment or the form is shown.
  const leavePayment = [];
  let shown = null;

  function show(viewId) {
    for (const view of document.querySelectorAll('[data-view]')) view.hidden = view.id !== viewId;
  }

  function leave() {
    for (const stop of leavePayment.splice(0)) stop();
    shown = null;
  }

  function newIdempotencyKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return `page-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
  }

  const networkName = (id) => (networks.find((n) => n.id === id) || { name: id }).name;
  const selectedToken = () => tokens.find((t) => `${t.network}:${t.symbol}` === $('token').value);

  async function start() {
    show('view-loading');
    try {
      const [tokenList, networkList, productList] = await Promise.all([api.get('/api/v1/tokens'), api.get('/api/v1/networks'), api.get('/api/v1/products')]);
      tokens = tokenList.data;
      networks = networkList.data;
      products = productList.data;
    } catch (err) {
      return showUnavailable(`Payments cannot be loaded right now (${err.message})`);
    }
    if (tokens.length === 0) return showUnavailable('No token is accepted at the moment.');
    fillForm();
    const id = new URLSearchParams(location.search).get('id');
    if (id) await resume(id);
    else showForm();
  }

  function showUnavailable(message) {
    $('unavailable-message').textContent = message;
    show('view-unavailable');
  }

  function fillForm() {
    $('catalog').replaceChildren(
      $('catalog').options[0],
      ...products.map((product) => {
        const option = document.createElement('option');
        option.value = product.id;
        option.textContent = `${product.name} — ${product.price}`;
        return option;
      }),
    );
    $('token').replaceChildren(
      ...tokens.map((token) => {
        const option = document.createElement('option');
        option.value = `${token.network}:${token.symbol}`;
        option.textContent = `${token.symbol} — ${networkName(token.network)}`;
        return option;
      }),
    );
    describeToken();
    describeProduct();
  }

  const selectedProduct = () => products.find((p) => p.id === $('catalog').value);

  /** A product brings its own name, description and price: the fields for a custom amount go away while one is chosen. */
  function describeProduct() {
    const product = selectedProduct();
    $('custom-fields').hidden = Boolean(product);
    $('amount-field').hidden = Boolean(product);
    $('catalog-hint').hidden = !product;
    $('catalog-hint').textContent = product ? [product.description, `${product.price} in the token you choose`].filter(Boolean).join(' — ') : '';
  }

  function describeToken() {
    const token = selectedToken();
    $('token-hint').textContent = token ? `${token.name}, at most ${token.decimals} decimals; contract ${token.contractAddress}` : '';
  }

  function formChanged() {
    idempotencyKey = null;
    $('form-error').hidden = true;
    describeToken();
    describeProduct();
  }

  function showForm(error) {
    leave();
    history.replaceState(null, '', '/checkout');
    $('form-error').hidden = !error;
    $('form-error').textContent = error || '';
    show('view-form');
  }

  async function submit(event) {
    event.preventDefault();
    const token = selectedToken();
    const product = selectedProduct();
    const amount = $('amount').value.trim();
    if (!token) return showForm('Choose a token.');
    if (!product && !amount) return showForm('Enter an amount.');
    const body = { token: token.symbol, network: token.network };
    if (product) body.productId = product.id;
    else {
      body.amount = amount;
      if ($('product').value.trim()) body.productName = $('product').value.trim();
      if ($('description').value.trim()) body.description = $('description').value.trim();
    }

    idempotencyKey = idempotencyKey || newIdempotencyKey();
    const label = $('submit').textContent;
    $('submit').disabled = true;
    $('submit').textContent = 'Creating the payment…';
    try {
      const payment = await api.post('/api/v1/payments', body, { headers: { 'idempotency-key': idempotencyKey } });
      idempotencyKey = null;
      open(payment);
    } catch (err) {
      showForm(err.message);
    } finally {
      $('submit').disabled = false;
      $('submit').textContent = label;
    }
  }

  async function resume(id) {
    try {
      open(await api.get(`/api/v1/payments/${encodeURIComponent(id)}`));
    } catch (err) {
      showForm(err.status === 404 ? `Payment ${id} was not found.` : err.message);
    }
  }

  /** Shows a payment and follows it until it is paid or its address is no longer watched. */
  function open(payment) {
    leave();
    history.replaceState(null, '', `/checkout?id=${encodeURIComponent(payment.id)}`);
    $('pay-amount').textContent = payment.amount;
    $('pay-token').textContent = payment.token;
    $('pay-network').textContent = networkName(payment.network);
    $('pay-product').textContent = [payment.productName, payment.description].filter(Boolean).join(' — ');
    $('pay-address').textContent = payment.address;
    $('pay-uri').href = payment.paymentUri;
    $('pay-id').textContent = payment.id;
    $('qr-error').hidden = true;
    $('qr-image').src = payment.qrImage.png;
    $('process-error').hidden = true;
    $('tx-hash').value = '';
    leavePayment.push(countDown(payment.expiresAt));
    render(payment);
    if (!SUCCESS.includes(payment.status) && !payment.closed) leavePayment.push(watch(payment.id));
  }

  /** Shows the payment as it now is; an older version than the one shown (a slow poll) is ignored. */
  function render(payment) {
    if (shown && shown.id === payment.id && payment.version < shown.version) return;
    shown = payment;
    if (SUCCESS.includes(payment.status)) return showSuccess(payment);
    if (payment.status === 'expired') {
      $('ended-title').textContent = 'The payment expired';
      $('ended-text').textContent = payment.closed
        ? `Nothing was received for ${payment.amount} ${payment.token}.`
        : `Nothing was received in time. Money sent to ${payment.address} now is still recorded, as late.`;
      return show('view-ended');
    }
    $('status-badge').dataset.status = payment.status;
    $('status-badge').textContent = payment.status.replace('_', ' ');
    $('status-text').textContent = statusText(payment);
    $('progress').textContent = progressText(payment);
    show('view-pay');
  }

  function statusText(payment) {
    switch (payment.status) {
      case 'processing':
        return `Payment seen: waiting for the network's confirmations (${Math.min(payment.confirmations, payment.requiredConfirmations)}/${payment.requiredConfirmations}).`;
      case 'underpaid':
        return `Received ${payment.receivedAmount} of ${payment.amount} ${payment.token}: send the remaining ${payment.dueAmount}.`;
      default:
        return 'Waiting for your payment.';
    }
  }

  function progressText(payment) {
    if (payment.transactions.length === 0) return '';
    return `Received ${payment.receivedAmount} ${payment.token} confirmed, ${payment.pendingAmount} waiting for confirmations.`;
  }

  function showSuccess(payment) {
    const titles = { paid: 'Payment received', overpaid: 'Payment received (more than asked)', paid_late: 'Payment received, late' };
    $('success-title').textContent = titles[payment.status];
    $('success-text').textContent = `${payment.receivedAmount} ${payment.token} received for ${payment.productName || `payment ${payment.id}`}. Thank you!`;
    $('success-late').hidden = payment.status !== 'paid_late';
    $('success-excess').hidden = payment.excessAmount === '0';
    $('success-excess').textContent = `${payment.excessAmount} ${payment.token} more than the amount was received; it has been recorded.`;
    $('success-tx').textContent = payment.transactionHash || '';
    $('success-chain').textContent =
      payment.blockNumber === null ? '' : `In block ${payment.blockNumber} of ${payment.network} (chain ${payment.chainId}), ${payment.confirmations} confirmations.`;
    history.replaceState(null, '', `/checkout?id=${encodeURIComponent(payment.id)}`);
    show('view-success');
  }

  /** Shows the time left; the server decides when the payment expires. */
  function countDown(expiresAt) {
    const deadline = Date.parse(expiresAt);
    const tick = () => {
      const left = Math.ceil((deadline - Date.now()) / 1000);
      if (Number.isNaN(left)) $('countdown').textContent = '';
      else if (left > 0) $('countdown').textContent = `Expires in ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
      else $('countdown').textContent = 'The time to pay is over: money sent now is recorded as late.';
    };
    tick();
    const timer = setInterval(tick, 1000);
    return () => clearInterval(timer);
  }

  /**
   * Follows a payment: over the WebSocket while it is up; while it is down (refused, blocked, dropped), polls every
   * 2 s and tries the socket again with a doubling delay. Returns its stop.
   */
  function watch(id) {
    let stopped = false;
    let socket = null;
    let pollTimer = null;
    let pingTimer = null;
    let reconnectTimer = null;
    let reconnectDelay = 1000;
    let inFlight = null;

    const done = (payment) => SUCCESS.includes(payment.status) || payment.closed;
    const setMode = (mode) => {
      $('live').dataset.mode = mode;
      $('live').textContent = mode === 'ws' ? 'live' : 'checking every 2 s';
    };
    const received = (payment) => {
      render(payment);
      if (done(payment)) stop();
    };

    const poll = async () => {
      pollTimer = null;
      inFlight = new AbortController();
      try {
        received(await api.get(`/api/v1/payments/${encodeURIComponent(id)}`, { signal: inFlight.signal }));
      } catch {
        // A network or server error only delays the next look.
      }
      if (!stopped && !socketUp()) pollTimer = setTimeout(poll, POLL_INTERVAL_MS);
    };
    const socketUp = () => socket !== null && socket.readyState === WebSocket.OPEN && $('live').dataset.mode === 'ws';
    const startPolling = () => {
      setMode('poll');
      if (!pollTimer && !stopped) pollTimer = setTimeout(poll, 0);
    };

    const connect = () => {
      reconnectTimer = null;
      if (stopped) return;
      let opened;
      try {
        opened = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/payments/${encodeURIComponent(id)}`);
      } catch {
        return socketDown();
      }
      socket = opened;
      opened.addEventListener('message', (event) => {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch {
          return;
        }
        if (message.type === 'connection_ack') {
          reconnectDelay = 1000;
          setMode('ws');
          clearTimeout(pollTimer);
          pollTimer = null;
        }
        if (message.type === 'connection_ack' || message.type === 'payment_status_update') received(message.data);
      });
      opened.addEventListener('close', () => {
        if (socket === opened) socketDown();
      });
    };
    const socketDown = () => {
      socket = null;
      if (stopped) return;
      startPolling();
      reconnectTimer = setTimeout(connect, reconnectDelay);
      reconnectDelay = Math.min(reconnectDelay * 2, RECONNECT_MAX_MS);
    };
    // Keeps proxies from closing an idle socket; the server answers with a pong.
    pingTimer = setInterval(() => {
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'ping' }));
    }, PING_INTERVAL_MS);

    const stop = () => {
      if (stopped) return;
      stopped = true;
      clearTimeout(pollTimer);
      clearTimeout(reconnectTimer);
      clearInterval(pingTimer);
      if (inFlight) inFlight.abort();
      if (socket) socket.close(1000, 'done');
    };

    setMode('connecting');
    $('live').textContent = 'connecting…';
    if (typeof WebSocket === 'function') connect();
    else startPolling();
    return stop;
  }

  async function processTx(event) {
    event.preventDefault();
    if (!shown) return;
    const txHash = $('tx-hash').value.trim();
    $('process-error').hidden = true;
    $('process-submit').disabled = true;
    try {
      render(await api.post(`/api/v1/payments/${encodeURIComponent(shown.id)}/process`, { txHash }));
    } catch (err) {
      $('process-error').textContent = err.message;
      $('process-error').hidden = false;
    } finally {
      $('process-submit').disabled = false;
    }
  }

  $('view-form').addEventListener('submit', submit);
  $('view-form').addEventListener('input', formChanged);
  $('view-form').addEventListener('change', formChanged);
  $('process-form').addEventListener('submit', processTx);
  $('qr-image').addEventListener('error', () => {
    $('qr-error').hidden = false;
  });
  for (const button of document.querySelectorAll('.restart')) button.addEventListener('click', () => showForm());
  $('reload').addEventListener('click', start);

  start();
})();
