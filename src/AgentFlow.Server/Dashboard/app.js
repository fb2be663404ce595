// AgentFlow dashboard: plain JavaScript against the HTTP API of `agentflow serve` (docs/api.md). No framework, no build.
// Every text from the API goes through textContent (never innerHTML). Endpoints a server lacks (404) degrade to a note.
'use strict';

const TERMINAL = ['succeeded', 'failed', 'cancelled'];
const view = () => document.getElementById('view');
let cleanup = [];   // stops the live updates of the page being left

// ---------- helpers
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path, options) {
  const init = Object.assign({ headers: { accept: 'application/json' } }, options || {});
  if (init.json !== undefined) {
    init.method = init.method || 'POST';
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(init.json);
    delete init.json;
  }
  try {
    const res = await fetch(path, init);
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = text; }
    return { ok: res.ok, status: res.status, data };
  } catch (e) {
    return { ok: false, status: 0, data: { title: 'the server did not answer', detail: String(e) } };
  }
}

const problem = r => (r.data && (r.data.detail || r.data.title)) || `HTTP ${r.status}`;
const badge = s => h('span', { class: `badge s-${s || 'unknown'}`, 'data-status': s }, s || '?');
const fmtMs = ms => ms === null || ms === undefined ? '–' : ms < 1000 ? `${Math.round(ms)} ms` : ms < 60000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60000).toFixed(1)} min`;
const fmtCost = c => c === null || c === undefined ? '–' : `$${Number(c).toFixed(c < 0.01 ? 5 : 3)}`;
const fmtTime = t => t ? new Date(t).toLocaleString() : '–';
const kv = o => Object.entries(o || {}).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ') || '–';
const sum = (steps, f) => steps.reduce((a, s) => a + (Number(s[f]) || 0), 0);
function parsePairs(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t) continue;
    const i = t.indexOf('=');
    if (i <= 0) throw new Error(`'${t}' is not name=value`);
    out[t.slice(0, i).trim()] = t.slice(i + 1);
  }
  return out;
}
function remember(runId) {   // runs started from this browser, for servers without GET /api/runs
  const ids = JSON.parse(localStorage.getItem('agentflow.runs') || '[]').filter(x => x !== runId);
  ids.unshift(runId);
  localStorage.setItem('agentflow.runs', JSON.stringify(ids.slice(0, 50)));
}

// ---------- router
const routes = [
  [/^#\/runs\/([\w-]+)$/, runPage],
  [/^#\/approvals$/, approvalsPage],
  [/^#\/compare(?:\/([\w-]+)\/([\w-]+))?$/, comparePage],
  [/^#\/runs$/, runsPage],
  [/^#\/experiments(?:\/([\w.-]+))?$/, experimentPage],
];
function route() {
  cleanup.forEach(f => f());
  cleanup = [];
  const hash = location.hash || '#/runs';
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', hash.startsWith(`#/${a.dataset.nav}`));
  for (const [re, page] of routes) {
    const m = re.exec(hash);
    if (m) { view().replaceChildren(); page(...m.slice(1)); return; }
  }
  location.hash = '#/runs';
}
window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', () => {
  route();
  api('/healthz').then(r => { document.getElementById('health').textContent = r.ok ? `server ok · ${r.data.runs_in_flight} in flight` : 'server unreachable'; });
});
function every(ms, f) { const t = setInterval(f, ms); cleanup.push(() => clearInterval(t)); }

