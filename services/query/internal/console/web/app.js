// PulseStream console: one page, routed by the URL hash. Everything is built
// with DOM calls (never innerHTML), so event data cannot inject markup.
// The API key lives in sessionStorage only: it ends with the browser session.
"use strict";

const store = window.sessionStorage;
const main = document.getElementById("main");

// ---- helpers ---------------------------------------------------------------

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid !== undefined && kid !== null) e.append(kid);
  }
  return e;
}

// field returns a labelled control: <label>text <input id=...></label>.
function field(text, attrs) {
  const ctl = el(attrs.tag || "input", Object.assign({ name: attrs.id }, attrs, { tag: undefined }));
  return el("label", { for: attrs.id }, text, ctl);
}

function select(text, id, options, value) {
  const s = el("select", { id, name: id });
  for (const [v, t] of options) s.append(el("option", { value: v, selected: v === value }, t));
  return el("label", { for: id }, text, s);
}

function say(msg) { document.getElementById("status").textContent = msg; }

function fmtTime(s) { return s ? new Date(s).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "–"; }

function session() { return { key: store.getItem("key"), query: store.getItem("query") === "1", admin: store.getItem("admin") === "1" }; }

class APIError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || ("HTTP " + status));
    this.status = status;
    this.code = body && body.error && body.error.code;
  }
}

