// The support view of a ticket: assignment, status changes (resolution note when
// resolving), public replies and internal notes (marked as hidden from the user).
import { ApiError, api, catalog, describeError, fieldMessage } from "../api.js";
import { attachComposer } from "../composer.js";
import { $, clearAlert, h, keptText, setFieldError, showAlert, whileBusy } from "../dom.js";
import { PRIORITY_LABELS, STATUS_LABELS, attachCounter, charCount, lengthProblem, priorityOptions, slaBadge, statusBadge, ticketRef, timeEl } from "../format.js";
import { startPage } from "../header.js";
import * as view from "../ticket-view.js";

const BY = { user: "by the user", support: "by support", system: "automatically" };

const me = startPage();
const id = view.ticketIdFromPath();
const alertBox = $("page-alert");
let labels = null;
let limits = null;
let shown = null;

function author(message) {
  if (message.author === "support") {
    const mine = message.author_name && me.name && message.author_name === me.name;
    return { name: message.author_name || "Support Team", kind: mine ? "support mine" : "support" };
  }
  return { name: message.author_name || shown.owner?.name || "User", kind: "user" };
}

/** The response clock: its badge, when the owed response is due, the first response. */
function renderClock(sla) {
  $("clock-badge").replaceChildren(slaBadge(sla));
  const facts = [];
  if (sla.state !== "none") facts.push(["Response due", timeEl(sla.due_at)]);
  if (sla.first_response_due_at) facts.push(["First response due", timeEl(sla.first_response_due_at)]);
  facts.push(["First response", sla.first_response_at ? timeEl(sla.first_response_at) : "Not yet"]);
  view.renderFacts($("clock-facts"), facts);
}

function render(ticket) {
  const newMessages = view.showTicket(ticket, shown, labels);
  const ownerChanged = shown?.owner?.id !== ticket.owner?.id;
  shown = ticket;
  if (ownerChanged) loadOwnerTickets();
  view.renderRelated($("related"), ticket, (other) => `/help-center/admin/tickets/${other}`);
  renderPriority(ticket);
  $("closed-note-box").hidden = !ticket.closed_note;
  $("closed-note").replaceChildren(h("strong", { text: "Closing note: " }), ticket.closed_note || "");
  view.renderTimeline(ticket, { timelineEl: $("timeline"), who: (by) => BY[by] ?? by });
  renderClock(ticket.sla);
  view.renderFacts($("facts"), [
    ["Ticket", ticketRef(ticket.id)],
    ["Owner", ticket.owner ? `${ticket.owner.name || ticket.owner.id} (${ticket.owner.id})` : "Unknown"],
    ["Type", labels.issueType(ticket.issue_type)],
    ["Feature", labels.feature(ticket.feature)],
    ["Team", ticket.team ? ticket.team.label : "No team"],
    ["Opened", timeEl(ticket.created_at)],
    ["Updated", timeEl(ticket.updated_at)],
  ]);
  view.renderThread($("thread"), ticket.messages, {
    author,
    emptyText: "No messages yet.",
    scroll: newMessages,
    earlier: ticket.earlier_messages,
    loadEarlier: (before) => api(`/admin/tickets/${id}/messages`, { query: { before } }),
  });
  view.pointTicketLinksAtSupport($("ticket"));
  const closed = ticket.status === "closed";
  renderReplyStatus(ticket);
  $("reply-form").hidden = closed;
  $("closed-banner").hidden = !closed;

  const assignee = ticket.assignee;
  $("assignee-text").textContent = assignee
    ? `Assigned to ${assignee.id === me.sub ? "you" : assignee.name || assignee.id}.`
    : "Nobody is assigned yet.";
  $("assign-me").disabled = closed || assignee?.id === me.sub;
  $("unassign").disabled = closed || !assignee;
  $("assign-form").hidden = closed;
  renderStaff();

  const select = $("new-status");
  const next = ticket.next_statuses ?? [];
  $("status-section").hidden = !next.length;
  const keep = select.value;
  select.replaceChildren(...next.map((key) => h("option", { value: key, text: STATUS_LABELS[key] })));
  if (next.includes(keep)) select.value = keep;
  showResolutionField();

}

async function load() {
  render(await api(`/admin/tickets/${id}`));
}

function showResolutionField() {
  const resolving = $("new-status").value === "resolved";
  $("resolution-field").hidden = !resolving;
}