// ---------- runs list + start form
async function runsPage() {
  const root = view();
  root.append(h('h1', {}, 'Runs'));
  const msg = h('p', { id: 'start-message', role: 'status', 'aria-live': 'polite' });
  const inputs = h('textarea', { id: 'start-inputs', name: 'inputs', placeholder: 'name=Ada' });
  const bindings = h('textarea', { id: 'start-bindings', name: 'bindings', placeholder: 'writer=tiny2' });
  const wfHolder = h('span');
  const form = h('form', { class: 'inline', id: 'start-form', 'aria-label': 'Start a run' }, wfHolder,
    h('label', { for: 'start-inputs' }, 'Inputs (name=value per line)', inputs),
    h('label', { for: 'start-bindings' }, 'Bindings (alias=model per line)', bindings),
    h('button', { type: 'submit', id: 'start-run' }, 'Start run'));
  root.append(h('section', { class: 'card' }, h('h2', {}, 'Start a run'), form, msg));

  let wfField = h('input', { id: 'start-workflow', name: 'workflow', required: true, placeholder: 'hello', autocomplete: 'off' });
  const wfs = await api('/api/workflows');
  if (wfs.ok && Array.isArray(wfs.data) && wfs.data.length) {
    wfField = h('select', { id: 'start-workflow', name: 'workflow', required: true },
      wfs.data.map(w => h('option', { value: w.name, disabled: w.valid === false }, w.valid === false ? `${w.name} (invalid)` : w.name)));
    const describe = () => {
      const w = wfs.data.find(x => x.name === wfField.value);
      if (!w) return;
      inputs.placeholder = (w.inputs || []).map(i => `${i.name}=${i.default ?? ''}`).join('\n') || '(no inputs)';
      msg.textContent = [w.description, ...(w.diagnostics || [])].filter(Boolean).join(' · ');
    };
    wfField.addEventListener('change', describe);
    describe();
  }
  // The label names the field without wrapping it: a wrapped select would add its option text to the label's name.
  wfHolder.append(h('label', { for: 'start-workflow' }, 'Workflow'), wfField);

  form.addEventListener('submit', async e => {
    e.preventDefault();
    let body;
    try { body = { workflow: wfField.value.trim(), inputs: parsePairs(inputs.value), bindings: parsePairs(bindings.value) }; }
    catch (err) { msg.textContent = err.message; msg.className = 'error'; return; }
    form.querySelector('button').disabled = true;
    msg.className = ''; msg.textContent = 'starting…';
    const r = await api('/api/runs', { json: body });
    form.querySelector('button').disabled = false;
    if (!r.ok) { msg.className = 'error'; msg.textContent = problem(r); return; }
    remember(r.data.run_id);
    location.hash = `#/runs/${r.data.run_id}`;
  });

  // Filters and the list.
  const fWorkflow = h('input', { id: 'filter-workflow', name: 'workflow', placeholder: 'any' });
  const fStatus = h('select', { id: 'filter-status', name: 'status' }, ['', 'running', 'waiting', 'succeeded', 'failed', 'cancelled'].map(s => h('option', { value: s }, s || 'any')));
  const openId = h('input', { id: 'open-run', name: 'run', placeholder: 'run id', autocomplete: 'off' });
  const list = h('div', { id: 'run-list' });
  root.append(h('section', { class: 'card' },
    h('form', { class: 'inline', 'aria-label': 'Filter runs', onsubmit: e => { e.preventDefault(); load(); } },
      h('label', { for: 'filter-workflow' }, 'Filter by workflow', fWorkflow),
      h('label', { for: 'filter-status' }, 'Filter by status', fStatus),
      h('button', { type: 'submit', class: 'secondary' }, 'Filter')),
    h('form', { class: 'inline', 'aria-label': 'Open a run', onsubmit: e => { e.preventDefault(); if (openId.value.trim()) location.hash = `#/runs/${openId.value.trim()}`; } },
      h('label', { for: 'open-run' }, 'Open run', openId), h('button', { type: 'submit', class: 'secondary' }, 'Open')),
    list));

  async function load() {
    const q = new URLSearchParams({ limit: '100' });
    if (fWorkflow.value.trim()) q.set('workflow', fWorkflow.value.trim());
    if (fStatus.value) q.set('status', fStatus.value);
    const r = await api(`/api/runs?${q}`);
    let runs = r.ok && Array.isArray(r.data) ? r.data : null;
    let note = null;
    if (!runs) {   // server without the list endpoint: the runs started from this browser
      note = h('p', { class: 'muted small' }, 'The full run list is unavailable on this server; showing runs started from this browser.');
      const ids = JSON.parse(localStorage.getItem('agentflow.runs') || '[]');
      runs = (await Promise.all(ids.map(id => api(`/api/runs/${id}`)))).filter(x => x.ok).map(x => Object.assign({}, x.data, {
        input_tokens: sum(x.data.steps || [], 'input_tokens'), output_tokens: sum(x.data.steps || [], 'output_tokens'), cost_usd: sum(x.data.steps || [], 'cost_usd'),
      })).filter(x => (!fStatus.value || x.status === fStatus.value) && (!fWorkflow.value.trim() || x.workflow === fWorkflow.value.trim()));
    }
    const compare = [];
    const compareBtn = h('button', { type: 'button', class: 'secondary', disabled: true, onclick: () => { location.hash = `#/compare/${compare[0]}/${compare[1]}`; } }, 'Compare selected');
    list.replaceChildren(note || '', runs.length === 0 ? h('p', { class: 'muted' }, 'No runs yet.') : h('table', {},
      h('thead', {}, h('tr', {}, ['', 'Status', 'Workflow', 'Started', 'Bindings', 'Duration', 'Tokens in/out', 'Cost'].map((c, i) => h('th', { class: i >= 5 ? 'num' : null, scope: 'col' }, c)))),
      h('tbody', {}, runs.map(run => h('tr', { 'data-run': run.run_id },
        h('td', {}, h('input', { type: 'checkbox', 'aria-label': `select ${run.run_id} to compare`, onchange: e => {
          if (e.target.checked) compare.push(run.run_id); else compare.splice(compare.indexOf(run.run_id), 1);
          compareBtn.disabled = compare.length !== 2;
        } })),
        h('td', {}, badge(run.status)),
        h('td', {}, h('a', { href: `#/runs/${run.run_id}` }, run.workflow), h('div', { class: 'muted small' }, run.run_id.slice(0, 12))),
        h('td', {}, fmtTime(run.started)),
        h('td', { class: 'small' }, kv(run.bindings)),
        h('td', { class: 'num' }, fmtMs(run.duration_ms)),
        h('td', { class: 'num' }, `${run.input_tokens ?? 0} / ${run.output_tokens ?? 0}`),
        h('td', { class: 'num' }, fmtCost(run.cost_usd)))))), runs.length > 1 ? compareBtn : '');
  }
  await load();
  every(5000, load);
}

