// The viewer's pages: a hash router (#flame?…, #traces?…, #trace/<id>) over /api/v1/.
'use strict';

const $ = (id) => document.getElementById(id);
const RANGES = { '15m': 15 * 60e3, '1h': 3600e3, '6h': 6 * 3600e3, '24h': 24 * 3600e3, '168h': 168 * 3600e3 };
const PREFERRED_TYPES = ['cpu', 'wall', 'alloc_space', 'inuse_space', 'space', 'delay', 'samples'];

async function api(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== '') q.set(k, v);
  const r = await fetch('/api/v1/' + path + (q.toString() ? '?' + q : ''));
  const body = await r.json().catch(() => ({ error: 'HTTP ' + r.status }));
  if (!r.ok) throw new Error(body.error || 'HTTP ' + r.status);
  return body;
}

function parseHash() {
  const h = location.hash.replace(/^#/, '');
  const [route, query] = h.split('?');
  return { route: route || 'flame', params: Object.fromEntries(new URLSearchParams(query || '')) };
}

function setHash(route, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '' && v !== false) q.set(k, v);
  location.hash = route + (q.toString() ? '?' + q : '');
}

function status(id, text, isError) {
  $(id).textContent = text;
  $(id).classList.toggle('error', !!isError);
}

function show(view) {
  for (const v of ['flame', 'traces', 'trace']) $('view-' + v).hidden = v !== view;
  $('nav-flame').classList.toggle('active', view === 'flame');
  $('nav-traces').classList.toggle('active', view !== 'flame');
}

function fillSelect(select, values, chosen) {
  select.textContent = '';
  for (const v of values) {
    const o = document.createElement('option');
    o.value = o.textContent = v;
    select.append(o);
  }
  if (chosen !== undefined && values.includes(chosen)) select.value = chosen;
}

let services = [];
async function loadServices() {
  services = (await api('services')).services;
  return services;
}

// ------------------------------------------------------------------ flame graph

const flame = new FlameGraph($('flame-canvas'), $('tooltip'), (path) => {
  $('breadcrumb').textContent = path.map((n) => n.n).join(' › ');
});

function windowOf(p) {
  if (p.range === 'custom' && p.from && p.to) return { from: Number(p.from), to: Number(p.to) };
  const len = RANGES[p.range || '1h'] || RANGES['1h'];
  const now = Date.now();
  return { from: now - len, to: now };
}

function renderTop() {
  const tbody = $('top-table').querySelector('tbody');
  tbody.textContent = '';
  for (const f of flame.topFunctions(30)) {
    const tr = document.createElement('tr');
    const name = document.createElement('td');
    name.textContent = f.name;
    const self = document.createElement('td');
    self.className = 'num';
    self.textContent = formatValue(f.self, flame.unit);
    const total = document.createElement('td');
    total.className = 'num';
    total.textContent = formatValue(f.total, flame.unit);
    tr.append(name, self, total);
    tr.addEventListener('click', () => { $('f-search').value = f.name; runSearch(); });
    tbody.append(tr);
  }
}

function runSearch() {
  const m = flame.setSearch($('f-search').value.trim());
  $('search-info').textContent = $('f-search').value.trim()
    ? `${m.frames} matching frames, ${formatValue(m.value, flame.unit)}` : '';
}

async function showFlame(p) {
  show('flame');
  document.body.dataset.flameReady = '0';
  await loadServices();
  const withProfiles = services.filter((s) => s.profiles).map((s) => s.service);
  const service = p.service && withProfiles.includes(p.service) ? p.service : withProfiles[0];
  fillSelect($('f-service'), withProfiles, service);
  if (p.service && !withProfiles.includes(p.service)) {
    status('flame-status', `no profiles from service ${p.service}`, true);
    return;
  }
  if (!service) {
    status('flame-status', 'no profiles yet: point an agent at this host', false);
    return;
  }
  const types = (services.find((s) => s.service === service) || { types: [] }).types;
  const type = p.type && types.includes(p.type) ? p.type : PREFERRED_TYPES.find((t) => types.includes(t)) || types[0];
  fillSelect($('f-type'), types, type);
  $('f-range').value = p.range || '1h';
  $('f-host').value = p.host || '';
  $('f-tags').value = p.tags || '';
  $('f-span').value = p.span_id || '';
  $('f-endpoint').value = p.endpoint || '';
  $('f-diff').checked = p.diff === '1';
  const w = windowOf(p);
  const params = { service, type, from: w.from, to: w.to, host: p.host, span_id: p.span_id, endpoint: p.endpoint };
  for (const kv of (p.tags || '').split(',')) {
    const i = kv.indexOf('=');
    if (i > 0) params['tag.' + kv.slice(0, i).trim()] = kv.slice(i + 1).trim();
  }
  if (p.diff === '1') {
    Object.assign(params, { diff: 1, baseline_from: w.from - (w.to - w.from), baseline_to: w.from });
  }
  status('flame-status', 'loading…');
  try {
    const data = await api('flamegraph', params);
    flame.setData(data);
    $('breadcrumb').textContent = '';
    let text = `${data.profiles} profiles, ${formatValue(data.total, data.unit)} of ${data.type}` +
      ` from ${new Date(data.from_ns / 1e6).toLocaleString()} to ${new Date(data.to_ns / 1e6).toLocaleString()}`;
    if (data.baseline) text += `; baseline ${data.baseline.profiles} profiles, ${formatValue(data.baseline.total, data.unit)}`;
    if (data.truncated) text += ' (newest profiles only)';
    status('flame-status', text);
    renderTop();
    runSearch();
    document.body.dataset.flameReady = '1';
  } catch (e) {
    status('flame-status', e.message, true);
  }
}

