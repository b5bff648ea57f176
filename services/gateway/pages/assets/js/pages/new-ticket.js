// Create New Ticket: issue type (with its priority), feature, subject and
// description with live counts, limits checked before submit, server preview.
// It helps write a good ticket: the five questions (as a template to answer),
// one issue per ticket, and, if the person ticks the box, their browser and
// operating system added to the description, shown before sending.
import { ApiError, api, catalog, describeError, fieldMessage, isTransient, resetText } from "../api.js";
import { $, clearAlert, h, reloadPage, setFieldError, setServerHtml, showAlert, whileBusy } from "../dom.js";
import { PRIORITY_LABELS, attachCounter, lengthProblem, targetText } from "../format.js";
import { environmentText } from "../environment.js";
import { startPage } from "../header.js";

const FIELDS = ["issue_type", "feature", "subject", "description"];
const LABELS = { issue_type: "Issue type", feature: "Affected feature", subject: "Subject", description: "Description" };

const me = startPage();
const form = $("ticket-form");
const alertBox = $("form-alert");
const subject = $("subject");
const description = $("description");
const feature = $("feature");
const preview = $("preview");
const writeTab = $("write-tab");
const previewTab = $("preview-tab");
const addEnvironment = $("add-environment");
let cat = null;
// "This happened again" on a closed ticket: the new one follows it up.
let followsUp = null;

// The questions a good description answers, as the template "Answer the questions" puts in.
const QUESTIONS = [
  "What were you trying to do?",
  "What happened?",
  "What did you expect to happen?",
  "When did it start?",
  "Steps to reproduce",
];
const TEMPLATE = QUESTIONS.map((q) => `**${q}**\n`).join("\n") + "1. ";
const QUESTION_LINE = new RegExp(`^\\*\\*(${QUESTIONS.map((q) => q.replace(/[?]/g, "\\?")).join("|")})\\*\\*\\s*$`, "gm");

/** The block the box adds to the end of the description (empty when unticked). */
function environmentBlock() {
  if (!addEnvironment.checked) return "";
  const lines = environmentText().split("\n").map((line) => `- ${line}`);
  return `\n\n---\n**Browser and system** (added by the form, with my permission)\n${lines.join("\n")}`;
}

/** The description as it will be sent: the typed text and, if ticked, the environment. */
function finalDescription() {
  return description.value.trim() + environmentBlock();
}

/** What the person wrote, without the template's questions and list numbers. */
function ownText(text) {
  return text.replace(QUESTION_LINE, "").replace(/^\s*1\.\s*$/gm, "").trim();
}

function insertQuestions() {
  const current = description.value;
  if (current.includes(TEMPLATE.split("\n")[0])) {
    description.focus();
    return;
  }
  description.value = current.trim() ? `${current.trimEnd()}\n\n${TEMPLATE}` : TEMPLATE;
  if (description.hidden) showPreview(false);
  description.dispatchEvent(new Event("input"));
  // The cursor goes under the first question, ready to answer it.
  const start = description.value.indexOf(TEMPLATE) + `**${QUESTIONS[0]}**\n`.length;
  description.focus();
  description.setSelectionRange(start, start);
}

function showEnvironment() {
  $("environment-text").textContent = environmentBlock().trim();
  $("environment-preview").hidden = !addEnvironment.checked;
  revalidate("description");
}

const inputFor = (field) =>
  field === "issue_type" ? form.querySelector("input[name=issue_type]") : $(field);

function selectedType() {
  const checked = form.querySelector("input[name=issue_type]:checked");
  return checked ? cat.issue_types.find((t) => t.key === checked.value) : null;
}

