// What the pages' bell (bell.js imports it) and embed.js's <helpdesk-bell> both say
// about a notice, said once. embed.js is a classic script that imports nothing: the
// gateway writes this file in where it says `// @include assets/js/notices.js`
// (pages.EmbedScript), so keep it free of imports; its `export`s become plain
// declarations there.

// Notices an admin gets as the assignee open the support view of the ticket.
const SUPPORT_KINDS = new Set(["user_reply", "ticket_assigned", "new_ticket", "sla_warning", "sla_breached"]);

/** The path of the ticket page a notice opens for someone of `role`. */
export function noticePath(notice, role) {
  const support = role === "admin" && SUPPORT_KINDS.has(notice.kind);
  return `/help-center/${support ? "admin/" : ""}tickets/${notice.ticket_id}`;
}

/** A notice's "Mark read" button, as attributes for `h("button", …)`. */
export function markReadButton(notice, className, onclick) {
  return {
    type: "button",
    class: className,
    text: "Mark read",
    "aria-label": `Mark read: ${notice.title}`, // the visible words first (WCAG 2.5.3)
    onclick,
  };
}