async function api(base, path, opts) {
  opts = opts || {};
  const headers = { Authorization: "Bearer " + (opts.key || session().key) };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch("api/" + base + path, { method: opts.method || "GET", headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await resp.text();
  const body = text ? JSON.parse(text) : null;
  if (!resp.ok) throw new APIError(resp.status, body);
  return body;
}
const q = (path, opts) => api("query", path, opts);
const adm = (path, opts) => api("admin", "/v1/admin" + path, opts);

function page(title, ...kids) {
  main.replaceChildren(el("h1", { text: title }), ...kids);
  document.title = title + " · PulseStream console";
  main.focus();
}

function failBox(err) { return el("p", { class: "error", role: "alert", text: String(err.message || err) }); }

async function guarded(fn) {
  try { await fn(); } catch (err) {
    if (err.status === 401) { signOut(); return; }
    main.append(failBox(err));
  }
}

// barChart draws counts per bucket as an SVG bar chart with an accessible
// name: all bars in one path (a day per minute is 1,440 of them; narrow
// bars are drawn without a gap), the counts charted in data-counts, and the
// time and count of the bucket under the pointer as the tooltip.
function barChart(label, buckets, unit) {
  unit = unit || "events";
  const w = 1000, h = 200, pad = 24, ns = "http://www.w3.org/2000/svg";
  const max = Math.max(1, ...buckets.map(b => b.count));
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h + pad}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.dataset.buckets = buckets.length;
  svg.dataset.counts = buckets.map(b => b.count).join(",");
  const total = buckets.reduce((s, b) => s + b.count, 0);
  svg.setAttribute("aria-label", `${label}: ${total} ${unit} in ${buckets.length} buckets, at most ${max} in one`);
  const bw = buckets.length ? w / buckets.length : w, gap = bw >= 4 ? 1 : 0;
  let d = "";
  buckets.forEach((b, i) => {
    if (!(b.count > 0)) return;
    const bh = (b.count / max) * (h - 10);
    d += `M${(i * bw + gap).toFixed(2)} ${h}v${(-bh).toFixed(2)}h${(bw - 2 * gap).toFixed(2)}v${bh.toFixed(2)}z`;
  });
  const bars = document.createElementNS(ns, "path");
  bars.setAttribute("d", d);
  const tip = document.createElementNS(ns, "title");
  svg.append(tip, bars);
  svg.addEventListener("mousemove", (e) => {
    const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(svg.getScreenCTM().inverse());
    const b = buckets[Math.floor(p.x / bw)];
    tip.textContent = b ? `${fmtTime(b.start)}: ${b.count}` : "";
  });
  for (const [x, anchor, b] of [[2, "start", buckets[0]], [w - 2, "end", buckets[buckets.length - 1]]]) {
    if (!b) continue;
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", x); t.setAttribute("y", h + 16); t.setAttribute("text-anchor", anchor);
    t.textContent = fmtTime(b.start);
    svg.append(t);
  }
  return svg;
}

// fill returns every bucket between from and to (the API omits empty ones),
// counting field of each (default count).
function fill(buckets, from, to, stepMs, field) {
  const byStart = new Map(buckets.map(b => [new Date(b.start).getTime(), b[field || "count"]]));
  const out = [];
  for (let t = Math.floor(from / stepMs) * stepMs; t < to; t += stepMs) out.push({ start: new Date(t).toISOString(), count: byStart.get(t) || 0 });
  return out;
}

function table(headers, rows, caption) {
  return el("table", {}, caption ? el("caption", { class: "skip", text: caption }) : null,
    el("thead", {}, el("tr", {}, headers.map(h => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows));
}

// ---- sign in ---------------------------------------------------------------

async function probe(key) {
  const ok = async (fn) => { try { await fn(); return true; } catch (e) { if (e.status >= 500) throw e; return false; } };
  return {
    query: await ok(() => q("/v1/events?limit=1", { key })),
    admin: await ok(() => adm("/tenants", { key })),
  };
}

function signIn() {
  const form = el("form", { id: "signin", "aria-label": "Sign in" },
    field("API key", { id: "key", type: "password", autocomplete: "off", required: true, size: 40 }),
    el("button", { type: "submit", text: "Sign in" }));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = form.querySelector("#key").value.trim();
    const can = await probe(key);
    if (!can.query && !can.admin) { form.after(failBox("This key may use neither the query API nor the admin API.")); return; }
    store.setItem("key", key);
    store.setItem("query", can.query ? "1" : "0");
    store.setItem("admin", can.admin ? "1" : "0");
    go(can.query ? "#/overview" : "#/admin/tenants");
  });
  page("Sign in", el("p", { text: "Sign in with an API key: a query-scope key for its tenant's pages, the operator's admin key for the admin pages. The key is kept only for this browser session." }), form);
}

function signOut() {
  store.clear();
  go("#/signin");
}

// go shows hash: a changed hash routes through hashchange, an unchanged one
// directly (never both, so a page is never rendered twice at once).
function go(hash) {
  if (location.hash === hash) show(); else location.hash = hash;
}

// ---- tenant pages -----------------------------------------------------------

// The outcomes the gateways count per tenant (GET /v1/outcomes), charted on
// the overview: [field, chart title, card id].
const outcomeSeries = [["accepted", "Accepted"], ["duplicate", "Duplicate"], ["rejected", "Rejected"], ["rate_limited", "Rate-limited"]];

function fmtLag(secs) {
  if (secs === null || secs === undefined) return "unknown";
  if (secs < 1) return "caught up";
  if (secs < 120) return secs.toFixed(1) + " s";
  if (secs < 7200) return (secs / 60).toFixed(1) + " min";
  return (secs / 3600).toFixed(1) + " h";
}

// wholeMinutes rounds a time (ms) up to a whole minute. The console's
// default ranges end there and span whole minutes, which the statistics API
// answers from its per-minute rollup when unique subjects are left out.
function wholeMinutes(ms) { return Math.ceil(ms / 60e3) * 60e3; }

// uniqueSubjects fills el, once the rest of the page is shown, with the
// distinct subjects of the statistics query p (a scan of every event in the
// range: the slow part of the statistics, asked for on its own).
async function uniqueSubjects(p, el) {
  const sub = new URLSearchParams(p);
  sub.set("interval", "day");
  sub.set("top", "0");
  sub.delete("unique_subjects");
  el.textContent = String((await q("/v1/stats?" + sub.toString())).unique_subjects);
}

// lagAsOf tells when the lag shown was measured (answers are cached for
// lag-cache-ttl, so it may be a little older than the page).
function lagAsOf(lag) {
  return el("p", { class: "note", id: "lag-as-of", "data-as-of": lag.as_of, text: "Measured at " + fmtTime(lag.as_of) + "." });
}

// The overview's ranges: both charted per minute (1,440 bars for the day),
// counted from the per-minute rollups (events_per_minute, ingest_outcomes).
const overviewRanges = { hour: ["Last hour (per minute)", 3600e3], day: ["Last day (per minute)", 86400e3] };

async function overview() {
  let range = new URLSearchParams(location.hash.split("?")[1] || "").get("range");
  if (!overviewRanges[range]) range = "hour";
  const pick = select("Range", "range", Object.entries(overviewRanges).map(([k, [t]]) => [k, t]), range);
  pick.querySelector("select").addEventListener("change", (e) => { location.hash = "#/overview?range=" + e.target.value; });
  page("Overview", el("form", { "aria-label": "Overview range", onsubmit: (e) => e.preventDefault() }, pick));
  await guarded(async () => {
    const step = 60e3, to = wholeMinutes(Date.now()), from = to - overviewRanges[range][1];
    const span = `from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}&interval=minute`;
    const [st, oc, lag] = await Promise.all([q(`/v1/stats?${span}&top=5&unique_subjects=false`), q(`/v1/outcomes?${span}`), q("/v1/lag")]);
    const sum = (f) => oc.buckets.reduce((s, b) => s + b[f], 0);
    const per = "per minute";
    const subjects = el("div", { class: "n", id: "subjects", text: "…" });
    main.append(
      el("div", { class: "cards" },
        el("div", { class: "card" }, el("div", { class: "n", id: "total", text: String(st.total) }), el("div", { class: "l", text: "events stored in the range" })),
        el("div", { class: "card" }, subjects, el("div", { class: "l", text: "unique subjects" })),
        outcomeSeries.map(([f, t]) => el("div", { class: "card" }, el("div", { class: "n", id: "out-" + f, text: String(sum(f)) }), el("div", { class: "l", text: t.toLowerCase() + " events" }))),
        el("div", { class: "card" }, el("div", { class: "n", id: "out-requests_refused", text: String(sum("requests_refused")) }), el("div", { class: "l", text: "requests refused whole" })),
        el("div", { class: "card" }, el("div", { class: "n", id: "dlq-depth", text: lag.dlq_depth === null ? "unknown" : String(lag.dlq_depth) }),
          el("div", { class: "l", text: "events in the DLQ, not re-driven" }))),
      el("h2", { text: "Read models behind ingestion" }),
      table(["read model", "lag (oldest event not yet written)"], lag.read_models.map(l => el("tr", { "data-lag-model": l.read_model },
        el("td", { text: l.read_model }), el("td", { class: "lagtime", "data-seconds": l.seconds === null ? "" : String(l.seconds), text: fmtLag(l.seconds) }))), "Read-model lag"),
      lagAsOf(lag),
      el("h2", { text: "Events stored " + per }),
      el("div", { id: "stored-chart" }, barChart("Events stored", fill(st.buckets || [], from, to, step))),
      el("div", { class: "outcomes" }, outcomeSeries.map(([f, t]) => el("section", { "aria-label": t + " events " + per },
        el("h2", { text: `${t} events ${per}` }),
        el("div", { id: "chart-" + f }, barChart(t + " events", fill(oc.buckets, from, to, step, f)))))),
      el("p", { class: "note", text: "Outcomes are what the gateways answered; they reach this page within a few seconds (outcomes-flush-interval)." }),
      el("h2", { text: "Top event types" }),
      table(["type", "events"], (st.top_types || []).map(t => el("tr", {}, el("td", { text: t.type }), el("td", { text: String(t.count) }))), "Top event types"));
    await uniqueSubjects(span, subjects);
  });
}

function filtersFromHash() { return new URLSearchParams(location.hash.split("?")[1] || ""); }

async function explorer() {
  const f = filtersFromHash();
  const form = el("form", { id: "search", "aria-label": "Search events" },
    field("Event id", { id: "find-id", placeholder: "go to one event" }),
    field("Type", { id: "type", value: f.get("type") || "" }),
    field("Source", { id: "source", value: f.get("source") || "" }),
    field("Subject", { id: "subject", value: f.get("subject") || "" }),
    field("From (RFC 3339)", { id: "from", value: f.get("from") || "" }),
    field("To (RFC 3339)", { id: "to", value: f.get("to") || "" }),
    field("Data contains (JSON)", { id: "data", value: f.get("data") || "" }),
    select("Order", "order", [["desc", "Newest first"], ["asc", "Oldest first"]], f.get("order") || "desc"),
    field("Page size", { id: "limit", type: "number", min: 1, max: 1000, value: f.get("limit") || "20" }),
    el("button", { type: "submit", text: "Search" }));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const id = form.querySelector("#find-id").value.trim();
    if (id) { go("#/event/" + encodeURIComponent(id)); return; }
    const p = new URLSearchParams();
    for (const k of ["type", "source", "subject", "from", "to", "data", "order", "limit"]) {
      const v = form.querySelector("#" + k).value.trim();
      if (v) p.set(k, v);
    }
    go("#/events?" + p.toString());
  });
  page("Events", form);
  await guarded(async () => {
    const p = new URLSearchParams(f);
    const res = await q("/v1/events?" + p.toString());
    const rows = res.events.map(e => el("tr", {},
      el("td", {}, el("a", { href: "#/event/" + encodeURIComponent(e.id), text: e.id })),
      el("td", { text: e.type }), el("td", { text: e.source || "" }), el("td", { text: e.subject || "" }), el("td", { text: fmtTime(e.time) })));
    main.append(table(["id", "type", "source", "subject", "time"], rows, "Search results"),
      el("p", { id: "count", text: `${res.events.length} events on this page` }));
    if (res.next_cursor) {
      const next = new URLSearchParams(f);
      next.set("cursor", res.next_cursor);
      main.append(el("a", { id: "next", href: "#/events?" + next.toString(), text: "Next page" }));
    }
  });
}

