// AYA status page: polls the admin API's GET /v1/cluster/status (the
// JSON of `aya status --json`) and renders it. It only reads.
//
// Every value is set as text (textContent, title): the page never parses
// data as markup, and its Content-Security-Policy requires Trusted Types,
// so an innerHTML of a string would throw rather than run.
//
// Tables are updated in place: a row is kept while its key stays, and a
// cell is written only when its text or class changes, so a refresh keeps
// the scroll position, the selection and the focus.

const STATUS_URL = "v1/cluster/status"; // relative: works under a path prefix
const POLL_MS = 1000;
const TIMEOUT_MS = 5000;
const HISTORY_ROWS = 100;

const $ = (id) => document.getElementById(id);

// ---- formatting (the same words as aya status) ----

const upDown = (up) => (up ? "up" : "DOWN");

function isZeroTime(t) {
  return !t || t.startsWith("0001-01-01");
}

// stamp is RFC 3339 in UTC without fractions, as aya status prints.
function stamp(t) {
  if (isZeroTime(t)) return "-";
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toISOString().replace(/\.\d+Z$/, "Z");
}

function stampNanos(ns) {
  if (!ns) return "-";
  return new Date(ns / 1e6).toISOString().replace(/\.\d+Z$/, "Z");
}

// nanos reads a duration of the status JSON: a Go duration string
// ("1m30s", "42ms", "2.5µs"), as the admin API writes them, or a number of
// nanoseconds, as older nodes did.
const units = { h: 3.6e12, m: 6e10, s: 1e9, ms: 1e6, us: 1e3, "µs": 1e3, "μs": 1e3, ns: 1 };
function nanos(v) {
  if (typeof v === "number") return v;
  if (typeof v !== "string" || v === "") return 0;
  let s = v, sign = 1;
  if (s[0] === "-" || s[0] === "+") { sign = s[0] === "-" ? -1 : 1; s = s.slice(1); }
  if (s === "0") return 0;
  let total = 0;
  const re = /([0-9]*\.?[0-9]+)(h|ms|us|µs|μs|ns|m|s)/gy;
  let m;
  while ((m = re.exec(s)) !== null) total += parseFloat(m[1]) * units[m[2]];
  return sign * total;
}

// dur formats nanoseconds roughly as Go's time.Duration does.
function dur(ns) {
  if (ns === undefined || ns === null) return "-";
  const neg = ns < 0;
  let v = Math.abs(ns);
  let s;
  if (v === 0) s = "0s";
  else if (v < 1e3) s = `${v}ns`;
  else if (v < 1e6) s = `${trim(v / 1e3)}µs`;
  else if (v < 1e9) s = `${trim(v / 1e6)}ms`;
  else {
    const total = v / 1e9;
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const sec = total % 60;
    s = (h ? `${h}h` : "") + (h || m ? `${m}m` : "") + `${trim(sec)}s`;
  }
  return neg ? `-${s}` : s;
}

function trim(x) {
  return x >= 100 ? String(Math.round(x)) : String(Number(x.toFixed(x >= 10 ? 1 : 2)));
}

// age is a duration rounded to the second, as aya status prints ages.
const age = (ns) => dur(Math.round(ns / 1e9) * 1e9);

const latency = (us) => dur(us * 1e3);

const pct = (x, digits = 0) => `${(100 * x).toFixed(digits)}%`;

function shortDigest(d) {
  if (!d) return "";
  d = d.replace(/^sha256:/, "");
  return d.length > 12 ? d.slice(0, 12) : d;
}

// ago is how long before the log time `now` the time t was.
function ago(t, now) {
  if (isZeroTime(t) || isZeroTime(now)) return "";
  const ms = new Date(now).getTime() - new Date(t).getTime();
  return `${age(ms * 1e6)} ago`;
}

function since(t, now) {
  if (isZeroTime(t)) return "-";
  const a = ago(t, now);
  return a ? `${stamp(t)} (${a})` : stamp(t);
}

// ---- DOM helpers: text only ----

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