$('flame-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const p = parseHash().params;
  const range = $('f-range').value;
  setHash('flame', {
    service: $('f-service').value, type: $('f-type').value, range,
    from: range === 'custom' ? p.from : '', to: range === 'custom' ? p.to : '',
    host: $('f-host').value.trim(), tags: $('f-tags').value.trim(), span_id: $('f-span').value.trim(),
    endpoint: $('f-endpoint').value.trim(), diff: $('f-diff').checked ? '1' : '',
  });
});
$('f-service').addEventListener('change', () => setHash('flame', { service: $('f-service').value, range: $('f-range').value }));
$('f-type').addEventListener('change', () => $('flame-form').requestSubmit());
$('f-search').addEventListener('input', runSearch);
$('f-reset').addEventListener('click', () => flame.zoom(null));

// ------------------------------------------------------------------ traces

async function showTraces(p) {
  show('traces');
  await loadServices();
  const withTraces = services.filter((s) => s.traces).map((s) => s.service);
  fillSelect($('t-service'), [''].concat(withTraces), p.service || '');
  $('t-resource').value = p.resource || '';
  $('t-min').value = p.min_duration || '';
  $('t-status').value = p.status || '';
  $('t-range').value = p.range || '1h';
  const len = RANGES[p.range || '1h'] || RANGES['1h'];
  const tbody = $('traces-table').querySelector('tbody');
  tbody.textContent = '';
  try {
    const data = await api('traces', { service: p.service, resource: p.resource, min_duration: p.min_duration,
      status: p.status, from: Date.now() - len, limit: 200 });
    status('traces-status', `${data.traces.length} traces`);
    for (const t of data.traces) {
      const tr = document.createElement('tr');
      tr.dataset.traceId = t.trace_id;
      tr.dataset.resource = t.resource;
      const cells = [new Date(t.start_us / 1000).toLocaleTimeString(), t.service, t.resource, fmtUs(t.duration_us),
        String(t.spans), t.status];
      cells.forEach((c, i) => {
        const td = document.createElement('td');
        td.textContent = c;
        if (i === 5 && c === 'error') td.className = 'err';
        tr.append(td);
      });
      tr.addEventListener('click', () => { location.hash = 'trace/' + encodeURIComponent(t.trace_id); });
      tbody.append(tr);
    }
  } catch (e) {
    status('traces-status', e.message, true);
  }
}

$('traces-form').addEventListener('submit', (e) => {
  e.preventDefault();
  setHash('traces', { service: $('t-service').value, resource: $('t-resource').value.trim(),
    min_duration: $('t-min').value.trim(), status: $('t-status').value, range: $('t-range').value });
});

// Profiles of the span's service and host, a minute either side of the span.
function profileLinkFor(span) {
  const host = (span.tags && (span.tags.hostname || span.tags.host)) || '';
  const from = Math.floor(span.start_us / 1000) - 60e3, to = Math.ceil((span.start_us + span.duration_us) / 1000) + 60e3;
  const q = new URLSearchParams({ service: span.service, range: 'custom', from, to });
  if (host) q.set('host', host);
  return '#flame?' + q;
}

const waterfall = new Waterfall($('waterfall'), $('span-detail'), profileLinkFor);

async function showTrace(id) {
  show('trace');
  document.body.dataset.traceReady = '0';
  $('waterfall').textContent = '';
  $('trace-title').textContent = 'trace ' + id;
  try {
    const t = await api('traces/' + encodeURIComponent(id));
    $('trace-title').textContent = `trace ${id} — ${t.span_count} spans, ${fmtUs(t.duration_us)}`;
    waterfall.render(t);
    document.body.dataset.traceReady = '1';
  } catch (e) {
    $('trace-title').textContent = e.message;
  }
}

// ------------------------------------------------------------------ router

function route() {
  const { route: r, params } = parseHash();
  if (r.startsWith('trace/')) return showTrace(decodeURIComponent(r.slice(6)));
  if (r === 'traces') return showTraces(params);
  return showFlame(params);
}
window.addEventListener('hashchange', route);
route();
window.viewer = { flame, waterfall };