async function eventDetail(id) {
  page("Event " + id);
  await guarded(async () => {
    const st = await q("/v1/events/" + encodeURIComponent(id) + "/status");
    const steps = ["accepted", "stored", "projected", "deleted"].map(s => el("li", { class: st[s] ? "done" : "", "data-step": s },
      el("strong", { text: s }), el("span", { class: "when", text: st[s] ? fmtTime(st[s].at) : "not yet" })));
    main.append(el("h2", { text: "Timeline" }), el("ol", { class: "timeline", "aria-label": "Status timeline", id: "timeline" }, steps),
      el("p", { text: "Furthest stage: " + st.state }));
    if (st.state === "deleted") return;
    const ev = await q("/v1/events/" + encodeURIComponent(id));
    main.append(el("h2", { text: "JSON" }), el("pre", { id: "json", tabindex: "0", text: JSON.stringify(ev, null, 2) }));
  });
}

async function stats() {
  const f = filtersFromHash();
  const end = wholeMinutes(Date.now());
  const form = el("form", { id: "statsform", "aria-label": "Statistics" },
    field("From (RFC 3339)", { id: "from", value: f.get("from") || new Date(end - 86400e3).toISOString() }),
    field("To (RFC 3339)", { id: "to", value: f.get("to") || new Date(end).toISOString() }),
    select("Interval", "interval", [["minute", "minute"], ["hour", "hour"], ["day", "day"]], f.get("interval") || "hour"),
    field("Type", { id: "type", value: f.get("type") || "" }),
    el("button", { type: "submit", text: "Show" }));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const k of ["from", "to", "interval", "type"]) { const v = form.querySelector("#" + k).value.trim(); if (v) p.set(k, v); }
    go("#/stats?" + p.toString());
  });
  page("Statistics", form);
  await guarded(async () => {
    const p = new URLSearchParams(f);
    if (!p.get("from")) p.set("from", form.querySelector("#from").value);
    if (!p.get("to")) p.set("to", form.querySelector("#to").value);
    p.delete("meter");
    p.set("top", "10");
    p.set("unique_subjects", "false");
    // The counts first (the rollup answers a range of whole minutes), the
    // meters' definitions beside them; then the unique subjects and the meters.
    const [st, list] = await Promise.all([q("/v1/stats?" + p.toString()), q("/v1/meters")]);
    const step = { minute: 60e3, hour: 3600e3, day: 86400e3 }[st.interval];
    const subjects = el("span", { id: "subjects", text: "…" });
    main.append(el("p", {}, el("span", { id: "stats-total", text: String(st.total) }), " events, ", subjects, " unique subjects"),
      el("div", { id: "stats-chart" }, barChart("Events per " + st.interval, fill(st.buckets || [], new Date(st.from).getTime(), new Date(st.to).getTime(), step))),
      el("h2", { text: "Top types" }),
      table(["type", "events"], (st.top_types || []).map(t => el("tr", {}, el("td", { text: t.type }), el("td", { text: String(t.count) }))), "Top types"));
    await Promise.all([uniqueSubjects(p, subjects), meters(f, st, list.meters)]);
  });
}

