// Pieces of a ticket shared by the user's and the support pages.
import { ApiError, describeError, isTransient } from "./api.js";
import { $, h, keptText, reloadPage, setServerHtml, showAlert } from "./dom.js";
import {
  STATUS_LABELS,
  formatDateTime,
  priorityBadge,
  relativeTime,
  statusBadge,
  ticketRef,
  timeEl,
} from "./format.js";

/** The ticket id from /help-center/.../tickets/{id}. */
export function ticketIdFromPath() {
  return Number(location.pathname.replace(/\/$/, "").split("/").pop());
}

/** A row of a ticket list (landing, My Tickets). */
export function ticketRow(ticket, href) {
  return h(
    "li",
    { class: "ticket-row", dataset: { ticketId: ticket.id } },
    h("a", { class: "subject", href }, h("span", { class: "ref", text: ticketRef(ticket.id) }), ticket.subject),
    h("span", { class: "badges" }, statusBadge(ticket.status), priorityBadge(ticket.priority)),
    h(
      "span",
      { class: "meta" },
      h("span", {}, "Created ", timeEl(ticket.created_at, formatDateTime(ticket.created_at))),
      h("span", {}, "Updated ", timeEl(ticket.updated_at, relativeTime(ticket.updated_at))),
    ),
  );
}

/** Title, badges and dates at the top of a ticket page. */
export function renderHeading(ticket, labels) {
  $("t-ref").textContent = ticketRef(ticket.id);
  $("t-subject").textContent = ticket.subject;
  document.title = `${ticketRef(ticket.id)} ${ticket.subject} · Help Center`;
  $("t-meta").replaceChildren(
    statusBadge(ticket.status),
    priorityBadge(ticket.priority),
    h("span", {}, labels.issueType(ticket.issue_type)),
    h("span", {}, "Opened ", timeEl(ticket.created_at)),
  );
  setServerHtml($("t-description"), ticket.description_html);
  const resolution = $("resolution");
  resolution.hidden = !ticket.resolution_note;
  $("resolution-note").textContent = ticket.resolution_note || "";
  renderResolutions($("resolution-history"), ticket.resolutions || []);
}

/**
 * Earlier resolutions, oldest first, under the latest one (which the page shows in
 * full above): each note with when and by whom. Hidden while there is only one.
 */
export function renderResolutions(el, resolutions) {
  if (!el) return;
  const earlier = resolutions.slice(0, -1);
  el.hidden = !earlier.length;
  el.replaceChildren(
    h("h3", { class: "history-title", text: `Earlier resolutions (${earlier.length})` }),
    h(
      "ol",
      { class: "resolution-list" },
      ...earlier.map((r) =>
        h(
          "li",
          {},
          h("p", { text: r.note }),
          h("span", { class: "tl-when" }, timeEl(r.at), r.by_name ? ` · ${r.by_name}` : ""),
        ),
      ),
    ),
  );
}

/**
 * The tickets this one is linked with: the earlier one it follows up and the later
 * ones that follow it. `href(id)` is the page a link opens (the user's or support's).
 */
export function renderRelated(el, ticket, href) {
  const rows = [];
  if (ticket.follows_up) {
    rows.push(
      h("li", {}, "Follows up ", h("a", { href: href(ticket.follows_up.id) }, h("span", { class: "ref", text: ticketRef(ticket.follows_up.id) }), ticket.follows_up.subject)),
    );
  }
  for (const later of ticket.follow_ups || []) {
    rows.push(
      h(
        "li",
        {},
        "Followed up by ",
        h("a", { href: href(later.id) }, h("span", { class: "ref", text: ticketRef(later.id) }), later.subject),
        " ",
        statusBadge(later.status),
      ),
    );
  }
  el.hidden = !rows.length;
  el.querySelector("ul").replaceChildren(...rows);
}

/** Point rendered `#1042` links (the user's page) at support's ticket page instead. */
export function pointTicketLinksAtSupport(el) {
  for (const link of el.querySelectorAll('a[href^="/help-center/tickets/"]')) {
    link.setAttribute("href", link.getAttribute("href").replace("/help-center/tickets/", "/help-center/admin/tickets/"));
  }
}

const MAIN_PATH = ["open", "in_review", "resolved", "closed"];
// Awaiting User is a kind of review: it shows on the In Review step.
const STEP_OF = { open: "open", in_review: "in_review", awaiting_user: "in_review", resolved: "resolved", closed: "closed" };

