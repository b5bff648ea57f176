// Development sign-in: pick an identity; the gateway mints a token for it
// (POST /help-center/dev/token, which exists only while HELPDESK_ENV=development).
import { $, h, setFieldError, showAlert } from "../dom.js";
import { identity, setToken } from "../session.js";

const PEOPLE = [
  { sub: "alice", name: "Alice Martin", role: "user", about: "Customer" },
  { sub: "bob", name: "Bob Chen", role: "user", about: "Customer" },
  { sub: "sam", name: "Sam Rivera", role: "admin", about: "Support staff" },
  { sub: "riley", name: "Riley Okafor", role: "admin", about: "Support staff" },
];

/** Where to go afterwards: only a Help Center path on this site. */
function nextPath(role) {
  const next = new URLSearchParams(location.search).get("next") || "";
  const safe = next.startsWith("/help-center") && !next.startsWith("/help-center/dev/") && !/[\\\s]/.test(next);
  if (safe) return next;
  return role === "admin" ? "/help-center/admin" : "/help-center";
}

async function signIn(person) {
  let response;
  try {
    response = await fetch("/help-center/dev/token", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ sub: person.sub, role: person.role, name: person.name || undefined }),
      credentials: "omit",
    });
  } catch {
    showAlert($("form-alert"), "error", "Couldn't sign in", ["The gateway did not answer."], { focus: true });
    return;
  }
  const data = await response.json().catch(() => null);
  if (!response.ok || !data || !data.token) {
    const details = data?.error?.details ?? {};
    if (details.sub) setFieldError($("sub"), $("sub-error"), details.sub.join(" "));
    showAlert($("form-alert"), "error", "Couldn't sign in", [data?.error?.message || `Error ${response.status}.`], { focus: true });
    return;
  }
  setToken(data.token);
  location.assign(nextPath(person.role));
}

$("identities").replaceChildren(
  ...PEOPLE.map((person) =>
    h(
      "button",
      { type: "button", class: "choice", dataset: { sub: person.sub }, onclick: () => signIn(person) },
      h("span", { class: "choice-icon", "aria-hidden": "true", text: person.name[0] }),
      h("span", {}, h("strong", { text: person.name }), h("span", { text: `${person.about} · id “${person.sub}”` })),
    ),
  ),
);

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const sub = $("sub").value.trim();
  if (!sub) {
    setFieldError($("sub"), $("sub-error"), "Enter a user id.");
    $("sub").focus();
    return;
  }
  setFieldError($("sub"), $("sub-error"), null);
  signIn({ sub, name: $("name").value.trim(), role: $("role").value });
});

const current = identity();
if (current) {
  showAlert($("form-alert"), "info", null, [
    `You are signed in as ${current.name || current.sub} (${current.role}). Pick another identity to switch.`,
  ]);
}
