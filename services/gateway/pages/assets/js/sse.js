// Server-sent events read from a fetch() response body (EventSource cannot send the
// bearer header). The one parser of the pages' bell (bell.js imports it) and of
// embed.js, a classic script that imports nothing: the gateway serves embed.js with
// this file written in where it says `// @include assets/js/sse.js` (pages.EmbedScript),
// so keep it free of imports; its `export`s become plain declarations there.

/**
 * Read the events of an SSE `body` (a ReadableStream of bytes) until it ends:
 * onEvent({ event, id, data }) for each event that names its type, `data` parsed
 * from JSON (the stream sends nothing else; an event that is not is skipped);
 * comments and other fields are skipped.
 */
export async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { data: "" };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split(/\r?\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (event.event) emitParsed(event, onEvent);
        event = { data: "" };
      } else if (!line.startsWith(":")) {
        const at = line.indexOf(":");
        const field = at < 0 ? line : line.slice(0, at);
        const text = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
        if (field === "data") event.data += text;
        else if (field === "event" || field === "id") event[field] = text;
      }
    }
  }
}

function emitParsed(event, onEvent) {
  let data;
  try {
    data = JSON.parse(event.data);
  } catch {
    return;
  }
  onEvent({ ...event, data });
}

/** A promise resolved after `ms` milliseconds: the pause before a stream is tried again. */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
