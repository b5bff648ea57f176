// The support dashboard: GET /admin/stats drawn as numbers and SVG bar charts, drawn
// here (no charting library: a few bars need none, and the CSP allows only our own
// scripts). Each chart also has a text table for screen readers.
import { api, describeError, isTransient } from "../api.js";
import { $, clearAlert, h, showAlert } from "../dom.js";
import { PRIORITY_LABELS, STATUS_LABELS, formatDateTime } from "../format.js";
import { startPage } from "../header.js";

const SVG = "http://www.w3.org/2000/svg";
const me = startPage();
const alertBox = $("dashboard-alert");

/** An SVG element with attributes (text content via `text`). */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") el.textContent = value;
    else el.setAttribute(key, String(value));
  }
  el.append(...children);
  return el;
}

/**
 * Bars for `rows` ([{label, values: [n, ...]}]), one colour class per series; the
 * scale starts at 0 and ends at the largest value (at least 1).
 */
function barChart(rows, series, { title, height = 180, labelEvery = 1 }) {
  const width = 640;
  const left = 36;
  const bottom = 28;
  const plotH = height - bottom - 10;
  const max = Math.max(1, ...rows.flatMap((r) => r.values));
  const slot = (width - left) / rows.length;
  const barW = Math.max(2, (slot * 0.8) / series.length);
  const chart = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  chart.append(s("title", { text: title }));
  for (const tick of [0, Math.ceil(max / 2), max]) {
    const y = 10 + plotH - (tick / max) * plotH;
    chart.append(s("line", { class: "axis", x1: left, x2: width, y1: y, y2: y }));
    chart.append(s("text", { x: left - 6, y: y + 4, "text-anchor": "end", text: String(tick) }));
  }
  rows.forEach((row, i) => {
    const x0 = left + i * slot + slot * 0.1;
    row.values.forEach((value, k) => {
      const barH = (value / max) * plotH;
      const bar = s("rect", {
        class: series[k].cls,
        x: x0 + k * barW,
        y: 10 + plotH - barH,
        width: barW - 1,
        height: Math.max(barH, value ? 1 : 0),
      });
      bar.append(s("title", { text: `${row.label}: ${value} ${series[k].name}` }));
      chart.append(bar);
    });
    if (i % labelEvery === 0) {
      chart.append(s("text", { x: x0 + (barW * series.length) / 2, y: height - 8, "text-anchor": "middle", text: row.label }));
    }
  });
  const table = h(
    "table",
    { class: "visually-hidden" },
    h("caption", { text: title }),
    h("tr", {}, h("th", { scope: "col", text: "" }), ...series.map((x) => h("th", { scope: "col", text: x.name }))),
    ...rows.map((row) => h("tr", {}, h("th", { scope: "row", text: row.label }), ...row.values.map((v) => h("td", { text: String(v) })))),
  );
  return [chart, table];
}

function stat(label, value, id) {
  return h("div", { class: "stat", dataset: { stat: id } }, h("dt", { text: label }), h("dd", { class: "stat-value", text: value }));
}

/** A time span at a glance: "45 s", "12 min", "3 h 20 min", "2 days 4 h". */
function duration(seconds) {
  if (seconds === null) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} days ${Math.round((s % 86400) / 3600)} h`;
}

function render(stats) {
  $("dashboard").hidden = false;
  $("generated").textContent = `Counted ${formatDateTime(stats.generated_at)}; the period starts ${formatDateTime(stats.since)}.`;
  $("now-stats").replaceChildren(
    stat("Open tickets", String(stats.open.total), "open"),
    stat("Unassigned", String(stats.unassigned), "unassigned"),
    stat("At risk", String(stats.at_risk), "at_risk"),
    stat("Breached", String(stats.breached), "breached"),
  );
  const first = stats.first_response;
  $("first-stats").replaceChildren(
    stat("Median", duration(first.median_seconds), "median"),
    stat("90th percentile", duration(first.p90_seconds), "p90"),
    stat("Met the target", first.met_share === null ? "—" : `${Math.round(first.met_share * 100)}%`, "met_share"),
    stat("Answered", String(first.answered), "answered"),
  );
  const one = [{ name: "tickets", cls: "bar" }];
  $("status-chart").replaceChildren(
    ...barChart(
      Object.entries(stats.open.by_status).map(([key, n]) => ({ label: STATUS_LABELS[key] ?? key, values: [n] })),
      one,
      { title: "Open tickets by status" },
    ),
  );
  $("priority-chart").replaceChildren(
    ...barChart(
      Object.entries(stats.open.by_priority).map(([key, n]) => ({ label: PRIORITY_LABELS[key] ?? key, values: [n] })),
      one,
      { title: "Open tickets by priority" },
    ),
  );
  const days = stats.per_day.map((d) => ({ label: d.date.slice(5), values: [d.created, d.resolved] }));
  $("days-chart").replaceChildren(
    ...barChart(days, [{ name: "created", cls: "bar-created" }, { name: "resolved", cls: "bar-resolved" }], {
      title: "Tickets created and resolved per day",
      height: 220,
      labelEvery: Math.ceil(days.length / 14),
    }),
  );
}

async function load() {
  try {
    render(await api("/admin/stats", { query: { days: $("days").value } }));
    clearAlert(alertBox);
  } catch (error) {
    if (error.status === 401) return;
    showAlert(alertBox, "error", "The dashboard couldn't load", [describeError(error)], {
      retry: isTransient(error) ? load : null,
    });
  }
}

if (me) {
  if (me.role !== "admin") {
    showAlert(alertBox, "warning", "For support staff only", ["The dashboard is for the Support Team."]);
  } else {
    const wanted = new URLSearchParams(location.search).get("days");
    if (wanted && [...$("days").options].some((o) => o.value === wanted)) $("days").value = wanted;
    $("days").addEventListener("change", () => {
      history.replaceState(history.state, "", `${location.pathname}?days=${$("days").value}`);
      load();
    });
    await load();
    setInterval(() => !document.hidden && load(), 60_000);
  }
}
