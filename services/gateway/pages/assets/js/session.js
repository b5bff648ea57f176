// The signed-in person: a bearer token kept in sessionStorage["helpdesk_token"].
// The host platform (or the development sign-in page) puts it there, or hands it
// over once as the URL fragment #token=<JWT>, which is removed from the address bar
// at once (a fragment never reaches a server log). A handed-over token is adopted
// only when no session is stored (or it is the same account's fresh token): a link
// must never silently sign someone in as another account, e.g. as the attacker who
// sent it. For a different account the person chooses, in a dialog that names both.

const KEY = "helpdesk_token";
const signInPath = document.body.dataset.signIn || "";

function adoptFragmentToken() {
  if (!location.hash.includes("token=")) return;
  const params = new URLSearchParams(location.hash.slice(1));
  const offered = params.get("token");
  params.delete("token");
  const rest = params.toString();
  // Out of the address bar and history whatever is decided below.
  history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  if (!offered || offered === token()) return;
  const current = claimsOf(token());
  const next = claimsOf(offered);
  if (!current || (next && next.sub === current.sub && next.role === current.role)) {
    sessionStorage.setItem(KEY, offered);
  } else if (next) {
    askToSwitch(current, next, offered);
  }
  // An unreadable token cannot name an account to switch to: the session stays.
}

function accountName(who) {
  const role = who.role === "admin" ? ", support" : "";
  return who.name ? `${who.name} (${who.sub}${role})` : `${who.sub}${role}`;
}

// A button of a method="dialog" form: closes the dialog with returnValue = value.
function choice(value, label, className) {
  const button = document.createElement("button");
  button.className = className;
  button.value = value;
  button.textContent = label;
  return button;
}

/**
 * A modal dialog naming who is signed in and who the link would sign in; the
 * stored session changes only on "Switch" (then the page reloads as that person).
 * Escape, or "Keep", keeps the current session.
 */
function askToSwitch(current, next, offered) {
  const dialog = document.createElement("dialog");
  dialog.id = "switch-account";
  dialog.setAttribute("aria-labelledby", "switch-account-title");
  dialog.setAttribute("aria-describedby", "switch-account-text");
  const form = document.createElement("form");
  form.method = "dialog";
  const title = document.createElement("h2");
  title.id = "switch-account-title";
  title.textContent = "Switch account?";
  const text = document.createElement("p");
  text.id = "switch-account-text";
  const signedIn = document.createElement("strong");
  signedIn.textContent = accountName(current);
  const offeredName = document.createElement("strong");
  offeredName.textContent = accountName(next);
  text.append("You're signed in as ", signedIn, ". The link you opened would sign you in as ", offeredName, " instead.");
  const hint = document.createElement("p");
  hint.className = "muted";
  hint.textContent = "If you didn't expect this, keep your account: someone may have sent you a link to theirs.";
  const row = document.createElement("div");
  row.className = "button-row end";
  const keep = choice("keep", `Keep ${current.name || current.sub}`, "button");
  keep.autofocus = true;  // the safe choice has the focus
  row.append(keep, choice("switch", `Switch to ${next.name || next.sub}`, "button primary"));
  form.append(title, text, hint, row);
  dialog.append(form);
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "switch") {
      sessionStorage.setItem(KEY, offered);
      location.reload();
    }
    dialog.remove();
  });
  document.body.append(dialog);
  dialog.showModal();
}

/** The raw JWT, or null. */
export function token() {
  return sessionStorage.getItem(KEY);
}

/** Store a token (development sign-in). */
export function setToken(value) {
  sessionStorage.setItem(KEY, value);
}

function base64UrlDecode(part) {
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "="));
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

/**
 * Who the token says we are: {sub, role, name, exp}, or null.
 * Only for display and links: the gateway verifies the token on every call.
 */
export function identity() {
  return claimsOf(token());
}

function claimsOf(raw) {
  if (!raw) return null;
  try {
    const claims = JSON.parse(base64UrlDecode(raw.split(".")[1]));
    return {
      sub: String(claims.sub ?? ""),
      role: claims.role === "admin" ? "admin" : "user",
      name: typeof claims.name === "string" && claims.name ? claims.name : null,
      exp: typeof claims.exp === "number" ? claims.exp : null,
    };
  } catch {
    return null;
  }
}

/** True while the development sign-in page exists (HELPDESK_ENV=development). */
export const canSignIn = Boolean(signInPath);

/** The development sign-in URL that comes back here afterwards. */
export function signInHref() {
  return `${signInPath}?next=${encodeURIComponent(location.pathname + location.search)}`;
}

let ended = false;

const ENDED = {
  expired: "Your session has expired. Sign in again from your account, then reload this page.",
  missing: "You're not signed in. Open the Help Center from your account to sign in.",
  refused: "Your sign-in wasn't accepted. Open the Help Center from your account to sign in again.",
};

/**
 * The session is missing, refused or over (`reason`: expired | missing | refused):
 * in development go and sign in; otherwise say so clearly (the host platform owns
 * signing in), take the name and bell out of the header and stop every spinner. A
 * page that never had a session hides its content; one that loses it mid-use keeps
 * it, so nothing typed disappears from view.
 */
export function endSession(reason, { hidePage = false } = {}) {
  if (ended) return;
  ended = true;
  sessionStorage.removeItem(KEY);
  if (canSignIn) {
    location.assign(signInHref());
    return;
  }
  const banner = document.getElementById("session-banner");
  banner.textContent = ENDED[reason];
  banner.hidden = false;
  document.getElementById("header-actions").hidden = true;
  banner.focus();
  for (const el of document.querySelectorAll(".loading")) el.hidden = true;
  if (hidePage) document.getElementById("main").hidden = true;
  document.dispatchEvent(new CustomEvent("helpdesk:signed-out"));
}

/** The identity when the session is usable; otherwise ends it and returns null. */
export function requireSession() {
  const me = identity();
  if (!me || !me.sub) {
    endSession(token() ? "refused" : "missing", { hidePage: true });
    return null;
  }
  if (me.exp !== null && me.exp * 1000 <= Date.now()) {
    endSession("expired", { hidePage: true });
    return null;
  }
  return me;
}

/** Forget the token (development sign-out). */
export function signOut() {
  sessionStorage.removeItem(KEY);
}

// Runs when the first module imports this one, before any page code asks for the token.
adoptFragmentToken();