function renderCatalog() {
  $("issue-types").replaceChildren(
    ...cat.issue_types.map((type) =>
      h(
        "div",
        { class: "type-option" },
        h("input", { type: "radio", name: "issue_type", id: `type-${type.key}`, value: type.key, "aria-describedby": `type-${type.key}-desc` }),
        h(
          "label",
          { for: `type-${type.key}` },
          h(
            "span",
            { class: "type-head" },
            h("span", { text: type.label }),
            h("span", { class: `badge plain priority-${type.priority}`, text: PRIORITY_LABELS[type.priority] ?? type.priority }),
          ),
          h("span", { class: "type-desc", id: `type-${type.key}-desc`, text: type.description }),
        ),
      ),
    ),
  );
  feature.append(...cat.features.map((f) => h("option", { value: f.key, text: f.label })));
  attachCounter(subject, $("subject-counter"), cat.limits.subject);
  attachCounter(description, $("description-counter"), cat.limits.description);
}

function showPriority() {
  const type = selectedType();
  const note = $("priority-note");
  if (!type) {
    note.textContent = "";
    return;
  }
  const first = cat.response_targets?.first?.[type.priority];
  note.replaceChildren(
    `${type.label}: ${type.description} This ticket will get `,
    h("strong", { text: `${PRIORITY_LABELS[type.priority] ?? type.priority} priority` }),
    ".",
    ...(first ? [" Support aims to reply within ", h("strong", { class: "expectation-time", text: targetText(first) }), "."] : []),
  );
}

function clientErrors() {
  const errors = {};
  if (!selectedType()) errors.issue_type = "Choose the kind of issue.";
  if (!feature.value) errors.feature = "Choose the affected feature.";
  const s = lengthProblem("Subject", subject.value, cat.limits.subject);
  if (s) errors.subject = s;
  const [min, max] = cat.limits.description;
  const d = lengthProblem("Description", description.value, cat.limits.description);
  if (d) errors.description = d;
  else if (description.value.trim() && ownText(description.value).length < min) {
    errors.description = `Answer the questions in your own words: at least ${min} characters besides the questions.`;
  } else if ([...finalDescription()].length > max) {
    errors.description = `With your browser and system added the description is over ${max} characters. Shorten it, or untick the box.`;
  }
  return errors;
}

/** Show field errors beside their fields and a summary linking to them. */
function showErrors(errors, title = "Please fix the following") {
  for (const field of FIELDS) setFieldError(field === "issue_type" ? null : $(field), $(`${field}-error`), errors[field]);
  const items = Object.entries(errors).map(([field, message]) =>
    h(
      "li",
      {},
      FIELDS.includes(field)
        ? h("a", {
            href: `#${field === "issue_type" ? "issue-type-field" : field}`,
            text: message,
            onclick: (event) => {
              event.preventDefault();
              if (field === "description" && description.hidden) showPreview(false);
              inputFor(field).focus();
            },
          })
        : h("span", { text: `${LABELS[field] ?? field}: ${message}` }),
    ),
  );
  showAlert(alertBox, "error", title, [h("ul", {}, ...items)], { focus: true });
}

/** Check a field again, if it shows an error, so the error goes once it is mended. */
function revalidate(field) {
  if ($(`${field}-error`).hidden) return;
  setFieldError(field === "issue_type" ? null : inputFor(field), $(`${field}-error`), clientErrors()[field]);
}

function revalidateOnInput(field, input) {
  input.addEventListener("input", () => revalidate(field));
}

async function showPreview(on) {
  writeTab.setAttribute("aria-pressed", String(!on));
  previewTab.setAttribute("aria-pressed", String(on));
  description.hidden = on;
  preview.hidden = !on;
  if (!on) {
    description.focus();
    return;
  }
  if (!description.value.trim()) {
    preview.replaceChildren(h("p", { class: "muted", text: "Nothing to preview yet." }));
    return;
  }
  preview.replaceChildren(h("p", { class: "muted", text: "Rendering preview…" }));
  try {
    // Exactly what will be stored: with the browser and system when the box is ticked.
    const { html } = await api("/preview", { method: "POST", body: { text: finalDescription() } });
    if (!preview.hidden) setServerHtml(preview, html);
  } catch (error) {
    preview.replaceChildren(h("p", { class: "field-error", text: describeError(error, { what: "preview" }) }));
  }
}