// ---------- the run page
async function runPage(runId) {
  const root = view();
  const head = h('section', { class: 'card', id: 'run-head' }, h('p', { class: 'muted' }, 'loading…'));
  const waiting = h('div', { id: 'run-waiting' });
  const graph = h('section', { class: 'card' }, h('h2', {}, 'Workflow'), h('div', { id: 'run-graph', class: 'graph' }));
  const timeline = h('section', { class: 'card' }, h('h2', {}, 'Timeline'), h('div', { id: 'run-timeline', class: 'timeline' }));
  const live = h('pre', { id: 'run-live', hidden: true, 'aria-live': 'off' });
  const steps = h('section', { class: 'card steps', id: 'run-steps' });
  const verify = h('p', { id: 'run-verify', class: 'muted' });
  const mode = h('span', { id: 'run-live-mode', class: 'muted small' });
  root.append(h('h1', {}, 'Run ', h('code', {}, runId), ' ', mode), head, waiting, h('div', { class: 'row-gap' }, graph, timeline), live, steps,
    h('section', { class: 'card' }, h('h2', {}, 'Audit'), verify));

  let run = null;
  let stopped = false;
  cleanup.push(() => { stopped = true; });
  // Requests overlap (an event triggers a refresh while an older one is in flight): a response is drawn only when
  // no later one has been, and a finished run never goes back to an earlier state.
  let asked = 0;
  let drawn = 0;

  function render(r, at = ++asked) {
    if (at < drawn || (run && TERMINAL.includes(run.status) && !TERMINAL.includes(r.status))) return;
    drawn = at;
    run = r;
    const s = r.steps || [];
    head.replaceChildren(h('div', { class: 'grid' },
      h('div', {}, h('b', {}, 'Status'), h('span', { id: 'run-status', 'data-status': r.status, class: `badge s-${r.status}` }, r.status)),
      h('div', {}, h('b', {}, 'Workflow'), `${r.workflow}${r.workflow_version ? ` v${r.workflow_version}` : ''}`),
      h('div', {}, h('b', {}, 'Started'), fmtTime(r.started)),
      h('div', {}, h('b', {}, 'Duration'), fmtMs(r.duration_ms)),
      h('div', {}, h('b', {}, 'Bindings'), kv(r.bindings)),
      h('div', {}, h('b', {}, 'Tokens in/out'), `${r.input_tokens ?? sum(s, 'input_tokens')} / ${r.output_tokens ?? sum(s, 'output_tokens')}`),
      h('div', {}, h('b', {}, 'Cost'), fmtCost(sum(s, 'cost_usd'))),
      r.parent_run ? h('div', {}, h('b', {}, 'Parent run'), h('a', { class: 'parent-run', href: `#/runs/${r.parent_run}` }, r.parent_run.slice(0, 12))) : ''),
      r.outputs && Object.keys(r.outputs).length ? h('div', { id: 'run-outputs' }, h('h2', {}, 'Outputs'),
        Object.entries(r.outputs).map(([k, v]) => h('div', {}, h('b', {}, k), h('pre', {}, typeof v === 'string' ? v : JSON.stringify(v, null, 2))))) : '',
      r.error ? h('p', { class: 'error' }, `failed at ${r.error.step ?? '?'}: ${r.error.message}`) : '');
    waiting.replaceChildren(r.status === 'waiting' && r.waiting ? approvalCard(r.run_id, r.workflow, r.waiting, () => refresh()) : '');
    drawGraph(s);
    drawTimeline(s);
    steps.replaceChildren(h('h2', {}, 'Steps'), ...(s.length ? s.map(stepView) : [h('p', { class: 'muted' }, 'No step has started yet.')]));
    if (TERMINAL.includes(r.status)) { live.hidden = true; loadVerify(); }
  }

  async function refresh() {
    const at = ++asked;
    const r = await api(`/api/runs/${runId}`);
    if (stopped) return null;
    if (!r.ok) { if (!run) head.replaceChildren(h('p', { class: 'error' }, problem(r))); return null; }
    render(r.data, at);
    return run;
  }

  async function loadVerify() {
    const v = await api(`/api/runs/${runId}/verify`);
    if (v.status === 404 || !v.data || typeof v.data.ok !== 'boolean') { verify.className = 'muted'; verify.textContent = 'audit verification unavailable on this server (./agentflow runs verify RUN_ID)'; return; }
    verify.className = v.data.ok ? 'ok' : 'error';
    verify.textContent = `${v.data.ok ? '✔ audit chain intact' : '✘ audit chain broken'}: ${v.data.message}`;
  }

  function drawGraph(s) {
    const el = document.getElementById('run-graph');
    if (!el) return;
    el.replaceChildren();
    // One node per step id (its latest attempt); steps whose runs overlap in time are drawn side by side.
    const latest = new Map();
    for (const st of s) latest.set(st.id, st);
    const rows = groupParallel([...latest.values()]);
    rows.forEach((row, i) => {
      if (i) el.append(h('div', { class: 'arrow', 'aria-hidden': 'true' }));
      el.append(h('div', { class: 'row' }, row.map(st => h('div', { class: `node s-${st.status}`, 'data-step': st.id },
        st.id, h('small', {}, `${st.kind}${st.model ? ` · ${st.model_alias || ''}→${st.model}` : ''}`)))));
    });
    if (run && run.status === 'waiting' && run.waiting && !latest.has(run.waiting.step)) {
      el.append(h('div', { class: 'arrow' }), h('div', { class: 'row' }, h('div', { class: 'node s-waiting' }, run.waiting.step, h('small', {}, 'approval'))));
    }
    if (!rows.length) el.append(h('p', { class: 'muted' }, 'No step yet.'));
    api(`/api/runs/${runId}/graph`).then(g => {
      const holder = document.getElementById('run-graph');
      if (!holder || holder.querySelector('details')) return;
      holder.append(g.ok && g.data && g.data.mermaid
        ? h('details', {}, h('summary', {}, 'Compiled engine graph (Mermaid)'), h('pre', {}, g.data.mermaid))
        : h('details', {}, h('summary', { class: 'muted small' }, 'engine graph unavailable'), h('p', { class: 'muted small' }, 'drawn from the recorded steps')));
    });
  }

  // The timeline is drawn from the run's trace spans (GET /api/runs/{id}/spans) once the run has one (it parked or
  // ended); before that, and on servers without spans, from the step records.
  let spans = null;
  let spansAt = null;   // the run status the spans were read at: a new status reads them again
  function drawTimeline(s) {
    const el = document.getElementById('run-timeline');
    if (!el) return;
    const traced = run && (TERMINAL.includes(run.status) || run.status === 'waiting');
    if (!traced) spans = null;
    if (spans && spansAt === run.status) { drawSpans(el, spans); return; }
    drawSteps(el, s);
    if (!traced || spansAt === run.status) return;
    const at = run.status;
    spansAt = at;
    // The trace is written just after the run parks or ends: until it is there (404), or while the stored root span
    // is still open for an ended run, ask again a few times; the step timeline stays meanwhile.
    let tries = 0;
    const ask = () => api(`/api/runs/${runId}/spans`).then(r => {
      if (stopped || !run || run.status !== at) return;
      const got = r.ok && r.data && (r.data.spans || []).length ? r.data.spans : null;
      const complete = got && (at === 'waiting' || got.every(x => x.parent_id || x.end));
      if (!complete) {
        if (r.status !== 0 && r.status !== 404 && !got) return;   // a server without spans: the steps it is
        if (++tries < 20) { const t = setTimeout(ask, 500); cleanup.push(() => clearTimeout(t)); }
        return;
      }
      spans = got;
      const holder = document.getElementById('run-timeline');
      if (holder) drawSpans(holder, spans);
    });
    ask();
  }

  function drawSteps(el, s) {
    el.replaceChildren();
    el.dataset.source = 'steps';
    if (!s.length) return;
    const t0 = Math.min(...s.map(x => Date.parse(x.started)));
    const now = Date.now();
    const end = Math.max(...s.map(x => Date.parse(x.started) + (x.latency_ms || (x.status === 'running' ? now - Date.parse(x.started) : 0))), t0 + 1);
    const lanes = [];   // a step goes on the first lane free at its start: parallel steps get lanes of their own
    for (const x of [...s].sort((a, b) => Date.parse(a.started) - Date.parse(b.started))) {
      const start = Date.parse(x.started);
      const stop = start + (x.latency_ms || (x.status === 'running' ? now - start : 0));
      let lane = lanes.find(l => l.free <= start);
      if (!lane) { lane = { free: 0, el: h('div', { class: 'lane' }) }; lanes.push(lane); el.append(lane.el); }
      lane.free = stop;
      const bar = h('div', { class: `bar s-${x.status}`, title: `${x.id}: ${fmtMs(x.latency_ms)}` }, `${x.id} ${fmtMs(x.latency_ms)}`);
      place(bar, start, stop, t0, end);
      lane.el.append(bar);
    }
  }

  // One lane per span, in tree order (run → step attempts → chat and tool spans); the depth is marked by the lane's
  // style (app.css), never by narrowing it, so every lane keeps the same time axis.
  function drawSpans(el, all) {
    el.replaceChildren();
    el.dataset.source = 'spans';
    const ms = t => Date.parse(t);
    const t0 = Math.min(...all.map(x => ms(x.start)));
    const now = Date.now();
    const stopOf = x => x.end ? ms(x.end) : now;
    const end = Math.max(...all.map(stopOf), t0 + 1);
    const ids = new Set(all.map(x => x.span_id));
    const children = new Map();
    for (const x of all) {
      const parent = x.parent_id && ids.has(x.parent_id) ? x.parent_id : null;
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(x);
    }
    const walk = (parent, depth) => {
      for (const x of (children.get(parent) || []).sort((a, b) => ms(a.start) - ms(b.start))) {
        const a = x.attributes || {};
        const facts = [fmtMs(x.duration_ms ?? now - ms(x.start))];
        if (a['agentflow.worker']) facts.push(`worker ${a['agentflow.worker']}`);
        if (a['agentflow.queue_wait_ms'] !== undefined) facts.push(`queue ${fmtMs(a['agentflow.queue_wait_ms'])}`);
        if (a['agentflow.model_ms'] !== undefined) facts.push(`model ${fmtMs(a['agentflow.model_ms'])}`);
        if (a['gen_ai.usage.input_tokens'] !== undefined) facts.push(`${a['gen_ai.usage.input_tokens']}→${a['gen_ai.usage.output_tokens'] ?? '?'} tok`);
        const status = x.status === 'OK' ? 'succeeded' : x.status === 'ERROR' ? 'failed' : run && run.status === 'waiting' ? 'waiting' : 'running';
        const tip = [x.name, ...facts, a['gen_ai.request.model'] ? `model ${a['gen_ai.request.model']}` : '', x.status_message || ''].filter(Boolean).join(' · ');
        const bar = h('div', { class: `bar span s-${status}`, title: tip, 'data-span': x.span_id, 'data-parent': x.parent_id, 'data-type': x.type },
          `${x.name} · ${facts.join(' · ')}`);
        place(bar, ms(x.start), stopOf(x), t0, end);
        el.append(h('div', { class: 'lane', 'data-depth': depth }, bar));
        walk(x.span_id, depth + 1);
      }
    };
    walk(null, 0);
  }

  function place(bar, start, stop, t0, end) {
    bar.style.left = `${((start - t0) / (end - t0)) * 100}%`;   // CSSOM, not a style attribute: allowed by the page's content security policy
    bar.style.width = `${Math.max(((stop - start) / (end - t0)) * 100, 0.5)}%`;
  }

  function stepView(st) {
    const facts = [['Status', badge(st.status)], ['Kind', st.kind], ['Model', st.model ? `${st.model_alias ? `${st.model_alias} → ` : ''}${st.model}` : '–'],
      ['Worker', st.worker || '–'], ['Attempt', st.attempt ?? 1], ['Tokens in/out', `${st.input_tokens ?? 0} / ${st.output_tokens ?? 0}`],
      ['Latency', fmtMs(st.latency_ms)], ['Cost', fmtCost(st.cost_usd)]];
    if (st.iteration !== null && st.iteration !== undefined) facts.push(['Iteration', st.iteration]);
    // A workflow step's child run has its own page.
    if (st.child_run) facts.push(['Child run', h('a', { class: 'child-run', href: `#/runs/${st.child_run}` }, st.child_run.slice(0, 12))]);
    const a = st.approval;
    // The documents the step saw: a retrieve step's search and its retrieve tools' calls, best first.
    const searches = [st.retrieval, ...(st.tool_calls || []).map(c => c.retrieval)].filter(Boolean);
    const sources = searches.length ? [h('b', {}, 'Sources'), ...searches.map(r => h('ol', { class: 'sources', 'data-collection': r.collection, title: `searched ${r.collection} for “${r.query}” (top ${r.top_k})` },
      ...(r.chunks.length ? r.chunks.map(c => h('li', { 'data-source': c.source }, h('code', {}, c.source), c.heading ? ` › ${c.heading}` : '', h('span', { class: 'muted small' }, ` score ${Number(c.score).toFixed(2)}`)))
        : [h('li', { class: 'muted' }, 'no matching documents')])))] : '';
    return h('div', { class: 'step', 'data-step': st.id },
      h('h3', {}, st.id),
      h('div', { class: 'grid' }, facts.map(([k, v]) => h('div', {}, h('b', {}, k), v))),
      st.prompt ? [h('b', {}, 'Prompt'), h('pre', {}, st.prompt)] : '',
      st.detail ? h('p', { class: 'muted small' }, st.detail) : '',
      sources,
      st.output !== null && st.output !== undefined ? [h('b', {}, 'Answer'), h('pre', { class: 'step-output' }, typeof st.output === 'string' ? st.output : JSON.stringify(st.output, null, 2))] : '',
      st.error ? h('p', { class: 'error' }, st.error) : '',
      a && a.decision ? h('p', {}, `${a.decision} by ${a.decided_by || '?'} at ${fmtTime(a.decided_at)}${a.comment ? ` — “${a.comment}”` : ''}`) : '',
      (st.tool_calls || []).length ? [h('b', {}, 'Tool calls'), h('ul', { class: 'tool-calls' }, st.tool_calls.map(c => h('li', {},
        h('code', {}, c.name), ` ${c.arguments} → ${c.status}`,
        c.approval && c.approval.decision ? ` (${c.approval.decision} by ${c.approval.decided_by || '?'}${c.approval.comment ? `: “${c.approval.comment}”` : ''})` : '',
        c.error ? h('span', { class: 'error' }, ` ${c.error}`) : '')))] : '');
  }

  // Live: Server-Sent Events when the server has them, else poll every second.
  const first = await refresh();
  if (first && TERMINAL.includes(first.status)) { mode.textContent = ''; return; }
  let polling = false;
  function poll() {
    if (polling || stopped) return;
    polling = true;
    mode.textContent = '· live (polling)';
    let misses = 0;
    const t = setInterval(async () => {
      const r = await refresh();
      misses = r ? 0 : misses + 1;
      if ((r && TERMINAL.includes(r.status)) || misses > 30) { clearInterval(t); mode.textContent = ''; }
    }, 1000);
    cleanup.push(() => clearInterval(t));
  }
  // No record yet (a run just started writes its first one a moment later) or a server hiccup: retry every second.
  if (!first) { poll(); return; }
  if (!('EventSource' in window)) { poll(); return; }
  const es = new EventSource(`/api/runs/${runId}/events`);
  cleanup.push(() => es.close());
  let opened = false;
  es.onopen = () => { opened = true; mode.textContent = '· live'; };
  es.onerror = () => {
    es.close();
    if (!stopped && !(run && TERMINAL.includes(run.status))) poll();
  };
  es.addEventListener('chunk', e => {
    const d = JSON.parse(e.data);
    live.hidden = false;
    live.textContent = (live.dataset.step === d.step ? live.textContent : `${d.step}: `) + d.text;
    live.dataset.step = d.step;
  });
  for (const ev of ['step_started', 'step_finished', 'waiting']) es.addEventListener(ev, () => refresh());
  es.addEventListener('run_finished', async e => {
    es.close();
    try { render(JSON.parse(e.data)); } catch { await refresh(); }
    mode.textContent = '';
  });
  void opened;
}

