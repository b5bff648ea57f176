// A reply box: live count, limits checked before sending, API errors shown beside it.
import { ApiError, describeError, fieldMessage } from "./api.js";
import { setFieldError, whileBusy } from "./dom.js";
import { attachCounter, lengthProblem } from "./format.js";

/**
 * Wire `form` (with #reply, #reply-counter, #reply-error, #send-reply) to send(body).
 * send returns a promise; on success the box is cleared. A failure send marks
 * `handled` is not shown beside the box (the page has shown it elsewhere).
 */
export function attachComposer(form, limits, send, { label = "Reply" } = {}) {
  const input = form.querySelector("#reply");
  const error = form.querySelector("#reply-error");
  const button = form.querySelector("#send-reply");
  const update = attachCounter(input, form.querySelector("#reply-counter"), limits);
  input.addEventListener("input", () => {
    if (!error.hidden) setFieldError(input, error, null);
  });
  // Ctrl+Enter (⌘+Enter) sends, as in most chat and mail tools.
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const problem = lengthProblem(label, input.value, limits);
    if (problem) {
      setFieldError(input, error, problem);
      input.focus();
      return;
    }
    await whileBusy(button, async () => {
      try {
        await send(input.value.trim());
        input.value = "";
        update();
        setFieldError(input, error, null);
      } catch (failure) {
        if (failure instanceof ApiError && failure.status === 401) return;
        // The page has already told the person (e.g. the ticket was closed meanwhile and
        // the form is gone); the typed text stays in the box.
        if (failure?.handled) return;
        const message =
          failure instanceof ApiError && failure.status === 422
            ? fieldMessage(failure, "body") || describeError(failure)
            : describeError(failure);
        setFieldError(input, error, message);
        input.focus();
      }
    });
  });
}
