// Teams (support staff only): the list in routing order, a form to create one or
// change it (label, what it takes, members from the staff directory, how it
// assigns), and deleting one (its tickets keep no team).
import { ApiError, api, catalog, describeError, fieldMessage, isTransient } from "../api.js";
import { $, clearAlert, h, reloadPage, setFieldError, showAlert, whileBusy } from "../dom.js";
import { startPage } from "../header.js";

const me = startPage();
const alertBox = $("teams-alert");
const form = $("team-form");
const FIELDS = ["label", "key", "features", "issue_types", "members", "assignment"];
const ASSIGNS = {
  manual: "By hand",
  round_robin: "In turn (round robin)",
  fewest_open: "Fewest open tickets",
};
let labels = { features: {}, issue_types: {} };
let staff = [];
let teams = [];
let editing = null; // the key of the team the form changes (null: a new team)

function nameOf(id) {
  const member = staff.find((m) => m.id === id);
  return member?.name ? member.name : id;
}

function takes(team) {
  const parts = [
    ...team.features.map((k) => labels.features[k] ?? k),
    ...team.issue_types.map((k) => `${labels.issue_types[k] ?? k} issues`),
  ];
  return parts.length ? parts.join(", ") : "Nothing (only by hand)";
}

function row(team) {
  const edit = h("button", { type: "button", class: "button small", text: "Edit", "aria-label": `Edit ${team.label}` });
  edit.addEventListener("click", () => startEditing(team));
  const remove = h("button", { type: "button", class: "button small danger", text: "Delete", "aria-label": `Delete ${team.label}` });
  remove.addEventListener("click", () => deleteTeam(team, remove));
  const queue = `/help-center/admin?team=${encodeURIComponent(team.key)}`;
  return h(
    "tr",
    { dataset: { teamKey: team.key } },
    h("td", { class: "cell-subject" }, h("a", { class: "subject", href: queue, text: team.label }), h("span", { class: "muted team-key", text: ` ${team.key}` })),
    h("td", { "data-label": "Takes", text: takes(team) }),
    h("td", { "data-label": "Assigns", text: ASSIGNS[team.assignment] ?? team.assignment }),
    h("td", { "data-label": "Members", text: team.members.length ? team.members.map(nameOf).join(", ") : "Nobody yet (everyone hears)" }),
    h("td", { class: "cell-actions" }, h("div", { class: "button-row" }, edit, remove)),
  );
}

function renderTeams() {
  const body = $("teams-body");
  body.replaceChildren(...teams.map(row));
  if (!teams.length) {
    body.append(h("tr", {}, h("td", { colspan: "5", class: "empty" }, h("strong", { text: "No teams yet" }), "Every new ticket is heard of by all support staff until a team takes it.")));
  }
}

function checkbox(group, value, text, checked) {
  const id = `${group}-${value}`;
  return h(
    "label",
    { class: "check", for: id },
    h("input", { type: "checkbox", id, name: group, value, checked }),
    h("span", { text }),
  );
}

function checked(group) {
  return [...form.querySelectorAll(`input[name=${group}]:checked`)].map((el) => el.value);
}

function fillChecks(team) {
  $("team-features").replaceChildren(...Object.entries(labels.features).map(([k, text]) => checkbox("features", k, text, team?.features.includes(k))));
  $("team-issue-types").replaceChildren(...Object.entries(labels.issue_types).map(([k, text]) => checkbox("issue_types", k, text, team?.issue_types.includes(k))));
  // Members keep the team's order first (round robin's), then the rest of the directory.
  const ids = [...(team?.members ?? []), ...staff.map((m) => m.id).filter((id) => !team?.members.includes(id))];
  $("team-members").replaceChildren(
    ...ids.map((id) => {
      const member = staff.find((m) => m.id === id);
      const text = member ? `${member.name || member.id}${member.id === me.sub ? " (you)" : ""} · ${member.open_assigned} open` : id;
      return checkbox("members", id, text, team?.members.includes(id));
    }),
  );
}

function clearErrors() {
  for (const field of FIELDS) setFieldError(null, $(`${field}-error`), null);
}

function resetForm() {
  editing = null;
  form.reset();
  $("team-key").readOnly = false;
  $("team-form-title").textContent = "New team";
  $("team-submit").textContent = "Create team";
  $("team-cancel").hidden = true;
  clearErrors();
  fillChecks(null);
}