/** Run an assignment change, then show the ticket as it now is; errors go in `errorEl`. */
async function act(button, errorEl, call, success) {
  clearAlert(alertBox); // an earlier success no longer describes the page
  setFieldError(null, errorEl, null);
  // The pressed button may not apply any more ("Assign to me" once it is): focus
  // then goes to the message saying what happened.
  await whileBusy(
    button,
    async () => {
      try {
        await call();
        await load();
        await loadStaff(); // the open counts changed
        showAlert(alertBox, "success", null, [success]);
      } catch (failure) {
        if (!(failure instanceof ApiError && failure.status === 401)) setFieldError(null, errorEl, describeError(failure));
        if (failure instanceof ApiError && failure.status === 409) await load().catch(() => {});
      } finally {
        if (shown) render(shown); // recompute which assignment buttons apply
      }
    },
    { fallback: () => alertBox.firstElementChild },
  );
}

// The staff directory (GET /admin/staff): who a ticket can be assigned to.
let staff = [];

function staffLabel(member) {
  const name = member.id === me.sub ? `${member.name || member.id} (you)` : member.name || member.id;
  return `${name} · ${member.open_assigned} open`;
}

/** Fill the picker from the directory, the current assignee chosen. */
function renderStaff() {
  const select = $("assignee-select");
  const current = shown?.assignee?.id ?? "";
  const picked = select.value && select.value !== current ? select.value : current;
  const options = staff.map((m) => h("option", { value: m.id, text: staffLabel(m) }));
  if (current && !staff.some((m) => m.id === current)) {
    options.unshift(h("option", { value: current, text: shown.assignee.name || current }));
  }
  select.replaceChildren(h("option", { value: "", text: "Choose someone…" }), ...options);
  select.value = picked;
}

async function loadStaff() {
  staff = (await api("/admin/staff")).items;
  renderStaff();
}

function setUpAssignment() {
  $("assign-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = $("assignee-select").value;
    setFieldError($("assignee-select"), $("assign-error"), null);
    if (!chosen) {
      setFieldError($("assignee-select"), $("assign-error"), "Choose who gets this ticket.");
      return;
    }
    const member = staff.find((m) => m.id === chosen);
    const name = chosen === me.sub ? "you" : member?.name || chosen;
    act(
      $("assign-submit"),
      $("assign-error"),
      () => api(`/admin/tickets/${id}/assign`, { method: "POST", body: { assignee_id: chosen } }),
      `Assigned to ${name}.`,
    );
  });
  $("assign-me").addEventListener("click", (event) =>
    act(event.currentTarget, $("assign-error"), () =>
      api(`/admin/tickets/${id}/assign`, { method: "POST", body: { assignee_id: me.sub } }),
      "Assigned to you.",
    ),
  );
  $("unassign").addEventListener("click", (event) =>
    act(event.currentTarget, $("assign-error"), () =>
      api(`/admin/tickets/${id}/assign`, { method: "POST", body: { assignee_id: null } }),
      "Unassigned.",
    ),
  );
}

/**
 * The status change was refused because the ticket moved on (another admin changed
 * it first): show the ticket as it is now, and say so at the top of the page, where
 * it stays visible even when the status form goes away (a closed ticket).
 */
async function statusConflict(wanted, resolutionNote) {
  await load().catch(() => {});
  const now = shown ? STATUS_LABELS[shown.status] ?? shown.status : null;
  const lines = [
    `The ticket was changed by someone else before your change to ${STATUS_LABELS[wanted]} arrived, so it was not applied.` +
      (now ? ` It is now ${now}.` : ""),
  ];
  // The resolution note box is gone if Resolved is no longer a choice: keep the text.
  if (resolutionNote && $("resolution-field").hidden) {
    lines.push(keptText("Your resolution note, to copy:", resolutionNote));
  }
  showAlert(alertBox, "error", "Status not changed", lines, { focus: true });
}