// meters shows, on the statistics page, every meter's value over the same
// range and the chosen meter (hash parameter meter) per interval; the
// queries go out together.
async function meters(f, st, list) {
  main.append(el("h2", { text: "Meters" }));
  if (!list.length) { main.append(el("p", { id: "no-meters", text: "This tenant has no meters (an operator defines them)." })); return; }
  const span = `from=${encodeURIComponent(st.from)}&to=${encodeURIComponent(st.to)}`;
  const slug = f.get("meter") || list[0].slug;
  const [res, ...totals] = await Promise.all([q(`/v1/meters/${encodeURIComponent(slug)}/query?${span}&window=${st.interval}`),
    ...list.map(m => q(`/v1/meters/${encodeURIComponent(m.slug)}/query?${span}`))]);
  const fmt = (v) => v === null ? "–" : String(Math.round(v * 1000) / 1000);
  main.append(table(["meter", "aggregation", "event types", "value", "events"], list.map((m, i) => {
    const rows = totals[i].rows, v = rows.length === 1 ? rows[0].value : null;
    return el("tr", { "data-meter": m.slug }, el("td", { text: m.slug }), el("td", { text: m.aggregation + (m.value_path ? " of " + m.value_path : "") }),
      el("td", { text: m.event_types.join(", ") }), el("td", { class: "metervalue", text: rows.length > 1 ? rows.length + " groups" : fmt(v) }),
      el("td", { class: "meterevents", text: String(totals[i].events) }));
  }), "Meters"));
  const pick = select("Meter", "meter", list.map(m => [m.slug, m.slug]), slug);
  pick.querySelector("select").addEventListener("change", (e) => { const p = new URLSearchParams(f); p.set("meter", e.target.value); go("#/stats?" + p.toString()); });
  const byStart = new Map();
  for (const r of res.rows) { const t = new Date(r.window_start).getTime(); byStart.set(t, (byStart.get(t) || 0) + (r.value || 0)); }
  const step = { minute: 60e3, hour: 3600e3, day: 86400e3 }[st.interval];
  const buckets = fill([...byStart].map(([t, v]) => ({ start: new Date(t).toISOString(), count: v })), new Date(st.from).getTime(), new Date(st.to).getTime(), step);
  main.append(el("form", { id: "meterform", "aria-label": "Meter chart", onsubmit: (e) => e.preventDefault() }, pick),
    el("h3", { text: `${slug} (${res.aggregation}) per ${st.interval}` }),
    el("div", { id: "meterchart" }, barChart(`Meter ${slug}`, buckets, "(sum of the windows' values)")));
}

