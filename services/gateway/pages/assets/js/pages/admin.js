// The support queue: filters (status, priority, assignee, team, response clock), sorts,
// search, paging; each ticket's response clock as a badge kept current.
import { api, catalog, describeError } from "../api.js";
import { $, clearAlert, debounce, h, showAlert, whileBusy } from "../dom.js";
import { STATUS_KEYS, STATUS_LABELS, age, formatDateTime, lengthProblem, priorityBadge, priorityOptions, slaBadge, statusBadge, ticketRef } from "../format.js";
import { startPage } from "../header.js";
import { pagedLoader } from "../paging.js";

const PAGE_SIZE = 25;
const me = startPage();
const body = $("queue-body");
const more = $("load-more");
const filters = {
  status: $("f-status"),
  priority: $("f-priority"),
  assignee: $("f-assignee"),
  team: $("f-team"),
  sla: $("f-sla"),
  sort: $("f-sort"),
  q: $("f-q"),
};

function person(p, fallback) {
  if (!p) return h("span", { class: "unassigned", text: fallback });
  if (me && p.id === me.sub) return h("span", { text: "You" });
  return h("span", { text: p.name || p.id });
}

function row(t) {
  const href = `/help-center/admin/tickets/${t.id}`;
  return h(
    "tr",
    { dataset: { ticketId: t.id, status: t.status } },
    h(
      "td",
      { class: "cell-select" },
      h("input", { type: "checkbox", class: "select-ticket", value: String(t.id), "aria-label": `Select ${ticketRef(t.id)}` }),
    ),
    h("td", { class: "cell-ref" }, h("span", { class: "ref", text: ticketRef(t.id) })),
    h("td", { class: "cell-subject" }, h("a", { class: "subject", href, text: t.subject })),
    h("td", { "data-label": "Owner" }, person(t.owner, "Unknown")),
    h("td", { "data-label": "Priority" }, priorityBadge(t.priority)),
    h("td", { "data-label": "Status" }, statusBadge(t.status)),
    h("td", { "data-label": "Response", class: "cell-sla", dataset: { sla: JSON.stringify(t.sla) } }, slaBadge(t.sla)),
    h("td", { "data-label": "Assignee" }, person(t.assignee, "Unassigned")),
    h("td", { "data-label": "Team" }, t.team ? h("span", { text: t.team.label }) : h("span", { class: "unassigned", text: "No team" })),
    h("td", { "data-label": "Age" }, h("time", { datetime: t.created_at, title: `Created ${formatDateTime(t.created_at)}`, text: age(t.created_at) })),
  );
}

function query() {
  return Object.fromEntries(Object.entries(filters).map(([key, el]) => [key, el.value.trim()]));
}

function syncUrl(q) {
  const qs = new URLSearchParams(Object.entries(q).filter(([key, value]) => value && !(key === "sort" && value === "created")));
  const text = qs.toString();
  history.replaceState(history.state, "", location.pathname + (text ? `?${text}` : ""));
}

const load = pagedLoader({
  path: "/admin/tickets",
  query,
  limit: PAGE_SIZE,
  list: body,
  more,
  row,
  empty: () => h("tr", {}, h("td", { colspan: "10", class: "empty" }, h("strong", { text: "Nothing in this view" }), "No tickets match these filters.")),
  counted: "tr[data-ticket-id]",
  failure: "Couldn't load the queue",
  onReset: () => syncUrl(query()),
});

/** The team filter's choices: every team, by label (the queue shows a team's tickets). */
async function loadTeams() {
  try {
    const teams = (await api("/admin/teams")).items;
    filters.team.append(...teams.map((t) => h("option", { value: t.key, text: t.label })));
  } catch {
    // The queue works without them: only "Any team" and "No team" are offered.
  }
}

// --- bulk actions: each ticket is its own action (its own notices), one call each ---
const bulk = {
  bar: $("bulk-bar"),
  action: $("bulk-action"),
  assignee: $("bulk-assignee"),
  status: $("bulk-status"),
  note: $("bulk-note"),
};

function selected() {
  return [...body.querySelectorAll("input.select-ticket:checked")].map((box) => Number(box.value));
}

function syncBulk() {
  const ids = selected();
  bulk.bar.hidden = !ids.length && !$("bulk-results").childElementCount;
  $("bulk-count").textContent = `${ids.length} ticket${ids.length === 1 ? "" : "s"} selected.`;
  $("bulk-apply").disabled = !ids.length;
  const action = bulk.action.value;
  $("bulk-assignee-field").hidden = action !== "assign";
  $("bulk-status-field").hidden = action !== "status";
  $("bulk-note-field").hidden = action !== "status" || bulk.status.value !== "resolved";
  const all = body.querySelectorAll("input.select-ticket");
  $("select-all").checked = all.length > 0 && ids.length === all.length;
}

