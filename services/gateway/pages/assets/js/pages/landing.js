// The landing page: the two ways in, and the person's latest tickets.
import { api, describeError, isTransient } from "../api.js";
import { $, clearAlert, showAlert } from "../dom.js";
import { startPage } from "../header.js";
import { ticketRow } from "../ticket-view.js";

/** The latest three tickets; the section stays hidden for someone who has none. */
async function loadRecent() {
  try {
    const { items } = await api("/tickets", { query: { limit: 3 } });
    clearAlert($("recent-alert"));
    $("recent-list").replaceChildren(...items.map((t) => ticketRow(t, `/help-center/tickets/${t.id}`)));
    $("recent-card").hidden = false;
    $("recent").hidden = !items.length;
  } catch (error) {
    if (error.status === 401) return; // the session banner (or sign-in) says it
    // The page works without the list; say it is missing rather than hide it silently.
    $("recent-card").hidden = true;
    $("recent").hidden = false;
    showAlert($("recent-alert"), "warning", "Your recent tickets couldn't load", [describeError(error)], {
      retry: isTransient(error) ? loadRecent : null,
    });
  }
}

if (startPage()) await loadRecent();
