// What every page does first: take the session, fill the header, start the bell.
import { startBell } from "./bell.js";
import { $, h } from "./dom.js";
import { canSignIn, requireSession, signInHref, signOut } from "./session.js";

function markCurrentNav() {
  if (document.body.dataset.page === "not-found") return; // no page of the menu is shown
  const links = [...document.querySelectorAll(".main-nav a")];
  const here = location.pathname.replace(/\/$/, "");
  let best = null;
  for (const link of links) {
    const path = new URL(link.href).pathname;
    const matches = path === "/help-center" ? here === path : here === path || here.startsWith(`${path}/`);
    if (matches && (!best || path.length > new URL(best.href).pathname.length)) best = link;
  }
  if (best) best.setAttribute("aria-current", "page");
}

/**
 * Start a page: returns the signed-in identity ({sub, role, name}), or null when
 * there is no usable session (the person is sent to sign in, or told why).
 */
export function startPage() {
  markCurrentNav();
  const me = requireSession();
  if (!me) return null;
  $("header-actions").hidden = false;
  $("who").replaceChildren(h("span", { text: me.name || me.sub }));
  if (me.role === "admin") $("who").append(h("span", { class: "role-tag", text: "Support" }));
  $("who").title = `Signed in as ${me.name || me.sub}`;
  for (const link of document.querySelectorAll("[data-admin-only]")) link.hidden = me.role !== "admin";
  if (canSignIn) {
    const button = $("sign-out");
    button.hidden = false;
    button.addEventListener("click", () => {
      signOut();
      location.assign(signInHref());
    });
  }
  startBell(me);
  return me;
}
