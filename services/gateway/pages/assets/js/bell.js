// The notification bell in the header: unread count, the list of notices (each
// links to its ticket), mark read and mark all read. New notices arrive live on
// GET /api/v1/notifications/stream (read with fetch: EventSource cannot send the
// bearer header); while no stream is open it polls every ~10 s while the tab is
// visible, and when the tab regains focus.
import { API_BASE, api, describeError, isTransient } from "./api.js";
import { $, h, loadingRow, retryButton } from "./dom.js";
import { plainSnippet, relativeTime, timeEl } from "./format.js";
import { markReadButton, noticePath } from "./notices.js";
import { token } from "./session.js";
import { readEvents, sleep } from "./sse.js";

const POLL_MS = 10_000;
const STREAM_PATH = `${API_BASE}/notifications/stream`;
// A lost stream is tried again after this long, doubling up to the cap.
const STREAM_RETRY_MS = 2_000;
const STREAM_RETRY_CAP_MS = 60_000;

export function startBell(me) {
  const button = $("bell-button");
  const count = $("bell-count");
  const label = $("bell-label");
  const panel = $("bell-panel");
  const list = $("bell-list");
  const readAll = $("bell-read-all");
  let unread = null;

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
    const href = noticePath(notice, me.role);
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
      ? h(
          "button",
          markReadButton(notice, "button link small", async () => {
            try {
              await markRead(notice);
            } catch (error) {
              list.prepend(h("li", { class: "bell-empty", role: "alert", text: describeError(error, { what: "notification" }) }));
              return;
            }
            await refresh(true);
            button.focus();
          }),
        )
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
      list.replaceChildren(
        h(
          "li",
          { class: "bell-empty", role: "alert" },
          h("span", { text: describeError(error, { what: "notification" }) }),
          isTransient(error) ? h("span", { class: "retry-row" }, retryButton(loadList, { fallback: () => readAll })) : null,
        ),
      );
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

  const live = liveNotices({
    onCount: (n) => setCount(n),
    // "stream" or "polling": how the count is kept fresh now (tests and support read it).
    onState: (open) => {
      button.dataset.live = open ? "stream" : "polling";
    },
    onNotice: () => {
      if (!panel.hidden) loadList();
    },
  });
  // Polling stands in while no stream is open (none served here, or it was lost).
  const timer = setInterval(() => {
    if (!live.open) refresh();
  }, POLL_MS);
  window.addEventListener("focus", () => refresh());
  document.addEventListener("visibilitychange", () => refresh());
  document.addEventListener("helpdesk:signed-out", () => {
    clearInterval(timer);
    live.stop();
  });
  refresh(false);
  return { refresh };
}

/**
 * Read the caller's live notices: onCount(n) for each unread count, onNotice(notice)
 * for each new notice. Reconnects with Last-Event-ID (nothing missed) after a pause
 * that grows while it keeps failing; gives up where no stream is served (204).
 * `open` says whether a stream is open now; onState(open) hears each change.
 */
function liveNotices({ onCount, onNotice, onState }) {
  const state = { open: false, stopped: false, lastId: null, controller: null };

  function dispatch({ event, id, data }) {
    if (event === "unread_count") onCount(data.unread_count);
    if (event === "notice") {
      if (id) state.lastId = id;
      onNotice(data);
    }
  }

  async function run() {
    let pause = STREAM_RETRY_MS;
    while (!state.stopped) {
      const bearer = token();
      if (!bearer) return;
      const headers = { Accept: "text/event-stream", Authorization: `Bearer ${bearer}` };
      if (state.lastId) headers["Last-Event-ID"] = state.lastId;
      state.controller = new AbortController();
      try {
        const response = await fetch(STREAM_PATH, {
          headers,
          credentials: "omit",
          cache: "no-store",
          signal: state.controller.signal,
        });
        const type = response.headers.get("Content-Type") || "";
        // 204: no stream is served at this address (a gateway on its own): poll.
        if (response.status === 204) return;
        if (response.ok && type.startsWith("text/event-stream") && response.body) {
          state.open = true;
          onState(true);
          pause = STREAM_RETRY_MS;
          await readEvents(response.body, dispatch);
        }
      } catch {
        // Lost (network, server restart, token expired): try again below.
      } finally {
        if (state.open) onState(false);
        state.open = false;
      }
      if (state.stopped) return;
      await sleep(pause);
      pause = Math.min(pause * 2, STREAM_RETRY_CAP_MS);
    }
  }

  onState(false);
  run();
  return {
    get open() {
      return state.open;
    },
    stop() {
      state.stopped = true;
      state.controller?.abort();
    },
  };
}
