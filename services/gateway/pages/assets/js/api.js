// The one way the pages talk to the Help Center: the public /api/v1, with the
// bearer token, like any other client.
import { endSession, token } from "./session.js";
import { formatDateTime, relativeTime } from "./format.js";

// Where the API answers, for every call of the pages (the bell's stream too).
export const API_BASE = "/api/v1";

/** An error response (or no response at all: status 0). */
export class ApiError extends Error {
  constructor(status, code, message, details = {}, retryAfter = null, requestId = null, path = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details && typeof details === "object" ? details : {};
    this.retryAfter = retryAfter;
    this.requestId = requestId;
    this.path = path; // the API path called, e.g. "/admin/tickets/7"
  }
}

// Whether any call of this page was accepted: a token refused from the start was
// never a session, so it is not "expired".
let accepted = false;

/**
 * Call the API: api("/tickets", {method, body, query}) → the parsed JSON body.
 * Throws ApiError; a 401 also ends the session (sign in again / "session expired").
 */
export async function api(path, { method = "GET", body, query } = {}) {
  let url = `${API_BASE}${path}`;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
    }
    const qs = params.toString();
    if (qs) url += `?${qs}`;
  }
  const headers = { Accept: "application/json" };
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const init = { method, headers, credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, "network", "We couldn't reach the Help Center. Check your connection and try again.", {}, null, null, path);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.ok) {
    accepted = true;
    return data;
  }
  const error = data && data.error ? data.error : {};
  const failure = new ApiError(
    response.status,
    error.code || "error",
    error.message || `The request failed (${response.status}).`,
    error.details,
    Number(response.headers.get("Retry-After")) || null,
    response.headers.get("X-Request-Id"),
    path,
  );
  if (response.status === 401) endSession(accepted ? "expired" : "refused", { hidePage: !accepted });
  throw failure;
}

/** When the daily ticket allowance comes back, in words. */
export function resetText(error) {
  const resetAt = error.details.reset_at;
  if (resetAt) return `${formatDateTime(resetAt)} (${relativeTime(resetAt)})`;
  if (error.retryAfter) return `about ${Math.ceil(error.retryAfter / 60)} minutes from now`;
  return "tomorrow";
}

/** A sentence for a person, for any error the API can answer with. */
export function describeError(error, { what = "ticket" } = {}) {
  if (!(error instanceof ApiError)) return "Something unexpected happened. Please reload the page.";
  switch (error.status) {
    case 0:
      return error.message;
    case 400:
    case 415:
      return `The Help Center couldn't read that request: ${error.message}`;
    case 401:
      return "Your session has expired. Please sign in again.";
    case 403:
      return "This part of the Help Center is for support staff only.";
    case 404:
      // Support staff reach every ticket: for them a 404 can only mean it doesn't exist.
      return error.path?.startsWith("/admin/")
        ? `We couldn't find that ${what}. It may not exist.`
        : `We couldn't find that ${what}. It may not exist, or it isn't yours.`;
    case 405:
      return `That can't be done to a ${what}.`;
    case 409:
      return `This ${what} has changed and can't take that action now: ${error.message}`;
    case 413:
      // The gateway says its limit; a proxy's 413 may not.
      return `That is too much text to send at once${error.details.max_bytes ? ` (over ${Math.floor(error.details.max_bytes / 1024)} KiB)` : ""}. Please shorten it.`;
    case 422:
      return `Please check what you entered: ${error.message}`;
    case 429:
      return `You've reached the daily limit for new tickets. You can create another on ${resetText(error)}.`;
    case 503:
      return `The Help Center is busy right now. Please try again${error.retryAfter ? ` in ${error.retryAfter} seconds` : " shortly"}.`;
    default:
      return `Something went wrong on our side. Please try again.${error.requestId ? ` (Reference: ${error.requestId})` : ""}`;
  }
}

/** Whether another try may succeed: no answer, a time-out, a busy or failing server. */
export function isTransient(error) {
  return error instanceof ApiError && (error.status === 0 || error.status === 408 || error.status === 429 || error.status >= 500);
}

/** The messages a 422 gives for `field`, joined; or null. */
export function fieldMessage(error, field) {
  const messages = error && error.details ? error.details[field] : null;
  if (!messages) return null;
  return Array.isArray(messages) ? messages.join(" ") : String(messages);
}

let catalogPromise = null;

/** GET /catalog once per page load: issue types, features, statuses, limits. */
export function catalog() {
  catalogPromise ??= api("/catalog").catch((error) => {
    catalogPromise = null;
    throw error;
  });
  return catalogPromise;
}