// Steps whose executions overlap in time are one row (parallel branches); the rest follow top-down.
function groupParallel(steps) {
  const sorted = [...steps].sort((a, b) => Date.parse(a.started) - Date.parse(b.started));
  const rows = [];
  let rowEnd = -Infinity;
  for (const s of sorted) {
    const start = Date.parse(s.started);
    const stop = start + (s.latency_ms || (s.status === 'running' ? Date.now() - start : 0));
    if (rows.length && start < rowEnd && s.kind !== 'approval') { rows[rows.length - 1].push(s); rowEnd = Math.max(rowEnd, stop); }
    else { rows.push([s]); rowEnd = stop; }
  }
  return rows;
}

// ---------- approvals
function approvalCard(runId, workflow, w, done) {
  const comment = h('input', { id: `comment-${runId}`, name: 'comment', placeholder: 'optional' });
  const by = h('input', { id: `by-${runId}`, name: 'by', value: localStorage.getItem('agentflow.by') || 'dashboard' });
  const msg = h('p', { role: 'status', 'aria-live': 'polite' });
  const decide = approve => async () => {
    for (const b of card.querySelectorAll('button')) b.disabled = true;
    localStorage.setItem('agentflow.by', by.value);
    const r = await api(`/api/runs/${runId}/approvals/${encodeURIComponent(w.step)}`, { json: { approve, comment: comment.value || null, by: by.value || 'dashboard' } });
    msg.className = r.ok ? 'ok' : 'error';
    msg.textContent = r.ok ? `${r.data.decision}; the run continues` : problem(r);
    if (!r.ok) for (const b of card.querySelectorAll('button')) b.disabled = false;
    if (r.ok && done) done();
  };
  const card = h('section', { class: 'card waiting', 'data-approval': runId },
    h('h2', {}, w.tool ? 'Tool call waiting for a decision at ' : 'Waiting for a decision at ', h('code', {}, w.step)),
    h('p', {}, h('a', { href: `#/runs/${runId}` }, `${workflow || ''} ${runId.slice(0, 12)}`), w.deadline ? ` · deadline ${fmtTime(w.deadline)} (then ${w.on_timeout || 'reject'})` : ''),
    h('p', {}, h('b', {}, w.message || '')),
    // A tool call (approve: true): the tool and exactly the arguments it would run with.
    w.tool ? [h('p', {}, 'Tool ', h('code', { class: 'tool-name' }, w.tool)), h('pre', { class: 'tool-arguments' }, JSON.stringify(w.arguments, null, 2))]
      : w.show ? h('pre', {}, w.show) : '',
    h('div', { class: 'inline' },
      h('label', { for: `comment-${runId}` }, 'Comment', comment),
      h('label', { for: `by-${runId}` }, 'Decided by', by)),
    h('p', {}, h('button', { type: 'button', class: 'approve', onclick: decide(true) }, 'Approve'), ' ',
      h('button', { type: 'button', class: 'reject', onclick: decide(false) }, 'Reject')),
    msg);
  return card;
}