// ---- admin pages -------------------------------------------------------------

async function tenants() {
  const form = el("form", { id: "newtenant", "aria-label": "Create a tenant" },
    field("Tenant id", { id: "tenant-id", required: true }),
    field("Name", { id: "tenant-name" }),
    field("Rate limit (events/s)", { id: "tenant-rate", type: "number", min: 1 }),
    field("Burst", { id: "tenant-burst", type: "number", min: 1 }),
    el("button", { type: "submit", text: "Create tenant" }));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    guarded(async () => {
      const body = { id: form.querySelector("#tenant-id").value.trim() };
      const name = form.querySelector("#tenant-name").value.trim();
      if (name) body.name = name;
      for (const [k, id] of [["rate_limit_per_sec", "#tenant-rate"], ["rate_limit_burst", "#tenant-burst"]]) {
        const v = form.querySelector(id).value;
        if (v) body[k] = Number(v);
      }
      await adm("/tenants", { method: "POST", body });
      say("tenant " + body.id + " created");
      tenants();
    });
  });
  page("Tenants");
  await guarded(async () => {
    const res = await adm("/tenants");
    main.append(table(["id", "name", "status", "rate limit/s", "burst"], res.tenants.map(t => el("tr", {},
      el("td", {}, el("a", { href: "#/admin/tenant/" + encodeURIComponent(t.id), text: t.id })),
      el("td", { text: t.name }), el("td", { text: t.status }), el("td", { text: String(t.rate_limit_per_sec) }), el("td", { text: String(t.rate_limit_burst) }))), "Tenants"),
    el("h2", { text: "New tenant" }), form);
  });
}