// cell is what a table cell shows: text, a class and a tooltip; th makes
// it a row header.
function cell(text, cls = "", title = "", th = false) {
  return { text: text === undefined || text === null ? "" : String(text), cls, title, th };
}

function setCell(td, c) {
  if (td.textContent !== c.text) td.textContent = c.text;
  if (td.className !== c.cls) td.className = c.cls;
  if ((td.title || "") !== c.title) td.title = c.title;
}

// syncRows makes tbody hold rows ({key, cells, node?}) in order, reusing
// the rows whose key is unchanged. A cell with a node (an element) is
// rebuilt only when its text changes.
function syncRows(tbody, rows) {
  const old = new Map();
  for (const tr of Array.from(tbody.rows)) old.set(tr.dataset.key, tr);
  let i = 0;
  for (const r of rows) {
    let tr = old.get(r.key);
    if (tr && tr.cells.length !== r.cells.length) tr = undefined;
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.key = r.key;
      for (const c of r.cells) {
        const td = document.createElement(c.th ? "th" : "td");
        if (c.th) td.scope = "row";
        tr.appendChild(td);
      }
    }
    old.delete(r.key);
    r.cells.forEach((c, j) => {
      const td = tr.cells[j];
      if (c.node) {
        if (td.dataset.text !== c.text) {
          td.replaceChildren(c.node());
          td.dataset.text = c.text;
        }
        if (td.className !== c.cls) td.className = c.cls;
        if ((td.title || "") !== c.title) td.title = c.title;
      } else {
        setCell(td, c);
      }
    });
    if (tbody.rows[i] !== tr) tbody.insertBefore(tr, tbody.rows[i] || null);
    i++;
  }
  for (const tr of old.values()) tr.remove();
}

// showEmpty shows the "none" line of a section instead of its table when
// it has no rows.
function showEmpty(id, empty, table) {
  const p = $(id);
  if (p.hidden !== !empty) p.hidden = !empty;
  if (table) {
    const box = $(table).closest(".scroll") || $(table);
    if (box.hidden !== empty) box.hidden = empty;
  }
}

// ---- the sections ----

function renderSummary(st) {
  const n = st.node || {};
  const v = st.view || {};
  const r = st.release;
  const leader = n.leader_id ? `${n.leader_id} at ${n.leader_addr}` : "none known";
  const items = [
    ["Node", `${n.id} (${n.state}), raft ${n.addr}, admin ${n.admin || "-"}`],
    ["Leader", `${leader}, term ${n.term}`],
    ["Log", `last index ${n.last_index}, applied ${n.last_applied}, decisions version ${v.version}, log time ${stamp(v.now)}`],
    ["Staleness", nanos(st.staleness) === 0 ? "0s (leader)" : `${dur(Math.round(nanos(st.staleness) / 1e6) * 1e6)} since the last contact with a leader`],
    r
      ? ["Release", `version ${r.version} (${shortDigest(r.digest)}) at index ${r.index}, applied ${stamp(r.at)} by ${r.by || "-"} from ${r.source || "-"}; ${r.files} files, ${r.bytes} bytes`]
      : ["Release", "none yet"],
  ];
  if (r) items.push(["Digest", r.digest]);
  for (const z of (r && r.signed) || []) {
    // As aya status says it: when the signatures run out, and whether the
    // signer is late renewing them (against the log's time).
    const now = Date.parse(v.now);
    const exp = Date.parse(z.expires);
    let line = `signatures expire ${stamp(z.expires)}, re-signed by ${stamp(z.refresh)}`;
    if (now >= exp) line += "; EXPIRED: validators fail the zone (SERVFAIL) until the signer signs it again";
    else if (now >= Date.parse(z.refresh)) line += `; OVERDUE: not re-signed, the signatures expire in ${dur((exp - now) * 1e6)}`;
    items.push([`DNSSEC ${z.zone}`, line]);
  }
  if (st.restored > 0) items.push(["Restored", `answering from the state saved at index ${st.restored} until it catches up`]);
  const dl = $("summary");
  const want = items.map(([k, val]) => `${k}\u0000${val}`).join("\u0001");
  if (dl.dataset.text === want) return;
  dl.dataset.text = want;
  const nodes = [];
  for (const [k, val] of items) {
    nodes.push(el("dt", k));
    nodes.push(el("dd", val, k === "Digest" ? "mono" : ""));
  }
  dl.replaceChildren(...nodes);
  const t = `— ${n.id} (${n.state})`;
  if ($("node-title").textContent !== t) $("node-title").textContent = t;
  document.title = `AYA status: ${n.id}`;
}

