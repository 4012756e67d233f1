// The mail the server sent, as `tessera-smtp-sink --dir DIR` keeps it: one `<n>.eml` file per
// message, the raw message as the SMTP client sent it. A minimal MIME reader: headers,
// multipart bodies, quoted-printable and base64 parts.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Headers (lowercase names, folded lines joined) and body of one entity. */
function splitEntity(raw) {
  const text = raw.replace(/\r\n/g, "\n");
  const end = text.indexOf("\n\n");
  const head = end === -1 ? text : text.slice(0, end);
  const body = end === -1 ? "" : text.slice(end + 2);
  const headers = {};
  for (const line of head.replace(/\n[ \t]+/g, " ").split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body };
}

function decodeQuotedPrintable(body) {
  const bytes = [];
  const text = body.replace(/=\n/g, "");
  for (let i = 0; i < text.length; i += 1) {
    if (text[i] === "=" && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(text[i], "utf8"));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

function decodeBody(headers, body) {
  const encoding = (headers["content-transfer-encoding"] || "").toLowerCase();
  if (encoding === "base64") return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  if (encoding === "quoted-printable") return decodeQuotedPrintable(body);
  return body;
}

/** The leaf parts of an entity: `{ type, text }`, decoded. */
function parts(raw) {
  const { headers, body } = splitEntity(raw);
  const type = (headers["content-type"] || "text/plain").toLowerCase();
  const boundary = /boundary="?([^";]+)"?/i.exec(headers["content-type"] || "");
  if (type.startsWith("multipart/") && boundary) {
    const marker = `--${boundary[1]}`;
    return body
      .split(marker)
      .slice(1)
      .filter((chunk) => !chunk.startsWith("--"))
      .flatMap((chunk) => parts(chunk.replace(/^\n/, "")));
  }
  return [{ type: type.split(";")[0].trim(), text: decodeBody(headers, body) }];
}

/** One message: `{ file, to, subject, text, html }`. */
export function readMessage(file) {
  const raw = readFileSync(file, "utf8");
  const { headers } = splitEntity(raw);
  const all = parts(raw);
  const text = all.filter((p) => p.type === "text/plain").map((p) => p.text).join("\n");
  const html = all.filter((p) => p.type === "text/html").map((p) => p.text).join("\n");
  return { file, to: headers.to || "", subject: headers.subject || "", text, html };
}

/** Every `.eml` file in `dir`, oldest first (by the sink's counter). */
export function messageFiles(dir) {
  return readdirSync(dir)
    .filter((name) => name.endsWith(".eml"))
    .sort((a, b) => parseInt(a, 10) - parseInt(b, 10) || a.localeCompare(b))
    .map((name) => join(dir, name));
}

/** The URLs of a message's text part. */
export function links(message) {
  return [...message.text.matchAll(/https?:\/\/[^\s"'<>]+/g)].map((m) => m[0]);
}

/**
 * Waits (polling, at most `timeout` ms) for the newest message to `to` that is not among
 * `before` (file names) and has a link containing `part`; returns `{ message, link }`.
 */
export async function waitForLink(dir, before, to, part, timeout = 30000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const fresh = messageFiles(dir).filter((file) => !before.includes(file)).reverse();
    for (const file of fresh) {
      let message;
      try {
        message = readMessage(file);
      } catch {
        continue; // still being written
      }
      const link = links(message).find((url) => url.includes(part));
      if (message.to.toLowerCase().includes(to.toLowerCase()) && link) return { message, link };
    }
    if (Date.now() > deadline) {
      throw new Error(`no mail to ${to} with a ${part} link within ${timeout} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The code a message asks to type: the one run of exactly 8 digits standing alone. */
export function code(message) {
  const codes = new Set(
    message.text
      .split(/[^A-Za-z0-9_\-/.:%]+/)
      .filter((word) => /^[0-9]{8}$/.test(word)),
  );
  if (codes.size !== 1) throw new Error(`not one 8-digit code in: ${message.text}`);
  return [...codes][0];
}