/** The call one ticket gets for the chosen action. */
function bulkCall(ticketId) {
  const action = bulk.action.value;
  const path = `/admin/tickets/${ticketId}`;
  if (action === "status") {
    const payload = { status: bulk.status.value };
    if (payload.status === "resolved") payload.resolution_note = bulk.note.value.trim();
    return api(`${path}/status`, { method: "POST", body: payload });
  }
  const assignee = { "assign-me": me.sub, unassign: null, assign: bulk.assignee.value }[action];
  return api(`${path}/assign`, { method: "POST", body: { assignee_id: assignee } });
}

async function applyBulk(event) {
  event.preventDefault();
  const ids = selected();
  const results = $("bulk-results");
  if (bulk.action.value === "status" && bulk.status.value === "resolved") {
    // The catalog's limits; without them (not loaded) each ticket's answer says what is wrong.
    const limits = await catalog().then((cat) => cat.limits.resolution_note, () => null);
    const problem = limits && lengthProblem("The resolution note", bulk.note.value, limits);
    if (problem) {
      showAlert(results, "error", null, [`${problem} Each owner sees it.`]);
      bulk.note.focus();
      return;
    }
  }
  await whileBusy($("bulk-apply"), async () => {
    const failed = [];
    for (const ticketId of ids) {
      try {
        await bulkCall(ticketId);
      } catch (error) {
        if (error.status === 401) return;
        failed.push(h("li", {}, h("a", { href: `/help-center/admin/tickets/${ticketId}`, text: ticketRef(ticketId) }), `: ${describeError(error)}`));
      }
    }
    const done = ids.length - failed.length;
    const lines = [`${done} of ${ids.length} ticket${ids.length === 1 ? "" : "s"} changed.`];
    if (failed.length) lines.push(h("ul", { class: "bulk-failures" }, ...failed));
    showAlert(results, failed.length ? "warning" : "success", null, lines);
    await load(true);
    syncBulk();
  });
}

async function setUpBulk() {
  bulk.status.append(...STATUS_KEYS.filter((k) => k !== "open").map((key) => h("option", { value: key, text: STATUS_LABELS[key] })));
  try {
    const staff = (await api("/admin/staff")).items;
    bulk.assignee.append(...staff.map((m) => h("option", { value: m.id, text: m.name || m.id })));
  } catch {
    bulk.action.querySelector("option[value=assign]").remove(); // nobody to pick from
  }
  body.addEventListener("change", (event) => {
    if (event.target.matches("input.select-ticket")) {
      clearAlert($("bulk-results"));
      syncBulk();
    }
  });
  $("select-all").addEventListener("change", (event) => {
    for (const box of body.querySelectorAll("input.select-ticket")) box.checked = event.target.checked;
    clearAlert($("bulk-results"));
    syncBulk();
  });
  for (const el of [bulk.action, bulk.status]) el.addEventListener("change", syncBulk);
  $("bulk-clear").addEventListener("click", () => {
    for (const box of body.querySelectorAll("input.select-ticket")) box.checked = false;
    clearAlert($("bulk-results"));
    syncBulk();
  });
  bulk.bar.addEventListener("submit", applyBulk);
}

if (me) {
  filters.status.append(...STATUS_KEYS.map((key) => h("option", { value: key, text: STATUS_LABELS[key] })));
  filters.priority.append(...priorityOptions());
  if (me.role === "admin") await loadTeams();
  const params = new URLSearchParams(location.search);
  for (const [key, el] of Object.entries(filters)) {
    const value = params.get(key);
    if (value && (el.tagName !== "SELECT" || [...el.options].some((o) => o.value === value))) el.value = value;
  }
  if (me.role !== "admin") {
    $("queue-filters").hidden = true;
    $("teams-link").hidden = true;
    $("macros-link").hidden = true;
    $("dashboard-link").hidden = true;
    $("queue-card").hidden = true; // an empty queue table would only confuse
    showAlert($("list-alert"), "warning", "For support staff only", [
      "This dashboard is for the Support Team. Your own tickets are under My Tickets.",
    ]);
  } else {
    for (const el of [filters.status, filters.priority, filters.assignee, filters.team, filters.sla, filters.sort]) el.addEventListener("change", () => load(true));
    // Time left moves on while the page is open: every badge is redrawn each 30 seconds.
    setInterval(() => {
      for (const cell of body.querySelectorAll("td.cell-sla")) cell.replaceChildren(slaBadge(JSON.parse(cell.dataset.sla)));
    }, 30_000);
    filters.q.addEventListener("input", debounce(() => load(true), 350));
    $("queue-filters").addEventListener("submit", (event) => {
      event.preventDefault();
      load(true);
    });
    more.addEventListener("click", () => whileBusy(more, () => load(false)));
    await setUpBulk();
    load(true);
  }
}
