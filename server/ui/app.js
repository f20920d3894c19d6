// faultline dashboard: one page over the server's API (/api/v1, see
// /api/openapi.json). The API token stays in this tab's sessionStorage and
// goes out as a bearer token; every text from the API is set with
// textContent, never parsed as HTML. Pages live in the hash (#/runs/ID),
// so the server serves one file.
"use strict";

const TOKEN_KEY = "faultline.token";
const SVGNS = "http://www.w3.org/2000/svg";
const RANK = { viewer: 1, runner: 2, admin: 3 };

// ---- DOM helpers

function fill(e, attrs, kids) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else if (k === "value") e.value = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids.flat(Infinity)) {
    if (c != null && c !== false) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}
const el = (tag, attrs, ...kids) => fill(document.createElement(tag), attrs, kids);
const sv = (tag, attrs, ...kids) => fill(document.createElementNS(SVGNS, tag), attrs, kids);
const $ = (sel, root = document) => root.querySelector(sel);
const enc = encodeURIComponent;

// toast says what an action did, briefly; the newest two stay.
function toast(msg, error) {
  const box = $("#toasts");
  const t = el("div", { class: "toast" + (error ? " error" : ""), text: msg });
  box.append(t);
  while (box.children.length > 2) box.firstChild.remove();
  setTimeout(() => t.remove(), error ? 8000 : 4000);
}

// armed makes a button ask for a second click within 4 s before acting.
function armed(button, confirmText, act) {
  const label = button.textContent;
  let timer = 0;
  button.addEventListener("click", async () => {
    if (!button.classList.contains("armed")) {
      button.classList.add("armed");
      button.textContent = confirmText;
      timer = setTimeout(() => { button.classList.remove("armed"); button.textContent = label; }, 4000);
      return;
    }
    clearTimeout(timer);
    button.classList.remove("armed");
    button.textContent = label;
    await act();
  });
  return button;
}

// ---- time and numbers

function num(v) {
  if (!isFinite(v)) return "—";
  const s = v.toFixed(3).replace(/\.?0+$/, "");
  return s === "-0" ? "0" : s;
}
function span(s) {
  s = Math.abs(s);
  if (s < 60) return Math.round(s) + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  if (s < 86400) return (s / 3600).toFixed(1).replace(/\.0$/, "") + " h";
  return Math.round(s / 86400) + " d";
}
function when(t) {
  const ms = Date.parse(t);
  if (!t || isNaN(ms) || ms <= 0) return el("span", { class: "muted", text: "—" });
  const s = (Date.now() - ms) / 1000;
  const text = s < -1 ? "in " + span(s) : s < 5 ? "just now" : span(s) + " ago";
  return el("time", { datetime: t, title: new Date(ms).toLocaleString(), text });
}
function took(a, b) {
  const s = (Date.parse(b || new Date().toISOString()) - Date.parse(a)) / 1000;
  return isFinite(s) && s >= 0 ? (s < 60 ? s.toFixed(1) + " s" : span(s)) : "—";
}

// ---- API

class APIError extends Error {
  constructor(status, body) {
    super((body && body.error) || "the server answered " + status);
    this.status = status;
    this.errors = (body && body.errors) || [];
  }
}

const token = () => sessionStorage.getItem(TOKEN_KEY) || "";
let me = null; // the token's record (whoami)
const can = role => me && (RANK[me.role] || 0) >= RANK[role];

async function api(method, path, body, opts = {}) {
  const headers = { Authorization: "Bearer " + (opts.token || token()) };
  const init = { method, headers, signal: opts.signal };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch("/api/v1" + path, init);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: text.slice(0, 200) }; }
  if (r.status === 401 && !opts.token) signOut((data && data.error) || "Sign in again.");
  if (!r.ok) throw new APIError(r.status, data);
  return data;
}

