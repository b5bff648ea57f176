// A list of tickets shown a page at a time ("Load more"), as My Tickets and the
// support queue show theirs: one way to page, to say how many are shown, and to
// say that a page could not be loaded.
import { api, describeError, isTransient } from "./api.js";
import { $, clearAlert, showAlert } from "./dom.js";

/**
 * `load(reset)` for `list`: GET `path` with `query()`, `limit` and the cursor;
 * `reset` starts again from the first page (after `onReset()`), and a newer call
 * wins over one still running. Each item becomes `row(item)`; after "Load more"
 * the first new one takes focus; `empty()` stands in an empty list. #list-status
 * says how many `counted` rows are shown; a failure is `failure` in #list-alert,
 * with "Try again" when worth it (a 401 is the session banner's to say).
 */
export function pagedLoader({ path, query, limit, list, more, row, empty, counted, failure, onReset }) {
  let cursor = null;
  let generation = 0;
  async function load(reset) {
    const mine = ++generation;
    if (reset) {
      cursor = null;
      more.hidden = true; // the old cursor belongs to the old filters
      onReset();
    }
    try {
      const data = await api(path, { query: { ...query(), limit, cursor } });
      if (mine !== generation) return; // a newer load replaced this one
      clearAlert($("list-alert"));
      if (reset) list.replaceChildren();
      const rows = data.items.map(row);
      list.append(...rows);
      // "Load more": keyboard and screen-reader users go on from the first new ticket.
      if (!reset) rows[0]?.querySelector("a").focus();
      if (!list.childElementCount) list.append(empty());
      cursor = data.next_cursor;
      more.hidden = !cursor;
      const n = list.querySelectorAll(counted).length;
      $("list-status").textContent = `${n} ticket${n === 1 ? "" : "s"} shown${cursor ? ", more available" : ""}.`;
    } catch (error) {
      if (mine !== generation) return;
      if (reset) list.replaceChildren();
      if (error.status === 401) return; // the session banner (or sign-in) says it
      showAlert($("list-alert"), "error", failure, [describeError(error)], {
        retry: isTransient(error) ? () => load(reset) : null,
      });
    }
  }
  return load;
}