function setUpStatus() {
  const select = $("new-status");
  const note = $("resolution-input");
  const noteError = $("resolution-error");
  attachCounter(note, $("resolution-counter"), limits.resolution_note);
  select.addEventListener("change", showResolutionField);
  note.addEventListener("input", () => {
    if (!noteError.hidden) setFieldError(note, noteError, null);
  });
  $("status-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = select.value;
    const body = { status };
    if (status === "resolved") {
      const problem = lengthProblem("The resolution note", note.value, limits.resolution_note);
      if (problem) {
        setFieldError(note, noteError, problem);
        note.focus();
        return;
      }
      body.resolution_note = note.value.trim();
    }
    clearAlert(alertBox); // an earlier "Status changed to ..." no longer describes the page
    setFieldError(select, $("status-error"), null);
    // A ticket now closed has no status form: focus then goes to the message.
    await whileBusy(
      $("status-submit"),
      async () => {
        try {
          await api(`/admin/tickets/${id}/status`, { method: "POST", body });
          await load();
          note.value = "";
          note.dispatchEvent(new Event("input"));
          showAlert(alertBox, "success", null, [`Status changed to ${STATUS_LABELS[status]}.`]);
        } catch (failure) {
          if (failure instanceof ApiError && failure.status === 401) return;
          if (failure instanceof ApiError && failure.status === 409) {
            await statusConflict(status, body.resolution_note);
          } else if (failure instanceof ApiError && failure.status === 422 && fieldMessage(failure, "resolution_note")) {
            setFieldError(note, noteError, fieldMessage(failure, "resolution_note"));
          } else {
            setFieldError(select, $("status-error"), describeError(failure));
          }
        }
      },
      { fallback: () => alertBox.firstElementChild },
    );
  });
}

function setUpComposer() {
  const form = $("reply-form");
  const internal = () => form.querySelector("input[name=kind]:checked").value === "internal";
  const sync = () => {
    const note = internal();
    form.classList.toggle("internal-mode", note);
    $("reply-label").textContent = note ? "Internal note" : "Reply to the user";
    $("reply-hint").textContent = note
      ? "Hidden from the user: only support staff see internal notes. No one is notified."
      : "The user sees this reply and gets a notification.";
    $("send-reply").textContent = note ? "Add internal note" : "Send Reply";
  };
  form.addEventListener("change", () => {
    sync();
    showReplyResolution();
  });
  sync();
  const resolution = $("reply-resolution");
  attachCounter(resolution, $("reply-resolution-counter"), limits.resolution_note);
  resolution.addEventListener("input", () => setFieldError(resolution, $("reply-resolution-error"), null));
  const send = async (body) => {
    const note = internal();
    const fields = { body, internal: note };
    const status = note ? "" : $("reply-status").value;
    if (status) fields.status = status;
    if (status === "resolved") {
      const problem = lengthProblem("The resolution note", resolution.value, limits.resolution_note);
      if (problem) {
        setFieldError(resolution, $("reply-resolution-error"), problem);
        resolution.focus();
        const stop = new Error(problem);
        stop.handled = true;
        throw stop;
      }
      fields.resolution_note = resolution.value.trim();
    }
    const post = () => api(`/admin/tickets/${id}/messages`, { method: "POST", body: fields });
    try {
      await view.sendMessage(post, {
        reload: load,
        current: () => shown,
        alertBox,
        what: note ? "internal note" : "reply",
        text: body,
      });
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 409 && !failure.handled && status) {
        const now = STATUS_LABELS[shown?.status] ?? shown?.status;
        failure.message = `it can't go to ${STATUS_LABELS[status]} from ${now}, so nothing was sent. Choose another status, or leave it as is.`;
      }
      if (failure instanceof ApiError && failure.status === 422 && fieldMessage(failure, "resolution_note")) {
        setFieldError(resolution, $("reply-resolution-error"), fieldMessage(failure, "resolution_note"));
        failure.handled = true;
      }
      throw failure;
    }
    resolution.value = "";
    resolution.dispatchEvent(new Event("input"));
    $("reply-status").value = "";
    showReplyResolution();
    if (status) showAlert(alertBox, "success", null, [`Reply sent; the ticket is now ${STATUS_LABELS[status]}.`]);
  };
  attachComposer(form, limits.message, send, { label: "The message" });
}

/** The owner's other tickets (the queue's owner filter), newest first. */
async function loadOwnerTickets() {
  const list = $("owner-tickets");
  if (!shown?.owner) return;
  try {
    const page = await api("/admin/tickets", { query: { owner: shown.owner.id, limit: 11 } });
    const others = page.items.filter((t) => t.id !== shown.id).slice(0, 10);
    list.replaceChildren(
      ...(others.length
        ? others.map((t) =>
            h(
              "li",
              {},
              h("a", { href: `/help-center/admin/tickets/${t.id}` }, h("span", { class: "ref", text: ticketRef(t.id) }), t.subject),
              " ",
              statusBadge(t.status),
            ),
          )
        : [h("li", { class: "muted", text: "No other tickets." })]),
    );
  } catch {
    list.replaceChildren(h("li", { class: "muted", text: "Could not load the owner's other tickets." }));
  }
}

