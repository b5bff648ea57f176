import { api } from "../api.js";
import { $ } from "../dom.js";
import { startPage } from "../header.js";
import { ticketRow } from "../ticket-view.js";

const me = startPage();
if (me) {
  try {
    const { items } = await api("/tickets", { query: { limit: 3 } });
    if (items.length) {
      $("recent-list").replaceChildren(...items.map((t) => ticketRow(t, `/help-center/tickets/${t.id}`)));
      $("recent").hidden = false;
    }
  } catch {
    // The landing page works without the recent list.
  }
}