async function approvalsPage() {
  const root = view();
  const list = h('div', { id: 'approval-list' });
  root.append(h('h1', {}, 'Approvals'), list);
  async function load() {
    if (list.querySelector('[data-approval] button:disabled')) return;   // a decision is being sent
    const r = await api('/api/approvals');
    if (!r.ok) { list.replaceChildren(h('p', { class: 'error' }, problem(r))); return; }
    const shown = new Set([...list.querySelectorAll('[data-approval]')].map(x => x.dataset.approval));
    const now = new Set(r.data.map(a => a.run_id));
    if (shown.size === now.size && [...now].every(x => shown.has(x)) && shown.size) return;   // keep what is being typed
    list.replaceChildren(...(r.data.length ? r.data.map(a => approvalCard(a.run_id, a.workflow, a, null)) : [h('p', { class: 'muted' }, 'Nothing is waiting for a decision.')]));
  }
  await load();
  every(2000, load);
}

// ---------- compare two runs
async function comparePage(a, b) {
  const root = view();
  const ia = h('input', { id: 'compare-a', name: 'a', value: a || '', placeholder: 'run id A', required: true });
  const ib = h('input', { id: 'compare-b', name: 'b', value: b || '', placeholder: 'run id B', required: true });
  root.append(h('h1', {}, 'Compare runs'), h('form', { class: 'inline card', 'aria-label': 'Runs to compare', onsubmit: e => { e.preventDefault(); location.hash = `#/compare/${ia.value.trim()}/${ib.value.trim()}`; } },
    h('label', { for: 'compare-a' }, 'Run A', ia), h('label', { for: 'compare-b' }, 'Run B', ib), h('button', { type: 'submit' }, 'Compare')));
  if (!a || !b) return;
  const [ra, rb] = await Promise.all([api(`/api/runs/${a}`), api(`/api/runs/${b}`)]);
  if (!ra.ok || !rb.ok) { root.append(h('p', { class: 'error' }, problem(ra.ok ? rb : ra))); return; }
  const A = ra.data, B = rb.data;
  const last = r => { const m = new Map(); for (const s of r.steps || []) m.set(s.id, s); return m; };
  const sa = last(A), sb = last(B);
  const ids = [...new Set([...sa.keys(), ...sb.keys()])];
  const row = (label, f) => h('tr', {}, h('th', { scope: 'row' }, label), h('td', {}, f(A)), h('td', {}, f(B)));
  root.append(h('section', { class: 'card' }, h('table', { id: 'compare-summary' },
    h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', {}, h('a', { href: `#/runs/${a}` }, `A ${a.slice(0, 12)}`)), h('th', {}, h('a', { href: `#/runs/${b}` }, `B ${b.slice(0, 12)}`)))),
    h('tbody', {}, row('Status', r => badge(r.status)), row('Workflow', r => r.workflow), row('Bindings', r => kv(r.bindings)),
      row('Duration', r => fmtMs(r.duration_ms)), row('Tokens in/out', r => `${sum(r.steps || [], 'input_tokens')} / ${sum(r.steps || [], 'output_tokens')}`),
      row('Cost', r => fmtCost(sum(r.steps || [], 'cost_usd')))))));
  const steps = h('section', { class: 'card', id: 'compare-steps' }, h('h2', {}, 'Per step'));
  for (const id of ids) {
    const x = sa.get(id), y = sb.get(id);
    const text = s => s && s.output !== null && s.output !== undefined ? (typeof s.output === 'string' ? s.output : JSON.stringify(s.output)) : '';
    const d = x && y ? (text(x) === text(y) ? h('p', { class: 'muted small' }, 'same answer') : h('pre', { class: 'diff' }, diffWords(text(x), text(y)))) : h('p', { class: 'muted small' }, `only in ${x ? 'A' : 'B'}`);
    const fact = s => s ? `${s.status} · ${s.model || s.kind} · ${s.input_tokens ?? 0}/${s.output_tokens ?? 0} tok · ${fmtMs(s.latency_ms)} · ${fmtCost(s.cost_usd)}` : '–';
    steps.append(h('div', { class: 'step', 'data-step': id }, h('h3', {}, id), h('div', { class: 'small' }, 'A: ', fact(x)), h('div', { class: 'small' }, 'B: ', fact(y)), d));
  }
  root.append(steps);
}

