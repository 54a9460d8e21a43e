// mixsweep dashboard: the page logic. Plain ES2020, no framework, no build
// step. Reads the read-only JSON API of mixsweepd's dashboard port
// (services/dashboard/routes.h: each answer is a mixsweep.v1 response in
// protobuf's JSON mapping) and builds the DOM with textContent only: server
// strings are never parsed as HTML.
//
// Routes (the URL fragment): #/ the sweeps, #/sweeps/3 one sweep. A token
// may come in the fragment too, #token=... or #/sweeps/3&token=...; it is
// moved to sessionStorage and removed from the address bar at once.
//
// Polling: every POLL_MS the sweep list (counts) and, in a sweep's view,
// its results (S per run and scenario); the heavy parts are refetched only
// when they can have changed: the sweep's runs and jobs when its counts,
// state or revision changed (and every few polls while jobs run, for their
// progress), the estimates when the results changed (then for a few polls,
// while the recomputation catches up) or they lag the results, and at
// least every ESTIMATES_REFRESH_MS.
'use strict';

(function () {
  const POLL_MS = 2500;
  const ESTIMATES_REFRESH_MS = 30000;
  const SETTLE_POLLS = 3;
  const DETAIL_EVERY_WHILE_RUNNING = 4;
  const TOKEN_KEY = 'mixsweep.dashboard.token';
  const READER_ROLES = ['ROLE_VIEWER', 'ROLE_RESEARCHER', 'ROLE_ADMIN'];
  const {fmt, fmtSigned, viridis} = window.MixPlot;

  // ---- State ---------------------------------------------------------------

  const state = {
    open: null, // the server's session answer
    token: null,
    whoami: null,
    route: {name: 'list'},
    timer: null,
    polling: false,
    pollCount: 0,
    lastUpdated: null, // Date of the last successful poll
    lastChanged: null, // Date the data last changed
    error: null,
    list: null,
    listSig: '',
    listResults: {}, // sweep id -> results, for the active sweeps of the list
    workers: null,
    workersSig: '',
    // The open sweep's data.
    sweepId: null,
    detail: null,
    detailSig: '',
    detailFetchedPoll: -1,
    results: null,
    resultsSig: '',
    estimates: null,
    estimatesSig: '',
    estimatesFetchedAt: 0,
    settle: 0,
    scenario: null, // the grid's score scenario
    recommendation: null,
    rendered: {},
    // Bumped whenever the view changes under a poll in flight (another
    // route, the token form): that poll's answers are then dropped.
    gen: 0,
  };

  class Stale extends Error {}
  function alive(gen) {
    if (gen !== state.gen) throw new Stale('view changed');
  }

  // ---- Small helpers ---------------------------------------------------------

  // An element with attributes and children; strings become text nodes.
  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = v;
        else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // JSON with object keys sorted: protobuf writes map fields (counts by
  // state, a job's environment) in no fixed order, so plain JSON.stringify
  // of the same data can differ from one answer to the next.
  function stableJson(v) {
    return JSON.stringify(v, (k, x) => (x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.keys(x).sort().map((key) => [key, x[key]])) : x));
  }

  function num(v) {
    if (typeof v === 'number') return v;
    if (typeof v === 'string' && v !== '') return Number(v);
    return NaN;
  }
  const finite = (v) => typeof v === 'number' && Number.isFinite(v);
  const int = (v) => {
    const n = num(v);
    return Number.isFinite(n) ? n : 0;
  };

  function fmtInt(v) {
    const n = num(v);
    return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '\u2014';
  }
  function fmtS(v) {
    const n = num(v);
    return Number.isFinite(n) ? n.toFixed(2) : '\u2014';
  }
  function fmtHours(v) {
    const n = num(v);
    if (!Number.isFinite(n)) return '\u2014';
    if (n === 0) return '0 h';
    if (Math.abs(n) < 0.01) return `${Number(n.toPrecision(3))} h`;
    return `${n.toLocaleString('en-US', {minimumFractionDigits: 2, maximumFractionDigits: 2})} h`;
  }
  function fmtMoney(v, currency) {
    const n = num(v);
    if (!Number.isFinite(n)) return '\u2014';
    const amount = n.toLocaleString('en-US', {minimumFractionDigits: 2, maximumFractionDigits: 2});
    if (currency === 'USD') return `$${amount}`;
    return currency ? `${amount} ${currency}` : amount;
  }
  function pad2(n) {
    return String(n).padStart(2, '0');
  }
  function fmtTime(d) {
    return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  }
  function fmtDate(ts) {
    if (!ts) return '\u2014';
    const d = new Date(ts);
    if (Number.isNaN(d.getTime())) return '\u2014';
    return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${fmtTime(d)}`;
  }
  // A time of today as HH:MM:SS, another day's with its date.
  function fmtWhen(ts) {
    const d = new Date(ts || '');
    if (Number.isNaN(d.getTime())) return '\u2014';
    return d.toDateString() === new Date().toDateString() ? fmtTime(d) : fmtDate(ts);
  }
  // "JOB_STATE_SUCCEEDED" -> "succeeded".
  function enumName(v, prefix) {
    if (typeof v !== 'string') return 'unknown';
    return (v.startsWith(prefix) ? v.slice(prefix.length) : v).toLowerCase().replace(/_/g, ' ');
  }
  const SOURCE_KIND_LABEL = {
    SOURCE_KIND_SIMULATION: 'simulation',
    SOURCE_KIND_HUMAN_VIDEO: 'human video',
    SOURCE_KIND_TELEOP: 'teleop',
  };
  const SOURCE_KIND_KEY = {
    SOURCE_KIND_SIMULATION: 'simulation',
    SOURCE_KIND_HUMAN_VIDEO: 'human_video',
  };

  // Seed 001's protocol: who evaluated (a robot operator or a simulation
  // job), how a run's checkpoints made its S, and generated sources.
  function evaluatorBadge(simulated) {
    return h('span', {class: `badge ${simulated ? 'badge-sim' : 'badge-robot'}`,
      'data-role': 'evaluator', 'data-evaluator': simulated ? 'simulation' : 'robot',
      text: simulated ? 'simulation' : 'robot'});
  }
  const AGGREGATION_TEXT = {
    last: 'last checkpoint',
    max_over_checkpoints: 'best checkpoint per seed',
  };
  function aggregationText(aggregation) {
    if (!aggregation) return '';
    return `checkpoints: ${AGGREGATION_TEXT[aggregation] || aggregation}`;
  }
  function checkpointText(step) {
    return int(step) > 0 ? `step ${fmtInt(step)}` : 'last';
  }
  function fmtPercent(v) {
    const n = num(v);
    return Number.isFinite(n) ? `${(n * 100).toFixed(1)}%` : '\u2014';
  }
  function fmtSeconds(v) {
    const n = num(v);
    if (!(n > 0)) return '\u2014';
    if (n < 90) return `${Math.round(n)} s`;
    if (n < 5400) return `${Math.round(n / 60)} min`;
    return `${(n / 3600).toFixed(1)} h`;
  }

  // Which of seed 000's figures a plot corresponds to.
  function paperFigure(kind, scenario) {
    if (kind === 'SOURCE_KIND_SIMULATION' && scenario === 'in_domain') return 'Fig. 4';
    if (kind === 'SOURCE_KIND_SIMULATION' && scenario === 'unseen_background') return 'Fig. 5';
    if (kind === 'SOURCE_KIND_HUMAN_VIDEO' && scenario === 'in_domain') return 'Fig. 6';
    if (kind === 'SOURCE_KIND_HUMAN_VIDEO' && scenario === 'unseen_position') return 'Fig. 7';
    return '';
  }

  // ---- API -------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
    get auth() {
      return this.status === 401 || this.status === 403;
    }
    describe() {
      return `${this.code}${this.status ? ` (HTTP ${this.status})` : ''}: ${this.message}`;
    }
  }

  async function api(path) {
    const headers = {Accept: 'application/json'};
    if (!state.open && state.token) headers.Authorization = `Bearer ${state.token}`;
    let response;
    try {
      response = await fetch(path, {headers, cache: 'no-store', credentials: 'omit'});
    } catch (e) {
      throw new ApiError(0, 'UNAVAILABLE', `cannot reach the dashboard server (${e.message})`);
    }
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (!response.ok) {
      const code = body && typeof body.code === 'string' ? body.code : `HTTP_${response.status}`;
      const message = body && typeof body.message === 'string' ? body.message
        : response.statusText || 'request failed';
      throw new ApiError(response.status, code, message);
    }
    return body || {};
  }

  // ---- Token and route ---------------------------------------------------------

  // "#/sweeps/3&token=abc" -> {route: "/sweeps/3", token: "abc"}.
  function parseFragment(hash) {
    const out = {route: '/', token: null};
    for (const part of hash.replace(/^#/, '').split('&')) {
      if (part.startsWith('token=')) {
        try {
          out.token = decodeURIComponent(part.slice(6));
        } catch (e) {
          out.token = part.slice(6);
        }
      } else if (part.startsWith('/')) {
        out.route = part;
      }
    }
    return out;
  }

  function routeOf(path) {
    const m = /^\/sweeps\/(\d+)\/?$/.exec(path);
    if (m) return {name: 'sweep', id: m[1]};
    return {name: 'list'};
  }

  function takeTokenFromUrl() {
    const frag = parseFragment(location.hash);
    if (frag.token !== null) {
      const token = frag.token.trim();
      if (token) {
        state.token = token;
        sessionStorage.setItem(TOKEN_KEY, token);
      }
      // The token leaves the address bar (and the history entry) at once.
      history.replaceState(null, '', `${location.pathname}${location.search}#${frag.route}`);
    }
    return frag.route;
  }

  function forgetToken() {
    state.token = null;
    state.whoami = null;
    sessionStorage.removeItem(TOKEN_KEY);
  }

  // ---- Page frame ---------------------------------------------------------------

  const app = document.getElementById('app');
  const statusEl = document.getElementById('status');
  const whoEl = document.getElementById('who');

  function setMain(...nodes) {
    app.replaceChildren(...nodes);
    state.rendered = {};
  }

  function renderStatus() {
    const parts = [];
    if (state.error) {
      parts.push(h('span', {class: 'dot dot-error', 'aria-hidden': 'true'}));
      parts.push(h('span', {class: 'status-error', 'data-role': 'poll-error',
        text: `Refresh failed: ${state.error}. Retrying every ${POLL_MS / 1000} s.`}));
    } else if (state.lastUpdated) {
      parts.push(h('span', {class: 'dot dot-live', 'aria-hidden': 'true'}));
    }
    if (state.lastUpdated) {
      const ago = Math.max(0, Math.round((Date.now() - state.lastUpdated.getTime()) / 1000));
      parts.push(h('span', {'data-role': 'last-updated',
        'data-last-updated': String(state.lastUpdated.getTime()),
        text: `Updated ${fmtTime(state.lastUpdated)}${ago >= 2 ? ` (${ago} s ago)` : ''}`}));
      parts.push(h('span', {class: 'muted', text: ` \u00b7 live, every ${POLL_MS / 1000} s`}));
      if (state.lastChanged) {
        parts.push(h('span', {class: 'muted', 'data-role': 'last-changed',
          text: ` \u00b7 data changed ${fmtTime(state.lastChanged)}`}));
      }
    }
    statusEl.replaceChildren(...parts);
  }

  function renderWho() {
    const nodes = [];
    if (state.open) {
      nodes.push(h('span', {class: 'badge badge-open', text: 'open dashboard (read-only)'}));
    } else if (state.whoami) {
      nodes.push(h('span', {text: `${state.whoami.principal || '?'} `}));
      nodes.push(h('span', {class: 'badge', text: enumName(state.whoami.role, 'ROLE_')}));
      nodes.push(h('button', {type: 'button', class: 'link-button', 'data-role': 'sign-out',
        onclick: () => {
          forgetToken();
          stopPolling();
          showTokenForm('');
        }, text: 'Forget token'}));
    }
    whoEl.replaceChildren(...nodes);
  }

  function showTokenForm(errorText) {
    state.gen++;
    stopPolling();
    renderWho();
    statusEl.replaceChildren();
    const input = h('input', {id: 'token-input', name: 'token', type: 'password',
      autocomplete: 'off', spellcheck: 'false', required: true,
      'aria-describedby': 'token-help', placeholder: 'msw_...'});
    const error = h('p', {id: 'token-error', class: 'form-error', role: 'alert',
      text: errorText || ''});
    const form = h('form', {id: 'token-form', class: 'card token-form', 'data-role': 'token-form',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const token = input.value.trim();
        if (!token) {
          error.textContent = 'Enter a token.';
          return;
        }
        state.token = token;
        sessionStorage.setItem(TOKEN_KEY, token);
        error.textContent = 'Checking\u2026';
        await start();
      }},
    h('h1', {text: 'mixsweep dashboard'}),
    h('p', {text: 'This dashboard asks for an access token of a role that may read sweeps ' +
      '(viewer, researcher or admin).'}),
    h('label', {for: 'token-input', text: 'Access token'}),
    h('div', {class: 'row'}, input, h('button', {type: 'submit', text: 'Open dashboard'})),
    error,
    h('p', {id: 'token-help', class: 'muted'},
      'An admin makes one with ',
      h('code', {text: 'mixsweep token create --principal you --role viewer --out you.token'}),
      '; paste the file\u2019s content. The token is kept in this browser tab only ' +
      '(sessionStorage) and sent with each request. A link may carry it as ',
      h('code', {text: '#token=\u2026'}), '.'));
    setMain(form);
    input.focus();
  }

  // ---- Start-up ---------------------------------------------------------------------

  async function start() {
    state.gen++;
    stopPolling();
    try {
      const session = await api('/api/v1/session');
      state.open = session.open === true;
    } catch (e) {
      setMain(h('div', {class: 'card error-card', 'data-role': 'fatal-error'},
        h('h1', {text: 'The dashboard server did not answer'}),
        h('p', {text: e instanceof ApiError ? e.describe() : String(e)}),
        h('button', {type: 'button', onclick: () => start(), text: 'Try again'})));
      return;
    }
    if (!state.open) {
      if (!state.token) {
        showTokenForm('');
        return;
      }
      try {
        state.whoami = await api('/api/v1/whoami');
      } catch (e) {
        if (e instanceof ApiError && e.auth) {
          forgetToken();
          showTokenForm(`The server refused this token: ${e.describe()}`);
        } else {
          showTokenForm(`Could not check the token: ${e instanceof ApiError ? e.describe() : e}`);
        }
        return;
      }
      if (!READER_ROLES.includes(state.whoami.role)) {
        const role = enumName(state.whoami.role, 'ROLE_');
        forgetToken();
        showTokenForm(`This token's role (${role}) may not read sweeps: ` +
          'use a viewer, researcher or admin token.');
        return;
      }
    }
    renderWho();
    navigate();
  }

  function navigate() {
    state.gen++;
    const route = routeOf(parseFragment(location.hash).route);
    state.route = route;
    state.error = null;
    if (route.name === 'sweep') {
      if (state.sweepId !== route.id) {
        Object.assign(state, {sweepId: route.id, detail: null, detailSig: '',
          detailFetchedPoll: -1, results: null, resultsSig: '', estimates: null,
          estimatesSig: '', estimatesFetchedAt: 0, settle: 0, scenario: null,
          recommendation: null});
      }
      document.title = `mixsweep \u00b7 sweep ${route.id}`;
    } else {
      state.sweepId = null;
      document.title = 'mixsweep \u00b7 sweeps';
    }
    setMain(h('p', {class: 'muted', 'data-role': 'loading', text: 'Loading\u2026'}));
    state.listSig = '';
    state.workersSig = '';
    poll();
  }

  function stopPolling() {
    if (state.timer) clearTimeout(state.timer);
    state.timer = null;
  }

  // ---- Polling --------------------------------------------------------------------

  async function poll() {
    stopPolling();
    if (state.polling) {
      state.timer = setTimeout(poll, 200);
      return;
    }
    state.polling = true;
    const route = state.route;
    const gen = state.gen;
    let changed = false;
    try {
      changed = route.name === 'sweep' ? await pollSweep(route.id, gen) : await pollList(gen);
      state.error = null;
      state.lastUpdated = new Date();
      if (changed) state.lastChanged = state.lastUpdated;
    } catch (e) {
      if (e instanceof Stale || gen !== state.gen) {
        // Whoever changed the view polls for it.
        state.polling = false;
        return;
      }
      if (e instanceof ApiError && e.auth && !state.open) {
        state.polling = false;
        forgetToken();
        showTokenForm(`The server refused the token: ${e.describe()}`);
        return;
      }
      if (e instanceof ApiError && e.status === 404 && route.name === 'sweep') {
        state.polling = false;
        setMain(h('div', {class: 'card error-card', 'data-role': 'not-found'},
          h('h1', {text: `Sweep ${route.id} not found`}), h('p', {text: e.message}),
          h('a', {href: '#/', text: '\u2190 All sweeps'})));
        return;
      }
      state.error = e instanceof ApiError ? e.describe() : String(e && e.message ? e.message : e);
      // A bug must not stop the page from trying again.
      if (!(e instanceof ApiError)) console.error(e);
    }
    state.pollCount++;
    state.polling = false;
    renderStatus();
    if (state.route === route) state.timer = setTimeout(poll, POLL_MS);
  }

  async function pollList(gen) {
    const [list, workers] = await Promise.all([api('/api/v1/sweeps'), api('/api/v1/workers')]);
    alive(gen);
    let changed = false;
    // The evaluation progress of active sweeps comes from their results:
    // fetched for at most 10 of them, every few polls.
    if (state.pollCount % DETAIL_EVERY_WHILE_RUNNING === 0 || !state.listSig) {
      const active = (list.sweeps || []).filter((s) => s.state === 'SWEEP_STATE_ACTIVE').slice(0, 10);
      const got = await Promise.all(active.map((s) =>
        api(`/api/v1/sweeps/${encodeURIComponent(s.id)}/results`).catch(() => null)));
      alive(gen);
      state.listResults = {};
      active.forEach((s, i) => {
        if (got[i]) state.listResults[s.id] = got[i];
      });
    }
    const sig = stableJson([list, Object.entries(state.listResults).map(([id, r]) =>
      [id, (r.results || []).map((x) => x.trialsRecorded)])]);
    if (sig !== state.listSig || !state.rendered.list) {
      changed = state.listSig !== '' && sig !== state.listSig;
      state.listSig = sig;
      state.list = list;
      renderListView();
    }
    const wsig = stableJson(workers);
    if (wsig !== state.workersSig || !state.rendered.workers) {
      changed = changed || (state.workersSig !== '' && wsig !== state.workersSig);
      state.workersSig = wsig;
      state.workers = workers;
      renderWorkers();
    }
    return changed;
  }

  // The part of a sweep that says whether its runs and jobs changed.
  function sweepSignature(sweep) {
    if (!sweep) return '';
    return stableJson([sweep.state, sweep.revision, sweep.counts, sweep.updatedAt]);
  }

  async function pollSweep(id, gen) {
    const pollNo = state.pollCount;
    // Light: the list's counts (the sweep may be beyond its first page) and
    // the results.
    const [list, results] = await Promise.all([
      api('/api/v1/sweeps'),
      api(`/api/v1/sweeps/${id}/results`),
    ]);
    alive(gen);
    const listed = (list.sweeps || []).find((s) => String(s.id) === String(id));
    let changed = false;

    const running = state.detail && (state.detail.jobs || []).some((j) =>
      j.state === 'JOB_STATE_RUNNING' || j.state === 'JOB_STATE_LEASED');
    const needDetail = !state.detail || !listed ||
      sweepSignature(listed) !== sweepSignature(state.detail.sweep) ||
      (running && pollNo - state.detailFetchedPoll >= DETAIL_EVERY_WHILE_RUNNING);
    if (needDetail) {
      const detail = await api(`/api/v1/sweeps/${id}`);
      alive(gen);
      state.detailFetchedPoll = pollNo;
      const sig = stableJson(detail);
      if (sig !== state.detailSig) {
        changed = state.detailSig !== '';
        state.detailSig = sig;
        state.detail = detail;
      }
    }

    const rsig = stableJson((results.results || []).map((r) =>
      [r.runId, r.scenario, r.checkpointUri, r.trialsRecorded, r.s, r.state]));
    const resultsChanged = rsig !== state.resultsSig;
    if (resultsChanged) {
      changed = changed || state.resultsSig !== '';
      state.resultsSig = rsig;
      state.results = results;
      state.settle = SETTLE_POLLS;
    }

    const now = Date.now();
    const needEstimates = !state.estimates || resultsChanged || state.settle > 0 ||
      estimatesLag() || now - state.estimatesFetchedAt >= ESTIMATES_REFRESH_MS;
    if (needEstimates) {
      if (!resultsChanged && state.settle > 0) state.settle--;
      const estimates = await api(`/api/v1/sweeps/${id}/estimates`);
      alive(gen);
      state.estimatesFetchedAt = now;
      const esig = stableJson((estimates.estimates || []).map((e) =>
        [e.scenario, e.source, e.version, e.trialCount, e.lastTrialId]));
      if (esig !== state.estimatesSig) {
        changed = changed || state.estimatesSig !== '';
        state.estimatesSig = esig;
        state.estimates = estimates;
        state.rendered.estimates = false;
      }
    }
    renderSweepView(changed);
    return changed;
  }

  // Whether some estimate counts fewer trials than the results hold for its
  // (scenario, source): its recomputation has not caught up yet. Rechecked
  // at most every 10 s so that a lasting mismatch costs little.
  function estimatesLag() {
    if (!state.estimates || !state.results) return false;
    if (Date.now() - state.estimatesFetchedAt < 10000) return false;
    const trials = new Map();
    for (const r of state.results.results || []) {
      const key = `${r.scenario}\u0000${r.source || ''}`;
      trials.set(key, (trials.get(key) || 0) + int(r.trialsRecorded));
    }
    return (state.estimates.estimates || []).some((e) => {
      const expected = (trials.get(`${e.scenario}\u0000`) || 0) +
        (trials.get(`${e.scenario}\u0000${e.source}`) || 0);
      return int(e.trialCount) < expected;
    });
  }

  // ---- The sweep list -------------------------------------------------------------

  function progressBar(done, total, label, extra) {
    const pct = total > 0 ? Math.min(100, (100 * done) / total) : 0;
    const fill = h('div', {class: `bar-fill${extra && extra.failed ? ' bar-has-failed' : ''}`});
    fill.style.width = `${pct.toFixed(1)}%`;
    const bar = h('div', {class: 'bar', role: 'progressbar', 'aria-valuemin': 0,
      'aria-valuemax': total, 'aria-valuenow': done, 'aria-label': label}, fill);
    if (extra && extra.failed && total > 0) {
      const failed = h('div', {class: 'bar-failed'});
      failed.style.width = `${Math.min(100, (100 * extra.failed) / total).toFixed(1)}%`;
      bar.append(failed);
    }
    return h('div', {class: 'progress', 'data-done': done, 'data-total': total},
      bar, h('span', {class: 'progress-text',
        text: `${fmtInt(done)} / ${fmtInt(total)} ${label}` +
          (extra && extra.failed ? ` \u00b7 ${fmtInt(extra.failed)} failed` : '')}));
  }

  function stateBadge(sweepState) {
    const name = enumName(sweepState, 'SWEEP_STATE_');
    return h('span', {class: `badge badge-${name.replace(/ /g, '-')}`, 'data-role': 'sweep-state',
      text: name});
  }

  function jobsProgress(sweep) {
    const c = sweep.counts || {};
    const byState = c.jobsByState || {};
    return progressBar(int(byState.JOB_STATE_SUCCEEDED), int(c.jobsTotal), 'jobs trained',
      {failed: int(byState.JOB_STATE_FAILED)});
  }

  // Evaluations (run x scenario) complete, from the results: the runs'
  // state never says EVALUATED (see docs/DASHBOARD.md). Without results,
  // from the sweep's state: a completed sweep has every evaluation done.
  function evaluationCounts(sweep, results) {
    const c = sweep.counts || {};
    const byState = c.runsByState || {};
    const scenarios = (sweep.scenarios || []).length;
    const live = Math.max(0, int(c.runsTotal) - int(byState.RUN_STATE_FAILED) -
      int(byState.RUN_STATE_CANCELLED));
    if (!results) {
      return sweep.state === 'SWEEP_STATE_COMPLETED'
        ? {complete: live * scenarios, total: live * scenarios, known: true}
        : {complete: 0, total: live * scenarios, known: false};
    }
    const rows = results.results || [];
    const complete = new Set(rows.filter((r) => int(r.trialsWanted) > 0 &&
      int(r.trialsRecorded) >= int(r.trialsWanted)).map((r) => `${r.runId}/${r.scenario}`)).size;
    return {complete, total: Math.max(live * scenarios, complete), known: true};
  }

  function evalProgress(sweep, results) {
    const n = evaluationCounts(sweep, results);
    if (!n.known) {
      return h('div', {class: 'progress'}, h('span', {class: 'progress-text',
        text: `${fmtInt(n.total)} evaluations (run \u00d7 scenario)`}));
    }
    return progressBar(n.complete, n.total, 'evaluations complete');
  }

  function renderListView() {
    const sweeps = (state.list && state.list.sweeps) || [];
    const rows = sweeps.map((s) => h('tr', {'data-role': 'sweep-row', 'data-sweep-id': s.id,
      class: 'clickable', onclick: (ev) => {
        if (ev.target.closest('a')) return;
        location.hash = `#/sweeps/${encodeURIComponent(s.id)}`;
      }},
      h('td', {class: 'num', text: s.id}),
      h('td', null, h('a', {href: `#/sweeps/${encodeURIComponent(s.id)}`, text: s.name || '(unnamed)'})),
      h('td', {text: s.task || ''}),
      h('td', {text: s.owner || ''}),
      h('td', null, stateBadge(s.state)),
      h('td', null, jobsProgress(s)),
      h('td', null, evalProgress(s, state.listResults[s.id])),
      h('td', {class: 'nowrap', text: fmtDate(s.createdAt)})));
    const table = sweeps.length
      ? h('table', {class: 'data sweeps', 'data-role': 'sweep-list'},
        h('caption', {class: 'sr-only', text: 'Sweeps, newest first'}),
        h('thead', null, h('tr', null, ['#', 'Name', 'Task', 'Owner', 'State', 'Training',
          'Evaluation', 'Created'].map((t) => h('th', {scope: 'col', text: t})))),
        h('tbody', null, rows))
      : h('p', {class: 'muted', 'data-role': 'no-sweeps'}, 'No sweeps yet. Submit one with ',
        h('code', {text: 'mixsweep sweep submit spec.yaml'}), '.');
    const more = state.list && state.list.nextPageToken
      ? h('p', {class: 'muted', text: `Showing the ${sweeps.length} newest sweeps; older ones: ` +
        'open #/sweeps/ID or use mixsweep sweep list.'}) : null;
    const section = h('section', {class: 'card', 'data-section': 'sweeps'},
      h('h1', {text: 'Sweeps'}), table, more);
    if (state.rendered.list && state.rendered.list.isConnected) {
      state.rendered.list.replaceWith(section);
    } else {
      setMain(section, h('section', {class: 'card', 'data-section': 'workers'}));
    }
    state.rendered.list = section;
    if (!state.rendered.workers) state.rendered.workers = app.querySelector('[data-section=workers]');
  }

  function renderWorkers() {
    const workers = ((state.workers && state.workers.workers) || []);
    const section = h('section', {class: 'card', 'data-section': 'workers'},
      h('h2', {text: 'Workers'}),
      workers.length ? h('table', {class: 'data'},
        h('thead', null, h('tr', null, ['Name', 'Host', 'State', 'GPUs', 'Running jobs',
          'Last heartbeat'].map((t) => h('th', {scope: 'col', text: t})))),
        h('tbody', null, workers.map((w) => h('tr', null,
          h('td', null, w.name || '', w.synthetic ? h('span', {class: 'badge', text: 'synthetic'}) : null),
          h('td', {text: w.host || ''}),
          h('td', {text: enumName(w.state, 'STATE_')}),
          h('td', {class: 'num', text: String((w.gpus || []).length)}),
          h('td', {text: (w.runningJobIds || []).map((j) => `#${j}`).join(', ') || '\u2014'}),
          h('td', {class: 'nowrap', text: fmtDate(w.lastHeartbeatAt)})))))
        : h('p', {class: 'muted', text: 'No workers connected.'}));
    if (state.rendered.workers && state.rendered.workers.isConnected) {
      state.rendered.workers.replaceWith(section);
    } else {
      app.append(section);
    }
    state.rendered.workers = section;
  }

  // ---- The sweep view ---------------------------------------------------------------

  // Sections of the sweep view, in page order; each re-rendered on its own
  // when its inputs change.
  const SECTIONS = ['summary', 'plots', 'eta', 'grid', 'results', 'costs', 'budget'];

  function ensureSweepFrame() {
    if (state.rendered.frame && state.rendered.frame.isConnected) return;
    const frame = h('div', {class: 'sweep-view', 'data-role': 'sweep-view'},
      h('nav', {class: 'crumbs'}, h('a', {href: '#/', text: '\u2190 All sweeps'})),
      SECTIONS.map((name) => h('section', {class: 'card', 'data-section': name})));
    setMain(frame);
    state.rendered.frame = frame;
  }

  function replaceSection(name, sig, build) {
    const old = app.querySelector(`[data-section="${name}"]`);
    if (!old) return;
    if (state.rendered[`sig:${name}`] === sig) return;
    const node = build();
    node.classList.add('card');
    node.setAttribute('data-section', name);
    old.replaceWith(node);
    state.rendered[`sig:${name}`] = sig;
  }

  function renderSweepView() {
    if (!state.detail) return;
    ensureSweepFrame();
    const d = state.detail;
    const sweep = d.sweep || {};
    const scenarios = (sweep.scenarios || []).map((s) => s.name);
    const ests = sortedEstimates(sweep, (state.estimates && state.estimates.estimates) || []);
    if (!state.scenario || !scenarios.includes(state.scenario)) state.scenario = scenarios[0] || '';

    replaceSection('summary', state.detailSig + state.resultsSig, () => buildSummary(d));
    replaceSection('plots', state.estimatesSig + sweepSignature(sweep), () => buildPlots(sweep, ests));
    replaceSection('eta', state.estimatesSig, () => buildEtaTable(sweep, ests));
    replaceSection('grid', state.detailSig + state.resultsSig + state.scenario,
      () => buildGrid(d, state.results));
    replaceSection('results', state.resultsSig, () => buildResults(state.results));
    replaceSection('costs', state.estimatesSig + state.detailSig, () => buildCosts(sweep, ests));
    replaceSection('budget', stableJson([scenarios, (sweep.sources || []).map((s) => s.name),
      state.recommendation && state.recommendation.key]), () => buildBudget(sweep));
  }

  // Estimates in the spec's order: by source, then by scenario (one row of
  // plots per source, as seed 000's figures are one per source and scenario).
  function sortedEstimates(sweep, ests) {
    const sources = (sweep.sources || []).map((s) => s.name);
    const scenarios = (sweep.scenarios || []).map((s) => s.name);
    const rank = (list, v) => {
      const i = list.indexOf(v);
      return i < 0 ? list.length : i;
    };
    return [...ests].sort((a, b) => rank(sources, a.source) - rank(sources, b.source) ||
      rank(scenarios, a.scenario) - rank(scenarios, b.scenario) ||
      String(a.source).localeCompare(String(b.source)) ||
      String(a.scenario).localeCompare(String(b.scenario)));
  }

  function resultCounts() {
    let recorded = 0;
    let wanted = 0;
    for (const r of (state.results && state.results.results) || []) {
      recorded += int(r.trialsRecorded);
      wanted += int(r.trialsWanted);
    }
    return {recorded, wanted};
  }

  function specCurrency(sweep) {
    // The Sweep message has the prices' effect (cost_money) but not the
    // currency's name: read it from the spec as submitted, for display only.
    const m = /^\s*currency:\s*["']?([A-Za-z]{3})["']?\s*(#.*)?$/m.exec(sweep.specYaml || '');
    return m ? m[1].toUpperCase() : '';
  }

  function buildSummary(d) {
    const sweep = d.sweep || {};
    const runs = d.runs || [];
    const {recorded, wanted} = resultCounts();
    // GPU-hours as the workers measured them (Run.cost_* are not filled by
    // the server: see docs/DASHBOARD.md).
    let gpu = 0;
    for (const j of d.jobs || []) gpu += (num(j.gpuSeconds) || 0) / 3600;
    const done = evaluationCounts(sweep, state.results);
    const scaling = sweep.design === 'scaling';
    const sources = (sweep.sources || []).length
      ? h('ul', {class: 'plain', 'data-role': 'sources'}, (sweep.sources || []).map(sourceItem))
      : 'none';
    const scenarios = h('ul', {class: 'plain', 'data-role': 'scenarios'},
      (sweep.scenarios || []).map((s) => {
        const sim = s.evaluator === 'EVALUATOR_SIMULATION';
        return h('li', {'data-role': 'scenario', 'data-scenario': s.name,
          'data-evaluator': sim ? 'simulation' : 'robot'},
        `${s.name} `, evaluatorBadge(sim),
        sim ? ` ${s.resultFormat || 'mixsweep'}, seed ${s.seed || 0}` : (s.platform ? ` ${s.platform}` : ''),
        ` \u00b7 ${fmtInt(s.trials)} ${sim ? 'episodes' : 'trials'}`);
      }));
    const facts = [
      ['Task', sweep.task], ['Policy', sweep.policy], ['Owner', sweep.owner],
      ['Created', fmtDate(sweep.createdAt)], ['Code version', sweep.codeVersion],
      ['Design', scaling ? 'scaling: one source, S vs its N, no teleop (seed 001, Fig. 5)'
        : sweep.design === 'mixture' ? 'mixture: teleop \u00d7 sources (seed 000)' : sweep.design],
      ['Checkpoints', AGGREGATION_TEXT[sweep.aggregation] || sweep.aggregation],
      ['N_tele', scaling ? 'none (scaling)' : (sweep.nTele || []).map(fmtInt).join(', ')],
      ['Sources', sources],
      ['Seeds', (sweep.seeds || []).join(', ')],
      ['Scenarios', scenarios],
      ['Revision', String(sweep.revision || 1)],
    ];
    if (scaling && int(sweep.baselineFromSweep) > 0) {
      facts.push(['Teleop curve from', `sweep #${sweep.baselineFromSweep}`]);
    }
    return h('section', {'aria-labelledby': 'sweep-title'},
      h('div', {class: 'title-row'},
        h('h1', {id: 'sweep-title', 'data-role': 'sweep-title'},
          `#${sweep.id} ${sweep.name || ''} `, stateBadge(sweep.state))),
      sweep.cancelReason ? h('p', {class: 'form-error', text: `Cancelled: ${sweep.cancelReason}`}) : null,
      h('div', {class: 'progress-row'},
        h('div', null, h('div', {class: 'label', text: 'Training'}), jobsProgress(sweep)),
        h('div', null, h('div', {class: 'label', text: 'Evaluation'}),
          progressBar(done.complete, done.total, 'evaluations complete')),
        h('div', null, h('div', {class: 'label', text: 'Trials'}),
          progressBar(recorded, wanted, 'trials recorded')),
        h('div', null, h('div', {class: 'label', text: 'GPU time so far'}),
          h('div', {class: 'spent', text: `${fmt(gpu)} GPU-hours measured` +
            ` over ${fmtInt((d.jobs || []).filter((j) => num(j.gpuSeconds) > 0).length)} jobs`}))),
      h('dl', {class: 'facts'}, facts.map(([k, v]) => h('div', {class: v instanceof Node ? 'wide' : null},
        h('dt', {text: k}),
        v instanceof Node ? h('dd', null, v)
          : h('dd', {text: v === undefined || v === '' ? '\u2014' : String(v)})))));
  }

  // A source of the sweep: collected, or generated by a generate job (its
  // success rate, time and measured cost per demo once it ran).
  function sourceItem(s) {
    const kind = SOURCE_KIND_LABEL[s.kind] || 'non-teleop';
    const nts = `N_nt ${(s.nNt || []).map(fmtInt).join(', ')}`;
    if (!s.generated) {
      return h('li', {'data-role': 'source', 'data-source': s.name, 'data-generated': 'false'},
        `${s.name} (${kind}) `, h('span', {class: 'badge badge-collected', text: 'collected'}),
        ` ${nts}`);
    }
    const g = s.generation || {};
    const figures = [];
    figures.push(`${fmtInt(s.generateDemos)} demos from ${(s.generateFrom && s.generateFrom.uri) || '?'}`);
    if (int(g.jobId) > 0) {
      figures.push(`generate job #${g.jobId}: ${enumName(g.state, 'JOB_STATE_')}`);
      if (int(g.numAttempts) > 0) {
        figures.push(`${fmtInt(g.numSuccess)}/${fmtInt(g.numAttempts)} successes = ` +
          fmtPercent(g.successRate));
      }
      if (num(g.seconds) > 0) figures.push(fmtSeconds(g.seconds));
      if (num(g.measuredCostPerDemoHours) > 0) {
        figures.push(`${fmt(num(g.measuredCostPerDemoHours) * 3600)} s per demo measured vs ` +
          `${fmt(num(s.costPerDemoHours) * 3600)} s in the spec`);
      }
    } else {
      figures.push('no generate job yet');
    }
    return h('li', {'data-role': 'source', 'data-source': s.name, 'data-generated': 'true',
      'data-success-rate': String(num(g.successRate) || 0),
      'data-measured-cost': String(num(g.measuredCostPerDemoHours) || 0)},
    `${s.name} (${kind}) `, h('span', {class: 'badge badge-generated', text: 'generated'}),
    ` ${nts}`, h('div', {class: 'muted small', 'data-role': 'generation', text: figures.join(' \u00b7 ')}));
  }

  // ---- Plots ----------------------------------------------------------------------------

  function curvePoint(p) {
    return {n: num(p.nTele), nTele: num(p.nTele), nNt: num(p.nNt), s: num(p.meanS),
      std: num(p.stdS), nSeeds: int(p.nSeeds), trials: int(p.trials)};
  }

  function estimateLabel(e) {
    return `${e.scenario} \u00b7 ${e.source}`;
  }

  function fitText(fit) {
    if (!fit || !fit.defined) {
      const why = fit && fit.undefinedReason && fit.undefinedReason !== 'STATUS_UNSPECIFIED'
        ? STATUS_TEXT[fit.undefinedReason] || enumName(fit.undefinedReason, 'STATUS_') : 'no data yet';
      return `power-law fit undefined: ${why}`;
    }
    let t = `fit S = ${fmt(num(fit.alpha))} \u00b7 N^${fmt(num(fit.beta))}, ` +
      `R\u00b2 = ${num(fit.rSquared).toFixed(3)} (log space, ${(fit.nUsed || []).length} points)`;
    if (num(fit.beta) <= 0) t += ' \u2014 \u03b2 \u2264 0: no positive scaling, no global \u03b7';
    if (int(fit.pointsExcludedZero) > 0) t += `; ${fit.pointsExcludedZero} point(s) with S = 0 left out`;
    return t;
  }

  // A scaling estimate's plot: the source's own curve against N with the
  // power law fitted on it (seed 001, Fig. 5).
  function scalingPlotModel(e) {
    const points = (e.mixedCurve || []).map((p) => ({n: num(p.nNt), nTele: 0, nNt: num(p.nNt),
      s: num(p.meanS), std: num(p.stdS), nSeeds: int(p.nSeeds), trials: int(p.trials)}));
    const fit = e.sourceFit || {};
    return {
      title: estimateLabel(e),
      sourceName: e.source,
      sourceKind: SOURCE_KIND_KEY[e.sourceKind] || 'other',
      scaling: true,
      xLabel: `${e.source} demos N (log)`,
      pointLabel: e.source,
      teleop: points,
      mixed: [],
      fit: {defined: fit.defined === true, alpha: num(fit.alpha), beta: num(fit.beta),
        rSquared: num(fit.rSquared)},
      ariaLabel: `Success rate versus ${e.source} demos on log-log axes, ${e.scenario}: ` +
        `${points.length} points; source ${fitText(fit)}.`,
    };
  }

  // The gain per demo between consecutive N of a scaling estimate.
  function marginalGainsTable(e) {
    const gains = e.marginalGains || [];
    if (!gains.length) {
      return h('p', {class: 'muted small', text: 'Marginal gain per demo: needs two N with results.'});
    }
    return h('table', {class: 'data small gains', 'data-role': 'marginal-gains',
      'data-scenario': e.scenario, 'data-source': e.source},
    h('caption', {text: 'Marginal gain per demo (seed means)'}),
    h('thead', null, h('tr', null, ['N', 'S', 'Gain per demo', 'Per 100 demos']
      .map((t) => h('th', {scope: 'col', text: t})))),
    h('tbody', null, gains.map((g) => h('tr', {'data-role': 'gain-row', 'data-n-from': String(num(g.nFrom)),
      'data-n-to': String(num(g.nTo)), 'data-gain': String(num(g.gainPerDemo))},
    h('td', {class: 'num nowrap', text: `${fmtInt(g.nFrom)} \u2192 ${fmtInt(g.nTo)}`}),
    h('td', {class: 'num nowrap', text: `${fmtS(g.sFrom)} \u2192 ${fmtS(g.sTo)}`}),
    h('td', {class: 'num', text: fmtSigned(num(g.gainPerDemo))}),
    h('td', {class: 'num', text: fmtSigned(num(g.gainPerDemo) * 100)})))));
  }

  // What an estimate's header says besides its scenario and source: who
  // evaluated it and how checkpoints were aggregated.
  function estimateTags(e) {
    return [' ', evaluatorBadge(e.simulated === true),
      e.aggregation ? h('span', {class: 'muted', 'data-role': 'aggregation',
        'data-aggregation': e.aggregation, text: ` ${aggregationText(e.aggregation)}`}) : null];
  }

  function plotModel(e) {
    const globals = new Map((e.global || []).map((g) => [`${num(g.nTele)}/${num(g.nNt)}`, g]));
    const fit = e.fit || {};
    const mixed = (e.mixedCurve || []).map((p) => {
      const m = curvePoint(p);
      const g = globals.get(`${m.nTele}/${m.nNt}`);
      if (g) {
        m.nEq = num(g.nEq);
        m.etaStatus = g.eta && g.eta.status;
        m.etaValue = num(g.eta && g.eta.value);
        m.signEstablished = g.interval ? g.interval.signEstablished === true : undefined;
      }
      return m;
    });
    const teleop = (e.teleopCurve || []).map(curvePoint);
    const model = {
      title: estimateLabel(e),
      sourceName: e.source,
      sourceKind: SOURCE_KIND_KEY[e.sourceKind] || 'other',
      teleop,
      mixed,
      fit: {defined: fit.defined === true, alpha: num(fit.alpha), beta: num(fit.beta),
        rSquared: num(fit.rSquared)},
    };
    const arrows = mixed.filter((m) => window.MixPlot.hasArrow(m, model.fit));
    model.ariaLabel = `Success rate versus teleop demos on log-log axes, ${e.scenario}, ` +
      `${e.source}: ${teleop.length} teleop-only points, ${mixed.length} mixed points; ` +
      `${fitText(fit)}. ` + arrows.map((m) => `${m.nTele} teleop + ${m.nNt} ${e.source}: ` +
        `N_eq ${fmt(m.nEq)}, eta ${m.etaStatus === 'STATUS_DEFINED' ? fmtSigned(m.etaValue)
          : 'undefined'}`).join('; ');
    return model;
  }

  // One line under a plot's title: where the non-teleop data helped or hurt
  // (global eta per mixed point) and where that sign is established.
  function plotVerdict(e, model) {
    const groups = {positive: [], negative: [], undefined: []};
    const established = [];
    for (const m of model.mixed) {
      if (!(Number.isFinite(m.s) && m.s > 0) || m.etaStatus === undefined) continue;
      const sign = window.MixPlot.signOf(m);
      const at = model.mixed.some((o) => o !== m && o.nTele === m.nTele)
        ? `${fmtInt(m.nTele)}+${fmtInt(m.nNt)}` : fmtInt(m.nTele);
      groups[sign].push(at);
      if (m.signEstablished && sign !== 'undefined') established.push(at);
    }
    const parts = [];
    if (groups.positive.length) {
      parts.push(h('span', {class: 'key-positive', text: `helps at ${groups.positive.join(', ')}`}));
    }
    if (groups.negative.length) {
      if (parts.length) parts.push(' \u00b7 ');
      parts.push(h('span', {class: 'key-negative', text: `hurts at ${groups.negative.join(', ')}`}));
    }
    if (groups.undefined.length) {
      if (parts.length) parts.push(' \u00b7 ');
      parts.push(h('span', {class: 'muted', text: `undefined at ${groups.undefined.join(', ')}`}));
    }
    if (!parts.length) return h('div', {class: 'plot-verdict muted', text: 'no global \u03b7 yet'});
    parts.push(h('span', {class: 'muted', text: established.length
      ? ` \u00b7 sign established at ${established.join(', ')}` : ' \u00b7 sign not established'}));
    return h('div', {class: 'plot-verdict', 'data-role': 'plot-verdict'}, `${e.source}: `, parts);
  }

  function buildPlots(sweep, ests) {
    if (sweep.design === 'scaling' || ests.some((e) => e.scaling)) return buildScalingPlots(sweep, ests);
    const section = h('section', {'aria-labelledby': 'plots-title'},
      h('h2', {id: 'plots-title', text: 'Success rate vs teleop demos (seed 000, Figs. 4\u20137)'}),
      h('p', {class: 'explain'},
        'Log-log axes. ',
        h('span', {class: 'key-teleop', text: 'Blue'}),
        ': teleop only (seed mean \u00b1 std) and its power-law fit. ',
        h('span', {class: 'key-mixed', text: 'Orange'}),
        ': the same teleop demos after pretraining on non-teleop demos; the arrow goes to N_eq, ' +
        'the teleop demos the fit needs for the same success: ',
        h('span', {class: 'key-positive', text: 'green \u2192 it helped (\u03b7 > 0)'}), ', ',
        h('span', {class: 'key-negative', text: 'red \u2190 it hurt (\u03b7 < 0)'}), '.'));
    if (!ests.length) {
      section.append(h('p', {class: 'muted', 'data-role': 'no-estimates',
        text: 'No estimates yet: they appear as soon as the first trials are recorded.'}));
      return section;
    }
    const grid = h('div', {class: 'plots'});
    for (const e of ests) {
      const model = plotModel(e);
      const fig = paperFigure(e.sourceKind, e.scenario);
      const kind = SOURCE_KIND_LABEL[e.sourceKind] || 'non-teleop';
      const svg = window.MixPlot.render(model);
      grid.append(h('figure', {class: 'plot', 'data-role': 'plot', 'data-scenario': e.scenario,
        'data-source': e.source, 'data-version': String(e.version || '0'),
        'data-trials': String(e.trialCount || 0)},
      h('figcaption', null,
        h('div', {class: 'plot-title'}, h('strong', {text: e.scenario}),
          ` \u00b7 teleop vs ${e.source} (${kind})`, estimateTags(e)),
        h('div', {class: 'plot-sub muted', 'data-role': 'fit-text', text: fitText(e.fit)}),
        plotVerdict(e, model)),
      svg,
      h('div', {class: 'plot-foot muted', text: `${fmtInt(e.trialCount)} trials \u00b7 ` +
        `estimate v${e.version || 0} of ${fmtWhen(e.computedAt)}` +
        (e.fromGivenS ? ' \u00b7 from given S values' : '') +
        (fig ? ` \u00b7 cf. seed 000 ${fig}` : '')})));
    }
    section.append(grid);
    return section;
  }

  // Seed 001's Fig. 5: per (scenario, source), S against the number of
  // source demos with the power law fitted on the source alone, the gain
  // per demo between consecutive N, and (with a baseline sweep) each
  // point's exchange rate against the teleop curve, in the eta table.
  function buildScalingPlots(sweep, ests) {
    const section = h('section', {'aria-labelledby': 'plots-title'},
      h('h2', {id: 'plots-title', text: 'Success rate vs number of demos (seed 001, Fig. 5)'}),
      h('p', {class: 'explain', text: 'Log-log axes. Each point: the mean S over seeds (error bar: ' +
        'population std) of the runs trained on N demos of the source alone; the dashed line is the ' +
        'power law S = \u03b1 N^\u03b2 fitted on them. Below each plot: the gain in S per extra ' +
        'demo between consecutive N.'}));
    if (!ests.length) {
      section.append(h('p', {class: 'muted', 'data-role': 'no-estimates',
        text: 'No estimates yet: they appear as soon as the first trials are recorded.'}));
      return section;
    }
    const grid = h('div', {class: 'plots'});
    for (const e of ests) {
      const model = e.scaling ? scalingPlotModel(e) : plotModel(e);
      const kind = SOURCE_KIND_LABEL[e.sourceKind] || 'non-teleop';
      grid.append(h('figure', {class: 'plot', 'data-role': 'plot', 'data-scaling': e.scaling ? 'true' : 'false',
        'data-scenario': e.scenario, 'data-source': e.source, 'data-version': String(e.version || '0'),
        'data-trials': String(e.trialCount || 0)},
      h('figcaption', null,
        h('div', {class: 'plot-title'}, h('strong', {text: e.scenario}),
          ` \u00b7 ${e.source} (${kind})`, estimateTags(e)),
        h('div', {class: 'plot-sub muted', 'data-role': 'fit-text',
          text: `source ${fitText(e.scaling ? e.sourceFit : e.fit)}`})),
      window.MixPlot.render(model),
      e.scaling ? marginalGainsTable(e) : null,
      h('div', {class: 'plot-foot muted', text: `${fmtInt(e.trialCount)} trials \u00b7 ` +
        `estimate v${e.version || 0} of ${fmtWhen(e.computedAt)}`})));
    }
    section.append(grid);
    return section;
  }

  // ---- The eta table ----------------------------------------------------------------------

  const STATUS_TEXT = {
    STATUS_DEFINED: '',
    STATUS_NO_MEASURABLE_EFFECT: 'S_mix = S_t: no measurable effect (\u03b7 infinite)',
    STATUS_S_MIX_ZERO: 'S_mix = 0: no equivalent teleop count',
    STATUS_N_EQ_EQUALS_N_TELE: 'N_eq = N_tele: no measurable effect (\u03b7 infinite)',
    STATUS_NO_POSITIVE_SCALING: 'the fit has \u03b2 \u2264 0: no positive scaling',
    STATUS_TOO_FEW_POINTS: 'fewer than 2 teleop-only N with S > 0 to fit',
    STATUS_ZERO_BASELINE: 'S_t = 0 at the operating point',
    STATUS_NO_DATA: 'its points have no results yet',
    STATUS_N_EQ_OUT_OF_RANGE: 'N_eq beyond the range of a double',
  };

  function etaText(eta) {
    if (!eta) return '\u2014';
    if (eta.status === 'STATUS_DEFINED') return fmtSigned(num(eta.value));
    if (eta.status === 'STATUS_NO_MEASURABLE_EFFECT' || eta.status === 'STATUS_N_EQ_EQUALS_N_TELE') {
      return '\u221e';
    }
    return 'undefined';
  }

  function hasInterval(iv) {
    return !!iv && (int(iv.resamples) > 0 || (iv.shape && iv.shape !== 'SHAPE_UNSPECIFIED') ||
      iv.signEstablished === true || iv.split === true);
  }

  function shapeOf(iv) {
    if (!hasInterval(iv)) return '';
    if (iv.shape && iv.shape !== 'SHAPE_UNSPECIFIED') return iv.shape;
    if (iv.signEstablished) return 'SHAPE_BOUNDED';
    if (iv.split) return 'SHAPE_SPLIT';
    return '';
  }

  function intervalText(iv) {
    const shape = shapeOf(iv);
    const lo = num(iv && iv.eta && iv.eta.lower);
    const hi = num(iv && iv.eta && iv.eta.upper);
    switch (shape) {
      case 'SHAPE_BOUNDED': return `[${fmtSigned(lo)}, ${fmtSigned(hi)}]`;
      case 'SHAPE_SPLIT': return `\u2264 ${fmtSigned(num(iv.splitAtOrBelow))} or ` +
        `\u2265 ${fmtSigned(num(iv.splitAtOrAbove))}`;
      case 'SHAPE_AT_OR_ABOVE': return `\u2265 ${fmtSigned(num(iv.splitAtOrAbove))} (or no effect)`;
      case 'SHAPE_AT_OR_BELOW': return `\u2264 ${fmtSigned(num(iv.splitAtOrBelow))} (or no effect)`;
      case 'SHAPE_INFINITE_ONLY': return 'no finite \u03b7 (no effect in every resample)';
      default: return '\u2014';
    }
  }

  function intervalTitle(iv) {
    if (!hasInterval(iv)) return 'no interval: \u03b7 is undefined at the point estimate';
    const inv = iv.inverse || {};
    let t = `${Math.round(num(iv.level) * 100)}% bootstrap percentile interval over ` +
      `${fmtInt(iv.resamples)} resamples of seeds and trials; 1/\u03b7 in ` +
      `[${fmt(num(inv.lower))}, ${fmt(num(inv.upper))}]`;
    if (int(iv.resamplesUndefined) > 0) t += `; ${iv.resamplesUndefined} resamples undefined, left out`;
    return t;
  }

  function etaRow(e, kind, p) {
    const eta = p.eta || {};
    const iv = p.interval;
    const has = hasInterval(iv);
    const sign = has ? (iv.signEstablished ? 'yes' : 'no') : '';
    const value = eta.status === 'STATUS_DEFINED' ? num(eta.value) : NaN;
    const cls = eta.status !== 'STATUS_DEFINED' ? 'eta-undef'
      : value > 0 ? (sign === 'yes' ? 'eta-pos' : 'eta-pos-weak')
        : value < 0 ? (sign === 'yes' ? 'eta-neg' : 'eta-neg-weak') : '';
    const note = [];
    if (STATUS_TEXT[eta.status]) note.push(STATUS_TEXT[eta.status]);
    else if (eta.status && !(eta.status in STATUS_TEXT)) note.push(enumName(eta.status, 'STATUS_'));
    if (has && int(iv.resamplesUndefined) > 0) {
      note.push(`${fmtInt(iv.resamplesUndefined)} of ${fmtInt(iv.resamples)} resamples undefined`);
    }
    const nTele = kind === 'local' ? num(p.nTStar) : num(p.nTele);
    const scaling = e.scaling === true;
    const sText = kind === 'local' ? `${fmtS(p.sT)} \u2192 ${fmtS(p.sMix)}` : fmtS(p.sMix);
    const attrs = {
      'data-role': 'eta-row', 'data-scenario': e.scenario, 'data-source': e.source,
      'data-kind': kind, 'data-n-tele': String(nTele), 'data-n-nt': String(num(p.nNt)),
      'data-status': eta.status || 'STATUS_UNSPECIFIED',
      'data-value': eta.status === 'STATUS_DEFINED' ? String(value) : '',
      'data-sign': sign, 'data-shape': shapeOf(iv),
      'data-lower': has && iv.eta ? String(num(iv.eta.lower)) : '',
      'data-upper': has && iv.eta ? String(num(iv.eta.upper)) : '',
      'data-split-below': has ? String(num(iv.splitAtOrBelow)) : '',
      'data-split-above': has ? String(num(iv.splitAtOrAbove)) : '',
      class: kind === 'local' ? 'row-local' : '',
    };
    return h('tr', attrs,
      h('td', {text: kind === 'local' ? `local at N_t* = ${fmtInt(nTele)}`
        : scaling ? 'vs teleop curve' : 'global'}),
      h('td', {class: 'num nowrap', text: scaling ? `N = ${fmtInt(p.nNt)}`
        : `${fmtInt(nTele)} + ${fmtInt(p.nNt)}`}),
      h('td', {class: 'num nowrap', text: sText}),
      h('td', {class: 'num', text: kind === 'global' && num(p.nEq) > 0 ? fmt(num(p.nEq)) : '\u2014'}),
      h('td', {class: `num eta ${cls}`, 'data-col': 'eta', text: etaText(eta)}),
      h('td', {class: 'nowrap', 'data-col': 'interval', title: intervalTitle(iv),
        text: has ? intervalText(iv) : '\u2014'}),
      h('td', {'data-col': 'sign', class: sign === 'yes' ? 'sign-yes' : '',
        text: sign === 'yes' ? (value < 0 ? 'yes (negative)' : value > 0 ? 'yes (positive)' : 'yes')
          : sign === 'no' ? 'no' : '\u2014'}),
      h('td', {class: 'note', 'data-col': 'note', text: note.join('; ')}));
  }

  function buildEtaTable(sweep, ests) {
    const section = h('section', {'aria-labelledby': 'eta-title'},
      h('h2', {id: 'eta-title', text: 'Data utilization ratio \u03b7'}),
      h('p', {class: 'explain', text: '\u03b7 = how many non-teleop demos are worth one teleop ' +
        'demo (negative: |\u03b7| of them undo one teleop demo). Local: at the operating point ' +
        'N_t*, from S_t (teleop only) and S_mix. Global: from the power-law fit, per mixed point. ' +
        'Intervals are bootstrap percentile intervals (hover for details); the sign is ' +
        'established when the interval of 1/\u03b7 excludes 0. \u201c\u2264 a or \u2265 b\u201d: ' +
        'the data allow either sign (|\u03b7| beyond those bounds), so more trials or seeds are ' +
        'needed. Scaling sweeps (no teleop): each point\u2019s exchange rate against the teleop ' +
        'curve of the baseline sweep, \u03b7 = N / N_eq.'}));
    if (!ests.length) {
      section.append(h('p', {class: 'muted', text: 'No estimates yet.'}));
      return section;
    }
    const level = ests.find((e) => e.parameters && num(e.parameters.level) > 0);
    const pct = level ? `${Math.round(num(level.parameters.level) * 100)}%` : '95%';
    const table = h('table', {class: 'data eta-table', 'data-role': 'eta-table'},
      h('caption', {class: 'sr-only', text: 'Local and global eta per scenario and source'}),
      h('thead', null, h('tr', null, ['Kind', 'N_tele + N_nt', 'S (teleop \u2192 mixed)', 'N_eq', '\u03b7',
        `${pct} interval`, 'Sign established', 'Note'].map((t) => h('th', {scope: 'col', text: t})))));
    for (const e of ests) {
      const kind = SOURCE_KIND_LABEL[e.sourceKind] || 'non-teleop';
      const body = h('tbody', {'data-scenario': e.scenario, 'data-source': e.source},
        h('tr', {class: 'group'}, h('th', {colspan: 8, scope: 'rowgroup'},
          h('strong', {text: e.scenario}), ` \u00b7 ${e.source} (${kind})`, estimateTags(e),
          h('span', {class: 'muted', text: ` \u00b7 ${e.scaling ? 'teleop curve ' : ''}` +
            `${fitText(e.fit)} \u00b7 ${fmtInt(e.trialCount)} trials`}))));
      for (const l of e.local || []) body.append(etaRow(e, 'local', l));
      for (const g of e.global || []) body.append(etaRow(e, 'global', g));
      if (!(e.local || []).length && !(e.global || []).length) {
        body.append(h('tr', null, h('td', {colspan: 8, class: 'muted', text: e.scaling
          ? 'no exchange rate: no teleop curve to compare with (the sweep names no baseline sweep) or no results yet'
          : 'no mixed points yet'})));
      }
      table.append(body);
    }
    section.append(h('div', {class: 'scroll-x'}, table));
    return section;
  }

  // ---- The grid of runs ---------------------------------------------------------------------

  const STATE_LABEL = {
    pending: 'pending', blocked: 'blocked', queued: 'queued', running: 'training',
    trained: 'trained', evaluating: 'evaluating', evaluated: 'evaluated', failed: 'failed',
    cancelled: 'cancelled',
  };

  // A run's state as the grid shows it. Trained runs are 'evaluated' once
  // every scenario has all its trials, 'evaluating' once some have some.
  function runDisplayState(run, jobsById, evals) {
    switch (run.state) {
      case 'RUN_STATE_FAILED': return 'failed';
      case 'RUN_STATE_CANCELLED': return 'cancelled';
      case 'RUN_STATE_EVALUATED': return 'evaluated';
      case 'RUN_STATE_TRAINED':
        if (evals && evals.scenarios > 0 && evals.complete >= evals.scenarios) return 'evaluated';
        if (evals && evals.trials > 0) return 'evaluating';
        return 'trained';
      default: break;
    }
    const ids = [run.trainJobId, run.pretrainJobId, run.finetuneJobId].map(String)
      .filter((id) => id !== '0' && id !== 'undefined');
    const jobs = ids.map((id) => jobsById.get(id)).filter(Boolean);
    if (jobs.some((j) => j.state === 'JOB_STATE_RUNNING' || j.state === 'JOB_STATE_LEASED')) {
      return 'running';
    }
    // Between two jobs (a pretrain done, its finetune waiting) the run
    // waits like its next job.
    if (jobs.some((j) => j.state === 'JOB_STATE_QUEUED')) return 'queued';
    if (jobs.some((j) => j.state === 'JOB_STATE_BLOCKED')) return 'blocked';
    return run.state === 'RUN_STATE_TRAINING' ? 'running' : 'pending';
  }

  function jobProgress(run, jobsById) {
    const ids = [run.trainJobId, run.pretrainJobId, run.finetuneJobId].map(String);
    for (const id of ids) {
      const j = jobsById.get(id);
      if (j && (j.state === 'JOB_STATE_RUNNING' || j.state === 'JOB_STATE_LEASED')) {
        const p = j.progress || {};
        const total = int(p.totalSteps) || int(j.steps);
        const frac = total > 0 ? int(p.step) / total : 0;
        return {job: j, frac};
      }
    }
    return null;
  }

  // The result of (run, scenario) the grid shows: the run's checkpoint's,
  // else the one with the most trials.
  function pickResults(results, runsById) {
    const byKey = new Map();
    for (const r of (results && results.results) || []) {
      const key = `${r.runId}\u0000${r.scenario}`;
      const run = runsById.get(String(r.runId));
      const prev = byKey.get(key);
      const matches = run && run.checkpointUri && r.checkpointUri === run.checkpointUri;
      if (!prev || matches || (!prev.matches && int(r.trialsRecorded) > int(prev.r.trialsRecorded))) {
        if (!prev || !prev.matches || matches) byKey.set(key, {r, matches});
      }
    }
    return byKey;
  }

  // How far a run's evaluation is: scenarios complete, trials recorded.
  function runEvals(run, res, sweep) {
    const out = {scenarios: (sweep.scenarios || []).length, complete: 0, trials: 0};
    for (const s of sweep.scenarios || []) {
      const picked = res.get(`${run.id}\u0000${s.name}`);
      if (!picked) continue;
      out.trials += int(picked.r.trialsRecorded);
      if (int(picked.r.trialsWanted) > 0 && int(picked.r.trialsRecorded) >= int(picked.r.trialsWanted)) {
        out.complete++;
      }
    }
    return out;
  }

  // A run's GPU-hours from its jobs, a shared pretrain split equally among
  // the runs that use it.
  function runGpuHours(run, jobsById) {
    let hours = 0;
    for (const id of [run.trainJobId, run.pretrainJobId, run.finetuneJobId]) {
      const j = jobsById.get(String(id));
      if (!j) continue;
      hours += (num(j.gpuSeconds) || 0) / 3600 / Math.max(1, (j.runIds || []).length);
    }
    return hours;
  }

  function buildGrid(d, results) {
    const sweep = d.sweep || {};
    const runs = d.runs || [];
    const jobsById = new Map((d.jobs || []).map((j) => [String(j.id), j]));
    const runsById = new Map(runs.map((r) => [String(r.id), r]));
    const res = pickResults(results, runsById);
    const scenario = state.scenario;
    const nTele = [...new Set([...(sweep.nTele || []).map(num), ...runs.map((r) => num(r.nTele))])]
      .filter(Number.isFinite).sort((a, b) => a - b);
    const seeds = [...new Set([...(sweep.seeds || []).map(num), ...runs.map((r) => num(r.seed))])]
      .filter(Number.isFinite).sort((a, b) => a - b);
    // Columns: the baseline, then each source's N_nt > 0.
    // (A scaling sweep has no teleop-only runs: no baseline column.)
    const columns = sweep.design === 'scaling' && !runs.some((r) => num(r.nNt) === 0) ? []
      : [{source: '', nNt: 0, label: 'teleop only', sub: 'baseline'}];
    const seen = new Set();
    for (const s of sweep.sources || []) {
      const nts = [...new Set([...(s.nNt || []).map(num),
        ...runs.filter((r) => r.source === s.name).map((r) => num(r.nNt))])]
        .filter((n) => Number.isFinite(n) && n > 0).sort((a, b) => a - b);
      for (const n of nts) {
        columns.push({source: s.name, nNt: n, label: `+ ${fmtInt(n)} ${s.name}`,
          sub: `${SOURCE_KIND_LABEL[s.kind] || 'non-teleop'}${s.generated ? ', generated' : ''}`});
        seen.add(`${s.name}/${n}`);
      }
    }
    for (const r of runs) {
      if (r.source && num(r.nNt) > 0 && !seen.has(`${r.source}/${num(r.nNt)}`)) {
        seen.add(`${r.source}/${num(r.nNt)}`);
        columns.push({source: r.source, nNt: num(r.nNt), label: `+ ${fmtInt(r.nNt)} ${r.source}`,
          sub: ''});
      }
    }
    const runAt = new Map(runs.map((r) => [`${num(r.nTele)}/${r.source || ''}/${num(r.nNt)}/${num(r.seed)}`, r]));

    const select = h('select', {id: 'grid-scenario', 'data-role': 'grid-scenario',
      onchange: (ev) => {
        state.scenario = ev.target.value;
        renderSweepView();
      }},
    (sweep.scenarios || []).map((s) => h('option', {value: s.name, selected: s.name === scenario,
      text: s.name})));

    const table = h('table', {class: 'grid', 'data-role': 'run-grid'},
      h('caption', {class: 'sr-only', text: `Runs by N_tele (rows) and mixture (columns), one ` +
        `box per seed, coloured by state or by S in ${scenario}`}),
      h('thead', null, h('tr', null, h('th', {scope: 'col', text: 'N_tele'}),
        columns.map((c) => h('th', {scope: 'col'}, h('div', {text: c.label}),
          h('div', {class: 'muted small', text: c.sub}),
          h('div', {class: 'seeds seed-head', 'aria-hidden': 'true'},
            seeds.map((seed) => h('span', {class: 'seed-col', text: `seed ${seed}`}))))))));
    const tbody = h('tbody');
    for (const n of nTele) {
      const tr = h('tr', null, h('th', {scope: 'row', class: 'num', text: fmtInt(n)}));
      for (const c of columns) {
        const cell = h('td');
        const seedsBox = h('div', {class: 'seeds'});
        for (const seed of seeds) {
          const run = runAt.get(`${n}/${c.source}/${c.nNt}/${seed}`);
          if (!run) {
            seedsBox.append(h('div', {class: 'seed seed-none', title: `seed ${seed}: no run`,
              text: '\u00b7'}));
            continue;
          }
          const ds = runDisplayState(run, jobsById, runEvals(run, res, sweep));
          const picked = res.get(`${run.id}\u0000${scenario}`);
          const r = picked && picked.r;
          const recorded = r ? int(r.trialsRecorded) : 0;
          const wanted = r ? int(r.trialsWanted) : 0;
          const box = h('div', {class: `seed state-${ds}`, 'data-role': 'run-cell',
            'data-run-id': run.id, 'data-state': ds, 'data-n-tele': n, 'data-n-nt': c.nNt,
            'data-source': c.source, 'data-seed': seed});
          const tip = [`run ${run.key || run.id} \u00b7 seed ${seed}`, `state: ${STATE_LABEL[ds]}`];
          if (recorded > 0 && ds !== 'failed' && ds !== 'cancelled') {
            const s = num(r.s);
            box.classList.add('scored');
            box.setAttribute('data-s', String(s));
            box.style.backgroundImage = 'none';
            box.style.backgroundColor = viridis(s);
            box.style.color = s > 0.62 ? '#111827' : '#ffffff';
            box.append(h('span', {class: 'seed-s', text: fmtS(s)}));
            if (recorded < wanted) {
              box.classList.add('partial');
              box.append(h('span', {class: 'seed-sub', text: `${recorded}/${wanted}`}));
            }
            tip.push(`${scenario}: S = ${s.toFixed(3)} (${recorded}/${wanted} trials)`);
          } else {
            const prog = ds === 'running' ? jobProgress(run, jobsById) : null;
            box.append(h('span', {class: 'seed-label', text: prog
              ? `${Math.round(prog.frac * 100)}%` : STATE_LABEL[ds]}));
            if (prog) tip.push(`job #${prog.job.id} (${enumName(prog.job.kind, 'JOB_KIND_')}): ` +
              `${Math.round(prog.frac * 100)}%`);
            if (wanted > 0) tip.push(`${scenario}: ${recorded}/${wanted} trials`);
          }
          tip.push(`${fmt(runGpuHours(run, jobsById))} GPU-hours measured`);
          box.title = tip.join('\n');
          seedsBox.append(box);
        }
        cell.append(seedsBox);
        tr.append(cell);
      }
      tbody.append(tr);
    }
    table.append(tbody);

    const legendStates = ['blocked', 'queued', 'running', 'trained', 'failed', 'cancelled'];
    const legend = h('div', {class: 'grid-legend', 'data-role': 'grid-legend'},
      h('span', {class: 'muted', text: 'Before a score exists: '}),
      legendStates.map((s) => h('span', {class: 'legend-item'},
        h('span', {class: `swatch seed state-${s}`, 'aria-hidden': 'true'}),
        STATE_LABEL[s])),
      h('span', {class: 'legend-item'}, h('span', {class: 'muted', text: `S in ${scenario}: `}),
        window.MixPlot.scoreScale(200)),
      h('span', {class: 'legend-item muted', text: 'dashed: evaluation under way (trials so far)'}));

    return h('section', {'aria-labelledby': 'grid-title'},
      h('div', {class: 'title-row'},
        h('h2', {id: 'grid-title', text: 'Runs'}),
        h('label', {class: 'inline', for: 'grid-scenario'}, 'Colour by success in ', select)),
      h('p', {class: 'explain', text: 'Rows: teleop demos. Columns: teleop only, then each ' +
        'non-teleop source and amount. One box per seed. Hover a box for its run.'}),
      h('div', {class: 'scroll-x'}, table), legend);
  }

  // ---- Results ------------------------------------------------------------------------------

  // Every (run, scenario, checkpoint) result, with who evaluated it (a robot
  // operator or a simulation job) and the checkpoint's training step.
  function buildResults(results) {
    const rows = (results && results.results) || [];
    const sims = rows.filter((r) => r.simulated === true).length;
    const section = h('section', {'aria-labelledby': 'results-title'},
      h('h2', {id: 'results-title', text: 'Results'}),
      h('p', {class: 'explain', text: 'One row per run, scenario and evaluated checkpoint. ' +
        'Robot: trials recorded by an operator, blind. Simulation: one trial per episode of an ' +
        'evaluation job; a simulation scenario may evaluate intermediate checkpoints (their ' +
        'training step), and the sweep\u2019s aggregation makes the run\u2019s S from them.'}));
    if (!rows.length) {
      section.append(h('p', {class: 'muted', text: 'No results yet.'}));
      return section;
    }
    const table = h('table', {class: 'data results', 'data-role': 'results-table'},
      h('caption', {class: 'sr-only', text: 'Results per run, scenario and checkpoint'}),
      h('thead', null, h('tr', null, ['Run', 'N_tele', 'Source', 'N_nt', 'Seed', 'Scenario',
        'Evaluator', 'Checkpoint', 'Trials', 'S', 'State'].map((t) => h('th', {scope: 'col', text: t})))),
      h('tbody', null, rows.map((r) => h('tr', {'data-role': 'result-row', 'data-run-id': r.runId,
        'data-scenario': r.scenario, 'data-evaluator': r.simulated ? 'simulation' : 'robot',
        'data-checkpoint-step': String(int(r.checkpointStep))},
      h('td', {class: 'num', text: String(r.runId)}),
      h('td', {class: 'num', text: fmtInt(r.nTele)}),
      h('td', {text: r.source || '\u2014'}),
      h('td', {class: 'num', text: fmtInt(r.nNt)}),
      h('td', {class: 'num', text: String(int(r.seed))}),
      h('td', {text: r.scenario}),
      h('td', null, evaluatorBadge(r.simulated === true)),
      h('td', {class: 'nowrap', 'data-col': 'checkpoint', title: r.checkpointUri || '',
        text: checkpointText(r.checkpointStep)}),
      h('td', {class: 'num nowrap', text: `${fmtInt(r.trialsRecorded)}/${fmtInt(r.trialsWanted)}`}),
      h('td', {class: 'num', text: int(r.trialsRecorded) > 0 ? fmtS(r.s) : '\u2014'}),
      h('td', {text: r.state || ''})))));
    section.append(h('details', {'data-role': 'results'},
      h('summary', {text: `${fmtInt(rows.length)} results \u00b7 ${fmtInt(rows.length - sims)} ` +
        `by robot \u00b7 ${fmtInt(sims)} by simulation`}),
      h('div', {class: 'scroll-x'}, table)));
    return section;
  }

  // ---- Costs --------------------------------------------------------------------------------

  function buildCosts(sweep, ests) {
    const currency = specCurrency(sweep);
    const section = h('section', {'aria-labelledby': 'costs-title'},
      h('h2', {id: 'costs-title', text: 'Cost per point'}),
      h('p', {class: 'explain', text: 'Per (N_tele, N_nt): collection hours (operator or robot ' +
        'time for teleop demos, machine time for non-teleop ones) and measured GPU-hours (a ' +
        'shared pretrain split among its finetunes), mean over the point\u2019s seeds; money from ' +
        'the prices in the spec. S per scenario: mean \u00b1 std over seeds.'}));
    if (!ests.length) {
      section.append(h('p', {class: 'muted', text: 'No estimates yet.'}));
      return section;
    }
    const scenarios = [...new Set(ests.map((e) => e.scenario))];
    const sources = [...new Set(ests.map((e) => e.source))];
    // S of a point in a scenario, and its costs (identical across scenarios).
    const points = new Map();
    const add = (source, p, scenario) => {
      const key = `${source}/${num(p.nTele)}/${num(p.nNt)}`;
      if (!points.has(key)) {
        points.set(key, {source, nTele: num(p.nTele), nNt: num(p.nNt), cost: p, s: new Map()});
      }
      points.get(key).s.set(scenario, p);
    };
    for (const e of ests) {
      for (const p of e.teleopCurve || []) add('', p, e.scenario);
      for (const p of e.mixedCurve || []) add(e.source, p, e.scenario);
    }
    const rows = [...points.values()].sort((a, b) =>
      (a.source === b.source ? 0 : a.source === '' ? -1 : b.source === '' ? 1
        : sources.indexOf(a.source) - sources.indexOf(b.source)) ||
      a.nNt - b.nNt || a.nTele - b.nTele);
    const showMoney = rows.some((r) => num(r.cost.costMoney) > 0);
    const head = ['Point', 'Collection', 'GPU-hours'];
    if (showMoney) head.push(`Cost${currency ? ` (${currency})` : ''}`);
    const table = h('table', {class: 'data costs', 'data-role': 'cost-table'},
      h('caption', {class: 'sr-only', text: 'Cost and success rate per point of the curve'}),
      h('thead', null, h('tr', null, head.map((t) => h('th', {scope: 'col', text: t})),
        scenarios.map((s) => h('th', {scope: 'col', text: `S ${s}`})))),
      h('tbody', null, rows.map((r) => h('tr', {'data-role': 'cost-row', 'data-n-tele': r.nTele,
        'data-n-nt': r.nNt, 'data-source': r.source},
      h('th', {scope: 'row', class: 'nowrap', text: !r.source ? `${fmtInt(r.nTele)} teleop`
        : r.nTele > 0 ? `${fmtInt(r.nTele)} teleop + ${fmtInt(r.nNt)} ${r.source}`
          : `${fmtInt(r.nNt)} ${r.source}`}),
      h('td', {class: 'num', text: fmtHours(r.cost.costCollectionHours)}),
      h('td', {class: 'num', text: fmt(num(r.cost.costGpuHours), 3)}),
      showMoney ? h('td', {class: 'num', text: fmtMoney(r.cost.costMoney, currency)}) : null,
      scenarios.map((s) => {
        const p = r.s.get(s);
        if (!p) return h('td', {class: 'num muted', text: '\u2014'});
        return h('td', {class: 'num nowrap', text: `${fmtS(p.meanS)}` +
          (int(p.nSeeds) > 1 ? ` \u00b1 ${fmtS(p.stdS)}` : '')});
      })))));
    section.append(h('div', {class: 'scroll-x'}, table));
    return section;
  }

  // ---- Budget recommendation ---------------------------------------------------------------

  function buildBudget(sweep) {
    const scenarios = (sweep.scenarios || []).map((s) => s.name);
    const sources = (sweep.sources || []).map((s) => s.name);
    const prev = state.recommendation || {};
    const maxTele = Math.max(0, ...(sweep.nTele || []).map(num).filter(Number.isFinite));
    const defaultBudget = prev.budget ||
      (maxTele > 0 && num(sweep.teleopCostPerDemoHours) > 0
        ? Number((maxTele * num(sweep.teleopCostPerDemoHours)).toPrecision(4)) : 10);
    const scenarioSel = h('select', {id: 'rec-scenario', name: 'scenario'},
      scenarios.map((s) => h('option', {value: s, selected: s === prev.scenario, text: s})));
    const sourceSel = h('select', {id: 'rec-source', name: 'source'},
      sources.map((s) => h('option', {value: s, selected: s === prev.source, text: s})));
    const budget = h('input', {id: 'rec-budget', name: 'budget_hours', type: 'number', min: '0',
      step: 'any', value: String(defaultBudget), required: true});
    // Optional: the costs per demo to plan with, when they differ from the
    // spec's (or the measured) ones; empty means those.
    const costInput = (id, name) => h('input', {id, name, type: 'number', min: '0', step: 'any',
      placeholder: "spec's", value: prev[name] ? String(prev[name]) : ''});
    const costTele = costInput('rec-cost-tele', 'cost_tele_hours');
    const costNt = costInput('rec-cost-nt', 'cost_nt_hours');
    const out = h('div', {class: 'rec-out', 'data-role': 'recommendation-out', 'aria-live': 'polite'});
    if (prev.node) out.append(prev.node);
    const form = h('form', {class: 'rec-form', 'data-role': 'recommendation-form',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const b = Number(budget.value);
        if (!(b > 0)) {
          out.replaceChildren(h('p', {class: 'form-error', text: 'Enter a budget above 0 hours.'}));
          return;
        }
        let q = `scenario=${encodeURIComponent(scenarioSel.value)}` +
          `&source=${encodeURIComponent(sourceSel.value)}&budget_hours=${encodeURIComponent(String(b))}`;
        const costs = {};
        for (const input of [costTele, costNt]) {
          if (input.value === '') continue;
          const v = Number(input.value);
          if (!(v > 0)) {
            out.replaceChildren(h('p', {class: 'form-error',
              text: 'A cost per demo must be above 0 hours (or empty for the spec\'s).'}));
            return;
          }
          costs[input.name] = v;
          q += `&${input.name}=${encodeURIComponent(String(v))}`;
        }
        out.replaceChildren(h('p', {class: 'muted', text: 'Computing\u2026'}));
        let node;
        try {
          const rec = await api(`/api/v1/sweeps/${encodeURIComponent(sweep.id)}/recommendation?${q}`);
          node = recommendationNode(rec, sourceSel.value, b);
        } catch (e) {
          if (e instanceof ApiError && e.auth && !state.open) {
            forgetToken();
            showTokenForm(`The server refused the token: ${e.describe()}`);
            return;
          }
          node = h('p', {class: 'form-error', 'data-role': 'recommendation-error',
            text: `No recommendation: ${e instanceof ApiError ? e.describe() : e}`});
        }
        state.recommendation = {scenario: scenarioSel.value, source: sourceSel.value, budget: b,
          ...costs, node, key: `${scenarioSel.value}/${sourceSel.value}/${b}/${Date.now()}`};
        state.rendered['sig:budget'] = stableJson([scenarios, sources, state.recommendation.key]);
        out.replaceChildren(node);
      }},
    h('label', {for: 'rec-scenario', text: 'Scenario'}), scenarioSel,
    h('label', {for: 'rec-source', text: 'Non-teleop source'}), sourceSel,
    h('label', {for: 'rec-budget', text: 'Collection budget (hours)'}), budget,
    h('label', {for: 'rec-cost-tele', text: 'Teleop hours per demo'}), costTele,
    h('label', {for: 'rec-cost-nt', text: 'Non-teleop hours per demo'}), costNt,
    h('button', {type: 'submit', text: 'Recommend a mix'}));
    return h('section', {'aria-labelledby': 'budget-title'},
      h('h2', {id: 'budget-title', text: 'Budget recommendation'}),
      h('p', {class: 'explain', text: 'The (N_tele, N_nt) to collect that maximises the ' +
        'predicted success S = \u03b1 (N_tele + N_nt / \u03b7)^\u03b2 within a collection ' +
        'budget, from the fit and the measured global \u03b7 (seed 000, section 5.2).'}),
      sources.length ? form : h('p', {class: 'muted', text: 'This sweep has no non-teleop source.'}),
      out);
  }

  function recommendationNode(rec, source, budget) {
    const iv = rec.predictedSInterval;
    const hasIv = iv && (num(iv.lower) !== 0 || num(iv.upper) !== 0);
    const warnings = rec.warnings || [];
    const eta = num(rec.etaUsed);
    const ratio = num(rec.costNtHours) > 0 ? num(rec.costTeleHours) / num(rec.costNtHours) : NaN;
    return h('div', {class: 'rec', 'data-role': 'recommendation', 'data-n-tele': String(num(rec.nTele)),
      'data-n-nt': String(num(rec.nNt)), 'data-predicted-s': String(num(rec.predictedS))},
    num(rec.nNt) > 0
      ? h('p', {class: 'rec-headline'}, 'Collect ',
        h('strong', {text: `${fmtInt(rec.nTele)} teleop`}), ' + ',
        h('strong', {text: `${fmtInt(rec.nNt)} ${source}`}), ' demos')
      : h('p', {class: 'rec-headline'}, 'Collect ',
        h('strong', {text: `${fmtInt(rec.nTele)} teleop`}), ' demos, ',
        h('strong', {text: `0 ${source}`}), ` (more ${source} data would not pay here)`),
    h('p', null, 'Predicted success ', h('strong', {text: fmtS(rec.predictedS)}),
      hasIv ? ` (95% interval ${fmtS(iv.lower)}\u2013${fmtS(iv.upper)})` : '',
      ` \u00b7 spends ${fmtHours(rec.spentHours)} of ${fmtHours(rec.budgetHours || budget)}`),
    h('p', {class: 'muted', text: `Costs per demo: teleop ${fmtHours(rec.costTeleHours)}, ` +
      `${source} ${fmtHours(rec.costNtHours)}` +
      (Number.isFinite(ratio) ? ` (ratio ${fmt(ratio)})` : '') +
      ` \u00b7 teleop core ${fmtInt(rec.teleopCore)} \u00b7 \u03b7 used ` +
      `${Number.isFinite(eta) && eta !== 0 ? fmtSigned(eta) : '\u2014'} \u00b7 rule of thumb ` +
      `(C_tele/C_nt > \u03b7 > 0): ${rec.buyNonTeleop ? `buy ${source}` : 'stay with teleop'}`}),
    rec.explanation ? h('p', {class: 'rec-explain', text: rec.explanation}) : null,
    warnings.length ? h('ul', {class: 'warnings'},
      warnings.map((w) => h('li', {text: `\u26a0 ${w}`}))) : null);
  }

  // ---- Wiring -----------------------------------------------------------------------------

  window.addEventListener('hashchange', () => {
    const before = state.token;
    takeTokenFromUrl();
    if (state.token !== before || state.open === null) {
      start();
    } else if (state.open || state.token) {
      navigate();
    }
  });
  // The "(n s ago)" of the status line.
  setInterval(() => {
    if (state.lastUpdated) renderStatus();
  }, 1000);

  takeTokenFromUrl();
  if (!state.token) state.token = sessionStorage.getItem(TOKEN_KEY);
  start();
})();
