// A user's ticket: description, status timeline, the thread, reply, close.
import { ApiError, api, catalog, describeError, fieldMessage } from "../api.js";
import { attachComposer } from "../composer.js";
import { $, h, setFieldError, showAlert, whileBusy } from "../dom.js";
import { attachCounter, formatDateTime, lengthProblem, targetText, ticketRef, timeEl } from "../format.js";
import { startPage } from "../header.js";
import * as view from "../ticket-view.js";

const BY = { user: "by you", support: "by the Support Team", system: "automatically" };

const me = startPage();
const id = view.ticketIdFromPath();
const alertBox = $("page-alert");
let labels = null;
let targets = null; // the catalog's response_targets
let shown = null; // the ticket as last rendered

/**
 * What reply time to expect, from the catalog's targets: a first reply by the
 * ticket's priority until support has answered, then one for each of the user's
 * messages; nothing while the ticket waits on the user or is settled.
 */
function expectation(ticket) {
  if (!targets || !["open", "in_review"].includes(ticket.status)) return null;
  const messages = ticket.messages || [];
  const answered = messages.some((m) => m.author === "support") || ticket.earlier_messages > 0;
  const last = messages[messages.length - 1];
  if (!answered) return `First reply within ${targetText(targets.first[ticket.priority])}`;
  if (last?.author === "user") return `Next reply within ${targetText(targets.next)}`;
  return null;
}

function author(message) {
  if (message.author === "support") return { name: message.author_name || "Support Team", kind: "support" };
  return { name: "You", kind: "mine" };
}

function render(ticket) {
  const newMessages = view.showTicket(ticket, shown, labels);
  shown = ticket;
  view.renderTimeline(ticket, { stepsEl: $("steps"), timelineEl: $("timeline"), who: (by) => BY[by] ?? by });
  view.renderFacts($("facts"), [
    ["Ticket", ticketRef(ticket.id)],
    ["Type", labels.issueType(ticket.issue_type)],
    ["Feature", labels.feature(ticket.feature)],
    ["Opened", timeEl(ticket.created_at)],
    ["Updated", timeEl(ticket.updated_at)],
    ["Handled by", ticket.assignee ? ticket.assignee.name || "Support Team" : "Not yet assigned"],
    ...(expectation(ticket) ? [["Expected reply", h("span", { id: "expectation", text: expectation(ticket) })]] : []),
  ]);
  view.renderThread($("thread"), ticket.messages, {
    author,
    emptyText: "No replies yet. The Support Team will answer here, and the bell will tell you.",
    scroll: newMessages,
    earlier: ticket.earlier_messages,
    loadEarlier: (before) => api(`/tickets/${id}/messages`, { query: { before } }),
  });
  const closed = ticket.status === "closed";
  view.renderRelated($("related"), ticket, (other) => `/help-center/tickets/${other}`);
  $("again-section").hidden = !closed;
  $("happened-again").setAttribute("href", `/help-center/tickets/new?follows_up=${ticket.id}`);
  $("reply-form").hidden = closed;
  $("close-section").hidden = closed;
  $("closed-banner").hidden = !closed;
  if (closed) {
    const closedAt = [...(ticket.timeline || [])].reverse().find((e) => e.status === "closed");
    $("closed-text").replaceChildren(
      `This ticket was closed${closedAt ? ` on ${formatDateTime(closedAt.at)}` : ""}. It can't be reopened or replied to; create a new ticket if you need more help.`,
      ...(ticket.closed_note ? [h("br"), h("strong", { text: "Note: " }), ticket.closed_note] : []),
    );
  }
}

async function load() {
  const ticket = await api(`/tickets/${id}`);
  render(ticket);
  return ticket;
}

/** The close dialog; `limits`: the catalog's [min, max] for its note. */
function setUpClose(limits) {
  const dialog = $("close-dialog");
  const note = $("close-note");
  const error = $("close-note-error");
  attachCounter(note, $("close-note-counter"), limits);
  $("close-button").addEventListener("click", () => {
    setFieldError(note, error, null);
    dialog.showModal();
    note.focus();
  });
  $("close-cancel").addEventListener("click", () => dialog.close());
  $("close-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const problem = note.value.trim() ? lengthProblem("The note", note.value, limits) : null;
    if (problem) {
      setFieldError(note, error, problem);
      return;
    }
    await whileBusy($("close-confirm"), async () => {
      try {
        const text = note.value.trim();
        const ticket = await api(`/tickets/${id}/close`, { method: "POST", body: text ? { note: text } : {} });
        dialog.close();
        note.value = "";
        render({ ...shown, ...ticket });
        showAlert(alertBox, "success", null, [`Ticket ${ticketRef(id)} is closed. Thank you!`], { focus: true });
      } catch (failure) {
        if (failure instanceof ApiError && failure.status === 409) {
          dialog.close();
          showAlert(alertBox, "warning", null, ["This ticket is already closed."], { focus: true });
          await load().catch(() => {});
        } else if (!(failure instanceof ApiError && failure.status === 401)) {
          const message = failure instanceof ApiError && failure.status === 422 ? fieldMessage(failure, "note") || describeError(failure) : describeError(failure);
          setFieldError(note, error, message);
        }
      }
    });
  });
}

if (me) {
  await view.startTicketPage(alertBox, async () => {
    const cat = await catalog();
    labels = view.catalogLabels(cat);
    targets = cat.response_targets ?? null;
    // The reply box and Close work before the ticket shows (no click falls on nothing).
    const send = (body) =>
      view.sendMessage(() => api(`/tickets/${id}/messages`, { method: "POST", body: { body } }), {
        reload: load,
        current: () => shown,
        alertBox,
        what: "reply",
        text: body,
      });
    attachComposer($("reply-form"), cat.limits.message, send, { label: "Your reply" });
    setUpClose(cat.limits.close_note);
    await load();
    const params = new URLSearchParams(location.search);
    if (params.has("created")) {
      showAlert(alertBox, "success", `Ticket ${ticketRef(id)} created`, [
        "Thanks! The Support Team will reply here, and the bell at the top will tell you when they do.",
      ]);
      history.replaceState(history.state, "", location.pathname);
    }
    view.keepFresh(() => api(`/tickets/${id}`), () => shown, render);
  });
}