/**
 * The progress strip (Open → In Review → Resolved → Closed) and the status history.
 * A step before the current one is done only if the timeline shows the ticket went
 * through it: a ticket closed straight from Open never shows Resolved as reached
 * (such steps are "skipped"). Steps after the current one are still ahead, even if
 * the ticket was there before (reopened after Resolved).
 */
export function renderTimeline(ticket, { stepsEl, timelineEl, who }) {
  if (stepsEl) {
    const current = STEP_OF[ticket.status] ?? ticket.status;
    const at = MAIN_PATH.indexOf(current);
    const reached = new Set(["open", ...(ticket.timeline || []).map((entry) => STEP_OF[entry.status])]);
    const state = (key, i) => {
      if (i === at) return "done now";
      if (i > at) return "";
      return reached.has(key) ? "done" : "skipped";
    };
    stepsEl.replaceChildren(
      ...MAIN_PATH.map((key, i) =>
        h("li", {
          class: state(key, i),
          text: key === "in_review" && ticket.status === "awaiting_user" ? STATUS_LABELS.awaiting_user : STATUS_LABELS[key],
        }),
      ),
    );
  }
  const entries = ticket.timeline || [];
  timelineEl.replaceChildren(
    ...entries.map((entry, i) =>
      h(
        "li",
        { class: i === entries.length - 1 ? "current" : "", "aria-current": i === entries.length - 1 ? "step" : null },
        h("span", { class: "tl-status", text: STATUS_LABELS[entry.status] ?? entry.status }),
        h("span", { class: "tl-when" }, timeEl(entry.at), ` · ${who(entry.by)}`),
      ),
    ),
  );
}

/** A definition list of facts: [[term, value (string or node)], ...]. */
export function renderFacts(el, rows) {
  el.replaceChildren(...rows.flatMap(([term, value]) => [h("dt", { text: term }), h("dd", {}, value)]));
}

/** The id of a ticket's latest message (its view holds the latest ones only). */
export function latestMessageId(ticket) {
  return ticket && ticket.messages.length ? ticket.messages[ticket.messages.length - 1].id : null;
}

// Per thread element, once "Show earlier messages" was used: every message shown
// (a contiguous run, oldest first) and how many the ticket has before the first.
const earlierShown = new WeakMap();

/**
 * The conversation, oldest first. author(message) → {name, kind: "mine" | "support" | "user"};
 * internal notes are marked as hidden from the user. Scrolls to the latest message
 * when asked (first render, new messages).
 *
 * ``messages`` are the ticket view's latest ones and ``earlier`` how many it has
 * before them: a "Show earlier messages" control loads them a page at a time with
 * ``loadEarlier(beforeId)`` (→ {items, earlier_messages}); loaded ones stay shown
 * when the view refreshes.
 */
export function renderThread(el, messages, options) {
  const { author, emptyText, scroll, earlier = 0, loadEarlier = null } = options;
  let all = messages;
  let before = earlier;
  const kept = earlierShown.get(el);
  if (kept) {
    const first = messages.length ? messages[0].id : Infinity;
    const older = kept.messages.filter((m) => m.id < first);
    // Still one run up to the latest page? (Not if more than a page arrived meanwhile.)
    if (kept.before + older.length === earlier) {
      all = [...older, ...messages];
      before = kept.before;
      earlierShown.set(el, { messages: all, before });
    } else {
      earlierShown.delete(el);
    }
  }
  if (!all.length) {
    el.replaceChildren(h("li", { class: "empty", text: emptyText }));
    return;
  }
  const showEarlier = async (button) => {
    button.disabled = true;
    const height = el.scrollHeight;
    try {
      const page = await loadEarlier(all[0].id);
      earlierShown.set(el, { messages: [...page.items, ...all], before: page.earlier_messages });
      renderThread(el, messages, { ...options, scroll: false });
      el.scrollTop += el.scrollHeight - height; // keep the reader where they were
    } catch {
      button.disabled = false;
      button.textContent = "Could not load earlier messages. Try again";
    }
  };
  const control =
    before > 0 && loadEarlier
      ? h(
          "li",
          { class: "earlier" },
          h("button", {
            type: "button",
            class: "button link show-earlier",
            text: `Show earlier messages (${before})`,
            onclick: (event) => showEarlier(event.currentTarget),
          }),
        )
      : null;
  el.replaceChildren(
    ...(control ? [control] : []),
    ...all.map((message) => {
      const who = author(message);
      const kinds = [who.kind, message.internal ? "internal" : ""].join(" ").trim();
      const body = h("div", { class: "rich" });
      setServerHtml(body, message.body_html);
      return h(
        "li",
        { class: `message ${kinds}`, dataset: { messageId: message.id, author: message.author, internal: message.internal ? "true" : null } },
        h(
          "div",
          { class: "message-head" },
          h("span", { class: "author", text: who.name }),
          message.author === "support" && !message.internal
            ? h("span", { class: "badge plain support-badge", text: "Support Team" })
            : null,
          message.internal ? h("span", { class: "badge plain internal-badge", text: "Internal note" }) : null,
          timeEl(message.created_at, `${formatDateTime(message.created_at)}`),
        ),
        body,
        message.internal ? h("p", { class: "internal-warning", text: "Hidden from the user: only support staff see this note." }) : null,
      );
    }),
  );
  if (scroll) scrollToLatest(el);
}

