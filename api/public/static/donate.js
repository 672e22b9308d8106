// The donation page: the form → the QR code, its status polled every 2 s → thanks, or why it ended. Reloading keeps the order (?order=).
'use strict';

(function () {
  const api = window.durapayApi;
  const POLL_INTERVAL_MS = 2000;
  const METHOD_LABELS = { alipay: 'Alipay 支付宝', wechat: 'WeChat Pay 微信支付' };
  const PAID = ['paid', 'paid_late'];
  const $ = (id) => document.getElementById(id);

  let categories = [];
  let methods = [];
  // Kept while the form is unchanged: sending the same donation again after a lost answer creates nothing new.
  let idempotencyKey = null;
  // What the current view runs (countdown, polling), stopped when another view is shown.
  const leaveView = [];

  function show(viewId) {
    for (const stop of leaveView.splice(0)) stop();
    for (const view of document.querySelectorAll('[data-view]')) view.hidden = view.id !== viewId;
  }

  function newIdempotencyKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return `page-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
  }

  const categoryName = (id) => (categories.find((c) => c.id === id) || { name: id }).name;
  const methodLabel = (method) => METHOD_LABELS[method] || method;
  const selectedMethod = () => {
    const checked = document.querySelector('input[name="method"]:checked');
    return checked ? checked.value : undefined;
  };

  async function start() {
    show('view-loading');
    try {
      const [categoryList, methodList] = await Promise.all([api.get('/api/v1/categories'), api.get('/api/v1/payment-methods')]);
      categories = categoryList.data;
      methods = methodList.data;
    } catch (err) {
      return showUnavailable(`Donations cannot be loaded right now (${err.message}) 暂时无法加载`);
    }
    if (categories.length === 0 || methods.length === 0) return showUnavailable('Donations are not open at the moment. 暂不接受捐赠');
    fillForm();
    const orderNo = new URLSearchParams(location.search).get('order');
    if (orderNo) await resume(orderNo);
    else showForm();
  }

  function showUnavailable(message) {
    $('unavailable-message').textContent = message;
    show('view-unavailable');
  }

  function fillForm() {
    $('category').replaceChildren(
      ...categories.map((category) => {
        const option = document.createElement('option');
        option.value = category.id;
        option.textContent = category.name;
        return option;
      }),
    );
    $('methods').replaceChildren(
      ...methods.map((config, index) => {
        const label = document.createElement('label');
        label.className = 'method';
        const radio = document.createElement('input');
        radio.type = 'radio';
        radio.name = 'method';
        radio.value = config.method;
        radio.checked = index === 0;
        label.append(radio, ` ${methodLabel(config.method)}`);
        return label;
      }),
    );
    describeChoices();
  }

  function describeChoices() {
    const category = categories.find((c) => c.id === $('category').value);
    $('category-description').textContent = (category && category.description) || '';
    const limits = methods.find((m) => m.method === selectedMethod());
    $('amount-limits').textContent = limits ? `¥${limits.minAmount} – ¥${limits.maxAmount}, at most 2 decimals 最多两位小数` : '';
    for (const preset of $('presets').querySelectorAll('button')) {
      preset.setAttribute('aria-pressed', String(preset.dataset.amount === $('amount').value.trim()));
    }
  }

  function formChanged() {
    idempotencyKey = null;
    $('form-error').hidden = true;
    describeChoices();
  }

  function showForm(error) {
    history.replaceState(null, '', '/donate');
    $('form-error').hidden = !error;
    $('form-error').textContent = error || '';
    show('view-form');
  }

  async function submit(event) {
    event.preventDefault();
    const amount = $('amount').value.trim();
    const uid = $('uid').value.trim();
    if (!amount) return showForm('Enter an amount. 请输入金额');
    if (uid && !/^[0-9]{1,15}$/.test(uid)) return showForm('The donor ID is a number. 用户编号须为数字');
    const body = { category: $('category').value, amount, method: selectedMethod() };
    if (uid) body.uid = Number(uid);
    if ($('name').value.trim()) body.name = $('name').value.trim();
    if ($('message').value.trim()) body.message = $('message').value.trim();

    idempotencyKey = idempotencyKey || newIdempotencyKey();
    const label = $('submit').textContent;
    $('submit').disabled = true;
    $('submit').textContent = 'Making the QR code… 正在生成二维码';
    try {
      const donation = await api.post('/api/v1/donations', body, { headers: { 'idempotency-key': idempotencyKey } });
      idempotencyKey = null;
      showQr(donation);
    } catch (err) {
      showForm(err.message);
    } finally {
      $('submit').disabled = false;
      $('submit').textContent = label;
    }
  }

  async function resume(orderNo) {
    try {
      const donation = await api.get(`/api/v1/donations/${encodeURIComponent(orderNo)}`);
      if (donation.status === 'pending') showQr(donation);
      else showOutcome(donation);
    } catch (err) {
      showForm(err.status === 404 ? `Donation ${orderNo} was not found. 未找到该订单` : err.message);
    }
  }

  function showQr(donation) {
    history.replaceState(null, '', `/donate?order=${encodeURIComponent(donation.orderNo)}`);
    $('qr-method').textContent = methodLabel(donation.method);
    $('qr-amount').textContent = `¥${donation.amount}`;
    $('qr-order').textContent = donation.orderNo;
    $('poll-trouble').hidden = true;
    $('qr-error').hidden = Boolean(donation.qrImage);
    if (donation.qrImage) $('qr-image').src = donation.qrImage.png;
    else $('qr-image').removeAttribute('src');
    show('view-qr');
    leaveView.push(countDown(donation.expiresAt), watch(donation.orderNo));
  }

  /** Shows the time left; the server decides when the order expires, so polling goes on past zero. */
  function countDown(expiresAt) {
    const deadline = Date.parse(expiresAt);
    const tick = () => {
      const left = Math.ceil((deadline - Date.now()) / 1000);
      if (Number.isNaN(left)) $('countdown').textContent = '';
      else if (left > 0) $('countdown').textContent = `Expires in ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')} 后过期`;
      else $('countdown').textContent = 'The QR code has expired; checking for a payment… 二维码已过期';
    };
    tick();
    const timer = setInterval(tick, 1000);
    return () => clearInterval(timer);
  }

  /** Polls the order every 2 s until it is no longer pending; network or server errors only delay the next poll. Returns its stop. */
  function watch(orderNo) {
    let stopped = false;
    let timer;
    let inFlight;
    const poll = async () => {
      inFlight = new AbortController();
      try {
        const donation = await api.get(`/api/v1/donations/${encodeURIComponent(orderNo)}`, { signal: inFlight.signal });
        if (stopped) return;
        $('poll-trouble').hidden = true;
        if (donation.status === 'pending') schedule();
        else showOutcome(donation);
      } catch {
        if (stopped) return;
        $('poll-trouble').hidden = false;
        schedule();
      }
    };
    const schedule = () => {
      timer = setTimeout(poll, POLL_INTERVAL_MS);
    };
    schedule();
    return () => {
      stopped = true;
      clearTimeout(timer);
      if (inFlight) inFlight.abort();
    };
  }

  function showOutcome(donation) {
    history.replaceState(null, '', `/donate?order=${encodeURIComponent(donation.orderNo)}`);
    if (PAID.includes(donation.status)) {
      const name = donation.donor && donation.donor.name;
      $('thanks-text').textContent = `${name ? `${name}, your` : 'Your'} donation of ¥${donation.amount} to ${categoryName(donation.category)} has been received.`;
      $('thanks-late').hidden = donation.status !== 'paid_late';
      $('thanks-ranking').href = `/ranking?category=${encodeURIComponent(donation.category)}`;
      show('view-thanks');
    } else if (donation.status === 'expired') {
      $('ended-title').textContent = 'The QR code expired 二维码已过期';
      $('ended-text').textContent = `The donation of ¥${donation.amount} was not paid in time. You can start again.`;
      show('view-ended');
    } else {
      $('ended-title').textContent = 'The payment failed 支付失败';
      $('ended-text').textContent = `The donation of ¥${donation.amount} could not be completed. You can start again.`;
      show('view-ended');
    }
  }

  $('view-form').addEventListener('submit', submit);
  $('view-form').addEventListener('input', formChanged);
  $('view-form').addEventListener('change', formChanged);
  $('presets').addEventListener('click', (event) => {
    const preset = event.target.closest('button[data-amount]');
    if (!preset) return;
    $('amount').value = preset.dataset.amount;
    formChanged();
  });
  $('qr-image').addEventListener('error', () => {
    $('qr-error').hidden = false;
  });
  for (const button of document.querySelectorAll('.restart')) button.addEventListener('click', () => showForm());
  $('reload').addEventListener('click', start);

  start();
})();