/** The priority form (closed tickets keep theirs) and support's history of changes. */
function renderPriority(ticket) {
  $("priority-form").hidden = ticket.status === "closed";
  if (document.activeElement !== $("new-priority")) $("new-priority").value = ticket.priority;
  const changes = ticket.priority_changes || [];
  $("priority-history").replaceChildren(
    ...changes.map((c) =>
      h(
        "li",
        {},
        h("span", { class: "tl-status", text: `${PRIORITY_LABELS[c.from_priority]} → ${PRIORITY_LABELS[c.to_priority]}` }),
        h("span", { class: "tl-when" }, timeEl(c.at), ` · ${c.by_name || "Support"}`),
        h("p", { class: "small", text: c.reason }),
      ),
    ),
  );
}

function setUpPriority() {
  const reason = $("priority-reason");
  const [min, max] = limits.priority_reason;
  reason.maxLength = max;
  $("priority-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const priority = $("new-priority").value;
    if (charCount(reason.value) < min) {
      setFieldError(reason, $("priority-error"), `Say why the priority changes (at least ${min} characters).`);
      reason.focus();
      return;
    }
    setFieldError(reason, $("priority-error"), null);
    act(
      $("priority-submit"),
      $("priority-error"),
      async () => {
        await api(`/admin/tickets/${id}/priority`, { method: "POST", body: { priority, reason: reason.value.trim() } });
        reason.value = "";
      },
      `Priority is now ${PRIORITY_LABELS[priority]}.`,
    );
  });
}

/** The reply box's status choice: the moves the ticket allows now (none for a note). */
function renderReplyStatus(ticket) {
  const select = $("reply-status");
  const keep = select.value;
  const next = ticket.next_statuses ?? [];
  select.replaceChildren(
    h("option", { value: "", text: "leave the status as is" }),
    ...next.map((key) => h("option", { value: key, text: `set to ${STATUS_LABELS[key]}` })),
  );
  if (next.includes(keep)) select.value = keep;
  showReplyResolution();
}

function showReplyResolution() {
  const form = $("reply-form");
  const note = form.querySelector("input[name=kind]:checked")?.value === "internal";
  $("reply-status-field").hidden = note;
  $("reply-resolution-field").hidden = note || $("reply-status").value !== "resolved";
}

// Canned replies (GET /admin/macros), inserted into the reply box with their
// placeholders filled in and their status preselected.
let macros = [];

function fillPlaceholders(body) {
  const values = {
    owner_name: shown?.owner?.name || shown?.owner?.id || "",
    ticket_id: String(id),
    agent_name: me.name || me.sub,
  };
  return body.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name) => values[name] ?? whole);
}

async function setUpMacros() {
  const select = $("macro-select");
  try {
    macros = (await api("/admin/macros")).items;
  } catch {
    $("macro-field").hidden = true;
    return;
  }
  select.append(...macros.map((m) => h("option", { value: String(m.id), text: m.title })));
  $("macro-field").hidden = !macros.length;
  select.addEventListener("change", () => {
    const macro = macros.find((m) => String(m.id) === select.value);
    if (!macro) return;
    const reply = $("reply");
    const text = fillPlaceholders(macro.body);
    reply.value = reply.value.trim() ? `${reply.value.trimEnd()}\n\n${text}` : text;
    reply.dispatchEvent(new Event("input"));
    const status = $("reply-status");
    if (macro.status && [...status.options].some((o) => o.value === macro.status)) status.value = macro.status;
    showReplyResolution();
    select.value = "";
    reply.focus();
  });
}

if (me) {
  $("new-priority").append(...priorityOptions());
  await view.startTicketPage(alertBox, async () => {
    const cat = await catalog();
    labels = view.catalogLabels(cat);
    limits = cat.limits;
    // Every control works before the ticket shows: a click on a button just drawn
    // (Assign to me, the moment the thread appears) must not fall on no listener.
    setUpAssignment();
    setUpStatus();
    setUpComposer();
    setUpPriority();
    await load();
    await loadStaff();
    await setUpMacros();
    view.keepFresh(() => api(`/admin/tickets/${id}`), () => shown, render);
    setInterval(() => shown && renderClock(shown.sla), 30_000); // the time left moves on
  });
}