// A word diff (longest common subsequence); long texts fall back to a whole replacement.
function diffWords(x, y) {
  const a = x.split(/(\s+)/), b = y.split(/(\s+)/);
  if (a.length * b.length > 4e6) return [h('del', {}, x), h('ins', {}, y)];
  const m = a.length, n = b.length;
  const dp = Array.from({ length: m + 1 }, () => new Uint32Array(n + 1));
  for (let i = m - 1; i >= 0; i--) for (let j = n - 1; j >= 0; j--) dp[i][j] = a[i] === b[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < m && j < n) {
    if (a[i] === b[j]) { out.push(a[i]); i++; j++; }
    else if (dp[i + 1][j] >= dp[i][j + 1]) out.push(h('del', {}, a[i++]));
    else out.push(h('ins', {}, b[j++]));
  }
  while (i < m) out.push(h('del', {}, a[i++]));
  while (j < n) out.push(h('ins', {}, b[j++]));
  return out;
}

// ---------- an experiment's comparison: per metric, each variant's estimate with its 95% interval, as a chart
async function experimentPage(name) {
  const root = view();
  root.append(h('h1', {}, name ? `Experiment ${name}` : 'Experiments'));
  const field = h('input', { id: 'experiment-name', name: 'experiment', placeholder: 'hello-ab', value: name || '' });
  root.append(h('form', { class: 'card', 'aria-label': 'Open an experiment', onsubmit: e => { e.preventDefault(); if (field.value.trim()) location.hash = `#/experiments/${field.value.trim()}`; } },
    h('label', { for: 'experiment-name' }, 'Experiment'), field, h('button', { type: 'submit' }, 'Show')));
  if (!name) return;
  const r = await api(`/api/experiments/${encodeURIComponent(name)}`);
  if (!r.ok) { root.append(h('p', { class: 'error', role: 'alert' }, problem(r))); return; }
  const cmp = r.data.comparison;
  const variants = Object.keys(r.data.variants);
  root.append(h('p', { class: 'muted' }, `${r.data.runs} runs · ${variants.map(v => `${v}: ${r.data.variants[v]}`).join(' · ')} · ` +
    `${Math.round(cmp.confidence * 100)}% bootstrap intervals (${cmp.resamples} resamples)${cmp.paired ? ', paired differences' : ''} against ${cmp.baseline}`));
  const list = h('section', { class: 'card', 'aria-label': 'Comparison' });
  for (const row of cmp.rows) {
    const label = row.step ? `${row.step}: ${row.name}` : row.name;
    const estimates = variants.map(v => [v, row.variants[v]]).filter(([, e]) => e);
    const top = Math.max(1e-9, ...estimates.map(([, e]) => Math.abs(e.high)), ...estimates.map(([, e]) => Math.abs(e.value)));
    list.append(h('h3', {}, label), chart(estimates, top));
    const diffs = Object.entries(row.differences || {}).filter(([, d]) => d);
    if (diffs.length) list.append(h('p', { class: 'muted small' }, diffs.map(([v, d]) => `${v}−${cmp.baseline}: ${fmtNum(d.value)} [${fmtNum(d.low)}, ${fmtNum(d.high)}]`).join(' · ')));
  }
  root.append(list);
}

