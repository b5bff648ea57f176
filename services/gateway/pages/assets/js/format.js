// How dates, ids, statuses and priorities look everywhere.
import { h } from "./dom.js";

export const STATUS_LABELS = {
  open: "Open",
  in_review: "In Review",
  awaiting_user: "Awaiting User",
  resolved: "Resolved",
  closed: "Closed",
};
export const STATUS_KEYS = Object.keys(STATUS_LABELS);
export const PRIORITY_LABELS = { critical: "Critical", high: "High", medium: "Medium", low: "Low" };
/** An <option> for each priority, most urgent first (the selects that choose one). */
export const priorityOptions = () => Object.entries(PRIORITY_LABELS).map(([value, text]) => h("option", { value, text }));

const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const UNITS = [
  ["year", 31536000],
  ["month", 2592000],
  ["week", 604800],
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
];

export const ticketRef = (id) => `#${id}`;
export const formatDateTime = (iso) => (iso ? dateTimeFormat.format(new Date(iso)) : "");

/** "3 hours ago", "in 5 hours", "just now". */
export function relativeTime(iso, now = Date.now()) {
  const seconds = (new Date(iso).getTime() - now) / 1000;
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return relativeFormat.format(Math.round(seconds / size), unit);
  }
  return "just now";
}

/** A compact age for tables: "4m", "3h", "2d", "5w". */
export function age(iso, now = Date.now()) {
  const seconds = Math.max(0, (now - new Date(iso).getTime()) / 1000);
  if (seconds < 3600) return `${Math.max(1, Math.floor(seconds / 60))}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  if (seconds < 604800 * 2) return `${Math.floor(seconds / 86400)}d`;
  return `${Math.floor(seconds / 604800)}w`;
}

/** A <time> showing `text` (default: the local date and time), full date on hover. */
export function timeEl(iso, text) {
  return h("time", { datetime: iso, title: formatDateTime(iso), text: text ?? formatDateTime(iso) });
}

export function statusBadge(key) {
  return h("span", { class: `badge status-${key}`, text: STATUS_LABELS[key] ?? key });
}

export function priorityBadge(key) {
  return h("span", {
    class: `badge plain priority-${key}`,
    text: `${PRIORITY_LABELS[key] ?? key} priority`,
  });
}

/** Characters as the server counts them: trimmed, in code points (an emoji is one). */
export function charCount(text) {
  return [...text.trim()].length;
}

/** The message for a text outside [min, max], or null. */
export function lengthProblem(label, text, [min, max]) {
  const n = charCount(text);
  if (n === 0 && min > 0) return `${label} is required.`;
  if (n < min) return `${label} needs at least ${min} characters (it has ${n}).`;
  if (n > max) return `${label} can have at most ${max} characters (it has ${n}).`;
  return null;
}

/** Keep `counter` showing "n / max" for `input`, flagged when outside the limits. */
export function attachCounter(input, counter, [min, max]) {
  const update = () => {
    const n = charCount(input.value);
    const bad = n > max || (n > 0 && n < min);
    counter.textContent = n < min && min > 1 ? `${n} / ${max} · at least ${min}` : `${n} / ${max}`;
    counter.classList.toggle("bad", bad);
    counter.classList.toggle("ok", !bad && n >= min && n > 0);
  };
  input.addEventListener("input", update);
  update();
  return update;
}

/**
 * Markdown reduced to readable plain text for one-line snippets (the bell):
 * link text without the URL, no emphasis or code markers, no heading hashes.
 * The result is still only ever set as text.
 */
export function plainSnippet(markdown) {
  return (markdown || "")
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/(\*\*|\*|~~|`)(?=\S)([^]*?\S)\1/g, "$2")
    .replace(/^\s{0,3}(#{1,6}|>|[-*+]|\d+\.)\s+/gm, "")
    .replace(/\s+/g, " ")
    .trim();
}

/** A span of seconds, compact: "48m", "3h 12m", "2d 4h" (under a minute: "<1m"). */
export function span(seconds) {
  const minutes = Math.floor(Math.abs(seconds) / 60);
  if (minutes < 1) return "<1m";
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 ? `${hours}h ${minutes % 60}m` : `${hours}h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days}d ${hours % 24}h` : `${days}d`;
}

/** A target in seconds as people say it: "4 hours", "1 day", "2 days", "90 minutes". */
export function targetText(seconds) {
  const plural = (n, unit) => `${n} ${unit}${n === 1 ? "" : "s"}`;
  if (seconds % 86400 === 0) return plural(seconds / 86400, "day");
  if (seconds % 3600 === 0) return plural(seconds / 3600, "hour");
  if (seconds >= 60 && seconds % 60 === 0) return plural(seconds / 60, "minute");
  return plural(seconds, "second");
}

export const SLA_LABELS = { due: "On track", at_risk: "At risk", breached: "Breached", none: "No response owed" };

/**
 * A ticket's response clock at a glance: its state and the time left (or overdue).
 * The state is the server's; only a due time passing since then turns it to breached.
 */
export function slaBadge(sla, now = Date.now()) {
  let state = sla?.state ?? "none";
  const due = sla?.due_at ? new Date(sla.due_at).getTime() : null;
  if (due !== null && state !== "none" && now >= due) state = "breached";
  let text = SLA_LABELS[state] ?? state;
  if (due !== null && state !== "none") {
    text += state === "breached" ? ` · ${span((now - due) / 1000)} overdue` : ` · ${span((due - now) / 1000)} left`;
  }
  return h("span", {
    class: `badge sla sla-${state}`,
    title: due !== null && state !== "none" ? `Response due ${formatDateTime(sla.due_at)}` : "Nothing is owed to the user right now",
    dataset: { sla: state },
    text,
  });
}
