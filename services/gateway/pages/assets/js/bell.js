// The notification bell in the header: unread count, the list of notices (each
// links to its ticket), mark read and mark all read. It refreshes by itself every
// ~10 s while the tab is visible, and when the tab regains focus.
import { api, describeError } from "./api.js";
import { $, h, loadingRow } from "./dom.js";
import { plainSnippet, relativeTime, timeEl } from "./format.js";

const POLL_MS = 10_000;
// Notices an admin gets as the assignee open the support view of the ticket.
const SUPPORT_KINDS = new Set(["user_reply", "ticket_assigned"]);

export function startBell(me) {
  const button = $("bell-button");
  const count = $("bell-count");
  const label = $("bell-label");
  const panel = $("bell-panel");
  const list = $("bell-list");
  const readAll = $("bell-read-all");
  let unread = null;

  const noticeHref = (notice) =>
    me.role === "admin" && SUPPORT_KINDS.has(notice.kind)
      ? `/help-center/admin/tickets/${notice.ticket_id}`
      : `/help-center/tickets/${notice.ticket_id}`;

  function setCount(n) {
    const previous = unread;
    unread = n;
    count.hidden = n === 0;
    count.textContent = n > 99 ? "99+" : String(n);
    label.textContent = n ? `Notifications, ${n} unread` : "Notifications, none unread";
    button.dataset.unread = String(n);
    readAll.disabled = n === 0;
    if (previous !== null && n > previous) {
      // Pages showing a ticket reload it when something new arrived.
      document.dispatchEvent(new CustomEvent("helpdesk:notices", { detail: { unread: n } }));
    }
  }

  async function markRead(notice) {
    await api(`/notifications/${notice.id}/read`, { method: "POST" });
  }

  function item(notice) {
    const isUnread = !notice.read_at;
    const href = noticeHref(notice);
    const link = h(
      "a",
      { href },
      h("span", { class: "bell-title", text: notice.title }),
      notice.body ? h("span", { class: "bell-body", text: plainSnippet(notice.body) }) : null,
      h("span", { class: "bell-time" }, timeEl(notice.created_at, relativeTime(notice.created_at))),
    );
    link.addEventListener("click", async (event) => {
      if (!isUnread || event.ctrlKey || event.metaKey || event.shiftKey) return;
      event.preventDefault();
      try {
        await markRead(notice);
      } catch {
        // Opening the ticket matters more than the read mark.
      }
      location.assign(href);
    });
    const mark = isUnread
      ? h("button", {
          type: "button",
          class: "button link small",
          text: "Mark read",
          "aria-label": `Mark “${notice.title}” as read`,
          onclick: async () => {
            try {
              await markRead(notice);
            } catch (error) {
              list.prepend(h("li", { class: "bell-empty", role: "alert", text: describeError(error, { what: "notification" }) }));
              return;
            }
            await refresh(true);
            button.focus();
          },
        })
      : null;
    return h(
      "li",
      { class: `bell-item${isUnread ? " unread" : ""}`, dataset: { noticeId: notice.id, kind: notice.kind } },
      h("span", { class: isUnread ? "unread-dot" : "read-dot", "aria-hidden": "true" }),
      isUnread ? h("span", { class: "visually-hidden", text: "Unread: " }) : null,
      link,
      mark,
    );
  }

  async function loadList() {
    if (!list.childElementCount) list.append(loadingRow("li", "Loading notifications…"));
    try {
      const data = await api("/notifications", { query: { limit: 20 } });
      setCount(data.unread_count);
      list.replaceChildren(
        ...(data.items.length
          ? data.items.map(item)
          : [h("li", { class: "bell-empty", text: "You're all caught up. Updates on your tickets appear here." })]),
      );
    } catch (error) {
      list.replaceChildren(h("li", { class: "bell-empty", role: "alert", text: describeError(error, { what: "notification" }) }));
    }
  }

  async function refresh(withList = !panel.hidden) {
    if (document.hidden) return;
    if (withList) return loadList();
    try {
      const data = await api("/notifications/unread-count");
      setCount(data.unread_count);
    } catch {
      // Keep the last count; a 401 has already ended the session.
    }
  }

  function setOpen(open) {
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) loadList();
  }

  button.addEventListener("click", () => setOpen(panel.hidden));
  readAll.addEventListener("click", async () => {
    try {
      await api("/notifications/read-all", { method: "POST" });
    } catch (error) {
      list.prepend(h("li", { class: "bell-empty", role: "alert", text: describeError(error, { what: "notification" }) }));
      return;
    }
    await loadList();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) {
      setOpen(false);
      button.focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (!panel.hidden && !$("bell").contains(event.target)) setOpen(false);
  });

  const timer = setInterval(() => refresh(), POLL_MS);
  window.addEventListener("focus", () => refresh());
  document.addEventListener("visibilitychange", () => refresh());
  document.addEventListener("helpdesk:signed-out", () => clearInterval(timer));
  refresh(false);
  return { refresh };
}
