// Osprey dashboard: pipelines and keys (GET /v1/pipelines, polled), a chart of the chosen key's
// values and anomaly score (WebSocket /v1/pipelines/{p}/keys/{k}/live), and alerts as they
// arrive (WebSocket /v1/alerts). Plain browser JavaScript, no build step; charts by uPlot.
// With authentication on, a 401 asks for a token, kept in localStorage and sent as
// "Authorization: Bearer" on requests and as ?access_token= on WebSocket URLs.
'use strict';

(() => {
  const TOKEN_KEY = 'osprey.token';
  const POLL_MS = 2000;
  const RECONNECT_MS = 2000;
  const MAX_POINTS = 600;    // per chart, oldest dropped first
  const MAX_ALERT_ROWS = 200;
  const VALUE_COLORS = ['#2563eb', '#059669', '#d97706', '#7c3aed', '#db2777', '#0891b2'];

  const $ = (id) => document.getElementById(id);
  const state = {
    pipelines: [],
    selected: null,        // {pipeline, key}
    live: null,            // WebSocket of the selected key
    alerts: null,          // WebSocket of the alert feed
    alertCount: 0,
    lastAlertSeq: 0,
    names: [],             // value names of the selected key
    data: null,            // {t: [], values: [[]...], score: [], grade: [], alert: []}
    charts: null,          // {values: uPlot, score: uPlot}
    redrawPending: false,
    needsToken: false,
  };
  window.osprey = state;   // for the browser test and for poking at in the console

  // ---------------------------------------------------------------------------------------
  // Requests, with the token when there is one

  class AuthError extends Error {}

  function token() { return localStorage.getItem(TOKEN_KEY) || ''; }

  async function api(path) {
    const headers = {};
    if (token()) headers.Authorization = 'Bearer ' + token();
    const response = await fetch(path, { headers, cache: 'no-store' });
    if (response.status === 401 || response.status === 403) {
      askForToken(response.status === 401
        ? (token() ? 'The saved token was not accepted.' : 'This server needs a bearer token with read access.')
        : 'The saved token may not read this data.');
      throw new AuthError(String(response.status));
    }
    if (!response.ok) throw new Error(path + ': HTTP ' + response.status);
    return response.json();
  }

  function wsUrl(path, params) {
    const url = new URL(path, window.location.href);
    url.protocol = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    for (const [name, value] of Object.entries(params || {})) url.searchParams.set(name, value);
    if (token()) url.searchParams.set('access_token', token());
    return url.toString();
  }

  function askForToken(reason) {
    state.needsToken = true;
    setStatus('error', 'token needed');
    const dialog = $('token-dialog');
    $('token-reason').textContent = reason;
    if (!dialog.open) dialog.showModal();
  }

  $('token-form').addEventListener('submit', () => {
    localStorage.setItem(TOKEN_KEY, $('token-input').value.trim());
    $('token-input').value = '';
    state.needsToken = false;
    refresh();
    reconnectAll();
  });

  function setStatus(kind, text) {
    const el = $('status');
    el.dataset.state = kind;
    el.textContent = text;
  }

  // ---------------------------------------------------------------------------------------
  // Pipelines and keys

  function formatNumber(v, digits) {
    if (v === null || v === undefined || !Number.isFinite(v)) return '—';
    const abs = Math.abs(v);
    if (abs !== 0 && (abs >= 1e5 || abs < 1e-3)) return v.toExponential(2);
    return v.toFixed(digits);
  }

  function renderPipelines() {
    const nav = $('pipelines');
    const fragment = document.createDocumentFragment();
    for (const p of state.pipelines) {
      const block = document.createElement('div');
      block.className = 'pipeline';
      const name = document.createElement('div');
      name.className = 'pipeline-name';
      name.textContent = p.name;
      const ops = document.createElement('div');
      ops.className = 'pipeline-ops';
      ops.textContent = p.source + ' → ' + p.operators.map((o) => o.type).join(' → ');
      const list = document.createElement('ul');
      list.className = 'keys';
      for (const k of p.keys) {
        const item = document.createElement('li');
        const button = document.createElement('button');
        button.type = 'button';
        button.dataset.pipeline = p.name;
        button.dataset.key = k.key;
        const selected = state.selected && state.selected.pipeline === p.name && state.selected.key === k.key;
        button.setAttribute('aria-current', selected ? 'true' : 'false');
        const dot = document.createElement('span');
        dot.className = 'dot' + (k.alert ? ' alert' : '');
        dot.title = k.alert ? 'the last result was an alert' : 'the last result was normal';
        const label = document.createElement('span');
        label.textContent = k.key;
        const score = document.createElement('span');
        score.className = 'score';
        score.textContent = formatNumber(k.score, 2);
        score.title = 'last score ' + formatNumber(k.score, 3) +
          (k.grade !== null && k.grade !== undefined ? ', grade ' + formatNumber(k.grade, 2) : '') +
          '; ' + k.count + ' results, ' + k.alerts + ' alerts';
        button.append(dot, label, score);
        if (k.alerts > 0) {
          const badge = document.createElement('span');
          badge.className = 'key-alerts';
          badge.textContent = String(k.alerts);
          badge.title = k.alerts + ' alerts';
          button.append(badge);
        } else {
          button.append(document.createElement('span'));
        }
        button.addEventListener('click', () => select(p.name, k.key));
        item.append(button);
        list.append(item);
      }
      if (p.keys.length === 0) {
        const none = document.createElement('li');
        none.className = 'muted';
        none.textContent = 'no results yet';
        list.append(none);
      }
      block.append(name, ops, list);
      fragment.append(block);
    }
    nav.replaceChildren(fragment);
  }

  async function refresh() {
    try {
      const body = await api('/v1/pipelines');
      state.pipelines = body.pipelines;
      renderPipelines();
      if (!state.alerts) connectAlerts(body.alerts_last_seq || 0);
      if (!state.selected) {
        const fromHash = parseHash();
        const first = state.pipelines.find((p) => p.keys.length > 0);
        if (fromHash) select(fromHash.pipeline, fromHash.key);
        else if (first) select(first.name, first.keys[0].key);
      }
      if (state.alerts && state.alerts.readyState === WebSocket.OPEN) setStatus('live', 'live');
    } catch (err) {
      if (!(err instanceof AuthError)) setStatus('error', 'cannot reach ospreyd');
    }
  }

  function parseHash() {
    const parts = window.location.hash.replace(/^#/, '').split('/');
    if (parts.length !== 2 || !parts[0] || !parts[1]) return null;
    return { pipeline: decodeURIComponent(parts[0]), key: decodeURIComponent(parts[1]) };
  }

  // ---------------------------------------------------------------------------------------
  // The chosen key's chart

  function select(pipeline, key) {
    if (state.selected && state.selected.pipeline === pipeline && state.selected.key === key) return;
    state.selected = { pipeline, key };
    history.replaceState(null, '', '#' + encodeURIComponent(pipeline) + '/' + encodeURIComponent(key));
    $('chart-title').textContent = pipeline + ' / ' + key;
    $('chart-info').textContent = 'waiting for results…';
    state.names = [];
    state.data = null;
    destroyCharts();
    renderPipelines();
    connectLive();
  }

  function connectLive() {
    if (state.live) {
      state.live.onclose = null;
      state.live.close();
      state.live = null;
    }
    if (!state.selected || state.needsToken) return;
    const { pipeline, key } = state.selected;
    const ws = new WebSocket(wsUrl('/v1/pipelines/' + encodeURIComponent(pipeline) + '/keys/' +
                                   encodeURIComponent(key) + '/live'));
    state.live = ws;
    ws.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.type === 'history') {
        state.data = null;
        for (const point of msg.points) addPoint(point);
      } else if (msg.type === 'result') {
        addPoint(msg);
      }
      scheduleRedraw();
    };
    ws.onclose = () => {
      if (state.live !== ws) return;
      state.live = null;
      setTimeout(() => { if (!state.live) connectLive(); }, RECONNECT_MS);
    };
  }

  function addPoint(point) {
    const names = Object.keys(point.values);
    if (!state.data || names.join('\u0000') !== state.names.join('\u0000')) {
      state.names = names;
      state.data = { t: [], values: names.map(() => []), score: [], grade: [], alert: [] };
      destroyCharts();
    }
    const d = state.data;
    d.t.push(point.event_time / 1000);
    names.forEach((name, idx) => d.values[idx].push(point.values[name]));
    d.score.push(point.score);
    d.grade.push(point.grade);
    d.alert.push(point.alert ? point.score : null);
    if (d.t.length > MAX_POINTS) {
      const extra = d.t.length - MAX_POINTS;
      d.t.splice(0, extra);
      d.values.forEach((series) => series.splice(0, extra));
      d.score.splice(0, extra);
      d.grade.splice(0, extra);
      d.alert.splice(0, extra);
    }
  }

  function scheduleRedraw() {
    if (state.redrawPending) return;
    state.redrawPending = true;
    requestAnimationFrame(() => {
      state.redrawPending = false;
      redraw();
    });
  }

  function chartWidth() {
    return Math.max(300, $('chart-panel').clientWidth - 26);
  }

  function destroyCharts() {
    if (!state.charts) return;
    state.charts.values.destroy();
    state.charts.score.destroy();
    state.charts = null;
  }

  function makeCharts() {
    const sync = uPlot.sync('osprey');
    const cursor = { sync: { key: sync.key } };
    const width = chartWidth();
    const values = new uPlot({
      width, height: 240, cursor,
      scales: { x: { time: true } },
      series: [{}].concat(state.names.map((name, idx) => ({
        label: name, stroke: VALUE_COLORS[idx % VALUE_COLORS.length], width: 1.5,
      }))),
      axes: [{}, { size: 56 }],
    }, [[]].concat(state.names.map(() => [])), $('chart-values'));
    const hasGrade = state.data.grade.some((g) => g !== null);
    const scoreSeries = [
      {},
      { label: 'score', stroke: '#111827', width: 1.5 },
      { label: 'alert', stroke: '#dc2626', fill: '#dc2626', width: 0,
        paths: () => null, points: { show: true, size: 8, fill: '#dc2626', stroke: '#dc2626' } },
    ];
    const axes = [{}, { size: 56 }];
    const scales = { x: { time: true } };
    if (hasGrade) {
      scoreSeries.push({ label: 'grade', stroke: '#f97316', width: 1, scale: 'grade' });
      axes.push({ scale: 'grade', side: 1, size: 40, grid: { show: false } });
      scales.grade = { range: [0, 1] };
    }
    const score = new uPlot({ width, height: 200, cursor, scales, series: scoreSeries, axes },
                            scoreSeries.map(() => []), $('chart-score'));
    state.charts = { values, score, hasGrade };
  }

  function redraw() {
    const d = state.data;
    if (!d || d.t.length === 0) return;
    const hasGrade = d.grade.some((g) => g !== null);
    if (state.charts && state.charts.hasGrade !== hasGrade) destroyCharts();
    if (!state.charts) makeCharts();
    state.charts.values.setData([d.t].concat(d.values));
    const scoreData = [d.t, d.score, d.alert];
    if (state.charts.hasGrade) scoreData.push(d.grade);
    state.charts.score.setData(scoreData);
    const last = d.t.length - 1;
    const alerts = d.alert.filter((a) => a !== null).length;
    $('chart-info').textContent = d.t.length + ' points, last at ' +
      new Date(d.t[last] * 1000).toLocaleTimeString() + (alerts ? ', ' + alerts + ' alerts' : '');
  }

  window.addEventListener('resize', () => {
    if (!state.charts) return;
    const width = chartWidth();
    state.charts.values.setSize({ width, height: 240 });
    state.charts.score.setSize({ width, height: 200 });
  });

  // ---------------------------------------------------------------------------------------
  // Alerts

  function connectAlerts(lastSeq) {
    if (state.needsToken) return;
    // Resume a little before the newest alert so that the list is not empty on load.
    const since = state.lastAlertSeq > 0 ? state.lastAlertSeq : Math.max(0, lastSeq - 50);
    const ws = new WebSocket(wsUrl('/v1/alerts', { since: String(since) }));
    state.alerts = ws;
    ws.onopen = () => setStatus('live', 'live');
    ws.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.type === 'alert') {
        state.lastAlertSeq = Math.max(state.lastAlertSeq, msg.seq);
        addAlertRow(msg);
      } else if (msg.type === 'lost') {
        addLostRow(msg.count);
      }
    };
    ws.onclose = () => {
      if (state.alerts !== ws) return;
      state.alerts = null;
      setStatus('error', 'disconnected, retrying…');
      setTimeout(() => { if (!state.alerts) refresh(); }, RECONNECT_MS);
    };
  }

  function reconnectAll() {
    if (state.alerts) { state.alerts.onclose = null; state.alerts.close(); state.alerts = null; }
    connectLive();
  }

  function cell(text, className) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function prependRow(row) {
    const body = $('alerts').tBodies[0];
    body.prepend(row);
    while (body.rows.length > MAX_ALERT_ROWS) body.deleteRow(body.rows.length - 1);
    $('alerts-empty').hidden = true;
  }

  function addAlertRow(alert) {
    state.alertCount += 1;
    $('alert-count').textContent = String(state.alertCount);
    const row = document.createElement('tr');
    row.className = 'fresh alert-row';
    const when = new Date(alert.startsAt);
    row.title = alert.annotations.summary + ' — ' + alert.startsAt;
    const grade = document.createElement('td');
    if (alert.grade === null || alert.grade === undefined) {
      grade.textContent = '—';
    } else {
      const wrap = document.createElement('span');
      wrap.className = 'grade';
      const bar = document.createElement('span');
      bar.className = 'grade-bar';
      const fill = document.createElement('span');
      fill.style.width = Math.round(Math.min(1, Math.max(0, alert.grade)) * 100) + '%';
      bar.append(fill);
      const text = document.createElement('span');
      text.textContent = alert.grade.toFixed(2);
      wrap.append(bar, text);
      grade.append(wrap);
    }
    row.append(cell(when.toLocaleTimeString([], { hour12: false }) + '.' +
                    String(when.getMilliseconds()).padStart(3, '0')),
               cell(alert.labels.pipeline), cell(alert.labels.key),
               cell(formatNumber(alert.score, 2), 'num'), grade);
    row.addEventListener('click', () => select(alert.labels.pipeline, alert.labels.key));
    prependRow(row);
  }

  function addLostRow(count) {
    const row = document.createElement('tr');
    row.className = 'lost';
    const td = cell(count + ' alerts not shown (this page fell behind)');
    td.colSpan = 5;
    row.append(td);
    prependRow(row);
  }

  // ---------------------------------------------------------------------------------------

  refresh();
  setInterval(() => { if (!state.needsToken) refresh(); }, POLL_MS);
})();