function showOnce(created, what) {
  return el("div", { class: "once", id: "newkey", role: "alert" },
    el("p", { text: `${what}: copy it now, it is shown only once.` }),
    el("code", { id: "newkey-value", text: created.key }),
    created.signing_secret ? el("p", {}, "Signing secret: ", el("code", { text: created.signing_secret })) : null);
}

async function tenantPage(id) {
  page("Tenant " + id);
  await guarded(async () => {
    const t = await adm("/tenants/" + encodeURIComponent(id));
    const limits = el("form", { id: "limits", "aria-label": "Rate limits" },
      field("Rate limit (events/s)", { id: "rate", type: "number", min: 1, value: String(t.rate_limit_per_sec) }),
      field("Burst", { id: "burst", type: "number", min: 1, value: String(t.rate_limit_burst) }),
      el("button", { type: "submit", text: "Save limits" }));
    limits.addEventListener("submit", (ev) => {
      ev.preventDefault();
      guarded(async () => {
        await adm("/tenants/" + encodeURIComponent(id), { method: "PATCH", body: { rate_limit_per_sec: Number(limits.querySelector("#rate").value), rate_limit_burst: Number(limits.querySelector("#burst").value) } });
        say("limits saved");
      });
    });
    const scopes = el("fieldset", {}, el("legend", { text: "Scopes" }),
      ["ingest", "query", "admin"].map(s => el("label", { class: "inline", for: "scope-" + s }, el("input", { type: "checkbox", id: "scope-" + s, value: s, checked: s !== "admin" }), s)));
    const create = el("form", { id: "newkeyform", "aria-label": "Create a key" },
      field("Key name", { id: "key-name", required: true }), scopes, el("button", { type: "submit", text: "Create key" }));
    create.addEventListener("submit", (ev) => {
      ev.preventDefault();
      guarded(async () => {
        const sc = [...create.querySelectorAll("input[type=checkbox]:checked")].map(c => c.value);
        const k = await adm(`/tenants/${encodeURIComponent(id)}/keys`, { method: "POST", body: { name: create.querySelector("#key-name").value.trim(), scopes: sc } });
        await tenantPage(id);
        main.querySelector("h1").after(showOnce(k, "New key " + k.prefix));
      });
    });
    const keys = await adm(`/tenants/${encodeURIComponent(id)}/keys`);
    const rows = keys.keys.map(k => el("tr", { "data-prefix": k.prefix }, el("td", { text: k.prefix }), el("td", { text: k.name }), el("td", { text: k.scopes.join(", ") }),
      el("td", { class: "keystatus", text: k.status }), el("td", { text: fmtTime(k.created_at) }),
      el("td", {}, k.status !== "active" ? null : [
        el("button", { type: "button", class: "danger", "aria-label": "Revoke key " + k.prefix, text: "Revoke", onclick: () => revoke(id, k) }), " ",
        el("button", { type: "button", class: "secondary", "aria-label": "Rotate key " + k.prefix, text: "Rotate", onclick: () => rotate(id, k) })])));
    main.append(el("p", { text: `status ${t.status}` }), el("h2", { text: "Rate limits" }), limits,
      el("h2", { text: "Keys" }), table(["prefix", "name", "scopes", "status", "created", ""], rows, "Keys"),
      el("h2", { text: "New key" }), create);
  });
}