function scrollToLatest(el) {
  el.scrollTop = el.scrollHeight;
}

/** Label helpers from the catalog. */
export function catalogLabels(cat) {
  const types = new Map(cat.issue_types.map((t) => [t.key, t.label]));
  const features = new Map(cat.features.map((f) => [f.key, f.label]));
  return {
    issueType: (key) => types.get(key) ?? key,
    feature: (key) => features.get(key) ?? key,
  };
}

const REFRESH_MS = 15_000;

/**
 * Keep a ticket page current: fetch it every 15 s while the tab is visible, on
 * focus, and when the bell sees a new notice; re-render only when it changed.
 */
export function keepFresh(fetchTicket, shown, render) {
  const refresh = async () => {
    const current = shown();
    if (document.hidden || !current) return;
    try {
      const ticket = await fetchTicket();
      if (ticket.updated_at !== current.updated_at || latestMessageId(ticket) !== latestMessageId(current)) {
        render(ticket);
      }
    } catch {
      // The next refresh tries again; the page keeps what it shows.
    }
  };
  setInterval(refresh, REFRESH_MS);
  window.addEventListener("focus", refresh);
  document.addEventListener("helpdesk:notices", refresh);
}

/**
 * Say that a reply or note was not sent because the ticket was closed meanwhile,
 * and keep its text on screen to copy (the reply box is gone on a closed ticket).
 */
export function showNotSentToClosed(alertBox, what, text) {
  showAlert(
    alertBox,
    "warning",
    `Your ${what} was not sent`,
    [
      `This ticket was closed before your ${what} arrived. A closed ticket can't be added to, so nothing was sent.`,
      keptText(`Your ${what}, to copy:`, text),
    ],
    { focus: true },
  );
}

/**
 * Show the page's ticket: the loading row gone, the heading drawn. True when it has
 * messages that `shown` (the ticket drawn before, or null) had not: the thread scrolls.
 */
export function showTicket(ticket, shown, labels) {
  // Visible first: a hidden thread has no height to scroll to the latest message.
  $("loading").hidden = true;
  $("ticket").hidden = false;
  renderHeading(ticket, labels);
  return !shown || latestMessageId(ticket) !== latestMessageId(shown);
}

/**
 * Send a message with `post()`, then `reload()` the ticket. A 409 reloads it first;
 * when it is closed by then (`current()`), the text is kept on the page, not lost.
 */
export async function sendMessage(post, { reload, current, alertBox, what, text }) {
  try {
    await post();
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 409) {
      await reload().catch(() => {});
      // Closed meanwhile (here, in another tab, or by someone else): the composer is gone.
      if (current()?.status === "closed") {
        showNotSentToClosed(alertBox, what, text);
        failure.handled = true;
      }
    }
    throw failure;
  }
  await reload();
}

/** Run a ticket page's `start()`; if it fails, say so at the top ("Try again" when passing). */
export async function startTicketPage(alertBox, start) {
  try {
    await start();
  } catch (error) {
    $("loading").hidden = true;
    if (!(error instanceof ApiError && error.status === 401)) {
      showAlert(alertBox, "error", "This ticket couldn't be shown", [describeError(error)], {
        focus: true,
        retry: isTransient(error) ? reloadPage : null,
      });
    }
  }
}