const fmtNum = x => Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toFixed(3);

// Horizontal bars (estimate) with whiskers (interval), one line per variant; drawn as SVG elements, never as markup.
function chart(estimates, top) {
  const ns = 'http://www.w3.org/2000/svg';
  const el = (tag, attrs, text) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v)); if (text) e.textContent = text; return e; };
  const width = 680, left = 90, line = 22, scale = x => left + (Math.max(0, x) / top) * (width - left - 210);
  const svg = el('svg', { viewBox: `0 0 ${width} ${estimates.length * line + 6}`, class: 'chart', role: 'img', 'aria-label': estimates.map(([v, e]) => `${v} ${fmtNum(e.value)}`).join(', ') });
  estimates.forEach(([variant, e], i) => {
    const y = i * line + 4;
    svg.append(el('text', { x: 0, y: y + 13, class: 'chart-label' }, variant));
    svg.append(el('rect', { x: left, y, width: Math.max(1, scale(e.value) - left), height: 14, class: 'chart-bar' }));
    svg.append(el('line', { x1: scale(e.low), x2: scale(e.high), y1: y + 7, y2: y + 7, class: 'chart-ci' }));
    svg.append(el('text', { x: scale(Math.max(e.high, e.value)) + 6, y: y + 12, class: 'chart-value' }, `${fmtNum(e.value)} [${fmtNum(e.low)}, ${fmtNum(e.high)}]`));
  });
  return svg;
}
