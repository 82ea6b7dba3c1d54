// optlab playground: plain JavaScript and two canvases. Every number drawn here is computed by
// the server (optlab's runner, optimizers and test functions); this file only keeps the state,
// talks to the JSON API and draws.
'use strict';

const $ = (id) => document.getElementById(id);
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const BATCHES = [1, 2, 4, 8, 16, 32, 64, 'full'];
const SLIDER_STEPS = 1000;
// what "+ Add method" picks next, in order, when not already used
const SUGGESTED = ['SGD', 'Adam', 'Muon', 'SignGD', 'RMSprop', 'Adagrad', 'NAdam', 'AdamW', 'NormalizedGD'];

let catalog = null; // GET /api/catalog
let state = null; // everything the URL holds
let contours = null; // last POST /api/contours answer
let traj = null; // last POST /api/trajectory answer
let frame = null; // index into the paths' points; null: whole paths
let playing = false;
const net = { traj: { busy: false, again: false }, contours: { busy: false, again: false } };
let requests = 0;

// ---------------------------------------------------------------- numbers and sliders

function roundSig(v, digits) {
  if (!isFinite(v) || v === 0) return v;
  return Number(v.toPrecision(digits));
}

function fmt(v) {
  if (typeof v !== 'number') return String(v);
  if (!isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e5) return v.toExponential(2).replace('e+', 'e');
  return String(Number(v.toPrecision(4)));
}

// slider position (0..SLIDER_STEPS) ↔ value, for the scales of the catalog
function toPos(c, v) {
  const clamp = (t) => Math.round(Math.min(1, Math.max(0, t)) * SLIDER_STEPS);
  if (c.scale === 'log') {
    if (!(v > 0)) return 0;
    return clamp((Math.log10(v) - Math.log10(c.min)) / (Math.log10(c.max) - Math.log10(c.min)));
  }
  if (c.scale === 'one_minus_log') {
    const lo = Math.log10(1 - c.min);
    const hi = Math.log10(1 - c.max);
    return clamp((Math.log10(Math.max(1 - v, 1e-300)) - lo) / (hi - lo));
  }
  if (c.scale === 'integer') return Math.round(v);
  return clamp((v - c.min) / (c.max - c.min));
}

function fromPos(c, pos) {
  const t = pos / SLIDER_STEPS;
  if (c.scale === 'log') return roundSig(10 ** (Math.log10(c.min) + t * (Math.log10(c.max) - Math.log10(c.min))), 3);
  if (c.scale === 'one_minus_log') {
    const lo = Math.log10(1 - c.min);
    const hi = Math.log10(1 - c.max);
    return 1 - roundSig(10 ** (lo + t * (hi - lo)), 2);
  }
  if (c.scale === 'integer') return Math.round(pos);
  return roundSig(c.min + t * (c.max - c.min), 3);
}

// a labelled slider row: returns the <div>; onInput(value) on every move
function sliderRow(label, control, value, onInput, format = fmt) {
  const row = document.createElement('div');
  row.className = 'slider-row';
  const l = document.createElement('label');
  l.textContent = label;
  l.title = label;
  const input = document.createElement('input');
  input.type = 'range';
  if (control.scale === 'integer') {
    input.min = control.min;
    input.max = control.max;
    input.step = 1;
  } else {
    input.min = 0;
    input.max = SLIDER_STEPS;
    input.step = 1;
  }
  input.value = toPos(control, value);
  input.dataset.name = control.name || label;
  const out = document.createElement('output');
  out.textContent = format(value);
  input.addEventListener('input', () => {
    const v = fromPos(control, Number(input.value));
    out.textContent = format(v);
    onInput(v);
  });
  row.append(l, input, out);
  return row;
}

// ---------------------------------------------------------------- state and URL

function fnInfo(name) {
  return catalog.functions.find((f) => f.name === name);
}

function optInfo(name) {
  const n = String(name).toLowerCase();
  return catalog.optimizers.find((o) => o.name.toLowerCase() === n || (o.aliases || []).includes(n));
}

function functionDefaults(info) {
  const p = {};
  for (const q of info.params) p[q.name] = q.default;
  return p;
}

function newMethod(name) {
  const o = optInfo(name);
  const h = {};
  if (o && typeof o.defaults.lr === 'number') h.lr = o.defaults.lr;
  return { o: o ? o.name : name, h, s: null };
}

function defaultState() {
  const info = fnInfo('rosenbrock') || catalog.functions[0];
  return {
    f: info.name,
    p: functionDefaults(info),
    start: info.start.slice(),
    steps: 500,
    noise: 0,
    batch: 1,
    seed: 0,
    methods: [
      { o: 'SGD', h: { lr: 0.001, momentum: 0.9 }, s: null },
      { o: 'Adam', h: { lr: 0.05 }, s: null },
      { o: 'Muon', h: { lr: 0.02, weight_decay: 0 }, s: null },
    ].filter((m) => optInfo(m.o)),
  };
}