function renderDiffer(v) {
  const d = v.differ || {};
  const keys = Object.keys(d).sort();
  showEmpty("differ-none", keys.length === 0);
  syncRowsList($("differ"), keys.map((k) => `${k} differs: ${d[k].join(", ")}`));
}

function syncRowsList(ul, texts) {
  while (ul.children.length > texts.length) ul.lastElementChild.remove();
  texts.forEach((t, i) => {
    let li = ul.children[i];
    if (!li) li = ul.appendChild(el("li"));
    if (li.textContent !== t) li.textContent = t;
  });
}

function drainedRegions(v) {
  const s = new Set();
  for (const d of v.drains || []) if (!d.endpoint) s.add(d.region);
  return s;
}

function drainedEndpoints(v) {
  const s = new Set();
  for (const d of v.drains || []) if (d.endpoint) s.add(`${d.pool}/${d.region}/${d.endpoint}`);
  return s;
}

function renderRegions(v) {
  const drained = drainedRegions(v);
  const shed = new Map((v.loads || []).map((l) => [l.region, l.shed]));
  const regions = v.regions || [];
  showEmpty("regions-none", regions.length === 0, "regions");
  syncRows(
    $("regions").tBodies[0],
    regions.map((r) => {
      const dr = drained.has(r.Region);
      const sh = shed.get(r.Region) || 0;
      return {
        key: `${r.Pool}/${r.Region}`,
        cells: [
          cell(r.Pool, "", "", true),
          cell(r.Region),
          cell(upDown(r.up), `state ${r.up ? "up" : "down"}`),
          cell(dr ? "drained" : "no", dr ? "drained" : "none"),
          cell(sh > 0 ? `shedding ${pct(sh, 1)}` : "0%", sh > 0 ? "drained" : "none"),
          cell(since(r.since, v.now)),
          cell(r.why || "", "why"),
        ],
      };
    }),
  );
}

function filterMatch(e, key, drained, q, problemsOnly) {
  if (q && !key.toLowerCase().includes(q)) return false;
  if (!problemsOnly) return true;
  return !e.up || drained.has(key) || e.reports.some((r) => !r.up || !r.fresh || r.err);
}