async function submit(event) {
  event.preventDefault();
  const errors = clientErrors();
  if (Object.keys(errors).length) {
    showErrors(errors);
    return;
  }
  const button = $("submit");
  await whileBusy(button, async () => {
    button.textContent = "Submitting…";
    try {
      const ticket = await api("/tickets", {
        method: "POST",
        body: {
          issue_type: selectedType().key,
          feature: feature.value,
          subject: subject.value.trim(),
          description: finalDescription(),
          ...(followsUp ? { follows_up: followsUp.id } : {}),
        },
      });
      location.assign(`/help-center/tickets/${ticket.id}?created=1`);
    } catch (error) {
      button.textContent = "Submit ticket";
      if (error instanceof ApiError && error.status === 422) {
        const fieldErrors = {};
        for (const field of Object.keys(error.details)) fieldErrors[field] = fieldMessage(error, field);
        if (!Object.keys(fieldErrors).length) fieldErrors.form = error.message;
        showErrors(fieldErrors, "The Help Center couldn't accept this ticket");
      } else if (error instanceof ApiError && error.status === 429) {
        showAlert(
          alertBox,
          "warning",
          "Daily ticket limit reached",
          [
            `You can create up to ${cat.limits.tickets_per_day} tickets per day. You can create a new ticket again on ${resetText(error)}.`,
            "Your text is still here. If this is about an existing problem, you can reply on that ticket instead.",
          ],
          { focus: true },
        );
      } else if (!(error instanceof ApiError && error.status === 401)) {
        showAlert(alertBox, "error", "Your ticket wasn't sent", [describeError(error)], { focus: true });
      }
    }
  });
}

/**
 * ?follows_up=<id>: the caller's earlier ticket this one follows up. Its type and
 * feature are filled in and the link is said above the form; a ticket that is not
 * theirs (or none) is simply not linked.
 */
async function startFollowUp() {
  const wanted = new URLSearchParams(location.search).get("follows_up");
  if (!wanted || !/^[0-9]{1,18}$/.test(wanted)) return;
  let earlier;
  try {
    earlier = await api(`/tickets/${wanted}`);
  } catch {
    return;
  }
  followsUp = earlier;
  const type = form.querySelector(`input[name=issue_type][value="${CSS.escape(earlier.issue_type)}"]`);
  if (type) type.checked = true;
  if ([...feature.options].some((o) => o.value === earlier.feature)) feature.value = earlier.feature;
  showPriority();
  const note = $("follow-up-note");
  note.replaceChildren(
    "This new ticket follows up ",
    h("a", { href: `/help-center/tickets/${earlier.id}`, text: `#${earlier.id} ${earlier.subject}` }),
    ". Say what happened this time.",
  );
  note.hidden = false;
}

if (me) {
  try {
    cat = await catalog();
    renderCatalog();
    // The form works while an earlier ticket it follows up is still loading.
    form.addEventListener("change", (event) => {
      if (event.target.name === "issue_type") {
        showPriority();
        setFieldError(null, $("issue_type-error"), null);
      }
    });
    revalidateOnInput("subject", subject);
    revalidateOnInput("description", description);
    feature.addEventListener("change", () => setFieldError(feature, $("feature-error"), null));
    $("insert-questions").addEventListener("click", insertQuestions);
    addEnvironment.addEventListener("change", showEnvironment);
    writeTab.addEventListener("click", () => showPreview(false));
    previewTab.addEventListener("click", () => showPreview(true));
    form.addEventListener("submit", submit);
    await startFollowUp();
    clearAlert(alertBox);
  } catch (error) {
    form.hidden = true;
    showAlert(alertBox, "error", "The form couldn't load", [describeError(error)], {
      retry: isTransient(error) ? reloadPage : null,
    });
  }
}
