// The Help Center inside the host's own pages: <helpdesk-bell> and <helpdesk-link>.
//
//   <script src="https://help.example.com/help-center/embed.js" defer></script>
//   <helpdesk-bell></helpdesk-bell>  <helpdesk-link to="tickets"></helpdesk-link>
//
// A classic script with no imports (docs/embedding.md): the gateway writes in the
// pages' modules it names on an `// @include` line (pages.EmbedScript). It calls
// the Help Center's API across origins (the gateway answers CORS for the origins in
// HELPDESK_CORS_ORIGINS) with a bearer token the host gives: the `token` attribute,
// or a `tokenProvider` property (a function returning a promise of a token), asked
// again once when the API answers 401. The API is on the script's own origin unless
// a `base` attribute names another. Styles live in open shadow roots, set through
// adopted style sheets (no inline <style>, so a strict host CSP needs no exception),
// and follow the host through --helpdesk-* custom properties. Nodes are built, never
// parsed from HTML strings (a host may enforce Trusted Types).
(() => {
  "use strict";

  if (window.customElements.get("helpdesk-bell")) return; // loaded twice: keep the first

  // @include assets/js/sse.js
  // @include assets/js/notices.js

  // Read now: document.currentScript is only set while this script first runs.
  const script = document.currentScript;
  const SCRIPT_BASE = script && script.src ? new URL(script.src).origin : location.origin;
  const POLL_MS = 30_000;
  const LIST_LIMIT = 20;
  const LINKS = {
    tickets: { path: "/help-center/tickets", text: "My Tickets" },
    new: { path: "/help-center/tickets/new", text: "New Ticket" },
  };

  /** The Help Center's base URL for an element: its `base` attribute, or the script's origin. */
  function baseOf(element) {
    const raw = element.getAttribute("base");
    if (raw) {
      try {
        const url = new URL(raw, location.href);
        return (url.origin + url.pathname).replace(/\/+$/, "");
      } catch {
        // An unreadable base: fall back to where the script came from.
      }
    }
    return SCRIPT_BASE;
  }

  /** The claims of a JWT, unverified (only to choose which page a link opens). */
  function claimsOf(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
    } catch {
      return {};
    }
  }

  /** An error of the API, or of the network (status 0: unreachable, or refused by CORS). */
  class HelpdeskError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /**
   * The host's token for `element`. `refused` is a token the API just refused: the
   * provider is asked again, unless another call already got a newer one. Callers
   * at the same moment share one answer of the provider.
   */
  async function tokenFor(element, refused = null) {
    if (typeof element.tokenProvider !== "function") return element.getAttribute("token");
    let pending = element._helpdeskToken;
    if (pending && refused !== null) {
      const current = await pending.catch(() => null);
      if (element._helpdeskToken !== pending) pending = element._helpdeskToken; // newer already asked for
      else if (current === refused) pending = null;
    }
    if (!pending) {
      pending = Promise.resolve().then(() => element.tokenProvider());
      element._helpdeskToken = pending;
      pending.catch(() => {
        if (element._helpdeskToken === pending) element._helpdeskToken = null; // ask again next time
      });
    }
    return (await pending) || null;
  }

  /**
   * Call /api/v1`path` for `element` → parsed JSON. A 401 asks the host for a token
   * again and retries once; it then tells the host (`helpdesk-unauthorized`).
   */
  async function call(element, path, { method = "GET" } = {}) {
    let token = await tokenFor(element);
    for (let attempt = 0; ; attempt += 1) {
      const headers = { Accept: "application/json" };
      if (token) headers.Authorization = `Bearer ${token}`;
      let response;
      try {
        response = await fetch(`${baseOf(element)}/api/v1${path}`, {
          method,
          headers,
          mode: "cors",
          credentials: "omit",
          cache: "no-store",
        });
      } catch {
        throw new HelpdeskError(0, "network", "The Help Center can't be reached from this page.");
      }
      if (response.status === 401 && attempt === 0) {
        const again = await tokenFor(element, token).catch(() => null);
        if (again && again !== token) {
          token = again;
          continue;
        }
      }
      const data = await response.json().catch(() => null);
      if (response.ok) return data;
      if (response.status === 401) {
        element.dispatchEvent(new CustomEvent("helpdesk-unauthorized", { bubbles: true, composed: true }));
      }
      const error = (data && data.error) || {};
      throw new HelpdeskError(response.status, error.code || "error", error.message || `Failed (${response.status}).`);
    }
  }

  /**
   * Read `element`'s live notices (GET /api/v1/notifications/stream, Server-Sent
   * Events over fetch: EventSource cannot send the bearer header). onEvent(name, data)
   * for each event, onOpen(open) when a stream opens or ends. A lost stream is opened
   * again with Last-Event-ID (nothing missed) after 2 s, doubling up to 60 s; a 401
   * asks the host for a fresh token first. A 204 means no stream is served at that
   * address: it stops, and the caller polls. Returns stop(). The events are read by
   * readEvents (assets/js/sse.js, written in at the top by the gateway).
   */
  function readStream(element, { onEvent, onOpen }) {
    let stopped = false;
    let controller = null;
    let lastId = null;
    let refused = null;
    function dispatch({ event, id, data }) {
      if (event === "notice" && id) lastId = id;
      onEvent(event, data);
    }

    async function run() {
      let pause = 2_000;
      while (!stopped) {
        let open = false;
        try {
          const token = await tokenFor(element, refused);
          if (!token) return;
          const headers = { Accept: "text/event-stream", Authorization: `Bearer ${token}` };
          if (lastId) headers["Last-Event-ID"] = lastId;
          controller = new AbortController();
          const response = await fetch(`${baseOf(element)}/api/v1/notifications/stream`, {
            headers,
            mode: "cors",
            credentials: "omit",
            cache: "no-store",
            signal: controller.signal,
          });
          if (response.status === 204) return; // no stream served here: the caller polls
          refused = response.status === 401 ? token : null;
          const type = response.headers.get("Content-Type") || "";
          if (response.ok && type.startsWith("text/event-stream") && response.body) {
            open = true;
            onOpen(true);
            pause = 2_000;
            await readEvents(response.body, dispatch);
          }
        } catch {
          // Lost (network, server restart, token expired): tried again below.
        } finally {
          if (open) onOpen(false);
        }
        if (stopped) return;
        await sleep(pause);
        pause = Math.min(pause * 2, 60_000);
      }
    }

    run();
    return () => {
      stopped = true;
      if (controller) controller.abort();
    };
  }

  /** `h("a", {href, class}, child, ...)`: an element built without HTML parsing. */
  function h(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    node.append(...children.filter((child) => child !== null && child !== undefined));
    return node;
  }

  function svg(pathData) {
    const ns = "http://www.w3.org/2000/svg";
    const icon = document.createElementNS(ns, "svg");
    icon.setAttribute("viewBox", "0 0 24 24");
    icon.setAttribute("aria-hidden", "true");
    icon.setAttribute("focusable", "false");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", pathData);
    icon.append(path);
    return icon;
  }

  const BELL_ICON =
    "M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z";

  function sheet(css) {
    try {
      const adopted = new CSSStyleSheet();
      adopted.replaceSync(css);
      return { adopted };
    } catch {
      return { element: h("style", { text: css }) }; // browsers without constructable sheets
    }
  }

  function attachStyled(host, css) {
    const root = host.attachShadow({ mode: "open" });
    const style = sheet(css);
    if (style.adopted) root.adoptedStyleSheets = [style.adopted];
    else root.append(style.element);
    return root;
  }

  // Custom properties the host may set (documented in docs/embedding.md). Where the
  // host sets none, the defaults follow the system's light or dark setting: each is
  // light-dark(light, dark), picked through :host's color-scheme. Every default text
  // colour meets WCAG AA (4.5:1) on the panel in both.
  const THEME = `
    :host {
      color-scheme: light dark;
      --_accent: var(--helpdesk-accent, light-dark(#2457c5, #8fa8ff));
      --_text: var(--helpdesk-text, light-dark(#1d2330, #e7eaf0));
      --_muted: var(--helpdesk-muted, light-dark(#5b6475, #a0a8b8));
      --_bg: var(--helpdesk-bg, light-dark(#ffffff, #171d27));
      --_border: var(--helpdesk-border, light-dark(#d5d9e2, #2c3444));
      --_badge: var(--helpdesk-badge, light-dark(#c62828, #ff8a8a));
      --_on-badge: var(--helpdesk-on-badge, light-dark(#ffffff, #0b0f17));
      --_radius: var(--helpdesk-radius, 8px);
      --_font: var(--helpdesk-font, system-ui, -apple-system, "Segoe UI", sans-serif);
      font-family: var(--_font);
      color: var(--_text);
    }
    .visually-hidden {
      position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0;
      overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
    }
    :focus-visible { outline: 2px solid var(--_accent); outline-offset: 2px; }
  `;

  const BELL_CSS = `${THEME}
    :host { display: inline-block; position: relative; line-height: 1.4; font-size: 14px; }
    :host([hidden]) { display: none; }
    .toggle {
      position: relative; display: inline-flex; align-items: center; justify-content: center;
      width: 40px; height: 40px; padding: 0; border: 1px solid transparent; border-radius: 50%;
      background: transparent; color: inherit; cursor: pointer; font: inherit;
    }
    .toggle:hover { background: color-mix(in srgb, var(--_accent) 10%, transparent); }
    .toggle svg { width: 22px; height: 22px; fill: currentColor; }
    .badge {
      position: absolute; top: 2px; right: 0; min-width: 18px; height: 18px; padding: 0 5px;
      box-sizing: border-box; border-radius: 9px; background: var(--_badge); color: var(--_on-badge);
      font-size: 11px; font-weight: 700; line-height: 18px; text-align: center;
    }
    .badge[hidden] { display: none; }
    [data-state="error"] .badge { background: var(--_muted); }
    .panel {
      position: absolute; right: 0; top: calc(100% + 6px); z-index: 1000;
      width: min(360px, calc(100vw - 24px)); max-height: 70vh; overflow: auto;
      background: var(--_bg); color: var(--_text); border: 1px solid var(--_border);
      border-radius: var(--_radius); box-shadow: 0 8px 24px rgb(0 0 0 / 0.16);
    }
    .panel[hidden] { display: none; }
    .head {
      display: flex; align-items: center; justify-content: space-between; gap: 8px;
      padding: 10px 12px; border-bottom: 1px solid var(--_border);
    }
    .head h2 { margin: 0; font-size: 15px; }
    button.text {
      border: 0; background: none; padding: 2px 4px; color: var(--_accent);
      font: inherit; font-size: 13px; cursor: pointer; border-radius: 4px;
    }
    button.text:disabled { color: var(--_muted); cursor: default; }
    ul { list-style: none; margin: 0; padding: 0; }
    li { display: flex; gap: 8px; align-items: flex-start; padding: 10px 12px; border-bottom: 1px solid var(--_border); }
    li:last-child { border-bottom: 0; }
    li.unread { background: color-mix(in srgb, var(--_accent) 7%, var(--_bg)); }
    .dot { flex: none; width: 8px; height: 8px; margin-top: 6px; border-radius: 50%; background: transparent; }
    li.unread .dot { background: var(--_accent); }
    a.notice { flex: 1; min-width: 0; color: inherit; text-decoration: none; }
    a.notice:hover .title { text-decoration: underline; }
    .title { display: block; font-weight: 600; }
    .body { display: block; color: var(--_muted); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    .time { display: block; color: var(--_muted); font-size: 12px; }
    .message { padding: 14px 12px; color: var(--_muted); }
    .message.error { color: var(--_badge); }
    .foot { padding: 8px 12px; border-top: 1px solid var(--_border); }
    .foot a { color: var(--_accent); }
  `;

  const LINK_CSS = `${THEME}
    :host { display: inline; }
    a { color: var(--_accent); text-decoration: none; font: inherit; }
    a:hover { text-decoration: underline; }
  `;

  /** Open a Help Center page, handing the token over once as the #token= fragment. */
  async function openPage(element, href, newTab) {
    let target = href;
    const token = await tokenFor(element).catch(() => null);
    if (token) target = `${href}#token=${encodeURIComponent(token)}`;
    if (newTab) window.open(target, "_blank", "noopener");
    else window.location.assign(target);
  }

  function handOver(element, link) {
    link.addEventListener("click", (event) => {
      if (event.button !== 0 || event.altKey) return;
      event.preventDefault();
      openPage(element, link.href, event.ctrlKey || event.metaKey || event.shiftKey);
    });
  }

  // A property the host set before this script defined the element is an own
  // property hiding the class's setter: move it through the setter.
  function upgradeProperty(element, name) {
    if (Object.prototype.hasOwnProperty.call(element, name)) {
      const value = element[name];
      delete element[name];
      element[name] = value;
    }
  }

  const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

  function relativeTime(iso) {
    const seconds = (Date.parse(iso) - Date.now()) / 1000;
    if (!Number.isFinite(seconds)) return "";
    for (const [unit, size] of [["day", 86400], ["hour", 3600], ["minute", 60]]) {
      if (Math.abs(seconds) >= size) return RELATIVE.format(Math.round(seconds / size), unit);
    }
    return RELATIVE.format(0, "minute");
  }

  /** What both elements share: the host's token, by attribute or `tokenProvider`. */
  class HelpdeskElement extends HTMLElement {
    /** `tokenProvider`: a function returning a promise of a token; replaces the attribute. */
    get tokenProvider() {
      return this._tokenProvider || null;
    }

    set tokenProvider(provider) {
      this._tokenProvider = typeof provider === "function" ? provider : null;
      this._helpdeskToken = null;
      this.tokenChanged();
    }

    tokenChanged() {}

    connectedCallback() {
      upgradeProperty(this, "tokenProvider");
    }
  }

  /** `<helpdesk-bell>`: the unread count, the notices in a popup, mark read. */
  class HelpdeskBell extends HelpdeskElement {
    static get observedAttributes() {
      return ["token", "base"];
    }

    constructor() {
      super();
      this._unread = null;
      this._timer = null;
      const root = attachStyled(this, BELL_CSS);
      this._count = h("span", { class: "badge", part: "badge", "aria-hidden": "true", hidden: true });
      this._label = h("span", { class: "visually-hidden", text: "Notifications" });
      this._toggle = h(
        "button",
        {
          type: "button",
          class: "toggle",
          part: "button",
          "aria-expanded": "false",
          "aria-controls": "panel",
          onclick: () => this.setOpen(this._panel.hidden),
        },
        svg(BELL_ICON),
        this._count,
        this._label,
      );
      // Read out when the count changes, politely (never steals focus).
      this._status = h("span", { class: "visually-hidden", role: "status", "aria-live": "polite" });
      this._readAll = h("button", {
        type: "button",
        class: "text",
        text: "Mark all read",
        disabled: true,
        onclick: () => this.markAllRead(),
      });
      this._list = h("ul", { "aria-label": "Notifications" });
      this._allLink = h("a", { href: "#", text: "All my tickets" });
      handOver(this, this._allLink);
      this._panel = h(
        "div",
        { class: "panel", part: "panel", id: "panel", role: "region", "aria-label": "Notifications", hidden: true },
        h("div", { class: "head" }, h("h2", { text: "Notifications" }), this._readAll),
        this._list,
        h("div", { class: "foot" }, this._allLink),
      );
      this._wrapper = h("div", { class: "bell", part: "bell", "data-state": "loading" }, this._toggle, this._status, this._panel);
      root.append(this._wrapper);
      const onKey = (event) => {
        if (event.key === "Escape" && !this._panel.hidden) {
          this.setOpen(false);
          this._toggle.focus();
        }
      };
      const onOutside = (event) => {
        if (!this._panel.hidden && !event.composedPath().includes(this)) this.setOpen(false);
      };
      const onVisible = () => this.refresh();
      // What the bell listens to on the host's page: added on connect and removed on
      // disconnect from this one list, so that none is left behind.
      this._listeners = [
        [document, "keydown", onKey],
        [document, "click", onOutside],
        [document, "visibilitychange", onVisible],
        [window, "focus", onVisible],
      ];
    }

    connectedCallback() {
      super.connectedCallback();
      this._allLink.href = `${baseOf(this)}${LINKS.tickets.path}`;
      for (const [target, type, listener] of this._listeners) target.addEventListener(type, listener);
      this.startUpdates();
      this._started = true;
      this.refresh();
    }

    disconnectedCallback() {
      for (const [target, type, listener] of this._listeners) target.removeEventListener(type, listener);
      this.stopUpdates();
      this._started = false;
    }

    attributeChangedCallback(name, previous, value) {
      if (previous === value || !this.isConnected) return;
      if (name === "base") this._allLink.href = `${baseOf(this)}${LINKS.tickets.path}`;
      if (this._started) this.startUpdates(); // the stream follows the new base or token
      this.refresh();
    }

    tokenChanged() {
      if (!this._started) return;
      this.startUpdates();
      this.refresh();
    }

    // How the count stays current: the live stream, and polling while none is open.
    // The toggle's data-live says which ("stream" or "polling").
    startUpdates() {
      this.stopUpdates();
      this._timer = setInterval(() => {
        if (!this._live) this.refresh();
      }, POLL_MS);
      const onOpen = (open) => {
        this._live = open;
        this._toggle.dataset.live = open ? "stream" : "polling";
      };
      onOpen(false);
      this._stopStream = readStream(this, {
        onOpen,
        onEvent: (name, data) => {
          if (name === "unread_count") this.showCount(data.unread_count);
          if (name === "notice" && !this._panel.hidden) this.loadList();
        },
      });
    }

    stopUpdates() {
      if (this._timer !== null) clearInterval(this._timer);
      this._timer = null;
      if (this._stopStream) this._stopStream();
      this._stopStream = null;
      this._live = false;
    }

    /** The unread count (and the list, when open), fetched again. */
    async refresh() {
      if (document.hidden) return;
      if (!this._panel.hidden) return this.loadList();
      try {
        const data = await call(this, "/notifications/unread-count");
        this.showCount(data.unread_count);
      } catch (error) {
        this.showError(error);
      }
    }

    showCount(n) {
      const changed = this._unread !== n;
      this._unread = n;
      this._wrapper.dataset.state = "ready";
      this._toggle.dataset.unread = String(n);
      this._count.hidden = n === 0;
      this._count.textContent = n > 99 ? "99+" : String(n);
      const words = n === 0 ? "no unread notifications" : n === 1 ? "1 unread notification" : `${n} unread notifications`;
      this._label.textContent = `Notifications, ${words}`;
      this._readAll.disabled = n === 0;
      if (changed) this._status.textContent = `You have ${words}.`;
      if (changed) this.dispatchEvent(new CustomEvent("helpdesk-unread", { detail: { unread: n }, bubbles: true, composed: true }));
    }

    showError(error) {
      this._wrapper.dataset.state = "error";
      delete this._toggle.dataset.unread;
      this._count.hidden = false;
      this._count.textContent = "!";
      this._readAll.disabled = true;
      const why = error.status === 401 ? "sign-in needed" : "unavailable";
      this._label.textContent = `Notifications ${why}`;
      return why;
    }

    setOpen(open) {
      this._panel.hidden = !open;
      this._toggle.setAttribute("aria-expanded", String(open));
      if (open) this.loadList();
    }

    noticeHref(notice, role) {
      return `${baseOf(this)}${noticePath(notice, role)}`;
    }

    message(text, error = false) {
      return h("li", { class: `message${error ? " error" : ""}`, role: error ? "alert" : null, text });
    }

    /** "Try again" for a list that failed to load; keeps focus in the panel. */
    retryButton() {
      const button = h("button", { type: "button", class: "text retry", text: "Try again" });
      button.addEventListener("click", async () => {
        button.disabled = true;
        button.textContent = "Trying again…";
        await this.loadList();
        // The button went with the old list: focus stays in the element, not on <body>.
        if (!button.isConnected && this.shadowRoot.activeElement === null) this._toggle.focus();
      });
      return button;
    }

    async loadList() {
      if (!this._list.childElementCount) this._list.append(this.message("Loading notifications…"));
      let data;
      try {
        data = await call(this, `/notifications?limit=${LIST_LIMIT}`);
      } catch (error) {
        const why = this.showError(error);
        const failed = this.message(`Notifications are ${why === "sign-in needed" ? "not available until you sign in again" : "unavailable right now"}.`, true);
        // Another try can mend anything but a refused token (the host must give a new one).
        if (why !== "sign-in needed") failed.append(" ", this.retryButton());
        this._list.replaceChildren(failed);
        return;
      }
      this.showCount(data.unread_count);
      const role = claimsOf((await tokenFor(this).catch(() => null)) || "").role;
      this._list.replaceChildren(
        ...(data.items.length ? data.items.map((notice) => this.item(notice, role)) : [this.message("You're all caught up.")]),
      );
    }

    item(notice, role) {
      const unread = !notice.read_at;
      const link = h(
        "a",
        { class: "notice", href: this.noticeHref(notice, role) },
        unread ? h("span", { class: "visually-hidden", text: "Unread: " }) : null,
        h("span", { class: "title", text: notice.title }),
        notice.body ? h("span", { class: "body", text: notice.body }) : null,
        h("time", { class: "time", datetime: notice.created_at, text: relativeTime(notice.created_at) }),
      );
      link.addEventListener("click", async (event) => {
        if (event.button !== 0 || event.altKey) return;
        event.preventDefault();
        if (unread) await call(this, `/notifications/${notice.id}/read`, { method: "POST" }).catch(() => null);
        openPage(this, link.href, event.ctrlKey || event.metaKey || event.shiftKey);
      });
      const mark = unread
        ? h("button", markReadButton(notice, "text", () => this.markRead(notice)))
        : null;
      return h(
        "li",
        { class: unread ? "unread" : "read", "data-notice-id": notice.id, "data-kind": notice.kind },
        h("span", { class: "dot", "aria-hidden": "true" }),
        link,
        mark,
      );
    }

    markRead(notice) {
      return this.post(`/notifications/${notice.id}/read`, "That notice couldn't be marked read.");
    }

    markAllRead() {
      return this.post("/notifications/read-all", "The notices couldn't be marked read.");
    }

    /** POST `path`, then show the list again (or `failure` above it). */
    async post(path, failure) {
      try {
        await call(this, path, { method: "POST" });
      } catch {
        this._list.prepend(this.message(`${failure} Please try again.`, true));
        return;
      }
      await this.loadList();
      this._toggle.focus();
    }
  }

  /** `<helpdesk-link to="tickets|new">`: My Tickets or New Ticket, signed in on arrival. */
  class HelpdeskLink extends HelpdeskElement {
    static get observedAttributes() {
      return ["to", "base"];
    }

    constructor() {
      super();
      const root = attachStyled(this, LINK_CSS);
      this._slot = h("slot");
      this._link = h("a", { part: "link" }, this._slot);
      handOver(this, this._link);
      root.append(this._link);
    }

    connectedCallback() {
      super.connectedCallback();
      this.render();
    }

    attributeChangedCallback() {
      this.render();
    }

    render() {
      const link = LINKS[this.getAttribute("to")] || LINKS.tickets;
      this._link.href = `${baseOf(this)}${link.path}`;
      this._slot.textContent = link.text; // shown unless the host puts its own text inside
    }
  }

  window.customElements.define("helpdesk-bell", HelpdeskBell);
  window.customElements.define("helpdesk-link", HelpdeskLink);
})();