function renderMatrix(v) {
  const sites = [...new Set((v.endpoints || []).flatMap((e) => e.reports.map((r) => r.site)))].sort();
  const drained = drainedEndpoints(v);
  $("health-legend").textContent =
    `Each site's latest report: state, probe latency, age. "stale": older than fresh_for (${dur(nanos(v.fresh_for))}) or from a site that does not count; not counted by the majority.`;

  // Header: Endpoint, Decision, Since, then one column per site.
  const head = $("matrix").tHead.rows[0];
  const want = ["Endpoint", "Decision", "Since", ...sites];
  while (head.cells.length > want.length) head.lastElementChild.remove();
  want.forEach((t, i) => {
    let th = head.cells[i];
    if (!th) {
      th = el("th");
      th.scope = "col";
      th.className = "site";
      head.appendChild(th);
    }
    if (th.textContent !== t) th.textContent = t;
  });

  const q = $("filter").value.trim().toLowerCase();
  const problemsOnly = $("problems").checked;
  const errors = [];
  const rows = [];
  const all = v.endpoints || [];
  for (const e of all) {
    const key = `${e.Pool}/${e.Region}/${e.Endpoint}`;
    for (const r of e.reports) if (r.err) errors.push({ key: `${key} ${r.site}`, ep: key, site: r.site, err: r.err });
    if (!filterMatch(e, key, drained, q, problemsOnly)) continue;
    const bySite = new Map(e.reports.map((r) => [r.site, r]));
    const dr = drained.has(key);
    let decision = upDown(e.up);
    if (dr) decision += ", drained";
    const cells = [
      cell(key, "", key, true),
      cell(decision, dr ? "drained" : e.up ? "up" : "down", e.why || ""),
      cell(isZeroTime(e.since) ? "-" : ago(e.since, v.now) || stamp(e.since), "", isZeroTime(e.since) ? "never changed" : stamp(e.since)),
    ];
    for (const s of sites) {
      const r = bySite.get(s);
      if (!r) {
        cells.push(cell("-", "none", "no report from this site"));
        continue;
      }
      let text = `${upDown(r.up)} ${latency(r.latency_us)} ${age(nanos(r.age))}`;
      let cls = r.up ? "up" : "down";
      if (!r.fresh) {
        text += " stale";
        cls = "stale";
      }
      const title = `${s}: ${upDown(r.up)}, reported ${stamp(r.at)}${r.fresh ? "" : " (stale, not counted)"}${r.err ? `: ${r.err}` : ""}`;
      cells.push(cell(text, cls, title));
    }
    rows.push({ key, cells });
  }
  syncRows($("matrix").tBodies[0], rows);
  $("health-count").textContent = `${rows.length} of ${all.length} endpoints, ${sites.length} sites`;

  $("errors-count").textContent = String(errors.length);
  syncRows(
    $("errors").tBodies[0],
    errors.map((x) => ({ key: x.key, cells: [cell(x.ep, "", "", true), cell(x.site), cell(x.err, "why")] })),
  );
}

function renderLoads(v) {
  const loads = v.loads || [];
  showEmpty("loads-none", loads.length === 0, "loads");
  syncRows(
    $("loads").tBodies[0],
    loads.map((l) => {
      const util = l.utilisation >= 0 ? pct(l.utilisation) : "-";
      const reps = (l.reports || [])
        .map((r) => `${r.reporter} ${r.in_flight}/${r.capacity} ${Math.round(r.rps)} rps p99 ${latency(r.p99_us)}${r.fresh ? "" : "*"}`)
        .join("; ");
      return {
        key: l.region,
        cells: [
          cell(l.region, "", "", true),
          {
            ...cell(util, "", l.utilisation >= 0 ? "" : "no fresh report"),
            node: () => {
              const f = document.createDocumentFragment();
              if (l.utilisation >= 0) {
                const m = el("meter");
                m.min = 0;
                m.max = 1;
                m.low = 0.6;
                m.high = 0.8;
                m.optimum = 0;
                m.value = Math.min(1, l.utilisation);
                m.setAttribute("aria-hidden", "true");
                f.appendChild(m);
              }
              f.appendChild(document.createTextNode(util));
              return f;
            },
          },
          cell(pct(l.shed, 1), l.shed > 0 ? "drained" : ""),
          cell(stampNanos(l.since)),
          cell(l.shed > 0 ? l.why || "" : "", "why"),
          cell(reps, "why"),
        ],
      };
    }),
  );
}

// A drain's why is "reason (by who)" (cluster.FSM).
function splitWhy(why) {
  const m = /^([\s\S]*) \(by ([^()]*)\)$/.exec(why || "");
  return m ? [m[1], m[2]] : [why || "", ""];
}

function renderDrains(v) {
  const drains = v.drains || [];
  showEmpty("drains-none", drains.length === 0, "drains");
  // When: the newest "drained" decision of the target still in the history.
  const when = new Map();
  for (const d of v.history || []) {
    if (d.to !== "drained") continue;
    when.set(d.endpoint ? `${d.pool}/${d.region}/${d.endpoint}` : d.region, d.at);
  }
  syncRows(
    $("drains").tBodies[0],
    drains.map((d) => {
      const target = d.endpoint ? `${d.pool}/${d.region}/${d.endpoint}` : d.region;
      const [reason, by] = splitWhy(d.why);
      return {
        key: target,
        cells: [cell(target, "drained", "", true), cell(reason, "why"), cell(by || "-"), cell(since(when.get(target), v.now))],
      };
    }),
  );
}

