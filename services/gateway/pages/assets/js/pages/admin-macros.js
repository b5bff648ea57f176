// Canned replies: list them by title, create, edit and delete (GET/POST/PATCH/DELETE
// /admin/macros); the reply box on a ticket inserts them.
import { ApiError, api, describeError, fieldMessage, isTransient } from "../api.js";
import { $, clearAlert, h, setFieldError, showAlert, whileBusy } from "../dom.js";
import { STATUS_KEYS, STATUS_LABELS } from "../format.js";
import { startPage } from "../header.js";

const me = startPage();
const alertBox = $("macros-alert");
const form = $("macro-form");
const FIELDS = { title: $("macro-title"), body: $("macro-body"), status: $("macro-status") };
let editing = null; // the macro being edited, or null for a new one

function row(macro) {
  return h(
    "tr",
    { dataset: { macroId: macro.id } },
    h("td", { class: "cell-subject" }, h("strong", { text: macro.title })),
    h("td", { "data-label": "Reply" }, h("span", { class: "macro-body", text: macro.body })),
    h("td", { "data-label": "Sets status", text: macro.status ? STATUS_LABELS[macro.status] : "—" }),
    h(
      "td",
      { class: "cell-actions" },
      h("button", { type: "button", class: "button small", text: "Edit", onclick: () => edit(macro) }),
      " ",
      h("button", { type: "button", class: "button small danger", text: "Delete", onclick: (e) => remove(macro, e.currentTarget) }),
    ),
  );
}

async function load() {
  try {
    const items = (await api("/admin/macros")).items;
    $("macros-body").replaceChildren(
      ...(items.length ? items.map(row) : [h("tr", {}, h("td", { colspan: "4", class: "empty", text: "No canned replies yet." }))]),
    );
  } catch (error) {
    if (error.status === 401) return;
    showAlert(alertBox, "error", "Couldn't load the canned replies", [describeError(error)], {
      retry: isTransient(error) ? load : null,
    });
  }
}

function edit(macro) {
  editing = macro;
  FIELDS.title.value = macro.title;
  FIELDS.body.value = macro.body;
  FIELDS.status.value = macro.status || "";
  $("macro-form-title").textContent = `Edit “${macro.title}”`;
  $("macro-cancel").hidden = false;
  FIELDS.title.focus();
}

function reset() {
  editing = null;
  form.reset();
  $("macro-form-title").textContent = "New canned reply";
  $("macro-cancel").hidden = true;
  for (const [name, input] of Object.entries(FIELDS)) setFieldError(input, $(`${name}-error`), null);
}

async function remove(macro, button) {
  // Two steps, no dialog: the first press asks, the second deletes.
  if (button.dataset.confirm !== "yes") {
    button.dataset.confirm = "yes";
    button.textContent = "Confirm delete";
    button.setAttribute("aria-label", `Confirm deleting “${macro.title}”`);
    return;
  }
  await whileBusy(button, async () => {
    try {
      await api(`/admin/macros/${macro.id}`, { method: "DELETE" });
      if (editing?.id === macro.id) reset();
      showAlert(alertBox, "success", null, [`Deleted “${macro.title}”.`]);
    } catch (error) {
      if (error.status !== 401) showAlert(alertBox, "error", "Not deleted", [describeError(error, { what: "canned reply" })]);
    }
    await load();
  });
}

async function save(event) {
  event.preventDefault();
  const body = { title: FIELDS.title.value.trim(), body: FIELDS.body.value.trim(), status: FIELDS.status.value || null };
  let problems = false;
  for (const name of ["title", "body"]) {
    const message = body[name] ? null : name === "title" ? "Give it a title." : "Write the reply.";
    setFieldError(FIELDS[name], $(`${name}-error`), message);
    problems ||= Boolean(message);
  }
  if (problems) return;
  clearAlert(alertBox);
  await whileBusy($("macro-save"), async () => {
    try {
      const saved = editing
        ? await api(`/admin/macros/${editing.id}`, { method: "PATCH", body })
        : await api("/admin/macros", { method: "POST", body });
      reset();
      await load();
      showAlert(alertBox, "success", null, [`Saved “${saved.title}”.`]);
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) {
        for (const name of Object.keys(FIELDS)) setFieldError(FIELDS[name], $(`${name}-error`), fieldMessage(error, name));
      } else if (!(error instanceof ApiError && error.status === 401)) {
        showAlert(alertBox, "error", "Not saved", [describeError(error, { what: "canned reply" })], { focus: true });
      }
    }
  });
}

if (me) {
  FIELDS.status.append(...STATUS_KEYS.filter((k) => k !== "open").map((key) => h("option", { value: key, text: STATUS_LABELS[key] })));
  form.addEventListener("submit", save);
  $("macro-cancel").addEventListener("click", reset);
  if (me.role === "admin") await load();
  else {
    form.hidden = true;
    $("macros-card").hidden = true;
    showAlert(alertBox, "warning", "For support staff only", ["Canned replies are for the Support Team."]);
  }
}
