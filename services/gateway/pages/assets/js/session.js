// The signed-in person: a bearer token kept in sessionStorage["helpdesk_token"].
// The host platform (or the development sign-in page) puts it there, or hands it
// over once as the URL fragment #token=<JWT>, which is moved here and removed from
// the address bar at once (a fragment never reaches a server log).

const KEY = "helpdesk_token";
const signInPath = document.body.dataset.signIn || "";

function adoptFragmentToken() {
  if (!location.hash.includes("token=")) return;
  const params = new URLSearchParams(location.hash.slice(1));
  const value = params.get("token");
  if (value) sessionStorage.setItem(KEY, value);
  params.delete("token");
  const rest = params.toString();
  history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
}

// Runs when the first module imports this one, before any page code asks for the token.
adoptFragmentToken();

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
  const raw = token();
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