async function revoke(tenant, k) {
  if (!window.confirm(`Revoke key ${k.prefix}? Requests with it fail from now on.`)) return;
  await guarded(async () => {
    await adm(`/tenants/${encodeURIComponent(tenant)}/keys/${encodeURIComponent(k.id)}/revoke`, { method: "POST" });
    say("key " + k.prefix + " revoked");
    await tenantPage(tenant);
  });
}

// rotate creates a key like k (name, scopes, networks, signing) and then revokes k.
async function rotate(tenant, k) {
  if (!window.confirm(`Rotate key ${k.prefix}? A new key replaces it and it is revoked.`)) return;
  await guarded(async () => {
    const spec = { name: k.name, scopes: k.scopes, require_signature: k.require_signature };
    if (k.allowed_cidrs && k.allowed_cidrs.length) spec.allowed_cidrs = k.allowed_cidrs;
    if (k.expires_at) spec.expires_at = k.expires_at;
    const n = await adm(`/tenants/${encodeURIComponent(tenant)}/keys`, { method: "POST", body: spec });
    await adm(`/tenants/${encodeURIComponent(tenant)}/keys/${encodeURIComponent(k.id)}/revoke`, { method: "POST" });
    await tenantPage(tenant);
    main.querySelector("h1").after(showOnce(n, `Key ${k.prefix} rotated; its replacement ${n.prefix}`));
  });
}

async function audit() {
  page("Audit log");
  await guarded(async () => {
    const before = filtersFromHash().get("before");
    const res = await adm("/audit?limit=50" + (before ? "&before=" + before : ""));
    main.append(table(["when", "actor", "action", "tenant", "target"], res.entries.map(a => el("tr", {},
      el("td", { text: fmtTime(a.at) }), el("td", { text: a.actor }), el("td", { text: a.action }), el("td", { text: a.tenant_id || "" }), el("td", { text: a.target || "" }))), "Audit log"));
    if (res.next_before) main.append(el("a", { href: "#/admin/audit?before=" + res.next_before, text: "Older entries" }));
  });
}

async function erasures() {
  const f = filtersFromHash();
  const form = el("form", { id: "erasureform", "aria-label": "Filter erasures" },
    field("Tenant", { id: "erasure-tenant", value: f.get("tenant") || "" }), el("button", { type: "submit", text: "Show" }));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = form.querySelector("#erasure-tenant").value.trim();
    go("#/admin/erasures" + (t ? "?tenant=" + encodeURIComponent(t) : ""));
  });
  page("Erasures", el("p", { text: "Erasures by subject (POST /v1/erasures on the gateway): each erases every event of one subject; the count grows as the gateways produce the tombstones. The subject itself is never shown, only its SHA-256." }), form);
  await guarded(async () => {
    const t = f.get("tenant");
    const res = await adm("/erasures?limit=200" + (t ? "&tenant=" + encodeURIComponent(t) : ""));
    main.append(el("p", { id: "open-erasures", text: `${res.open} erasures not done yet` }),
      table(["id", "tenant", "state", "events erased", "requested", "started", "finished", "subject SHA-256"], res.erasures.map(e => el("tr", { "data-erasure": e.id },
        el("td", { text: e.id }), el("td", { text: e.tenant_id }), el("td", { class: "erasure-state", text: e.state }), el("td", { class: "erased", text: String(e.erased) }),
        el("td", { text: fmtTime(e.requested_at) }), el("td", { text: fmtTime(e.started_at) }), el("td", { text: fmtTime(e.finished_at) }),
        el("td", {}, el("code", { text: e.subject_sha256.slice(0, 16) + "…", title: e.subject_sha256 })))), "Erasures"));
  });
}

