// Building the page from data. User-written text only ever goes in as text
// (textContent, text nodes); the one exception is setServerHtml, for the server's
// sanitized *_html fields, enforced by the page's Trusted Types policy.

const policy = window.trustedTypes
  ? window.trustedTypes.createPolicy("helpdesk-html", { createHTML: (html) => html })
  : null;

/**
 * h("a", {class: "x", href: "/y", text: subject}, child, "text", ...): an element.
 * Keys: class, text (textContent), dataset, on<event> (listener), anything else
 * becomes an attribute (true → empty attribute; false/null/undefined → omitted).
 * String children become text nodes, never markup.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

/** Put the server's sanitized HTML (description_html, body_html, preview html) into el. */
export function setServerHtml(el, html) {
  const value = typeof html === "string" ? html : "";
  el.innerHTML = policy ? policy.createHTML(value) : value;
}

export const $ = (id) => document.getElementById(id);

/** Show or clear one field's error, keeping aria-invalid in step. */
export function setFieldError(input, errorEl, message) {
  if (message) {
    errorEl.textContent = message;
    errorEl.hidden = false;
    if (input) input.setAttribute("aria-invalid", "true");
  } else {
    errorEl.textContent = "";
    errorEl.hidden = true;
    if (input) input.removeAttribute("aria-invalid");
  }
}

/**
 * Replace container's content with an alert box. lines: strings or nodes.
 * kind: error | warning | info | success. Errors are announced (role=alert).
 */
export function showAlert(container, kind, title, lines = [], { focus = false, retry = null } = {}) {
  const box = h(
    "div",
    { class: `alert ${kind}`, role: kind === "error" || kind === "warning" ? "alert" : "status", tabindex: "-1" },
    title ? h("h2", { text: title }) : null,
    ...lines.map((line) => (typeof line === "string" ? h("p", { text: line }) : line)),
    retry ? h("p", { class: "retry-row" }, retryButton(retry)) : null,
  );
  container.replaceChildren(box);
  if (focus) box.focus();
  return box;
}

let keptCount = 0;

/**
 * A read-only box holding text that could not be sent, so nothing typed is lost
 * from view: the person can select and copy it. Goes inside an alert.
 */
export function keptText(label, text) {
  const id = `kept-text-${++keptCount}`;
  return h(
    "div",
    { class: "kept-text" },
    h("label", { for: id, text: label }),
    h("textarea", { id, readonly: true, rows: "4", text }),
  );
}

/**
 * "Try again" for a load that failed: runs `retry()` (marked busy meanwhile). Shown
 * only for failures that another try can mend (api.js `isTransient`). A retry that
 * succeeds replaces the message holding the button, so keyboard focus goes to
 * `fallback()` (`main` unless told) rather than being dropped on <body>.
 */
export function retryButton(retry, { text = "Try again", fallback = () => document.getElementById("main") } = {}) {
  const button = h("button", { type: "button", class: "button small retry", text });
  button.addEventListener("click", () =>
    whileBusy(button, async () => {
      button.textContent = "Trying again…";
      try {
        await retry();
      } catch {
        // The load that failed again says so itself, with a new button.
      } finally {
        button.textContent = text;
      }
    }, { fallback }),
  );
  return button;
}

/** Start the page again: the retry of a page whose first load failed (nothing typed yet). */
export function reloadPage() {
  window.location.reload();
  return new Promise(() => {}); // stays busy until the page goes
}

export function clearAlert(container) {
  container.replaceChildren();
}

/** A small loading row. */
export function loadingRow(tag = "li", text = "Loading…") {
  return h(tag, { class: "loading" }, h("span", { class: "spinner", "aria-hidden": "true" }), text);
}

/**
 * Run `work()` with `button` marked busy; a press meanwhile is ignored (undefined).
 * The button is aria-disabled, not disabled: a disabled button drops keyboard focus
 * to <body>, leaving keyboard and screen-reader users nowhere. If the button had
 * focus and lost it all the same (the new state hid or disabled it), focus goes to
 * `fallback()` (an element, or null to leave it).
 */
export async function whileBusy(button, work, { fallback = null } = {}) {
  if (button.getAttribute("aria-disabled") === "true") return undefined;
  const hadFocus = document.activeElement === button;
  button.setAttribute("aria-disabled", "true");
  try {
    return await work();
  } finally {
    button.removeAttribute("aria-disabled");
    // The browser moves focus off a button that became disabled or hidden only later,
    // so ask the button itself whether it can still hold focus.
    const gone = button.disabled || !button.getClientRects().length;
    const lost = document.activeElement === button ? gone : document.activeElement === document.body;
    if (hadFocus && fallback && lost) fallback()?.focus();
  }
}

/** Call fn at most once per `ms` of quiet. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