function startEditing(team) {
  resetForm();
  editing = team.key;
  $("team-label").value = team.label;
  $("team-key").value = team.key;
  $("team-key").readOnly = true;
  $("team-assignment").value = team.assignment;
  $("team-form-title").textContent = `Change ${team.label}`;
  $("team-submit").textContent = "Save changes";
  $("team-cancel").hidden = false;
  fillChecks(team);
  $("team-label").focus();
}

function body() {
  const others = $("team-new-members").value.split(",").map((s) => s.trim()).filter(Boolean);
  const members = [...checked("members"), ...others.filter((id) => !checked("members").includes(id))];
  const fields = {
    label: $("team-label").value,
    features: checked("features"),
    issue_types: checked("issue_types"),
    members,
    assignment: $("team-assignment").value,
  };
  if (!editing) fields.key = $("team-key").value.trim();
  return fields;
}

async function refresh() {
  const [teamList, directory] = await Promise.all([api("/admin/teams"), api("/admin/staff")]);
  teams = teamList.items;
  staff = directory.items;
  renderTeams();
}

async function save(event) {
  event.preventDefault();
  clearErrors();
  clearAlert(alertBox);
  const fields = body();
  const problems = [];
  if (!fields.label.trim()) problems.push(["label", "Give the team a name."]);
  if (!editing && !fields.key) problems.push(["key", "Give the team a key."]);
  for (const [field, message] of problems) setFieldError($(`team-${field}`), $(`${field}-error`), message);
  if (problems.length) return;
  const created = editing === null;
  await whileBusy($("team-submit"), async () => {
    try {
      const saved = editing
        ? await api(`/admin/teams/${encodeURIComponent(editing)}`, { method: "PATCH", body: fields })
        : await api("/admin/teams", { method: "POST", body: fields });
      await refresh();
      resetForm();
      showAlert(alertBox, "success", null, [`${created ? "Created" : "Saved"} ${saved.label}.`], { focus: true });
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      let shown = false;
      for (const field of FIELDS) {
        const message = fieldMessage(error, field);
        if (message) {
          setFieldError(null, $(`${field}-error`), message);
          shown = true;
        }
      }
      if (error instanceof ApiError && error.status === 409) {
        setFieldError($("team-key"), $("key-error"), "Another team already has this key.");
        shown = true;
      }
      if (!shown) showAlert(alertBox, "error", "The team was not saved", [describeError(error, { what: "team" })], { focus: true });
    }
  }, { fallback: () => alertBox.firstElementChild });
}

async function deleteTeam(team, button) {
  // Two steps, in the page (no browser dialog): the button asks to be pressed again.
  if (button.dataset.confirm !== "yes") {
    button.dataset.confirm = "yes";
    button.textContent = "Really delete?";
    return;
  }
  await whileBusy(button, async () => {
    try {
      await api(`/admin/teams/${encodeURIComponent(team.key)}`, { method: "DELETE" });
      if (editing === team.key) resetForm();
      await refresh();
      showAlert(alertBox, "success", null, [`Deleted ${team.label}. Its tickets now have no team.`], { focus: true });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) {
        showAlert(alertBox, "error", "The team was not deleted", [describeError(error, { what: "team" })], { focus: true });
      }
    }
  }, { fallback: () => alertBox.firstElementChild });
}

if (me) {
  if (me.role !== "admin") {
    $("teams-card").hidden = true;
    form.hidden = true;
    showAlert(alertBox, "warning", "For support staff only", ["Teams are managed by the Support Team."]);
  } else {
    try {
      const cat = await catalog();
      labels = {
        features: Object.fromEntries(cat.features.map((f) => [f.key, f.label])),
        issue_types: Object.fromEntries(cat.issue_types.map((t) => [t.key, t.label])),
      };
      // The form works before the list shows (a submit must never fall on no listener).
      form.addEventListener("submit", save);
      $("team-cancel").addEventListener("click", resetForm);
      await refresh();
      resetForm();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) {
        showAlert(alertBox, "error", "Teams couldn't be shown", [describeError(error, { what: "team" })], {
          focus: true,
          retry: isTransient(error) ? reloadPage : null,
        });
      }
    }
  }
}