function encodeValue(v) {
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return v.map(String).join(',');
  if (v !== null && typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function parseValue(s) {
  if (s === 'true') return true;
  if (s === 'false') return false;
  if (s === 'null') return null;
  const num = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;
  if (num.test(s)) return Number(s);
  if (s.includes(',') && s.split(',').every((x) => num.test(x))) return s.split(',').map(Number);
  if (s.startsWith('{') || s.startsWith('[')) {
    try {
      return JSON.parse(s);
    } catch (e) {
      return s;
    }
  }
  return s;
}

// readable query strings: keep , ; : = unescaped
function enc(v) {
  return encodeURIComponent(String(v)).replace(/%2C/g, ',').replace(/%3B/g, ';').replace(/%3A/g, ':').replace(/%3D/g, '=');
}

function encodeState(s) {
  const parts = [];
  const add = (k, v) => parts.push(`${k}=${enc(v)}`);
  add('f', s.f);
  for (const [k, v] of Object.entries(s.p)) add(`p.${k}`, encodeValue(v));
  add('x', s.start.map((v) => String(roundSig(v, 4))).join(','));
  add('steps', s.steps);
  add('noise', s.noise);
  add('batch', s.batch);
  add('seed', s.seed);
  for (const m of s.methods) {
    let t = m.o;
    for (const [k, v] of Object.entries(m.h)) t += `;${k}=${encodeValue(v)}`;
    if (m.s) {
      t += `;s=${m.s.kind}`;
      for (const [k, v] of Object.entries(m.s)) if (k !== 'kind') t += `;s.${k}=${encodeValue(v)}`;
    }
    add('m', t);
  }
  return '?' + parts.join('&');
}

function decodeState(search) {
  const q = new URLSearchParams(search);
  const info = q.get('f') && fnInfo(q.get('f'));
  if (!info) return null;
  const s = defaultState();
  s.f = info.name;
  s.p = functionDefaults(info);
  s.start = info.start.slice();
  for (const [k, v] of q.entries()) if (k.startsWith('p.')) s.p[k.slice(2)] = parseValue(v);
  const x = (q.get('x') || '').split(',').map(Number);
  if (x.length === info.dim && x.every(isFinite)) s.start = x;
  const int = (k, d) => (q.has(k) && isFinite(Number(q.get(k))) ? Math.round(Number(q.get(k))) : d);
  s.steps = int('steps', s.steps);
  s.noise = q.has('noise') && isFinite(Number(q.get('noise'))) ? Number(q.get('noise')) : 0;
  s.batch = q.get('batch') === 'full' ? 'full' : int('batch', 1);
  s.seed = int('seed', 0);
  const ms = q.getAll('m');
  if (ms.length) {
    s.methods = ms.map((t) => {
      const [o, ...rest] = t.split(';');
      const m = { o, h: {}, s: null };
      for (const kv of rest) {
        const i = kv.indexOf('=');
        if (i < 0) continue;
        const k = kv.slice(0, i);
        const v = kv.slice(i + 1);
        if (k === 's') m.s = Object.assign({ kind: v }, m.s || {});
        else if (k.startsWith('s.')) m.s = Object.assign(m.s || {}, { [k.slice(2)]: parseValue(v) });
        else m.h[k] = parseValue(v);
      }
      if (m.s && !m.s.kind) m.s = null;
      return m;
    });
  }
  return s;
}

let urlTimer = null;
function saveUrl() {
  clearTimeout(urlTimer);
  urlTimer = setTimeout(() => {
    const url = encodeState(state) + location.hash;
    if (url !== location.search + location.hash) history.replaceState(null, '', url);
  }, 60);
}

// ---------------------------------------------------------------- API

async function api(path, body) {
  const r = await fetch(path, body === undefined ? {} : {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const data = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(data.error || `HTTP ${r.status}`);
  return data;
}

function setPending() {
  const n = Number(net.traj.busy) + Number(net.traj.again) + Number(net.contours.busy) + Number(net.contours.again);
  document.body.dataset.pending = String(n);
}

// runs `job` now, or once more after the request in flight (latest state wins)
async function coalesce(slot, job) {
  const n = net[slot];
  if (n.busy) {
    n.again = true;
    setPending();
    return;
  }
  n.busy = true;
  setPending();
  try {
    await job();
  } finally {
    n.busy = false;
    if (n.again) {
      n.again = false;
      coalesce(slot, job);
    }
    setPending();
  }
}

function setStatus(text, bad = false) {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('bad', bad);
}

function trajectoryRequest() {
  return {
    function: state.f,
    params: state.p,
    start: state.start,
    steps: state.steps,
    noise: state.noise,
    batch: state.batch,
    seed: state.seed,
    methods: state.methods.map((m) => (m.s ? { optimizer: m.o, hyper: m.h, schedule: m.s } : { optimizer: m.o, hyper: m.h })),
  };
}

function refreshTrajectory() {
  saveUrl();
  coalesce('traj', async () => {
    const t0 = performance.now();
    requests += 1;
    try {
      traj = await api('/api/trajectory', trajectoryRequest());
      setStatus(`${traj.paths.length} method(s) × ${traj.steps} steps in ${Math.round(performance.now() - t0)} ms`);
      methodErrors(null);
    } catch (e) {
      traj = null;
      setStatus(e.message, true);
      methodErrors(e.message);
    }
    updateFrameSlider();
    draw();
    document.body.dataset.ready = '1';
  });
}

function refreshContours() {
  coalesce('contours', async () => {
    const info = fnInfo(state.f);
    const req = info.dim === 2
      ? { function: state.f, params: state.p, nx: 160, ny: 160, levels: 18 }
      : { function: state.f, params: state.p, nx: 600 };
    try {
      contours = await api('/api/contours', req);
      heatmap = null;
    } catch (e) {
      contours = null;
      setStatus(e.message, true);
    }
    draw();
  });
}

// ---------------------------------------------------------------- controls

function buildFunctionControls() {
  const info = fnInfo(state.f);
  $('function').value = state.f;
  $('function-summary').textContent = info.summary;
  const box = $('function-params');
  box.replaceChildren();
  for (const q of info.params) {
    const v = state.p[q.name] ?? q.default;
    box.append(sliderRow(q.label, q, v, (x) => {
      state.p[q.name] = x;
      refreshContours();
      refreshTrajectory();
    }));
  }
  updateStartText();
}

function updateStartText() {
  $('start-text').textContent = `(${state.start.map((v) => fmt(roundSig(v, 3))).join(', ')})`;
}

// steps per method: at most `steps`, and `total_steps` over all methods
function maxSteps() {
  const l = catalog.limits;
  return Math.min(l.steps, Math.floor(l.total_steps / Math.max(1, state.methods.length)));
}

function buildGlobalControls() {
  state.steps = Math.min(state.steps, maxSteps());
  const steps = { name: 'steps', scale: 'log', min: 10, max: maxSteps() };
  $('steps-row').replaceWith(Object.assign(sliderRow('steps', steps, state.steps, (v) => {
    state.steps = Math.min(maxSteps(), Math.max(1, Math.round(roundSig(v, 2))));
    refreshTrajectory();
  }, (v) => String(Math.round(roundSig(v, 2)))), { id: 'steps-row' }));
  const noise = { name: 'noise', scale: 'linear', min: 0, max: 10 };
  $('noise-row').replaceWith(Object.assign(sliderRow('noise σ', noise, state.noise, (v) => {
    state.noise = v;
    refreshTrajectory();
  }), { id: 'noise-row' }));
  const batch = { name: 'batch', scale: 'integer', min: 0, max: BATCHES.length - 1 };
  const bi = Math.max(0, BATCHES.indexOf(state.batch));
  $('batch-row').replaceWith(Object.assign(sliderRow('batch', batch, bi, (i) => {
    state.batch = BATCHES[i];
    refreshTrajectory();
  }, (i) => String(BATCHES[i])), { id: 'batch-row' }));
  $('seed').value = state.seed;
}

function controlRow(m, c) {
  const cur = m.h[c.name] ?? c.default;
  const set = (v) => {
    m.h[c.name] = v;
    refreshTrajectory();
  };
  if (c.type === 'bool') {
    const row = document.createElement('label');
    row.className = 'row';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = Boolean(cur);
    box.dataset.name = c.name;
    box.addEventListener('change', () => set(box.checked));
    row.append(box, document.createTextNode(c.name));
    return [row];
  }
  if (c.type === 'string') {
    const row = document.createElement('label');
    row.className = 'row';
    const input = document.createElement('input');
    input.value = cur;
    input.dataset.name = c.name;
    input.addEventListener('change', () => set(input.value));
    row.append(document.createTextNode(c.name), input);
    return [row];
  }
  if (c.type === 'numbers') {
    const vals = Array.isArray(cur) ? cur.slice() : c.default.slice();
    return vals.map((v, i) => sliderRow(`${c.name}[${i}]`, Object.assign({}, c, { name: `${c.name}.${i}` }), v, (x) => {
      vals[i] = x;
      set(vals.slice());
    }));
  }
  return [sliderRow(c.name, c, cur, set)];
}

function scheduleControls(m, box) {
  box.replaceChildren();
  const row = document.createElement('label');
  row.className = 'row';
  const sel = document.createElement('select');
  sel.dataset.name = 'schedule';
  sel.append(new Option('constant lr', ''));
  for (const s of catalog.schedules) sel.append(new Option(s.kind, s.kind));
  sel.value = m.s ? (catalog.schedules.find((s) => s.kind === m.s.kind || s.aliases.includes(m.s.kind)) || {}).kind || '' : '';
  sel.addEventListener('change', () => {
    const info = catalog.schedules.find((s) => s.kind === sel.value);
    if (!info) {
      m.s = null;
    } else {
      m.s = JSON.parse(JSON.stringify(info.example));
      m.s.kind = info.kind;
      for (const k of ['T_max', 'total_steps', 'total_iters']) if (k in m.s) m.s[k] = state.steps;
    }
    scheduleControls(m, box);
    refreshTrajectory();
  });
  row.append(document.createTextNode('schedule'), sel);
  box.append(row);
  const info = m.s && catalog.schedules.find((s) => s.kind === sel.value);
  if (!info) return;
  const f = document.createElement('p');
  f.className = 'note';
  f.textContent = info.formula;
  box.append(f);
  for (const a of info.args) {
    const v = m.s[a.name] ?? a.default;
    const r = document.createElement('label');
    r.className = 'row';
    r.title = a.range;
    const input = document.createElement('input');
    input.dataset.name = `s.${a.name}`;
    input.value = v === null || v === undefined ? '' : encodeValue(v);
    input.addEventListener('change', () => {
      if (input.value.trim() === '') delete m.s[a.name];
      else m.s[a.name] = parseValue(input.value.trim());
      refreshTrajectory();
    });
    r.append(document.createTextNode(a.name), input);
    box.append(r);
  }
}

function buildMethods() {
  const box = $('methods');
  box.replaceChildren();
  state.methods.forEach((m, i) => {
    const card = document.createElement('div');
    card.className = 'method';
    card.dataset.index = String(i);
    card.style.setProperty('--c', COLORS[i % COLORS.length]);
    const head = document.createElement('div');
    head.className = 'method-head';
    const sel = document.createElement('select');
    sel.className = 'optimizer';
    sel.title = 'optimizer';
    for (const o of catalog.optimizers) sel.append(new Option(o.name, o.name));
    const info = optInfo(m.o);
    if (!info) sel.append(new Option(m.o, m.o));
    sel.value = info ? info.name : m.o;
    sel.addEventListener('change', () => {
      const keep = m.s;
      state.methods[i] = newMethod(sel.value);
      state.methods[i].s = keep;
      buildMethods();
      refreshTrajectory();
    });
    const rm = document.createElement('button');
    rm.className = 'remove';
    rm.textContent = '×';
    rm.title = 'Remove this method';
    rm.disabled = state.methods.length <= 1;
    rm.addEventListener('click', () => {
      state.methods.splice(i, 1);
      buildMethods();
      refreshTrajectory();
    });
    head.append(sel, rm);
    card.append(head);
    if (info) {
      const summary = document.createElement('p');
      summary.className = 'note';
      summary.textContent = info.summary;
      card.append(summary);
      const [first, ...rest] = info.controls;
      if (first) card.append(...controlRow(m, first));
      if (rest.length) {
        const more = document.createElement('details');
        more.open = rest.some((c) => c.name in m.h) || i === 0;
        const s = document.createElement('summary');
        s.textContent = 'hyperparameters';
        more.append(s);
        for (const c of rest) more.append(...controlRow(m, c));
        card.append(more);
      }
    }
    const sched = document.createElement('div');
    scheduleControls(m, sched);
    card.append(sched);
    const err = document.createElement('p');
    err.className = 'error';
    card.append(err);
    box.append(card);
  });
  $('add-method').disabled = state.methods.length >= catalog.limits.methods;
  buildGlobalControls();
}

// errors of the whole request naming methods[i], or the paths' own failures
function methodErrors(message) {
  document.querySelectorAll('.method').forEach((card, i) => {
    const el = card.querySelector('.error');
    let text = '';
    const m = message && message.match(/methods\[(\d+)\]/);
    if (m && Number(m[1]) === i) text = message;
    const p = traj && traj.paths[i];
    if (p && p.failure) text = `stopped at step ${p.failure.step}: ${p.failure.message}`;
    el.textContent = text;
  });
}

function loadStory(name) {
  const story = catalog.stories.find((s) => s.name === name);
  if (!story) return;
  const r = story.request;
  state = {
    f: r.function,
    p: Object.assign(functionDefaults(fnInfo(r.function)), r.params),
    start: r.start.slice(),
    steps: r.steps,
    noise: r.noise,
    batch: r.batch,
    seed: r.seed,
    methods: r.methods.map((m) => ({ o: m.optimizer, h: Object.assign({}, m.hyper), s: m.schedule ? Object.assign({}, m.schedule) : null })),
  };
  rebuild();
}

function rebuild() {
  stopPlay();
  frame = null;
  buildFunctionControls();
  buildMethods(); // and the steps, noise, batch and seed controls
  refreshContours();
  refreshTrajectory();
}

// ---------------------------------------------------------------- drawing: the map

const MAP_PAD = { left: 52, right: 14, top: 14, bottom: 36 };
let heatmap = null; // offscreen canvas of the contour grid

// data → pixel transform of the map (2-D: equal scales on both axes)
function mapFrame() {
  const c = $('map');
  const w = c.width - MAP_PAD.left - MAP_PAD.right;
  const h = c.height - MAP_PAD.top - MAP_PAD.bottom;
  const info = fnInfo(state.f);
  let v = contours ? contours.view.slice() : info.view.slice();
  if (info.dim === 1 && contours) {
    const fin = contours.values.filter((x) => x !== null && isFinite(x));
    const lo = Math.min(...fin);
    const hi = Math.min(Math.max(...fin), lo + (info.view[3] - info.view[2]));
    const pad = 0.06 * (hi - lo || 1);
    v = [v[0], v[1], lo - pad, hi + pad];
  }
  let sx = w / (v[1] - v[0]);
  let sy = h / (v[3] - v[2]);
  let ox = MAP_PAD.left;
  let oy = MAP_PAD.top;
  if (info.dim === 2) {
    const s = Math.min(sx, sy);
    ox += (w - s * (v[1] - v[0])) / 2;
    oy += (h - s * (v[3] - v[2])) / 2;
    sx = sy = s;
  }
  const pw = sx * (v[1] - v[0]);
  const ph = sy * (v[3] - v[2]);
  const lim = (p) => Math.max(-1e5, Math.min(1e5, p));
  return {
    v, ox, oy, pw, ph,
    X: (x) => lim(ox + (x - v[0]) * sx),
    Y: (y) => lim(oy + ph - (y - v[2]) * sy),
    invX: (px) => v[0] + (px - ox) / sx,
    invY: (py) => v[2] + (oy + ph - py) / sy,
  };
}

const STOPS = [[255, 255, 255], [250, 244, 222], [221, 232, 242], [178, 198, 222], [140, 162, 196]];
function shade(t) {
  const x = Math.min(0.9999, Math.max(0, t)) * (STOPS.length - 1);
  const i = Math.floor(x);
  const f = x - i;
  return STOPS[i].map((a, k) => Math.round(a + f * (STOPS[i + 1][k] - a)));
}

function buildHeatmap() {
  const { nx, ny, values, min, levels } = contours;
  // colours spread over the contour levels: log(f − min) from the lowest level to the highest
  const lo = Math.log(Math.max(levels[0] - min, 1e-300));
  const hi = Math.max(Math.log(Math.max(levels[levels.length - 1] - min, 1e-300)), lo + 1e-9);
  const off = document.createElement('canvas');
  off.width = nx;
  off.height = ny;
  const ctx = off.getContext('2d');
  const img = ctx.createImageData(nx, ny);
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const z = values[j * nx + i];
      const t = z === null ? 1 : (Math.log(Math.max(z - min, 1e-300)) - lo) / (hi - lo);
      const [r, g, b] = shade(t);
      const o = ((ny - 1 - j) * nx + i) * 4;
      img.data[o] = r;
      img.data[o + 1] = g;
      img.data[o + 2] = b;
      img.data[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  return off;
}

function niceTicks(lo, hi, n) {
  const span = hi - lo;
  const step0 = span / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= n) || 10 * mag;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9 * step; t += step) out.push(Math.abs(t) < 1e-12 * step ? 0 : t);
  return out;
}

function axes(ctx, fr, xLabel, yLabel) {
  ctx.strokeStyle = '#8a93a5';
  ctx.lineWidth = 1;
  ctx.strokeRect(fr.ox, fr.oy, fr.pw, fr.ph);
  ctx.fillStyle = '#3b4252';
  ctx.font = '12px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const t of niceTicks(fr.v[0], fr.v[1], 8)) {
    const x = fr.X(t);
    ctx.beginPath();
    ctx.moveTo(x, fr.oy + fr.ph);
    ctx.lineTo(x, fr.oy + fr.ph + 4);
    ctx.stroke();
    ctx.fillText(fmt(t), x, fr.oy + fr.ph + 6);
  }
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const t of niceTicks(fr.v[2], fr.v[3], 8)) {
    const y = fr.Y(t);
    ctx.beginPath();
    ctx.moveTo(fr.ox - 4, y);
    ctx.lineTo(fr.ox, y);
    ctx.stroke();
    ctx.fillText(fmt(t), fr.ox - 6, y);
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'bottom';
  ctx.fillText(xLabel, fr.ox + fr.pw / 2, $('map').height - 2);
  ctx.save();
  ctx.translate(12, fr.oy + fr.ph / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = 'middle';
  ctx.fillText(yLabel, 0, 0);
  ctx.restore();
}

function star(ctx, x, y, r, filled) {
  ctx.beginPath();
  for (let k = 0; k < 10; k++) {
    const a = -Math.PI / 2 + (k * Math.PI) / 5;
    const rr = k % 2 ? r * 0.45 : r;
    ctx.lineTo(x + rr * Math.cos(a), y + rr * Math.sin(a));
  }
  ctx.closePath();
  ctx.fillStyle = filled ? '#ffd54f' : '#ffffff';
  ctx.fill();
  ctx.strokeStyle = '#5d4037';
  ctx.lineWidth = 1.2;
  ctx.stroke();
}

// the part of each path shown at the current frame
function shownPoints(p) {
  const n = frame === null ? p.points.length : Math.min(frame + 1, p.points.length);
  return p.points.slice(0, n);
}

function drawMap() {
  const c = $('map');
  const ctx = c.getContext('2d');
  ctx.clearRect(0, 0, c.width, c.height);
  const info = fnInfo(state.f);
  const fr = mapFrame();
  ctx.save();
  ctx.beginPath();
  ctx.rect(fr.ox, fr.oy, fr.pw, fr.ph);
  ctx.clip();
  // points to draw: (x, y), or on a 1-D function (x_k, f(x_k)) with f as computed by the server
  const xy = (d) => [fr.X(d[0]), fr.Y(d[1])];
  if (contours && info.dim === 2 && contours.function === state.f) {
    if (!heatmap) heatmap = buildHeatmap();
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(heatmap, fr.ox, fr.oy, fr.pw, fr.ph);
    ctx.strokeStyle = 'rgba(70, 80, 100, 0.35)';
    ctx.lineWidth = 1;
    for (const seg of contours.lines) {
      ctx.beginPath();
      for (let k = 0; k < seg.length; k += 4) {
        ctx.moveTo(fr.X(seg[k]), fr.Y(seg[k + 1]));
        ctx.lineTo(fr.X(seg[k + 2]), fr.Y(seg[k + 3]));
      }
      ctx.stroke();
    }
  } else if (contours && info.dim === 1 && contours.function === state.f) {
    ctx.fillStyle = '#fbfbf7';
    ctx.fillRect(fr.ox, fr.oy, fr.pw, fr.ph);
    ctx.strokeStyle = '#3b4252';
    ctx.lineWidth = 2;
    ctx.beginPath();
    contours.xs.forEach((x, i) => ctx.lineTo(fr.X(x), fr.Y(contours.values[i])));
    ctx.stroke();
  }
  const minis = (traj && traj.function === state.f ? traj.minimizers : contours && contours.minimizers) || [];
  for (const m of minis) {
    const [x, y] = info.dim === 2 ? [fr.X(m.x[0]), fr.Y(m.x[1])] : [fr.X(m.x[0]), fr.Y(m.f)];
    star(ctx, x, y, 9, m.global);
  }
  let digest = 0;
  if (traj && traj.function === state.f) {
    traj.paths.forEach((p, i) => {
      const pts = shownPoints(p).map((q, j) => (info.dim === 2 ? q : [q[0], p.losses[j]]));
      const col = COLORS[i % COLORS.length];
      ctx.strokeStyle = col;
      ctx.fillStyle = col;
      ctx.lineWidth = 2;
      for (const q of pts) {
        const [x, y] = xy(q);
        digest = (digest * 31 + Math.round(x * 10) * 7 + Math.round(y * 10)) % 1000000007;
      }
      // 1-D: the iterates as dots on the curve and a trail of the last steps; 2-D: the path
      const line = info.dim === 2 ? pts : pts.slice(-12);
      if (info.dim === 1) {
        ctx.globalAlpha = Math.min(0.8, 60 / pts.length + 0.15);
        for (const q of pts) {
          const [x, y] = xy(q);
          ctx.fillRect(x - 1.5, y - 1.5, 3, 3);
        }
      }
      ctx.globalAlpha = 0.95;
      ctx.beginPath();
      for (const q of line) {
        const [x, y] = xy(q);
        ctx.lineTo(x, y);
      }
      ctx.stroke();
      ctx.globalAlpha = 1;
      if (info.dim === 2 && pts.length < 80) {
        for (const q of pts) {
          const [x, y] = xy(q);
          ctx.beginPath();
          ctx.arc(x, y, 2.2, 0, 2 * Math.PI);
          ctx.fill();
        }
      }
      const last = pts[pts.length - 1];
      if (last) {
        const [x, y] = xy(last);
        ctx.beginPath();
        ctx.arc(x, y, 6, 0, 2 * Math.PI);
        ctx.fill();
        ctx.strokeStyle = '#ffffff';
        ctx.lineWidth = 2;
        ctx.stroke();
      }
    });
  }
  // the start point
  const f0 = traj && traj.function === state.f && traj.paths[0] && traj.paths[0].points.length && traj.paths[0].points[0][0] === state.start[0]
    ? traj.paths[0].losses[0]
    : valueAt(state.start[0]);
  const [sx, sy] = info.dim === 2 ? [fr.X(state.start[0]), fr.Y(state.start[1])] : [fr.X(state.start[0]), fr.Y(f0)];
  ctx.beginPath();
  ctx.arc(sx, sy, 5, 0, 2 * Math.PI);
  ctx.fillStyle = '#ffffff';
  ctx.fill();
  ctx.strokeStyle = '#111111';
  ctx.lineWidth = 2;
  ctx.stroke();
  ctx.restore();
  axes(ctx, fr, 'x', info.dim === 2 ? 'y' : 'f(x)');
  c.dataset.paths = String(digest);
}

// f on the 1-D curve, interpolated from the contours answer (until the trajectory's f(x₀) is in)
function valueAt(x) {
  if (!contours || !contours.xs) return 0;
  const xs = contours.xs;
  const t = Math.min(1, Math.max(0, (x - xs[0]) / (xs[xs.length - 1] - xs[0]) || 0));
  const k = t * (xs.length - 1);
  const i = Math.floor(k);
  const f = k - i;
  return contours.values[i] * (1 - f) + contours.values[Math.min(i + 1, xs.length - 1)] * f;
}

// ---------------------------------------------------------------- drawing: the loss chart

function drawChart() {
  const c = $('chart');
  const ctx = c.getContext('2d');
  ctx.clearRect(0, 0, c.width, c.height);
  const pad = { left: 58, right: 24, top: 14, bottom: 36 };
  const w = c.width - pad.left - pad.right;
  const h = c.height - pad.top - pad.bottom;
  ctx.font = '12px system-ui, sans-serif';
  if (!traj || traj.function !== state.f) return;
  const fs = traj.f_star;
  const gap = (f) => (fs === null || fs === undefined ? f : Math.max(f - fs, 1e-16));
  const logY = fs !== null && fs !== undefined;
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of traj.paths) {
    for (const f of p.losses) {
      const g = gap(f);
      if (isFinite(g)) {
        const y = logY ? Math.log10(g) : g;
        lo = Math.min(lo, y);
        hi = Math.max(hi, y);
      }
    }
  }
  if (!isFinite(lo)) return;
  if (logY) {
    lo = Math.floor(lo);
    hi = Math.max(Math.ceil(hi), lo + 1);
  } else if (hi - lo < 1e-12) {
    hi = lo + 1;
  }
  const K = traj.steps;
  const X = (k) => pad.left + (k / K) * w;
  const Y = (f) => {
    const g = gap(f);
    const y = logY ? Math.log10(g) : g;
    return pad.top + h - ((Math.min(hi, Math.max(lo, y)) - lo) / (hi - lo)) * h;
  };
  ctx.strokeStyle = '#8a93a5';
  ctx.strokeRect(pad.left, pad.top, w, h);
  ctx.fillStyle = '#3b4252';
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  const yt = logY ? niceTicks(lo, hi, 8).filter((t) => Number.isInteger(t)) : niceTicks(lo, hi, 8);
  for (const t of yt) {
    const y = pad.top + h - ((t - lo) / (hi - lo)) * h;
    ctx.strokeStyle = '#eceef2';
    ctx.beginPath();
    ctx.moveTo(pad.left, y);
    ctx.lineTo(pad.left + w, y);
    ctx.stroke();
    ctx.fillText(logY ? `1e${t}` : fmt(t), pad.left - 6, y);
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const t of niceTicks(0, K, 6)) ctx.fillText(fmt(t), X(t), pad.top + h + 6);
  ctx.textBaseline = 'bottom';
  ctx.fillText('iteration k', pad.left + w / 2, c.height - 2);
  ctx.save();
  ctx.translate(12, pad.top + h / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = 'middle';
  ctx.fillText(logY ? 'f(x_k) − f*' : 'f(x_k)', 0, 0);
  ctx.restore();
  ctx.save();
  ctx.beginPath();
  ctx.rect(pad.left, pad.top, w, h);
  ctx.clip();
  traj.paths.forEach((p, i) => {
    ctx.strokeStyle = COLORS[i % COLORS.length];
    ctx.lineWidth = 2;
    ctx.beginPath();
    p.losses.forEach((f, j) => {
      if (isFinite(f)) ctx.lineTo(X(p.iterations[j]), Y(f));
    });
    ctx.stroke();
  });
  if (frame !== null) {
    const k = frameIteration();
    ctx.strokeStyle = '#555';
    ctx.setLineDash([4, 4]);
    ctx.beginPath();
    ctx.moveTo(X(k), pad.top);
    ctx.lineTo(X(k), pad.top + h);
    ctx.stroke();
    ctx.setLineDash([]);
  }
  ctx.restore();
  // legend
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  traj.paths.forEach((p, i) => {
    const y = pad.top + 14 + i * 18;
    const x = pad.left + w - 190;
    ctx.fillStyle = 'rgba(255,255,255,0.85)';
    ctx.fillRect(x - 4, y - 9, 190, 18);
    ctx.fillStyle = COLORS[i % COLORS.length];
    ctx.fillRect(x, y - 2, 18, 4);
    ctx.fillStyle = '#1d2433';
    const last = p.losses[p.losses.length - 1];
    const tail = p.failure ? ' (stopped)' : `  ${logY ? 'gap' : 'f'} ${fmt(gap(last))}`;
    ctx.fillText(`${p.method}${tail}`, x + 24, y);
  });
}

// ---------------------------------------------------------------- animation

function maxFrames() {
  return traj ? Math.max(0, ...traj.paths.map((p) => p.points.length)) : 0;
}

function frameIteration() {
  if (!traj) return 0;
  const p = traj.paths.reduce((a, b) => (b.iterations.length > a.iterations.length ? b : a));
  const f = frame === null ? p.iterations.length - 1 : Math.min(frame, p.iterations.length - 1);
  return p.iterations[f] || 0;
}

function updateFrameSlider() {
  const n = maxFrames();
  const s = $('frame');
  s.max = Math.max(0, n - 1);
  if (frame !== null && frame > n - 1) frame = n - 1;
  s.value = frame === null ? s.max : frame;
  $('frame-text').textContent = traj ? `k = ${frameIteration()} / ${traj.steps}` : '';
}

function draw() {
  drawMap();
  drawChart();
  updateFrameSlider();
}

let lastTick = 0;
let carry = 0;
function tick(t) {
  if (!playing) return;
  const dt = lastTick ? t - lastTick : 16;
  lastTick = t;
  const n = maxFrames();
  carry += dt * Math.max(n / 6000, 0.03);
  const inc = Math.floor(carry);
  carry -= inc;
  frame = Math.min(n - 1, (frame ?? 0) + inc);
  draw();
  if (frame >= n - 1) {
    stopPlay();
    frame = null;
    draw();
    return;
  }
  requestAnimationFrame(tick);
}

function startPlay() {
  if (!traj) return;
  if (frame === null || frame >= maxFrames() - 1) frame = 0;
  playing = true;
  lastTick = 0;
  carry = 0;
  $('play').textContent = 'Pause';
  requestAnimationFrame(tick);
}

function stopPlay() {
  playing = false;
  $('play').textContent = '▶ Play';
}

// ---------------------------------------------------------------- runs & reports

async function listFiles(path) {
  const box = $('listing');
  box.replaceChildren();
  const crumbs = $('crumbs');
  crumbs.replaceChildren();
  const parts = path ? path.split('/') : [];
  const root = document.createElement('a');
  root.textContent = '.';
  root.addEventListener('click', () => listFiles(''));
  crumbs.append(root);
  parts.forEach((p, i) => {
    const a = document.createElement('a');
    a.textContent = p;
    a.addEventListener('click', () => listFiles(parts.slice(0, i + 1).join('/')));
    crumbs.append(' / ', a);
  });
  try {
    const data = await api(`/api/files?path=${encodeURIComponent(path)}`);
    if (!data.entries.length) box.innerHTML = '<li class="hint">nothing here yet: try <code>optlab run</code> or <code>optlab reproduce --all</code></li>';
    for (const e of data.entries) {
      const li = document.createElement('li');
      const name = document.createElement('span');
      name.textContent = e.kind === 'dir' ? `${e.name}/` : e.name;
      li.append(name);
      if (e.kind === 'file') {
        const s = document.createElement('span');
        s.className = 'size';
        s.textContent = e.size < 1024 ? `${e.size} B` : `${(e.size / 1024).toFixed(1)} KiB`;
        li.append(s);
      }
      li.addEventListener('click', () => (e.kind === 'dir' ? listFiles(e.path) : preview(e.path)));
      box.append(li);
    }
  } catch (err) {
    box.innerHTML = '';
    const li = document.createElement('li');
    li.className = 'hint';
    li.textContent = err.message;
    box.append(li);
  }
}

async function preview(path) {
  const box = $('preview');
  box.replaceChildren();
  const url = `/files/${path.split('/').map(encodeURIComponent).join('/')}`;
  const ext = path.split('.').pop().toLowerCase();
  const title = document.createElement('p');
  const link = document.createElement('a');
  link.href = url;
  link.target = '_blank';
  link.textContent = path;
  title.append(link);
  box.append(title);
  if (['png', 'gif', 'svg', 'jpg', 'jpeg'].includes(ext)) {
    const img = document.createElement('img');
    img.src = url;
    box.append(img);
  } else if (ext === 'html') {
    const f = document.createElement('iframe');
    f.src = url;
    box.append(f);
  } else if (['csv', 'json', 'txt', 'toml', 'md', 'log'].includes(ext)) {
    const r = await fetch(url);
    const text = await r.text();
    const pre = document.createElement('pre');
    pre.textContent = text.length > 200000 ? `${text.slice(0, 200000)}\n… (${text.length} characters; open the link for all)` : text;
    box.append(pre);
  }
}

function showTab(name) {
  document.querySelectorAll('.tab').forEach((t) => t.classList.toggle('active', t.dataset.tab === name));
  $('playground').hidden = name !== 'playground';
  $('files').hidden = name !== 'files';
  if (name === 'files') listFiles('');
  const hash = name === 'files' ? '#files' : '';
  history.replaceState(null, '', location.search + hash);
}

// ---------------------------------------------------------------- start

function wire() {
  const fsel = $('function');
  for (const f of catalog.functions) fsel.append(new Option(f.title, f.name));
  fsel.addEventListener('change', () => {
    const info = fnInfo(fsel.value);
    state.f = info.name;
    state.p = functionDefaults(info);
    state.start = info.start.slice();
    contours = null;
    traj = null;
    rebuild();
  });
  const story = $('story');
  for (const s of catalog.stories) story.append(new Option(s.title, s.name));
  story.addEventListener('change', () => {
    if (story.value) loadStory(story.value);
    story.value = '';
  });
  $('map').addEventListener('click', (ev) => {
    const c = $('map');
    const r = c.getBoundingClientRect();
    const px = ((ev.clientX - r.left) * c.width) / r.width;
    const py = ((ev.clientY - r.top) * c.height) / r.height;
    const fr = mapFrame();
    if (px < fr.ox || px > fr.ox + fr.pw || py < fr.oy || py > fr.oy + fr.ph) return;
    const info = fnInfo(state.f);
    state.start = info.dim === 2 ? [roundSig(fr.invX(px), 3), roundSig(fr.invY(py), 3)] : [roundSig(fr.invX(px), 3)];
    updateStartText();
    stopPlay();
    frame = null;
    refreshTrajectory();
  });
  $('seed').addEventListener('change', () => {
    state.seed = Math.max(0, Math.round(Number($('seed').value) || 0));
    refreshTrajectory();
  });
  $('new-seed').addEventListener('click', () => {
    state.seed += 1;
    $('seed').value = state.seed;
    refreshTrajectory();
  });
  $('add-method').addEventListener('click', () => {
    if (state.methods.length >= catalog.limits.methods) return;
    const used = new Set(state.methods.map((m) => m.o));
    const next = SUGGESTED.find((n) => !used.has(n) && optInfo(n)) || 'SGD';
    state.methods.push(newMethod(next));
    buildMethods();
    refreshTrajectory();
  });
  $('play').addEventListener('click', () => (playing ? stopPlay() : startPlay()));
  $('reset').addEventListener('click', () => {
    stopPlay();
    frame = 0;
    draw();
  });
  $('step').addEventListener('click', () => {
    stopPlay();
    const n = maxFrames();
    frame = frame === null ? 0 : Math.min(n - 1, frame + 1);
    draw();
  });
  $('frame').addEventListener('input', () => {
    stopPlay();
    frame = Number($('frame').value);
    draw();
  });
  $('copy-link').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(location.href);
      setStatus('link copied');
    } catch (e) {
      window.prompt('Copy this link:', location.href);
    }
  });
  document.querySelectorAll('.tab').forEach((t) => t.addEventListener('click', () => showTab(t.dataset.tab)));
}

async function main() {
  document.body.dataset.pending = '0';
  try {
    catalog = await api('/api/catalog');
  } catch (e) {
    setStatus(`cannot load the catalog: ${e.message}`, true);
    return;
  }
  $('version').textContent = `optlab ${catalog.version}`;
  state = decodeState(location.search) || defaultState();
  wire();
  rebuild();
  if (location.hash === '#files') showTab('files');
}

main();
