// My Tickets: search by id or subject, filter by status, page with next_cursor.
import { $, debounce, h, loadingRow, whileBusy } from "../dom.js";
import { STATUS_KEYS, STATUS_LABELS } from "../format.js";
import { startPage } from "../header.js";
import { pagedLoader } from "../paging.js";
import { ticketRow } from "../ticket-view.js";

const PAGE_SIZE = 20;
const me = startPage();
const params = new URLSearchParams(location.search);
const state = {
  status: STATUS_KEYS.includes(params.get("status")) ? params.get("status") : "",
  q: params.get("q") || "",
};

const list = $("ticket-list");
const more = $("load-more");
const search = $("search");
search.value = state.q;

function renderPills() {
  const options = [["", "All"], ...STATUS_KEYS.map((key) => [key, STATUS_LABELS[key]])];
  $("status-filter").replaceChildren(
    ...options.map(([key, label]) =>
      h("button", {
        type: "button",
        class: "pill",
        "aria-pressed": String(state.status === key),
        dataset: { status: key || "all" },
        text: label,
        onclick: () => {
          state.status = key;
          renderPills();
          load(true);
        },
      }),
    ),
  );
}

function syncUrl() {
  const qs = new URLSearchParams();
  if (state.status) qs.set("status", state.status);
  if (state.q) qs.set("q", state.q);
  const query = qs.toString();
  history.replaceState(history.state, "", location.pathname + (query ? `?${query}` : ""));
}

function emptyState() {
  const filtered = state.status || state.q;
  return h(
    "li",
    { class: "empty" },
    h("strong", { text: filtered ? "No tickets match" : "No tickets yet" }),
    filtered
      ? h("span", { text: "Try another status or search." })
      : h("span", {}, "When you ", h("a", { href: "/help-center/tickets/new", text: "create a ticket" }), ", it shows up here."),
  );
}

const load = pagedLoader({
  path: "/tickets",
  query: () => ({ status: state.status, q: state.q }),
  limit: PAGE_SIZE,
  list,
  more,
  row: (t) => ticketRow(t, `/help-center/tickets/${t.id}`),
  empty: emptyState,
  counted: ".ticket-row",
  failure: "Couldn't load your tickets",
  onReset: () => {
    list.replaceChildren(loadingRow("li", "Loading tickets…"));
    syncUrl();
  },
});

if (me) {
  renderPills();
  const searchNow = () => {
    const q = search.value.trim();
    if (q === state.q) return;
    state.q = q;
    load(true);
  };
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.q = search.value.trim();
    load(true);
  });
  search.addEventListener("input", debounce(searchNow, 350));
  more.addEventListener("click", () => whileBusy(more, () => load(false)));
  load(true);
}