// download fetches an authenticated file and saves it.
async function download(path, name) {
  const r = await fetch("/api/v1" + path, { headers: { Authorization: "Bearer " + token() } });
  if (!r.ok) return toast("Download failed: " + r.status, true);
  const a = el("a", { href: URL.createObjectURL(await r.blob()), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// ---- pages and the router

const pages = [
  [/^#\/runs$/, pageRuns, "runs"],
  [/^#\/runs\/([\w.-]+)$/, pageRun, "runs"],
  [/^#\/experiments$/, pageExperiments, "experiments"],
  [/^#\/new-experiment$/, pageEditor, "experiments"],
  [/^#\/experiments\/([\w.-]+)$/, pageEditor, "experiments"],
  [/^#\/agents$/, pageAgents, "agents"],
  [/^#\/schedules$/, pageSchedules, "schedules"],
  [/^#\/audit$/, pageAudit, "audit"],
  [/^#\/settings$/, pageSettings, "settings"],
];

// A page gets a context that ends when the page is left: its signal
// aborts requests and streams, its timers stop.
let page = null;
function newPage() {
  if (page) page.end();
  const ac = new AbortController();
  const timers = [];
  page = {
    signal: ac.signal,
    alive: () => !ac.signal.aborted,
    every(ms, fn) { timers.push(setInterval(() => { if (!document.hidden) fn(); }, ms)); },
    show(...nodes) { if (!ac.signal.aborted) $("#main").replaceChildren(...nodes); },
    end() { ac.abort(); timers.forEach(clearInterval); },
  };
  return page;
}

async function render() {
  const ctx = newPage();
  if (!token()) return showLogin(ctx);
  if (!me) {
    try {
      me = await api("GET", "/whoami");
    } catch (e) {
      if (e.status === 401) return;
      return ctx.show(problem(e));
    }
  }
  showChrome();
  const hash = location.hash || "#/runs";
  for (const [re, fn, nav] of pages) {
    const m = re.exec(hash);
    if (!m) continue;
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("current", a.dataset.page === nav);
    ctx.show(el("p", { class: "muted", text: "Loading…" }));
    try {
      await fn(ctx, ...m.slice(1).map(decodeURIComponent));
    } catch (e) {
      if (ctx.alive() && e.name !== "AbortError") ctx.show(problem(e));
    }
    return;
  }
  location.hash = "#/runs";
}

function problem(e) {
  return el("div", { class: "card" }, el("h2", { class: "error", text: "Something went wrong" }), el("p", { text: e.message }));
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  me = null;
  stopActiveRuns();
  showLogin(newPage(), message);
}

// ---- chrome: top bar, halt-all, active runs

let activeTimer = 0;
function showChrome() {
  $("#top").hidden = false;
  $("#whoami").textContent = me.name + " · " + me.role;
  $("#halt-all").hidden = !can("runner");
  if (!activeTimer) {
    refreshActiveRuns();
    activeTimer = setInterval(refreshActiveRuns, 5000);
  }
}
function stopActiveRuns() {
  clearInterval(activeTimer);
  activeTimer = 0;
}
async function refreshActiveRuns() {
  if (document.hidden || !token()) return;
  try {
    const runs = await api("GET", "/runs?status=active&limit=1000");
    const a = $("#active-runs");
    a.hidden = runs.length === 0;
    a.textContent = runs.length + (runs.length === 1 ? " active run" : " active runs");
  } catch { /* shown on the next success */ }
}

function setupChrome() {
  $("#sign-out").addEventListener("click", () => signOut());
  armed($("#halt-all"), "CONFIRM HALT ALL", async () => {
    try {
      const res = await api("POST", "/halt", { reason: "HALT ALL pressed in the dashboard" });
      toast(`Halted ${res.runs.length} run${res.runs.length === 1 ? "" : "s"}; ${res.agents} agent${res.agents === 1 ? "" : "s"} told to recover every fault.`);
      refreshActiveRuns();
    } catch (e) {
      toast("Halt all failed: " + e.message, true);
    }
  });
}

// ---- login

function showLogin(ctx, message) {
  $("#top").hidden = true;
  const input = el("input", { id: "token", type: "password", autocomplete: "off", spellcheck: "false", placeholder: "fl_…", required: true });
  const msg = el("p", { id: "login-error", class: "error", role: "alert", text: message || "" });
  const form = el("form", { id: "login", class: "card login" },
    el("h1", { text: "faultline" }),
    el("p", { class: "muted", text: "Sign in with an API token. It is kept in this tab only, until you sign out or close it." }),
    el("label", { for: "token", text: "API token" }), input,
    el("button", { class: "primary", type: "submit", text: "Sign in" }), msg);
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    const secret = input.value.trim();
    msg.textContent = "";
    try {
      me = await api("GET", "/whoami", undefined, { token: secret });
    } catch (e) {
      msg.textContent = e.status === 401 ? "That token was not accepted: " + e.message : e.message;
      return;
    }
    if (me.role === "agent") {
      me = null;
      msg.textContent = "That is an agent token; sign in with a viewer, runner or admin token.";
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, secret);
    render();
  });
  ctx.show(form);
  input.focus();
}

// ---- runs

let runFilter = "";
async function pageRuns(ctx) {
  const select = el("select", { id: "run-filter", "aria-label": "Show" },
    ["", "active", "held", "deviated", "aborted", "invalid"].map(v =>
      el("option", { value: v, text: v ? v[0].toUpperCase() + v.slice(1) : "All runs" })));
  select.value = runFilter;
  const body = el("tbody");
  const table = el("table", { id: "runs" },
    el("thead", {}, el("tr", {}, ["Status", "Run", "Experiment", "On", "By", "Created"].map(h => el("th", { text: h })), el("th", { class: "num", text: "Took" }))), body);
  async function load() {
    const runs = await api("GET", "/runs?limit=200" + (runFilter ? "&status=" + runFilter : ""), undefined, { signal: ctx.signal });
    body.replaceChildren(...runs.map(r => el("tr", {},
      el("td", {}, statusPill(r)),
      el("td", { class: "mono" }, el("a", { href: "#/runs/" + enc(r.id), text: r.id })),
      el("td", {}, el("a", { href: "#/experiments/" + enc(r.experiment), text: r.experiment }), el("span", { class: "muted", text: " v" + r.version })),
      el("td", { text: where(r) }),
      el("td", {}, byline(r.createdBy)),
      el("td", { class: "nowrap" }, when(r.created)),
      el("td", { class: "num", text: r.started ? took(r.started, r.ended) : "—" }))));
    if (!runs.length) body.append(el("tr", {}, el("td", { colspan: 7, class: "empty", text: "No runs yet: start one from an experiment." })));
  }
  select.addEventListener("change", () => { runFilter = select.value; load().catch(() => {}); });
  await load();
  ctx.every(3000, () => load().catch(() => {}));
  ctx.show(el("div", { class: "page-head" }, el("h1", { class: "grow", text: "Runs" }), select), el("div", { class: "card" }, table));
}

function where(r) {
  if (!r.agents) return "server";
  const labels = Object.entries(r.agents.labels || {}).map(([k, v]) => k + "=" + v).join(",");
  return "agents " + (labels || "(any)") + " · " + (r.agents.mode || "all");
}

function statusPill(r) {
  const halting = r.haltRequested && (r.status === "running" || r.status === "pending");
  return el("span", { class: "pill " + r.status, title: r.reason || "", text: halting ? "halting" : r.status });
}

// ---- experiments

async function pageExperiments(ctx) {
  const [list, runs] = await Promise.all([
    api("GET", "/experiments", undefined, { signal: ctx.signal }),
    api("GET", "/runs?limit=500", undefined, { signal: ctx.signal }),
  ]);
  const last = new Map();
  for (const r of runs) if (!last.has(r.experiment)) last.set(r.experiment, r);
  const rows = list.map(x => {
    const r = last.get(x.name);
    return el("tr", {},
      el("td", {}, el("a", { href: "#/experiments/" + enc(x.name), text: x.name })),
      el("td", { class: "num", text: "v" + x.currentVersion }),
      el("td", { class: "nowrap" }, when(x.updated)),
      el("td", {}, r ? [statusPill(r), " ", el("a", { class: "small", href: "#/runs/" + enc(r.id) }, when(r.created))] : el("span", { class: "muted", text: "never run" })));
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 4, class: "empty", text: "No experiments yet." })));
  ctx.show(
    el("div", { class: "page-head" }, el("h1", { class: "grow", text: "Experiments" }),
      can("runner") && el("a", { class: "button", id: "new-experiment", href: "#/new-experiment", text: "New experiment" })),
    el("div", { class: "card" }, el("table", { id: "experiments" },
      el("thead", {}, el("tr", {}, el("th", { text: "Name" }), el("th", { class: "num", text: "Version" }), el("th", { text: "Updated" }), el("th", { text: "Last run" }))),
      el("tbody", {}, rows))));
}

const STARTER = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata:
  name: my-experiment
spec:
  hypothesis:
    every: 1s
    recoverWithin: 30s
    checks:
      - name: service answers
        http: {url: "http://127.0.0.1:8080/", timeout: 1s}
        expect: {status: 200, latency: "< 300ms"}
  method:
    - name: freeze one backend
      fault: process.pause
      target:
        process: {cmdline: "backend --port 90[0-9][0-9]"}
        mode: one
      duration: 10s
`;

async function pageEditor(ctx, name) {
  const [saved, agents, versions] = await Promise.all([
    name ? api("GET", "/experiments/" + enc(name), undefined, { signal: ctx.signal }) : null,
    api("GET", "/agents", undefined, { signal: ctx.signal }).catch(() => []),
    name ? api("GET", "/experiments/" + enc(name) + "/versions", undefined, { signal: ctx.signal }) : [],
  ]);
  const ta = el("textarea", { id: "document", spellcheck: "false", wrap: "off", autocapitalize: "off", autocomplete: "off", "aria-label": "Experiment document, YAML or JSON" });
  ta.value = saved ? saved.document : STARTER;
  const gutter = el("div", { class: "gutter", "aria-hidden": "true" });
  // The lens writes each error after the end of its line, in the text.
  const lens = el("div", { class: "lens", "aria-hidden": "true" });
  const probe = el("span", { class: "lens-probe", text: "0".repeat(50) });
  const validity = el("div", { id: "validity", class: "validity muted", text: "Checking…" });
  const errors = el("ul", { id: "errors", class: "errors" });
  const dirtyNote = el("span", { id: "dirty", class: "muted small" });
  const saveBtn = el("button", { id: "save", class: "primary", type: "button", text: saved ? "Save new version" : "Create experiment" });
  let errLines = new Map(); // line -> messages

  function drawGutter() {
    const n = ta.value.split("\n").length;
    gutter.replaceChildren(...Array.from({ length: n }, (_, i) => el("div", { class: errLines.has(i + 1) ? "err" : null, title: errLines.get(i + 1), text: i + 1 })));
    gutter.scrollTop = ta.scrollTop;
    drawLens();
  }
  function drawLens() {
    const cw = probe.getBoundingClientRect().width / 50 || 7.8;
    const lines = ta.value.split("\n");
    const pad = parseFloat(getComputedStyle(ta).paddingLeft) || 11;
    const top = parseFloat(getComputedStyle(ta).paddingTop) || 10;
    lens.replaceChildren(...[...errLines].map(([line, msg]) => {
      const d = el("div", { class: "lens-msg", text: msg.split("\n")[0] });
      const left = pad + ((lines[line - 1] || "").length + 3) * cw - ta.scrollLeft;
      d.style.top = top + (line - 1) * 20 - ta.scrollTop + "px";
      d.style.left = left + "px";
      d.style.maxWidth = `calc(100% - ${Math.max(left, 0) + 8}px)`;
      return d;
    }));
  }
  function goTo(line, col) {
    const lines = ta.value.split("\n");
    let at = 0;
    for (let i = 0; i < Math.min(line - 1, lines.length); i++) at += lines[i].length + 1;
    at += Math.max(0, (col || 1) - 1);
    ta.focus();
    ta.setSelectionRange(at, at);
    ta.scrollTop = Math.max(0, (line - 1) * 20 - ta.clientHeight / 3);
  }
  function showResult(res) {
    const errs = (res.errors || []).slice().sort((a, b) => (a.line || 0) - (b.line || 0) || (a.column || 0) - (b.column || 0));
    errLines = new Map();
    for (const e of errs) if (e.line) errLines.set(e.line, (errLines.has(e.line) ? errLines.get(e.line) + "\n" : "") + e.message);
    drawGutter();
    if (res.valid) {
      validity.className = "validity ok";
      validity.textContent = "✓ Valid: experiment " + res.name;
    } else {
      validity.className = "validity error";
      validity.textContent = "✗ " + errs.length + (errs.length === 1 ? " problem" : " problems");
    }
    errors.replaceChildren(...errs.map(e => el("li", {},
      e.line ? el("button", { class: "link pos", type: "button", title: "Go to line " + e.line, onclick: () => goTo(e.line, e.column), text: e.line + ":" + e.column }) : null,
      e.field ? el("span", { class: "field", text: e.field }) : null,
      el("span", { class: "msg", text: e.message }))));
  }

  // Live validation: debounced, the latest answer wins.
  let seq = 0, inflight = null, timer = 0;
  ctx.signal.addEventListener("abort", () => { clearTimeout(timer); if (inflight) inflight.abort(); });
  async function validate() {
    const mine = ++seq;
    if (inflight) inflight.abort();
    inflight = new AbortController();
    try {
      const res = await api("POST", "/experiments/validate", { document: ta.value }, { signal: inflight.signal });
      if (mine === seq) showResult(res);
    } catch (e) {
      if (e.name === "AbortError" || mine !== seq) return;
      validity.className = "validity error";
      validity.textContent = "Cannot validate: " + e.message;
    }
  }
  const dirty = () => !saved || ta.value !== saved.document;
  function changed() {
    dirtyNote.textContent = saved && dirty() ? "unsaved changes" : "";
    startBtn.disabled = dirty() || !can("runner");
    startNote.textContent = dirty() ? (saved ? "Save to run this text." : "Create the experiment to run it.") : "";
  }
  ta.addEventListener("input", () => {
    drawGutter();
    changed();
    validity.className = "validity muted";
    validity.textContent = "Checking…";
    clearTimeout(timer);
    timer = setTimeout(validate, 300);
  });
  ta.addEventListener("scroll", () => { gutter.scrollTop = ta.scrollTop; drawLens(); });
  ta.addEventListener("keydown", ev => {
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "s") { ev.preventDefault(); save(); }
  });

  async function save() {
    if (!can("runner")) return;
    saveBtn.disabled = true;
    try {
      const doc = ta.value;
      const v = saved
        ? await api("PUT", "/experiments/" + enc(saved.name), { document: doc })
        : await api("POST", "/experiments", { document: doc });
      toast(`Saved ${v.experiment}, version ${v.version}.`);
      if (!saved) { location.hash = "#/experiments/" + enc(v.experiment); return; }
      saved.document = doc;
      saved.currentVersion = v.version;
      versionNote.textContent = "Version " + v.version;
      changed();
    } catch (e) {
      if (e.errors.length) showResult({ valid: false, errors: e.errors });
      toast("Not saved: " + e.message, true);
    } finally {
      saveBtn.disabled = !can("runner");
    }
  }
  saveBtn.addEventListener("click", save);
  saveBtn.disabled = !can("runner");

  // Starting a run: on agents chosen by labels and a mode, or on the server.
  const online = agents.filter(a => a.status === "online");
  const onAgents = el("input", { type: "radio", name: "run-on", id: "run-on-agents", value: "agents" });
  const onServer = el("input", { type: "radio", name: "run-on", id: "run-on-server", value: "server" });
  (online.length ? onAgents : onServer).checked = true;
  const labels = el("input", { type: "text", id: "run-labels", placeholder: "zone=a,role=db (empty: any agent)" });
  const mode = el("input", { type: "text", id: "run-mode", value: "all", list: "modes" });
  const dry = el("input", { type: "checkbox", id: "run-dry" });
  const matchNote = el("p", { id: "run-match", class: "small muted" });
  const startBtn = el("button", { id: "start-run", class: "primary", type: "button", text: "Start run" });
  const startNote = el("span", { class: "small muted" });
  const parseLabels = () => Object.fromEntries(labels.value.split(",").map(s => s.trim()).filter(Boolean).map(s => {
    const i = s.indexOf("=");
    return i < 0 ? [s, ""] : [s.slice(0, i).trim(), s.slice(i + 1).trim()];
  }));
  function match() {
    const agentFields = [labels, mode];
    agentFields.forEach(f => { f.disabled = !onAgents.checked; });
    if (!onAgents.checked) { matchNote.textContent = "Runs on the server's own host."; return; }
    const want = parseLabels();
    const n = online.filter(a => Object.entries(want).every(([k, v]) => (a.effectiveLabels || {})[k] === v)).length;
    matchNote.textContent = `Matches ${n} of ${online.length} online agent${online.length === 1 ? "" : "s"}; the mode picks among them.`;
  }
  [onAgents, onServer, labels].forEach(f => f.addEventListener("input", match));
  startBtn.addEventListener("click", async () => {
    const req = { experiment: saved.name, version: saved.currentVersion, dryRun: dry.checked || undefined };
    if (onAgents.checked) req.agents = { labels: parseLabels(), mode: mode.value.trim() || "all" };
    startBtn.disabled = true;
    try {
      const run = await api("POST", "/runs", req);
      location.hash = "#/runs/" + enc(run.id);
    } catch (e) {
      toast("Not started: " + e.message, true);
      startBtn.disabled = false;
    }
  });

  const versionNote = el("span", { class: "muted", text: saved ? "Version " + saved.currentVersion : "not saved yet" });
  const runCard = saved && el("div", { class: "card", id: "run-panel" },
    el("h2", { text: "Run" }),
    el("div", {}, el("label", { class: "inline" }, onAgents, "On agents"), el("label", { class: "inline" }, onServer, "On the server")),
    el("label", { for: "run-labels", text: "Agent labels" }), labels,
    el("label", { for: "run-mode", text: "Mode" }), mode,
    el("datalist", { id: "modes" }, ["all", "one", "fixed:2", "percent:50"].map(v => el("option", { value: v }))),
    matchNote,
    el("label", { class: "inline" }, dry, "Dry run (resolve targets, inject nothing)"),
    el("div", { class: "actions" }, startBtn, startNote));
  const versionsCard = versions.length > 1 && el("div", { class: "card" }, el("h2", { text: "Versions" }),
    el("ul", { class: "small" }, versions.map(v => el("li", {},
      el("button", { class: "link", type: "button", text: "v" + v.version, onclick: async () => {
        const full = await api("GET", `/experiments/${enc(saved.name)}/versions/${v.version}`);
        ta.value = full.document;
        ta.dispatchEvent(new Event("input"));
      } }), " by " + v.createdBy + ", ", when(v.created)))));

  ctx.show(
    el("div", { class: "page-head" },
      el("h1", { text: saved ? saved.name : "New experiment" }), versionNote, el("span", { class: "grow" }), dirtyNote),
    el("div", { class: "editor-grid" },
      el("div", { class: "editor" }, gutter, el("div", { class: "text" }, ta, lens, probe)),
      el("div", { class: "side" },
        el("div", { class: "card" }, validity, errors,
          el("div", { class: "actions" }, saveBtn, el("span", { class: "small muted", text: "Ctrl+S" }))),
        runCard, versionsCard)));
  drawGutter();
  changed();
  match();
  validate();
}

// ---- one run, live

async function pageRun(ctx, id) {
  let run = await api("GET", "/runs/" + enc(id), undefined, { signal: ctx.signal });
  const agentNames = new Map();
  async function loadAgents() {
    const list = await api("GET", "/agents", undefined, { signal: ctx.signal }).catch(() => []);
    for (const a of list) agentNames.set(a.id, a.name);
  }
  await loadAgents();

  // What the stream told so far.
  const st = {
    series: new Map(), // kind/check -> {check, kind, measure, unit, tolerance, byAgent: Map(agent -> samples)}
    faults: new Map(), // agent/faultId -> {agent, step, fault, target, at, ends, state, recoveredAt}
    events: [],
    lastAt: 0,
    zero: new Map(), // agent -> wall-clock ms at offset 0
    ended: null,
  };

  const statusEl = el("span", { id: "run-status" });
  const haltBtn = el("button", { id: "halt-run", class: "halt", type: "button", text: "HALT THIS RUN", title: "Stop this run now and recover its faults" });
  const verdict = el("div", { id: "verdict", class: "verdict", hidden: true });
  const facts = el("div", { class: "facts" });
  const charts = el("div", { id: "charts" });
  const faultBody = el("tbody");
  const faultSummary = el("p", { id: "fault-summary", class: "small" });
  const asgBody = el("tbody");
  const eventsBox = el("div", { id: "events", class: "events" });
  const links = el("div", { class: "actions", id: "run-files", hidden: true },
    el("button", { type: "button", text: "Report (HTML)", onclick: () => download(`/runs/${enc(id)}/report`, `report-${id}.html`) }),
    el("button", { type: "button", text: "Journal (JSON)", onclick: () => download(`/runs/${enc(id)}/journal`, `journal-${id}.json`) }));

  haltBtn.addEventListener("click", async () => {
    haltBtn.disabled = true;
    haltBtn.textContent = "HALTING…";
    try {
      run = await api("POST", `/runs/${enc(id)}/halt`, { reason: "halted from the dashboard by " + me.name });
      toast("Halt sent: every fault of this run is being recovered.");
      refreshActiveRuns();
    } catch (e) {
      toast("Halt failed: " + e.message, true);
    }
    drawHead();
  });

  function drawHead() {
    statusEl.replaceChildren(statusPill(run));
    statusEl.firstChild.classList.add("big");
    const active = run.status === "pending" || run.status === "running";
    haltBtn.hidden = !can("runner") || !active;
    haltBtn.disabled = !active || run.haltRequested;
    haltBtn.textContent = active && run.haltRequested ? "HALTING…" : "HALT THIS RUN";
    if (!active) {
      verdict.hidden = false;
      verdict.className = "verdict " + run.status;
      verdict.replaceChildren(el("strong", { text: run.status.toUpperCase() }), run.reason || "");
      links.hidden = false;
      haltBtn.hidden = true;
    }
    asgBody.replaceChildren(...(run.assignments || []).map(a => el("tr", {},
      el("td", { text: agentNames.get(a.agent) || a.agent }),
      el("td", {}, el("span", { class: "pill " + a.state, text: a.haltRequested && !["done", "lost", "cancelled"].includes(a.state) ? "halting" : a.state })),
      el("td", { class: "nowrap" }, when(a.updated)))));
  }

  // The stream: every stored event, then new ones; resumes after a drop.
  function onEvent(name, data) {
    const ev = data.event || {};
    const agent = data.agent || "";
    if (name === "end") {
      st.ended = data;
      return;
    }
    if (name === "sample") {
      const key = ev.kind + "/" + ev.check;
      let s = st.series.get(key);
      if (!s) {
        s = { check: ev.check, kind: ev.kind, measure: ev.measure || "", unit: ev.unit || "", tolerance: ev.tolerance || "", byAgent: new Map() };
        st.series.set(key, s);
      }
      const smp = ev.sample || {};
      if (!s.byAgent.has(agent)) s.byAgent.set(agent, []);
      s.byAgent.get(agent).push(smp);
      st.lastAt = Math.max(st.lastAt, smp.at || 0);
      return;
    }
    st.lastAt = Math.max(st.lastAt, ev.at || 0);
    if (ev.time && typeof ev.at === "number") st.zero.set(agent, Date.parse(ev.time) - ev.at * 1000);
    st.events.push({ agent, ev });
    if (["injecting", "injected", "inject-failed", "recovered", "recover-failed"].includes(ev.type)) {
      const key = agent + "/" + (ev.faultId || ev.step + "/" + ev.target);
      let f = st.faults.get(key);
      if (!f) {
        f = { agent, step: ev.step, fault: ev.fault, target: ev.target, at: null, ends: null, state: "", recoveredAt: null };
        st.faults.set(key, f);
      }
      f.fault = ev.fault || f.fault;
      f.target = ev.target || f.target;
      switch (ev.type) {
        case "injecting": if (!f.state) f.state = "injecting"; break;
        case "injected": f.state = "in place"; f.at = ev.at; f.ends = ev.ends ?? null; break;
        case "inject-failed": f.state = "inject-failed"; f.message = ev.message; break;
        case "recovered": f.state = "recovered"; f.recoveredAt = ev.at; break;
        case "recover-failed": f.state = "recover-failed"; f.message = ev.message; break;
      }
    }
  }

  let queued = false;
  const redraw = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; draw(); });
  };

  function active() { return run.status === "pending" || run.status === "running"; }
  function now() {
    if (!active() || !st.zero.size) return st.lastAt;
    const est = Math.max(...[...st.zero.values()].map(z => (Date.now() - z) / 1000));
    return Math.max(st.lastAt, Math.min(est, st.lastAt + 10));
  }

  function draw() {
    if (!ctx.alive()) return;
    drawHead();
    const faults = [...st.faults.values()];
    const inPlace = faults.filter(f => f.state === "in place" || f.state === "injecting" || f.state === "recover-failed").length;
    const recovered = faults.filter(f => f.state === "recovered").length;
    let samples = 0, failed = 0;
    for (const s of st.series.values()) for (const list of s.byAgent.values()) for (const x of list) { samples++; if (!x.ok) failed++; }
    facts.replaceChildren(
      fact("Faults in place", inPlace, inPlace ? "bad" : "", "faults-in-place"),
      fact("Recovered", recovered, recovered && !inPlace ? "good" : "", "faults-recovered"),
      fact("Samples", samples, "", "samples"),
      fact("Failed samples", failed, failed ? "bad" : "", "failed-samples"),
      fact("Elapsed", num(Math.round(now() * 10) / 10) + " s", "", "elapsed"));
    faultSummary.className = "small " + (inPlace ? "error" : recovered ? "ok" : "muted");
    faultSummary.textContent = !faults.length ? "No fault injected yet."
      : inPlace ? `${inPlace} of ${faults.length} fault${faults.length === 1 ? "" : "s"} in place.`
        : `All ${recovered} fault${recovered === 1 ? "" : "s"} recovered.`;
    faultBody.replaceChildren(...faults.map(f => el("tr", { class: "fault-row" },
      el("td", {}, el("span", { class: "pill " + f.state.replace(" ", "-"), text: f.state })),
      el("td", { text: f.fault || "" }),
      el("td", { class: "mono small", text: f.target || "" }),
      el("td", { text: agentNames.get(f.agent) || f.agent || "server" }),
      el("td", { class: "num", text: f.at != null ? num(f.at) + " s" : "—" }),
      el("td", { class: "num", text: f.recoveredAt != null ? num(f.recoveredAt) + " s" : "—" }))));
    const end = Math.max(now(), 1);
    const windows = faultWindows(faults, end, active());
    charts.replaceChildren(...(st.series.size
      ? [...st.series.values()].map((s, i) => chart(s, end, windows, "chart-" + (i + 1), agentNames))
      : [el("p", { class: "muted", text: "Waiting for the first check sample…" })]));
    const recent = st.events.slice(-300);
    const stick = eventsBox.scrollTop + eventsBox.clientHeight >= eventsBox.scrollHeight - 8;
    eventsBox.replaceChildren(...recent.map(({ agent, ev }) => el("div", { class: ev.type, title: ev.message || "" },
      el("span", { class: "t", text: num(ev.at || 0) + " s" }), describe(ev, agentNames.get(agent) || agent))));
    if (stick) eventsBox.scrollTop = eventsBox.scrollHeight;
  }

  drawHead();
  ctx.show(
    el("div", { class: "run-head card" },
      el("div", { class: "title" },
        el("h1", {}, "Run ", el("span", { class: "mono", text: run.id })),
        el("div", { class: "meta" }, el("a", { href: "#/experiments/" + enc(run.experiment), text: run.experiment }), ` v${run.version} · on ${where(run)} · by ${run.createdBy} · `, when(run.created), run.dryRun ? " · dry run" : "")),
      statusEl, haltBtn, links),
    verdict, facts,
    el("div", { class: "run-grid" },
      el("div", {},
        el("div", { class: "card" }, el("h2", { text: "Timeline" }),
          el("p", { class: "small muted", text: "Dots are check samples: green held, red failed. Shaded bands are faults in place." }), charts),
        el("div", { class: "card" }, el("h2", { text: "Faults" }), faultSummary,
          el("table", { id: "faults" }, el("thead", {}, el("tr", {}, ["State", "Fault", "Target", "On"].map(h => el("th", { text: h })),
            el("th", { class: "num", text: "Injected" }), el("th", { class: "num", text: "Recovered" }))), faultBody))),
      el("div", {},
        run.agents && el("div", { class: "card" }, el("h2", { text: "Agents" }),
          el("table", { id: "assignments" }, el("thead", {}, el("tr", {}, ["Agent", "State", "Updated"].map(h => el("th", { text: h })))), asgBody)),
        el("div", { class: "card" }, el("h2", { text: "Events" }), eventsBox))));
  draw();

  // Status and assignments come from the run itself; the stream brings
  // events and samples.
  ctx.every(1000, async () => {
    if (active()) redraw(); // the time axis moves
  });
  ctx.every(2000, async () => {
    if (!active() && st.ended) return;
    try {
      run = await api("GET", "/runs/" + enc(id), undefined, { signal: ctx.signal });
      if (run.assignments && run.assignments.some(a => !agentNames.has(a.agent))) await loadAgents();
      redraw();
    } catch { /* next time */ }
  });
  follow(id, ctx.signal, (name, data) => {
    onEvent(name, data);
    redraw();
  }, async () => {
    run = await api("GET", "/runs/" + enc(id), undefined, { signal: ctx.signal }).catch(() => run);
    redraw();
    refreshActiveRuns();
  });
}

function fact(label, n, cls, id) {
  return el("div", { class: "fact " + cls, id }, el("div", { class: "n", text: n }), el("div", { class: "l", text: label }));
}

function describe(ev, agent) {
  const on = agent ? " @" + agent : "";
  switch (ev.type) {
    case "phase": return "phase " + ev.phase + on;
    case "step": return "step " + (ev.step || "") + on;
    case "injecting": case "injected": case "recovered":
      return `${ev.type} ${ev.fault || ""} → ${ev.target || ""}${on}`;
    case "check-failed": case "check-ok":
      return `${ev.type} ${ev.check || ""}${ev.message ? ": " + ev.message : ""}${on}`;
    default:
      return ev.type + (ev.message ? ": " + ev.message : "") + on;
  }
}

// follow reads a run's server-sent events with fetch (EventSource cannot
// send a bearer token), resuming after the last id when the stream drops,
// until the "end" event.
async function follow(id, signal, onEvent, onEnd) {
  let after = 0;
  while (!signal.aborted) {
    try {
      const r = await fetch(`/api/v1/runs/${enc(id)}/events?after=${after}`, { headers: { Authorization: "Bearer " + token() }, signal });
      if (r.status === 401) return signOut("Sign in again.");
      if (!r.ok || !r.body) throw new Error("stream " + r.status);
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, "\n");
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          let name = "message", data = "", eid = "";
          for (const line of block.split("\n")) {
            const i = line.indexOf(":");
            if (i === 0) continue; // a comment: keep-alive
            const field = i < 0 ? line : line.slice(0, i);
            const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
            if (field === "event") name = val;
            else if (field === "data") data += (data ? "\n" : "") + val;
            else if (field === "id") eid = val;
          }
          if (eid) after = Number(eid) || after;
          if (!data) continue;
          let parsed;
          try { parsed = JSON.parse(data); } catch { continue; }
          onEvent(name, parsed);
          if (name === "end") { onEnd(); return; }
        }
      }
    } catch (e) {
      if (signal.aborted) return;
    }
    await new Promise(res => setTimeout(res, 2000));
  }
}

// faultWindows shades, per step and fault kind, from the first injection
// to the last recovery (or now, while any is in place) — as the report.
function faultWindows(faults, end, running) {
  const out = new Map();
  for (const f of faults) {
    if (f.at == null) continue;
    const recovered = f.recoveredAt != null;
    const to = recovered ? f.recoveredAt : end;
    const key = f.step + "/" + f.fault;
    const w = out.get(key);
    if (!w) out.set(key, { label: f.fault, step: f.step, from: f.at, to, recovered, running });
    else { w.from = Math.min(w.from, f.at); w.to = Math.max(w.to, to); w.recovered = w.recovered && recovered; }
  }
  return [...out.values()];
}

// ---- the timeline chart: the report's geometry and classes

const CW = 760, CH = 180, X0 = 64, X1 = 744, Y0 = 28, Y1 = CH - 30;

function niceStep(spanv, n) {
  const raw = spanv / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

function parseDuration(s) {
  const re = /(\d*\.?\d+)(ns|us|µs|ms|s|m|h)/g;
  const f = { ns: 1e-9, us: 1e-6, "µs": 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  let total = 0, used = 0, m;
  while ((m = re.exec(s))) { total += parseFloat(m[1]) * f[m[2]]; used += m[0].length; }
  return used === s.length && used > 0 ? total : null;
}

function threshold(tol, unit) {
  const m = /^\s*(<=|>=|<|>)\s*(\S+)\s*$/.exec(tol || "");
  if (!m) return null;
  if (/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(m[2])) return Number(m[2]);
  if (unit === "s") return parseDuration(m[2]);
  if (m[2].endsWith("%") && isFinite(Number(m[2].slice(0, -1)))) return Number(m[2].slice(0, -1)) / 100;
  return null;
}

function chart(s, end, windows, id, agentNames) {
  const disp = v => (s.unit === "s" ? v * 1000 : v);
  const unit = s.unit === "s" ? "ms" : s.unit;
  const x = t => X0 + (t / end) * (X1 - X0);
  const th = threshold(s.tolerance, s.unit);
  let lo = 0, hi = 0;
  if (th != null) { lo = Math.min(lo, disp(th)); hi = Math.max(hi, disp(th)); }
  let count = 0;
  for (const list of s.byAgent.values()) for (const p of list) {
    count++;
    if (p.value != null) { lo = Math.min(lo, disp(p.value)); hi = Math.max(hi, disp(p.value)); }
  }
  if (hi === lo) hi = lo + 1;
  const step = niceStep(hi - lo, 4);
  lo = Math.floor(lo / step) * step;
  hi = Math.ceil(hi / step) * step;
  const top = Y0 + 8 + Math.min(windows.length, 3) * 12;
  const y = v => Y1 + ((v - lo) / (hi - lo)) * (top - Y1);
  const c = v => v.toFixed(1);
  const g = [];
  g.push(sv("rect", { class: "plot", x: X0, y: Y0, width: X1 - X0, height: Y1 - Y0 }));
  for (let v = lo; v <= hi + step * 1e-9; v += step) {
    g.push(sv("line", { class: "grid", x1: X0, x2: X1, y1: c(y(v)), y2: c(y(v)) }));
    g.push(sv("text", { class: "label", x: X0, y: c(y(v)), dx: -6, dy: 3, "text-anchor": "end", text: num(v) + (unit ? " " + unit : "") }));
  }
  windows.forEach((w, i) => {
    const x0 = x(w.from), x1 = x(w.to);
    // In place while the run goes on is the normal shade; still in place
    // after the run ended is the report's red "not recovered".
    const cls = w.recovered || w.running ? "" : " unrecovered";
    const state = w.recovered ? "" : w.running ? " (in place)" : " (not recovered)";
    g.push(sv("rect", { class: "fault" + cls, x: c(x0), y: Y0, width: c(Math.max(x1 - x0, 1)), height: Y1 - Y0 },
      sv("title", { text: `${w.step}: ${w.label} from ${num(w.from)} s ${w.recovered ? "to " + num(w.to) + " s" : state}` })));
    g.push(sv("text", { class: "fault-label" + cls, x: c(x0), y: Y0 + (i % 3 + 1) * 12, dx: 4, text: w.label + state }));
  });
  const tstep = niceStep(end, 10);
  for (let t = 0; t <= end * (1 + 1e-9); t += tstep) {
    g.push(sv("line", { class: "tick", x1: c(x(t)), x2: c(x(t)), y1: Y1, y2: Y1 + 4 }));
    g.push(sv("text", { class: "label", x: c(x(t)), y: Y1, dy: 14, "text-anchor": "middle", text: num(t) + " s" }));
  }
  const axis = s.measure ? s.measure + (unit ? " (" + unit + ")" : "") : unit;
  if (axis) g.push(sv("text", { class: "label", x: 4, y: 14, text: axis }));
  if (s.tolerance) g.push(sv("text", { class: "tolerance", x: X1, y: 14, "text-anchor": "end", text: "tolerance " + s.tolerance }));
  if (th != null) g.push(sv("line", { class: "threshold", x1: X0, x2: X1, y1: c(y(disp(th))), y2: c(y(disp(th))) }));
  const dots = [];
  for (const [agent, list] of s.byAgent) {
    let pts = [];
    const flush = () => { if (pts.length > 1) g.push(sv("polyline", { class: "series", points: pts.join(" ") })); pts = []; };
    for (const p of list) {
      if (p.value == null) { flush(); continue; }
      pts.push(c(x(p.at)) + "," + c(y(disp(p.value))));
    }
    flush();
    for (const p of list) {
      if (p.ok && count > 400) continue; // many samples: the line shows them, dots mark failures
      const title = [num(p.at) + " s", p.phase, p.value != null ? num(disp(p.value)) + (unit ? " " + unit : "") : null,
        p.ok ? "ok" : "failed", ...(p.failures || []), p.error, agent ? "agent " + (agentNames.get(agent) || agent) : null].filter(Boolean).join(" · ");
      dots.push(sv("circle", { class: (p.ok ? "ok" : "fail") + (p.value == null ? " novalue" : ""), cx: c(x(p.at)), cy: c(p.value == null ? Y1 : y(disp(p.value))), r: 3 },
        sv("title", { text: title })));
    }
  }
  g.push(...dots); // on top of every line
  return el("figure", { id },
    el("figcaption", {}, el("strong", { text: s.check }), el("span", { class: "muted", text: " " + s.kind + (s.tolerance ? " · tolerance " + s.tolerance : "") })),
    sv("svg", { class: "chart", viewBox: `0 0 ${CW} ${CH}`, role: "img", "aria-label": s.check + " over time" }, g));
}

// ---- agents

async function pageAgents(ctx) {
  const body = el("tbody");
  const summary = el("p", { id: "agents-summary", class: "muted" });
  async function load() {
    const agents = await api("GET", "/agents", undefined, { signal: ctx.signal });
    const online = agents.filter(a => a.status === "online").length;
    const open = agents.reduce((n, a) => n + a.openFaults, 0);
    summary.replaceChildren(`${online} online, ${agents.length - online} lost · `,
      el("span", { class: open ? "count-bad" : "", text: open + (open === 1 ? " open fault" : " open faults") }));
    const faults = await Promise.all(agents.map(a => a.openFaults > 0
      ? api("GET", `/agents/${enc(a.id)}/faults`, undefined, { signal: ctx.signal }).catch(() => [])
      : []));
    body.replaceChildren(...agents.map((a, i) => el("tr", { class: "agent-row", "data-name": a.name },
      el("td", {}, el("strong", { text: a.name }), a.hostname && a.hostname !== a.name ? el("div", { class: "small muted", text: a.hostname }) : null),
      el("td", {}, el("span", { class: "pill " + a.status, text: a.status })),
      el("td", {}, Object.entries(a.effectiveLabels || {}).map(([k, v]) => el("span", { class: "chip", text: k + "=" + v }))),
      el("td", { class: "nowrap last-seen" }, when(a.lastSeen)),
      el("td", { class: "open-faults" },
        el("span", { class: a.openFaults ? "count-bad" : "muted", text: String(a.openFaults) }),
        faults[i].map(f => el("div", { class: "small" }, el("code", { text: f.kind }), " → ", el("code", { text: f.target }), " since ", when(f.since),
          f.run ? [" · ", el("a", { href: "#/runs/" + enc(f.run), text: "run" })] : null))),
      el("td", { class: "small", text: a.version || "" }),
      el("td", { class: "small muted", text: (a.features || []).join(", ") }))));
    if (!agents.length) body.append(el("tr", {}, el("td", { colspan: 7, class: "empty", text: "No agent has registered. Make an agent token for its name in Settings, then start it: faultline agent --server URL --name NAME --token T --labels zone=a" })));
  }
  await load();
  ctx.every(3000, () => load().catch(() => {}));
  ctx.show(el("div", { class: "page-head" }, el("h1", { text: "Agents" }), summary),
    el("div", { class: "card" }, el("table", { id: "agents" },
      el("thead", {}, el("tr", {}, ["Agent", "Status", "Labels", "Last seen", "Open faults", "Version", "Features"].map(h => el("th", { text: h })))), body)));
}

// ---- schedules

function describeSpec(spec) {
  if (!spec) return "—";
  if (spec.cron) return "cron " + spec.cron;
  const m = spec.monkey;
  if (!m) return JSON.stringify(spec);
  const parts = ["Chaos Monkey: every " + m.meanInterval + " on average"];
  if (m.businessHours) parts.push("business hours");
  if (m.windows && m.windows.length) parts.push(m.windows.map(w => (w.days || []).join(",") + " " + w.start + "–" + w.end).join("; "));
  if (m.maxPerPeriod) parts.push(`at most ${m.maxPerPeriod} per ${m.period || "24h"}`);
  if (m.blackouts && m.blackouts.length) parts.push("not on " + m.blackouts.join(", "));
  return parts.join(", ");
}

async function pageSchedules(ctx) {
  const [list, experiments] = await Promise.all([
    api("GET", "/schedules", undefined, { signal: ctx.signal }),
    api("GET", "/experiments", undefined, { signal: ctx.signal }),
  ]);
  const rows = list.map(s => {
    const toggle = el("input", { type: "checkbox", "aria-label": "enabled", disabled: !can("runner") });
    toggle.checked = s.enabled;
    toggle.addEventListener("change", async () => {
      try {
        await api("PUT", "/schedules/" + enc(s.id), { name: s.name, experiment: s.experiment, agents: s.agents, spec: s.spec, enabled: toggle.checked });
        render();
      } catch (e) { toast(e.message, true); toggle.checked = !toggle.checked; }
    });
    const del = can("runner") && armed(el("button", { class: "danger", type: "button", text: "Delete" }), "Confirm delete", async () => {
      try { await api("DELETE", "/schedules/" + enc(s.id)); render(); } catch (e) { toast(e.message, true); }
    });
    return el("tr", {},
      el("td", {}, el("strong", { text: s.name })),
      el("td", {}, el("a", { href: "#/experiments/" + enc(s.experiment), text: s.experiment })),
      el("td", { text: describeSpec(s.spec) }),
      el("td", { text: where(s) }),
      el("td", { class: "nowrap" }, s.enabled ? when(s.nextRun) : el("span", { class: "muted", text: "disabled" })),
      el("td", { class: "nowrap" }, when(s.lastRun)),
      el("td", {}, el("label", { class: "inline" }, toggle, "on")),
      el("td", {}, del));
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 8, class: "empty", text: "No schedules." })));

  let form = null;
  if (can("runner")) {
    const name = el("input", { type: "text", id: "sch-name", required: true, placeholder: "weekday-pause" });
    const exp = el("select", { id: "sch-experiment" }, experiments.map(x => el("option", { value: x.name, text: x.name })));
    const kind = el("select", { id: "sch-kind" }, el("option", { value: "cron", text: "Cron expression" }), el("option", { value: "monkey", text: "Chaos Monkey" }));
    const cron = el("input", { type: "text", id: "sch-cron", value: "0 10 * * 1-5" });
    const mean = el("input", { type: "text", id: "sch-mean", value: "40h" });
    const biz = el("input", { type: "checkbox", id: "sch-business" });
    biz.checked = true;
    const maxPer = el("input", { type: "number", id: "sch-max", min: 0, value: 1 });
    const labels = el("input", { type: "text", id: "sch-labels", placeholder: "empty: on the server" });
    const mode = el("input", { type: "text", id: "sch-mode", value: "one", list: "modes" });
    const cronBox = el("div", {}, el("label", { for: "sch-cron", text: "Cron (UTC)" }), cron);
    const monkeyBox = el("div", { hidden: true, class: "row" },
      el("div", {}, el("label", { for: "sch-mean", text: "Mean interval" }), mean),
      el("div", {}, el("label", { for: "sch-max", text: "At most per day" }), maxPer),
      el("div", {}, el("label", { class: "inline" }, biz, "Business hours only")));
    kind.addEventListener("change", () => { cronBox.hidden = kind.value !== "cron"; monkeyBox.hidden = kind.value !== "monkey"; });
    form = el("form", { class: "card", id: "new-schedule" }, el("h2", { text: "New schedule" }),
      el("div", { class: "row" },
        el("div", {}, el("label", { for: "sch-name", text: "Name" }), name),
        el("div", {}, el("label", { for: "sch-experiment", text: "Experiment" }), exp),
        el("div", {}, el("label", { for: "sch-kind", text: "Timing" }), kind), cronBox),
      monkeyBox,
      el("div", { class: "row" },
        el("div", {}, el("label", { for: "sch-labels", text: "Agent labels" }), labels),
        el("div", {}, el("label", { for: "sch-mode", text: "Mode" }), mode),
        el("datalist", { id: "modes" }, ["all", "one", "fixed:2", "percent:50"].map(v => el("option", { value: v }))),
        el("button", { class: "primary", type: "submit", text: "Create schedule" })));
    form.addEventListener("submit", async ev => {
      ev.preventDefault();
      const spec = kind.value === "cron" ? { cron: cron.value.trim() }
        : { monkey: { meanInterval: mean.value.trim(), businessHours: biz.checked, maxPerPeriod: Number(maxPer.value) || undefined } };
      const req = { name: name.value.trim(), experiment: exp.value, spec };
      const lv = labels.value.trim();
      if (lv) req.agents = { labels: Object.fromEntries(lv.split(",").map(p => p.split("=").map(x => x.trim()))), mode: mode.value.trim() || "one" };
      try { await api("POST", "/schedules", req); toast("Schedule " + req.name + " created."); render(); } catch (e) { toast("Not created: " + e.message, true); }
    });
  }
  ctx.show(el("div", { class: "page-head" }, el("h1", { text: "Schedules" })),
    el("div", { class: "card" }, el("table", { id: "schedules" },
      el("thead", {}, el("tr", {}, ["Name", "Experiment", "When", "On", "Next run", "Last run", "Enabled", ""].map(h => el("th", { text: h })))),
      el("tbody", {}, rows))), form);
}

// ---- audit log

async function pageAudit(ctx) {
  const actor = el("input", { type: "text", id: "audit-actor", placeholder: "actor" });
  const action = el("input", { type: "text", id: "audit-action", placeholder: "action (run.halt)" });
  const body = el("tbody");
  const more = el("button", { type: "button", text: "Older entries", hidden: true });
  let before = 0;
  async function load(reset) {
    if (reset) { before = 0; body.replaceChildren(); }
    const q = new URLSearchParams({ limit: "100" });
    if (actor.value.trim()) q.set("actor", actor.value.trim());
    if (action.value.trim()) q.set("action", action.value.trim());
    if (before) q.set("before", before);
    const list = await api("GET", "/audit?" + q, undefined, { signal: ctx.signal });
    body.append(...list.map(e => el("tr", {},
      el("td", { class: "nowrap" }, el("time", { datetime: e.at, title: when(e.at).textContent, text: new Date(e.at).toLocaleString() })),
      el("td", { class: "nowrap" }, byline(e.actor)),
      el("td", { class: "nowrap" }, el("code", { text: e.action })),
      el("td", { class: "mono small", text: e.object }),
      el("td", { class: "mono small", text: details(e.details) }))));
    if (list.length) before = list[list.length - 1].id;
    more.hidden = list.length < 100;
    if (!body.children.length) body.append(el("tr", {}, el("td", { colspan: 5, class: "empty", text: "No entries." })));
  }
  let t = 0;
  [actor, action].forEach(f => f.addEventListener("input", () => { clearTimeout(t); t = setTimeout(() => load(true).catch(e => toast(e.message, true)), 300); }));
  more.addEventListener("click", () => load(false).catch(e => toast(e.message, true)));
  await load(true);
  ctx.show(el("div", { class: "page-head" }, el("h1", { class: "grow", text: "Audit log" }), actor, action),
    el("div", { class: "card" }, el("table", { id: "audit" },
      el("thead", {}, el("tr", {}, ["When", "Actor", "Action", "Object", "Details"].map(h => el("th", { text: h })))), body), more));
}

// byline shows "name (tok-…)" as the name over its token id.
function byline(s) {
  const m = /^(.*) \((tok-[\w-]+)\)$/.exec(s || "");
  return m ? [el("span", { text: m[1] }), el("div", { class: "small muted mono", text: m[2] })] : el("span", { text: s || "" });
}

function details(d) {
  const s = d == null ? "" : JSON.stringify(d);
  return s === "{}" || s === "null" ? "" : s.length > 300 ? s.slice(0, 300) + "…" : s;
}

// ---- settings: tokens

async function pageSettings(ctx) {
  const mine = el("div", { class: "card" }, el("h2", { text: "Signed in" }),
    el("p", {}, "Token ", el("strong", { text: me.name }), " (", el("code", { text: me.id }), "), role ", el("strong", { text: me.role }),
      me.expires ? [", expires ", when(me.expires)] : ", does not expire", "."));
  if (!can("admin")) {
    return ctx.show(el("div", { class: "page-head" }, el("h1", { text: "Settings" })), mine,
      el("div", { class: "card" }, el("h2", { text: "API tokens" }), el("p", { class: "muted", text: "Managing tokens needs the admin role." })));
  }
  const tokens = await api("GET", "/tokens", undefined, { signal: ctx.signal });
  const name = el("input", { type: "text", id: "tok-name", required: true, placeholder: "ci-pipeline" });
  const role = el("select", { id: "tok-role" }, ["viewer", "runner", "admin", "agent"].map(r => el("option", { value: r, text: r })));
  role.value = "runner";
  // An agent token acts as one agent: the name it registers with.
  const agent = el("input", { type: "text", id: "tok-agent", placeholder: "the agent's --name or hostname" });
  const agentField = el("div", { hidden: true }, el("label", { for: "tok-agent", text: "Agent" }), agent);
  role.addEventListener("change", () => {
    agentField.hidden = role.value !== "agent";
    agent.required = role.value === "agent";
  });
  const expires = el("input", { type: "text", id: "tok-expires", placeholder: "720h (empty: never)" });
  const shown = el("div", { id: "new-token", hidden: true });
  const form = el("form", { id: "token-form" }, el("div", { class: "row" },
    el("div", {}, el("label", { for: "tok-name", text: "Name" }), name),
    el("div", {}, el("label", { for: "tok-role", text: "Role" }), role),
    agentField,
    el("div", {}, el("label", { for: "tok-expires", text: "Expires in" }), expires),
    el("button", { class: "primary", type: "submit", text: "Create token" })));
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    try {
      const t = await api("POST", "/tokens", { name: name.value.trim(), role: role.value,
        agent: role.value === "agent" ? agent.value.trim() : undefined, expiresIn: expires.value.trim() || undefined });
      const list = await api("GET", "/tokens");
      drawTokens(list);
      shown.hidden = false;
      shown.replaceChildren(el("p", {}, "Token ", el("strong", { text: t.name }), " (" + t.role + (t.agent ? " for agent " + t.agent : "") + ") — copy it now, it is not shown again:"),
        el("div", { id: "new-secret", class: "secret", text: t.secret }));
      name.value = "";
      agent.value = "";
    } catch (e) { toast("Not created: " + e.message, true); }
  });
  const body = el("tbody");
  function drawTokens(list) {
    body.replaceChildren(...list.map(t => {
      const state = t.revoked ? "revoked" : t.expires && Date.parse(t.expires) <= Date.now() ? "expired" : "active";
      return el("tr", { "data-token": t.name },
        el("td", {}, el("strong", { text: t.name }), el("div", { class: "small muted mono", text: t.id })),
        el("td", {}, t.role, t.agent ? el("div", { class: "small muted mono", text: t.agent }) : null),
        el("td", { class: "small", text: t.createdBy }),
        el("td", { class: "nowrap" }, when(t.created)),
        el("td", { class: "nowrap" }, t.expires ? when(t.expires) : el("span", { class: "muted", text: "never" })),
        el("td", {}, el("span", { class: "pill " + (state === "active" ? "held" : "invalid"), text: state })),
        el("td", {}, state === "active" && t.id !== me.id
          ? armed(el("button", { class: "danger revoke", type: "button", text: "Revoke" }), "Confirm revoke", async () => {
            try { await api("DELETE", "/tokens/" + enc(t.id)); drawTokens(await api("GET", "/tokens")); toast("Token " + t.name + " revoked."); } catch (e) { toast(e.message, true); }
          })
          : null));
    }));
  }
  drawTokens(tokens);
  ctx.show(el("div", { class: "page-head" }, el("h1", { text: "Settings" })), mine,
    el("div", { class: "card" }, el("h2", { text: "API tokens" }), form, shown,
      el("table", { id: "tokens" }, el("thead", {}, el("tr", {}, ["Token", "Role", "Created by", "Created", "Expires", "State", ""].map(h => el("th", { text: h })))), body)));
}

// ---- start

setupChrome();
window.addEventListener("hashchange", render);
render();