function renderHistory(v) {
  const h = (v.history || []).slice(-HISTORY_ROWS).reverse(); // newest first
  showEmpty("history-none", h.length === 0, "history");
  syncRows(
    $("history").tBodies[0],
    h.map((d) => {
      let what = d.region || "release";
      if (d.endpoint) what = `${d.pool}/${d.region}/${d.endpoint}`;
      else if (d.pool) what = `${d.pool}/${d.region} (region)`;
      const cls = d.to === "down" ? "down" : d.to === "up" ? "up" : d.to === "drained" ? "drained" : "";
      return {
        key: `${d.index} ${what} ${d.to}`,
        cells: [cell(stamp(d.at), "", "", true), cell(d.index, "num"), cell(what), cell(`${d.from} → ${d.to}`, cls), cell(d.why, "why")],
      };
    }),
  );
}

function renderMembers(st) {
  const n = st.node || {};
  const admins = (st.view && st.view.admins) || {};
  syncRows(
    $("members").tBodies[0],
    (n.members || []).map((m) => ({
      key: m.id,
      cells: [
        cell(m.id, "", "", true),
        cell(m.id === n.leader_id ? "leader" : "-", m.id === n.leader_id ? "up" : ""),
        cell(m.addr),
        cell(admins[m.id] || "-"),
        cell(m.suffrage),
      ],
    })),
  );
}

function renderSites(v) {
  syncRows(
    $("sites").tBodies[0],
    (v.sites || []).map((s) => ({
      key: s.id,
      cells: [
        cell(s.id, "", "", true),
        cell(s.version || "-"),
        cell(shortDigest(s.geo) || "none", "", s.geo_info || s.geo || ""),
        cell(shortDigest(s.published) || "-", "", s.published || ""),
        cell(shortDigest(s.local) || "do not build", "", s.local || ""),
        cell(since(s.at, v.now)),
      ],
    })),
  );
}

function render(st) {
  const v = st.view || {};
  renderSummary(st);
  renderDiffer(v);
  renderRegions(v);
  renderMatrix(v);
  renderLoads(v);
  renderDrains(v);
  renderHistory(v);
  renderMembers(st);
  renderSites(v);
}

// ---- polling ----
//
// One request at a time: the next starts POLL_MS after the previous one
// ended, so a slow node is never asked twice at once. A hidden tab does
// not poll; it asks again as soon as it is shown.

let last = null; // the latest status, for re-rendering on a filter change
let lastOK = 0;
let timer = 0;
let busy = false;

function setConn(ok, msg) {
  const p = $("conn");
  const cls = ok ? "conn ok" : "conn bad";
  if (p.className !== cls) p.className = cls;
  if (p.textContent !== msg) p.textContent = msg;
}

async function poll() {
  clearTimeout(timer);
  if (busy) return;
  busy = true;
  const ctl = new AbortController();
  const to = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  try {
    const resp = await fetch(STATUS_URL, { cache: "no-store", signal: ctl.signal, headers: { Accept: "application/json" } });
    if (!resp.ok) throw new Error(`${resp.status} ${resp.statusText}`);
    const st = await resp.json();
    last = st;
    render(st);
    lastOK = Date.now();
    setConn(true, "live: updated every second");
  } catch (err) {
    const what = err && err.name === "AbortError" ? "timed out" : String((err && err.message) || err);
    const when = lastOK ? `not updated since ${new Date(lastOK).toISOString().replace(/\.\d+Z$/, "Z")}` : "no status yet";
    setConn(false, `${when}: ${what}; retrying`);
  } finally {
    clearTimeout(to);
    busy = false;
    if (!document.hidden) timer = setTimeout(poll, POLL_MS);
  }
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) poll();
});
for (const id of ["filter", "problems"]) {
  $(id).addEventListener("input", () => {
    if (last) renderMatrix(last.view || {});
  });
}
poll();
