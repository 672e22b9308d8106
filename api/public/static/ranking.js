// The ranking page: category and range tabs over GET /api/v1/rankings, a page at a time; the choice lives in the URL.
'use strict';

(function () {
  const api = window.durapayApi;
  const RANGES = [
    ['today', 'Today 今日'],
    ['week', 'This week 本周'],
    ['month', 'This month 本月'],
    ['year', 'This year 今年'],
    ['all', 'All time 全部'],
  ];
  const $ = (id) => document.getElementById(id);

  const query = new URLSearchParams(location.search);
  const positive = (value, fallback, max) => {
    const n = Number(value);
    return Number.isInteger(n) && n >= 1 && n <= max ? n : fallback;
  };
  const state = {
    category: query.get('category') || 'all',
    range: RANGES.some(([id]) => id === query.get('range')) ? query.get('range') : 'all',
    page: positive(query.get('page'), 1, 1e6),
    pageSize: positive(query.get('pageSize'), 20, 100),
  };
  const pageSizeInUrl = query.has('pageSize');
  let categories = [];
  let inFlight;
  let totalPages = 1;

  function renderTabs(container, entries, selected, choose) {
    container.replaceChildren(
      ...entries.map(([id, label]) => {
        const tab = document.createElement('button');
        tab.type = 'button';
        tab.setAttribute('role', 'tab');
        tab.setAttribute('aria-selected', String(id === selected));
        tab.dataset.id = id;
        tab.textContent = label;
        tab.addEventListener('click', () => choose(id));
        return tab;
      }),
    );
  }

  function renderAllTabs() {
    const categoryEntries = [['all', 'All 全部'], ...categories.map((c) => [c.id, c.name])];
    // A category named in the URL keeps its tab even before (or without) the category list.
    if (!categoryEntries.some(([id]) => id === state.category)) categoryEntries.push([state.category, state.category]);
    renderTabs($('category-tabs'), categoryEntries, state.category, (id) => choose({ category: id, page: 1 }));
    renderTabs($('range-tabs'), RANGES, state.range, (id) => choose({ range: id, page: 1 }));
  }

  function choose(change) {
    Object.assign(state, change);
    renderAllTabs();
    load();
  }

  function donorLabel(row) {
    if (row.name) return row.name;
    return row.uid === null || row.uid === undefined ? 'Anonymous 匿名' : `Donor #${row.uid}`;
  }

  function cell(text, className) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function renderRows(ranking) {
    const rows = ranking.data.map((row) => {
      const tr = document.createElement('tr');
      tr.append(cell(String(row.rank)), cell(donorLabel(row), 'donor'), cell(`¥${row.total}`, 'num'), cell(String(row.count), 'num'));
      return tr;
    });
    if (rows.length === 0) {
      const tr = document.createElement('tr');
      const td = cell('No donations here yet. 暂无捐赠', 'empty');
      td.colSpan = 4;
      tr.append(td);
      rows.push(tr);
    }
    $('ranking-rows').replaceChildren(...rows);
    $('period').textContent = ranking.from || ranking.to ? `${ranking.from || '…'} – ${ranking.to || '…'}` : '';
    totalPages = Math.max(1, Math.ceil(ranking.totalDonors / ranking.pageSize));
    $('page-info').textContent = `Page ${ranking.page} of ${totalPages} · ${ranking.totalDonors} donors 位捐赠者`;
  }

  async function load() {
    const params = new URLSearchParams({ category: state.category, range: state.range, page: String(state.page), pageSize: String(state.pageSize) });
    const shown = new URLSearchParams({ category: state.category, range: state.range, page: String(state.page) });
    if (pageSizeInUrl) shown.set('pageSize', String(state.pageSize));
    history.replaceState(null, '', `/ranking?${shown}`);

    if (inFlight) inFlight.abort();
    const request = (inFlight = new AbortController());
    $('results').setAttribute('aria-busy', 'true');
    $('prev').disabled = true;
    $('next').disabled = true;
    try {
      const ranking = await api.get(`/api/v1/rankings?${params}`, { signal: request.signal });
      if (request !== inFlight) return;
      $('ranking-error').hidden = true;
      renderRows(ranking);
    } catch (err) {
      if (request !== inFlight) return;
      $('ranking-error').textContent = `The ranking cannot be loaded (${err.message}) 排行榜加载失败`;
      $('ranking-error').hidden = false;
      $('ranking-rows').replaceChildren();
      $('page-info').textContent = '';
      totalPages = state.page;
    }
    $('prev').disabled = state.page <= 1;
    $('next').disabled = state.page >= totalPages;
    $('results').setAttribute('aria-busy', 'false');
  }

  $('prev').addEventListener('click', () => choose({ page: state.page - 1 }));
  $('next').addEventListener('click', () => choose({ page: state.page + 1 }));

  renderAllTabs();
  load();
  api.get('/api/v1/categories').then(
    (list) => {
      categories = list.data;
      renderAllTabs();
    },
    // Without the list only the "All" tab (and a category named in the URL) is offered; the ranking itself still loads.
    () => undefined,
  );
})();