async function dlq() {
  page("Dead-letter queue");
  await guarded(async () => {
    const [res, lag] = await Promise.all([adm("/dlq?limit=200"), adm("/lag")]);
    main.append(el("h2", { text: "Read models behind the event topic" }),
      table(["read model", "consumer group", "records not yet written"], lag.read_models.map(l => el("tr", { "data-read-model": l.read_model },
        el("td", { text: l.read_model }), el("td", { text: l.group }), el("td", { class: "lag", text: String(l.records) }))), "Read-model lag"),
      lagAsOf(lag), el("h2", { text: "Dead letters" }));
    const all = el("button", { type: "button", id: "redrive-all", text: "Re-drive all", disabled: res.depth === 0 });
    const sel = el("button", { type: "button", id: "redrive-selected", class: "secondary", text: "Re-drive selected" });
    const rows = res.records.map(r => el("tr", { "data-offset": `${r.partition}/${r.offset}` },
      el("td", {}, r.redriven_at ? null : el("input", { type: "checkbox", id: `dlq-${r.partition}-${r.offset}`, "aria-label": `Select record ${r.partition}/${r.offset}`, "data-p": r.partition, "data-o": r.offset })),
      el("td", { text: `${r.partition}/${r.offset}` }), el("td", { text: r.tenant_id }), el("td", { text: r.id }),
      el("td", { text: r.sink }), el("td", { text: r.error }), el("td", { class: "dlqstate", text: r.redriven_at ? "re-driven " + fmtTime(r.redriven_at) : "waiting" })));
    const redrive = (body) => guarded(async () => {
      const out = await adm("/dlq/redrive", { method: "POST", body });
      await dlq();
      say(`${out.redriven} re-driven, ${out.already} already re-driven before`);
    });
    all.addEventListener("click", () => { if (window.confirm(`Re-drive all ${res.depth} waiting records into the event topic?`)) redrive({ all: true }); });
    sel.addEventListener("click", () => {
      const recs = [...main.querySelectorAll("input[type=checkbox]:checked")].map(c => ({ partition: Number(c.dataset.p), offset: Number(c.dataset.o) }));
      if (recs.length) redrive({ records: recs });
    });
    main.append(el("p", { id: "depth", text: `${res.depth} records waiting to be re-driven` }), el("p", {}, all, " ", sel),
      el("div", { id: "dead-letters" }, table(["", "DLQ position", "tenant", "event id", "read model", "error", "state"], rows, "Dead-letter records")));
  });
}

// ---- routing -----------------------------------------------------------------

function route() {
  const s = session();
  const hash = location.hash || "#/";
  const path = hash.slice(1).split("?")[0];
  const nav = document.getElementById("nav");
  nav.hidden = !s.key;
  for (const a of nav.querySelectorAll("a")) {
    a.hidden = !s[a.dataset.need];
    if (path.startsWith(a.getAttribute("href").slice(1))) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  say("");
  if (!s.key) return signIn();
  let m;
  if (path === "/overview" && s.query) return overview();
  if (path === "/events" && s.query) return explorer();
  if ((m = path.match(/^\/event\/(.+)$/)) && s.query) return eventDetail(decodeURIComponent(m[1]));
  if (path === "/stats" && s.query) return stats();
  if (path === "/dlq" && s.admin) return dlq();
  if (path === "/admin/tenants" && s.admin) return tenants();
  if ((m = path.match(/^\/admin\/tenant\/(.+)$/)) && s.admin) return tenantPage(decodeURIComponent(m[1]));
  if (path === "/admin/audit" && s.admin) return audit();
  if (path === "/admin/erasures" && s.admin) return erasures();
  location.hash = s.query ? "#/overview" : "#/admin/tenants";
}

// An error no page caught is shown, not swallowed.
window.addEventListener("unhandledrejection", (e) => say("error: " + (e.reason && e.reason.message || e.reason)));
window.addEventListener("error", (e) => say("error: " + e.message));
document.getElementById("signout").addEventListener("click", signOut);
// show routes and, once the page has its data, marks main with the hash it
// shows (data-rendered), so a reader (or a test) knows the page is complete,
// and marks the time (performance mark "rendered").
function show() {
  main.removeAttribute("data-rendered");
  const shown = location.hash;
  Promise.resolve(route()).finally(() => {
    if (location.hash !== shown) return;
    main.dataset.rendered = shown;
    performance.mark("rendered"); // first data, for the first-paint benchmark
  });
}
window.addEventListener("hashchange", show);
show();
