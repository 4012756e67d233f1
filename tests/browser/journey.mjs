// The account page's whole journey in headless Chromium: register, see and edit the profile,
// confirm the address from the verification mail, list and end sessions, a silent refresh
// after the access cookie has gone, a CSRF failure from a forged cross-origin form, password
// change, sign in again, sign out, a forgotten password reset from the mail's link, a change
// of address confirmed from the new address, and a reset by the code typed from the mail.
//
// Then the admin console at /admin/: a user who is not staff is refused; staff sign in,
// search and filter users, edit one, see and revoke their sessions, deactivate them, read
// the audit log and delete them after confirming.
//
// Then second factors and other ways in, for a new user: TOTP set up from the QR code's key
// (codes computed here, RFC 6238), the second step of a sign-in with a code and with a
// recovery code, a passkey made by Chromium's virtual authenticator (registered, renamed,
// used alone and as the second factor, deleted), and a sign-in with the OpenID Connect
// provider that makes an account whose only way in cannot be unlinked.
//
// Usage: node journey.mjs <base-url> <screenshot-dir> <mail-dir> <staff-email> <staff-password> <social-email>
// (<mail-dir>: where `tessera-smtp-sink --dir` keeps the mail the server sends; the staff
// account is a superuser made with `tessera createsuperuser`; <social-email>: the address of
// the provider's user, which no account has yet.)
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { code, messageFiles, readMessage, waitForLink } from "./mailbox.mjs";

const [base, shots, mailDir, adminEmail, adminPassword, socialEmail] = process.argv.slice(2);
if (!base || !shots || !mailDir || !adminEmail || !adminPassword || !socialEmail) {
  console.error("usage: node journey.mjs <base-url> <screenshot-dir> <mail-dir> <staff-email> <staff-password> <social-email>");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

let passed = 0;
let failed = 0;
async function step(name, work) {
  try {
    await work();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (error) {
    failed += 1;
    console.log(`not ok - ${name}\n  ${String(error && error.stack || error).split("\n").join("\n  ")}`);
    // What the page showed when the step failed.
    await page.screenshot({ path: join(shots, "failed.png"), fullPage: true }).catch(() => {});
    throw error;
  }
}
function expect(condition, message) {
  if (!condition) throw new Error(message);
}

// RFC 6238 (SHA-1, 6 digits, 30-second steps), as an authenticator app computes it from the
// base32 key the page shows.
function base32(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const bytes = [];
  let bits = 0;
  let value = 0;
  for (const char of text.replace(/[\s=]/g, "").toUpperCase()) {
    const index = alphabet.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${text}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) { bytes.push((value >>> (bits - 8)) & 0xff); bits -= 8; }
  }
  return Buffer.from(bytes);
}
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const digest = createHmac("sha1", base32(secret)).update(counter).digest();
  const offset = digest[digest.length - 1] & 0x0f;
  return String((digest.readUInt32BE(offset) & 0x7fffffff) % 1000000).padStart(6, "0");
}
const timeStep = () => Math.floor(Date.now() / 30000);

// A page on another origin (same site: localhost, another port) that forges a
// cookie-authenticated POST, as an attacker's page would.
function evilServer(target) {
  const html = `<!doctype html><title>Win a prize</title>
<form id="f" method="POST" action="${target}/api/auth/logout/all/"><input name="x" value="1"></form>
<script>document.getElementById("f").submit();</script>`;
  const server = createServer((request, response) => {
    response.writeHead(200, { "Content-Type": "text/html" });
    response.end(html);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
const page = await context.newPage();
const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
const email = `ada.${Date.now()}@example.com`;
const password = "Analytical-Engine-1843";
const newPassword = "Difference-Engine-1822!";
const resetPassword = "Jacquard-Loom-1804?";
const codePassword = "Babbage-Note-G-1843";
const newEmail = `countess.${Date.now()}@example.com`;
const evil = await evilServer(base);

// Waits for a mail to `to` not among `before` that carries no link of the account page (the
// notice of an address change).
async function waitForNotice(before, to, timeout = 30000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const found = messageFiles(mailDir)
      .filter((file) => !before.includes(file))
      .map((file) => { try { return readMessage(file); } catch { return null; } })
      .find((m) => m && m.to.toLowerCase().includes(to.toLowerCase()) && m.text.length > 0);
    if (found) {
      expect(!found.text.includes("/account/"), `the notice carries a link: ${found.text}`);
      return found;
    }
    if (Date.now() > deadline) throw new Error(`no notice to ${to} within ${timeout} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
const evilBase = `http://localhost:${evil.address().port}`;

try {
  await step("the account page asks a stranger to sign in", async () => {
    const response = await page.goto(`${base}/account/`);
    const policy = response.headers()["content-security-policy"] || "";
    expect(policy.includes("script-src 'self'") && !policy.includes("unsafe-inline"), `weak CSP: ${policy}`);
    await page.getByRole("heading", { name: "Welcome back" }).waitFor();
    await shot("01-sign-in");
  });

  await step("registering signs the user in with cookies JavaScript cannot read", async () => {
    await page.getByRole("tab", { name: "Create account" }).click();
    const form = page.locator("#register-form");
    await form.getByLabel("First name").fill("Ada");
    await form.getByLabel("Last name").fill("Lovelace");
    await form.getByLabel("Email").fill(email);
    await form.getByLabel("Password", { exact: true }).fill(password);
    await form.getByLabel("Confirm password").fill(password);
    await form.getByRole("button", { name: "Create account" }).click();
    await page.getByText("Welcome! Your account is ready.").waitFor();
    expect(await page.locator("#nav-name").textContent() === email, "the header shows the e-mail");
    const visible = await page.evaluate(() => document.cookie);
    expect(!visible.includes("access_token") && !visible.includes("refresh_token"), `tokens visible to JS: ${visible}`);
    const cookies = await context.cookies();
    const access = cookies.find((c) => c.name === "access_token");
    const refresh = cookies.find((c) => c.name === "refresh_token");
    expect(access && access.httpOnly && access.sameSite === "Lax" && access.path === "/", "access cookie attributes");
    expect(refresh && refresh.httpOnly && refresh.path === "/api/auth/", "refresh cookie attributes");
    await shot("02-registered");
  });

  await step("the profile can be edited", async () => {
    const form = page.locator("#profile-form");
    await form.getByLabel("First name").fill("Augusta Ada");
    await form.getByRole("button", { name: "Save changes" }).click();
    await page.getByText("Profile saved.").waitFor();
    expect(await page.locator("#avatar").textContent() === "A", "avatar initial");
    await page.reload();
    // The form fills once the page has fetched the profile.
    await page.waitForFunction(() => document.querySelector("#profile-form").first_name.value !== "");
    expect(await form.getByLabel("First name").inputValue() === "Augusta Ada", "the change was stored");
    await shot("03-profile");
  });

  await step("the address is confirmed from the verification mail", async () => {
    const status = page.locator("#email-status");
    await page.waitForFunction(() => /not verified/i.test(document.querySelector("#email-status").textContent));
    expect(await page.locator("#resend-verification").isVisible(), "a resend button for an unverified address");
    await shot("03a-not-verified");
    // Registration sent a mail; asking again sends another, and only the newest one works.
    const { link: first } = await waitForLink(mailDir, [], email, "/account/verify-email/");
    const before = messageFiles(mailDir);
    await page.locator("#resend-verification").click();
    await page.getByText("A verification mail is on its way").waitFor();
    const { link } = await waitForLink(mailDir, before, email, "/account/verify-email/");
    expect(link !== first, "a new link");
    await page.goto(first);
    await page.locator("#verify-button").click();
    await page.getByText("This link is invalid, expired or already used.").waitFor();
    // The newest link opens a page that consumes nothing until the button is pressed.
    const response = await page.goto(link);
    expect(response.status() === 200, `the link page: ${response.status()}`);
    expect(response.headers()["referrer-policy"] === "no-referrer", "the link page leaks no referrer");
    await page.locator("#verify-button").waitFor();
    await shot("03b-verify-link");
    await page.locator("#verify-button").click();
    await page.locator("#link-done").waitFor();
    await page.goto(`${base}/account/`);
    await page.locator("#account").waitFor();
    await page.waitForFunction(() => /^\s*verified\s*$/i.test(document.querySelector("#email-status").textContent));
    expect(!(await page.locator("#resend-verification").isVisible()), "no resend button once verified");
    expect(/verified/i.test(await status.textContent()), "the profile shows the address verified");
    await shot("03c-verified");
  });

  await step("sessions are listed and another one can be ended", async () => {
    const other = await fetch(`${base}/api/auth/login/`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "User-Agent": "curl/8.5.0" },
      body: JSON.stringify({ email, password }),
    });
    expect(other.status === 200, `second login: ${other.status}`);
    const otherAccess = (await other.json()).access;
    await page.reload();
    const items = page.locator("#sessions li");
    await items.nth(1).waitFor();
    expect(await items.count() === 2, "two sessions");
    expect(await page.locator(".badge", { hasText: "This device" }).count() === 1, "one current session");
    await page.locator("#sessions li", { hasText: "curl" }).getByRole("button", { name: "End session" }).click();
    await page.getByText("Session ended.").waitFor();
    await page.waitForFunction(() => document.querySelectorAll("#sessions li").length === 1, null, { timeout: 10000 });
    const refused = await fetch(`${base}/api/auth/profile/`, { headers: { Authorization: `Bearer ${otherAccess}` } });
    expect(refused.status === 401, `the ended session's token still works: ${refused.status}`);
    await shot("04-sessions");
  });

  await step("an expired access cookie is refreshed silently", async () => {
    const before = (await context.cookies()).find((c) => c.name === "refresh_token").value;
    // The browser drops a cookie whose Max-Age has run out; dropping it here is the same.
    await context.clearCookies({ name: "access_token" });
    await page.reload();
    await page.locator("#account").waitFor();
    expect(await page.locator("#nav-name").textContent() === email, "still signed in after the reload");
    const cookies = await context.cookies();
    expect(cookies.some((c) => c.name === "access_token"), "a new access cookie was set");
    expect(cookies.find((c) => c.name === "refresh_token").value !== before, "the refresh token rotated");
    // And in the middle of an action: the save retries after the refresh.
    await context.clearCookies({ name: "access_token" });
    const form = page.locator("#profile-form");
    await form.getByLabel("Last name").fill("King");
    await form.getByRole("button", { name: "Save changes" }).click();
    await page.getByText("Profile saved.").waitFor();
    await shot("05-silent-refresh");
  });

  await step("a forged cross-origin form is refused by CSRF protection", async () => {
    const response = await page.goto(`${evilBase}/`);
    expect(response.ok(), "the attacker's page loads");
    await page.waitForURL(`${base}/api/auth/logout/all/`);
    const body = await page.locator("body").textContent();
    expect(body.includes("CSRF Failed"), `the forged request was not refused: ${body}`);
    await shot("06-csrf-refused");
    await page.goto(`${base}/account/`);
    await page.locator("#account").waitFor();
    // The list loads after the page: wait for it rather than count too early.
    await page.locator("#sessions li").first().waitFor();
    expect(await page.locator("#sessions li").count() === 1, "the session survived the forged request");
  });

  await step("changing the password signs the user out everywhere", async () => {
    const form = page.locator("#password-form");
    await form.getByLabel("Current password").fill("not the password");
    await form.getByLabel("New password", { exact: true }).fill(newPassword);
    await form.getByLabel("Confirm new password").fill(newPassword);
    await form.getByRole("button", { name: "Change password" }).click();
    await page.getByText("Current password is incorrect.").waitFor();
    await form.getByLabel("Current password").fill(password);
    await form.getByRole("button", { name: "Change password" }).click();
    await page.getByText("Password changed successfully. Please log in again.").waitFor();
    await page.getByRole("heading", { name: "Welcome back" }).waitFor();
    await shot("07-password-changed");
  });

  await step("the new password signs in, the old one does not", async () => {
    const form = page.locator("#login-form");
    await form.getByLabel("Email").fill(email);
    await form.getByLabel("Password").fill(password);
    await form.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("Invalid credentials").waitFor();
    await form.getByLabel("Password").fill(newPassword);
    await form.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("Signed in.").waitFor();
    await shot("08-signed-in-again");
  });

  await step("signing out clears the cookies", async () => {
    await page.getByRole("button", { name: "Sign out", exact: true }).click();
    await page.getByText("You are signed out.").waitFor();
    const names = (await context.cookies()).map((c) => c.name);
    expect(!names.includes("access_token") && !names.includes("refresh_token"), `cookies left: ${names}`);
    await page.reload();
    await page.getByRole("heading", { name: "Welcome back" }).waitFor();
    await shot("09-signed-out");
  });

  await step("a forgotten password is reset from the mail's link", async () => {
    const before = messageFiles(mailDir);
    await page.locator("#forgot-link").click();
    await page.locator("#forgot-email").fill(email);
    await page.locator("#forgot-form").getByRole("button", { name: "Send reset e-mail" }).click();
    await page.locator("#reset-code-form").waitFor();
    await shot("10-forgot-password");
    const { link } = await waitForLink(mailDir, before, email, "/account/reset/");
    const response = await page.goto(link);
    expect(response.status() === 200, `the link page: ${response.status()}`);
    expect(response.headers()["referrer-policy"] === "no-referrer", "the link page leaks no referrer");
    expect((response.headers()["cache-control"] || "").includes("no-store"), "the link page is not cached");
    await page.locator("#reset-form").waitFor();
    await page.locator("#reset-password1").fill(resetPassword);
    await page.locator("#reset-password2").fill(resetPassword);
    await shot("11-reset-link");
    await page.locator("#reset-form").getByRole("button", { name: "Set new password" }).click();
    await page.locator("#link-done").waitFor();
    await shot("12-password-reset");
  });

  await step("the reset password signs in, the one before does not", async () => {
    await page.goto(`${base}/account/`);
    const form = page.locator("#login-form");
    await form.getByLabel("Email").fill(email);
    await form.getByLabel("Password").fill(newPassword);
    await form.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("Invalid credentials").waitFor();
    await form.getByLabel("Password").fill(resetPassword);
    await form.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("Signed in.").waitFor();
    await shot("13-signed-in-after-reset");
  });

  await step("a new address is used once confirmed from the mail sent to it", async () => {
    const before = messageFiles(mailDir);
    await page.locator("#new-email").fill(newEmail);
    await page.locator("#email-change-password").fill(resetPassword);
    await page.locator("#email-change-form").getByRole("button", { name: "Change address" }).click();
    await page.getByText("Confirmation e-mail sent.").waitFor();
    expect(await page.locator("#nav-name").textContent() === email, "the address changes only once confirmed");
    await shot("14-email-change-requested");
    // The old address is told, without a link; the new one gets the link.
    await waitForNotice(before, email);
    const { link } = await waitForLink(mailDir, before, newEmail, "/account/email-change/");
    await page.goto(link);
    await page.locator("#email-change-confirm-button").click();
    await page.locator("#link-done").waitFor();
    await shot("15-email-change-confirmed");
    await page.goto(`${base}/account/`);
    await page.locator("#account").waitFor();
    await page.waitForFunction((address) => document.querySelector("#nav-name").textContent === address, newEmail);
    expect((await page.locator("#email-status").textContent()).trim() === "verified", "the new address was proved");
  });

  await step("a forgotten password is reset with the code typed from the mail", async () => {
    await page.getByRole("button", { name: "Sign out", exact: true }).click();
    await page.getByText("You are signed out.").waitFor();
    const before = messageFiles(mailDir);
    await page.locator("#forgot-link").click();
    await page.locator("#forgot-email").fill(newEmail);
    await page.locator("#forgot-form").getByRole("button", { name: "Send reset e-mail" }).click();
    await page.locator("#reset-code-form").waitFor();
    const { message } = await waitForLink(mailDir, before, newEmail, "/account/reset/");
    await page.locator("#reset-code").fill(code(message) === "00000000" ? "11111111" : "00000000");
    await page.locator("#reset-password1").fill(codePassword);
    await page.locator("#reset-password2").fill(codePassword);
    await page.locator("#reset-code-form").getByRole("button", { name: "Set new password" }).click();
    await page.getByText("The code is wrong or has expired.").waitFor();
    await page.locator("#reset-code").fill(code(message));
    await shot("16-reset-code");
    await page.locator("#reset-code-form").getByRole("button", { name: "Set new password" }).click();
    await page.getByText("You can sign in now.").waitFor();
    const form = page.locator("#login-form");
    await form.getByLabel("Email").fill(newEmail);
    await form.getByLabel("Password").fill(codePassword);
    await form.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("Signed in.").waitFor();
    await shot("17-signed-in-after-code");
  });

  // ---- the admin console ----

  await step("a signed-in user who is not staff sees only that the console is for staff", async () => {
    const response = await page.goto(`${base}/admin/`);
    const policy = response.headers()["content-security-policy"] || "";
    expect(policy.includes("script-src 'self'") && !policy.includes("unsafe-inline"), `weak CSP: ${policy}`);
    await page.getByRole("heading", { name: "Staff only" }).waitFor();
    expect(!(await page.locator("#console").isVisible()), "the console is hidden");
    expect(await page.locator("#users tr").count() === 0, "no user listed");
    await shot("20-admin-refused");
    await page.locator("#refused-logout").click();
    await page.getByText("You are signed out.").waitFor();
  });

  await step("staff sign in to the admin console", async () => {
    const form = page.locator("#login-form");
    await form.getByLabel("Email").fill(adminEmail);
    await form.getByLabel("Password").fill(adminPassword);
    await form.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#console").waitFor();
    await page.locator("#users tr").first().waitFor();
    expect(await page.locator("#nav-name").textContent() === adminEmail, "the header names the staff member");
    await shot("21-admin-signed-in");
  });

  await step("staff search for a user and filter the list", async () => {
    await page.locator("#user-search-text").fill(newEmail);
    await page.locator("#user-search-button").click();
    await page.waitForFunction(() => document.querySelectorAll("#users tr").length === 1);
    expect((await page.locator("#users tr").textContent()).includes(newEmail), "the user is found");
    await page.locator("#filter-staff").selectOption("true");
    await page.locator("#user-search-button").click();
    await page.waitForFunction(() => document.querySelectorAll("#users tr").length === 0);
    await page.locator("#filter-staff").selectOption("");
    await page.locator("#filter-verified").selectOption("true");
    await page.locator("#user-search-button").click();
    await page.waitForFunction(() => document.querySelectorAll("#users tr").length === 1);
    await shot("22-admin-search");
  });

  await step("staff edit a field of the user", async () => {
    await page.locator("#users tr", { hasText: newEmail }).click();
    await page.locator("#user-detail").waitFor();
    expect(await page.locator("#user-title").textContent() === newEmail, "the user is open");
    await page.locator("#user-last-name").fill("Byron");
    await page.locator("#user-save").click();
    await page.getByText("User saved.").waitFor();
    await page.waitForFunction(() => /Byron/.test(document.querySelector("#users").textContent));
    const stored = await page.evaluate(async (path) => (await fetch(path)).json(), `${base}/api/admin/users/?search=${encodeURIComponent(newEmail)}`);
    expect(stored.results[0].last_name === "Byron", `the change was stored: ${JSON.stringify(stored)}`);
    await shot("23-admin-edited");
  });

  await step("staff see the user's sessions and revoke them", async () => {
    const other = await fetch(`${base}/api/auth/login/`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "User-Agent": "curl/8.5.0" },
      body: JSON.stringify({ email: newEmail, password: codePassword }),
    });
    expect(other.status === 200, `the user's login: ${other.status}`);
    const access = (await other.json()).access;
    await page.locator("#users tr", { hasText: newEmail }).click();
    await page.locator("#user-sessions li", { hasText: "curl/8.5.0" }).waitFor();
    await shot("24-admin-sessions");
    await page.locator("#user-revoke-sessions").click();
    await page.getByText(/Sessions ended: [1-9]/).waitFor();
    await page.locator("#user-sessions li", { hasText: "No live session." }).waitFor();
    const refused = await fetch(`${base}/api/auth/profile/`, { headers: { Authorization: `Bearer ${access}` } });
    expect(refused.status === 401, `the revoked session's token still works: ${refused.status}`);
  });

  await step("staff deactivate the user, who can no longer sign in", async () => {
    await page.locator("#user-toggle-active").click();
    await page.getByText("User deactivated").waitFor();
    expect(!(await page.locator("#user-is-active").isChecked()), "the form shows the user inactive");
    expect((await page.locator("#user-toggle-active").textContent()) === "Activate", "the button now activates");
    const login = await fetch(`${base}/api/auth/login/`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: newEmail, password: codePassword }),
    });
    expect(login.status !== 200, `an inactive user signed in: ${login.status}`);
    await page.locator("#filter-verified").selectOption("");
    await page.locator("#filter-active").selectOption("false");
    await page.locator("#user-search-text").fill("");
    await page.locator("#user-search-button").click();
    await page.waitForFunction((address) => [...document.querySelectorAll("#users tr")].some((row) => row.textContent.includes(address)), newEmail);
    await shot("25-admin-deactivated");
  });

  await step("the audit log shows what staff did", async () => {
    await page.locator("#tab-audit").click();
    await page.locator("#audit-event").fill("admin.");
    await page.locator("#audit-search").click();
    await page.locator("#audit tr", { hasText: "admin.user_updated" }).first().waitFor();
    await page.locator("#audit tr", { hasText: "admin.sessions_revoked" }).first().waitFor();
    await shot("26-admin-audit");
  });

  await step("staff delete the user after confirming", async () => {
    await page.locator("#tab-users").click();
    await page.locator("#user-search-text").fill(newEmail);
    await page.locator("#filter-active").selectOption("");
    await page.locator("#user-search-button").click();
    await page.waitForFunction(() => document.querySelectorAll("#users tr").length === 1);
    await page.locator("#users tr", { hasText: newEmail }).click();
    await page.locator("#user-delete").click();
    await page.locator("#user-delete-confirm").waitFor();
    await shot("27-admin-delete-confirm");
    await page.locator("#user-delete-yes").click();
    await page.getByText("User deleted.").waitFor();
    await page.waitForFunction(() => document.querySelectorAll("#users tr").length === 0);
  });

  await step("staff generate, rotate and retire signing keys with their schedule shown", async () => {
    await page.locator("#tab-keys").click();
    await page.locator("#keys tr", { hasText: "active" }).first().waitFor();
    const before = await page.locator("#keys tr").count();
    await page.locator("#key-generate").click();
    await page.getByText(/generated and published/).waitFor();
    await page.waitForFunction((count) => document.querySelectorAll("#keys tr").length === count + 1, before);
    await page.locator("#keys tr", { hasText: "published" }).first().waitFor();
    await page.locator("#key-rotate").click();
    await page.getByText(/^Key \S+ signs/).waitFor();
    const rotated = (await page.locator("#message").textContent()).split(" ")[1];
    const row = page.locator(`#keys tr[data-kid="${rotated}"]`);
    await row.waitFor();
    expect(/scheduled|active/.test(await row.textContent()), `the rotated key: ${await row.textContent()}`);
    await shot("28-admin-keys-rotated");
    await row.getByRole("button", { name: "Retire" }).click();
    await row.getByRole("button", { name: "Really retire?" }).click();
    await page.getByText(`Key ${rotated} retired`).waitFor();
    await page.waitForFunction((kid) => /retired/.test(document.querySelector(`#keys tr[data-kid="${kid}"]`).textContent), rotated);
    const cells = await page.locator(`#keys tr[data-kid="${rotated}"] td`).allTextContents();
    expect(cells[6] !== "—", `no end of verification shown: ${cells}`);
    await shot("29-admin-keys-retired");
  });

  // ---- second factors, passkeys and social sign-in, for a new user ----

  const grace = `grace.${Date.now()}@example.com`;
  const gracePassword = "Cobol-Compiler-1959";
  let secret = "";
  let usedStep = 0;
  let recoveryCodes = [];
  // A TOTP code the server has not seen: this time step's, or the one after the last used
  // (a step early is accepted), so the journey never waits for the clock.
  const freshCode = () => {
    usedStep = Math.max(timeStep(), usedStep + 1);
    return totp(secret, usedStep);
  };
  async function signInWithPassword(address, secretWord) {
    const form = page.locator("#login-form");
    await form.getByLabel("Email").fill(address);
    await form.getByLabel("Password").fill(secretWord);
    await form.getByRole("button", { name: "Sign in", exact: true }).click();
  }
  async function signOut() {
    await page.getByRole("button", { name: "Sign out", exact: true }).click();
    await page.getByText("You are signed out.").waitFor();
  }

  await step("a user turns on two-factor authentication from the QR code and sees the recovery codes once", async () => {
    // A fresh browser profile: the staff session of the console steps is left behind.
    await context.clearCookies();
    await page.goto(`${base}/account/`);
    await page.getByRole("heading", { name: "Welcome back" }).waitFor();
    await page.getByRole("tab", { name: "Create account" }).click();
    const form = page.locator("#register-form");
    await form.getByLabel("First name").fill("Grace");
    await form.getByLabel("Last name").fill("Hopper");
    await form.getByLabel("Email").fill(grace);
    await form.getByLabel("Password", { exact: true }).fill(gracePassword);
    await form.getByLabel("Confirm password").fill(gracePassword);
    await form.getByRole("button", { name: "Create account" }).click();
    await page.getByText("Welcome! Your account is ready.").waitFor();
    await page.waitForFunction(() => document.querySelector("#mfa-status").textContent === "off");
    await page.getByRole("button", { name: "Set up two-factor authentication" }).click();
    await page.waitForFunction(() => {
      const img = document.querySelector("#mfa-qr");
      return img.complete && img.naturalWidth > 0;
    });
    expect((await page.locator("#mfa-qr").getAttribute("src")).startsWith("data:image/svg+xml"), "the QR code is an image");
    secret = (await page.locator("#mfa-secret").textContent()).replace(/\s+/g, "");
    expect(/^[A-Z2-7]{16,}$/.test(secret), `a base32 key: ${secret}`);
    await shot("30-mfa-setup");
    const confirm = page.locator("#mfa-confirm-form");
    const code = freshCode();
    await confirm.getByLabel("Authentication code").fill(code === "000000" ? "111111" : "000000");
    await confirm.getByRole("button", { name: "Turn on" }).click();
    await confirm.getByText("Invalid code.").waitFor();
    await confirm.getByLabel("Authentication code").fill(code);
    await confirm.getByRole("button", { name: "Turn on" }).click();
    await page.locator("#mfa-recovery-codes li").nth(9).waitFor();
    recoveryCodes = await page.locator("#mfa-recovery-codes li").allTextContents();
    expect(recoveryCodes.length === 10 && new Set(recoveryCodes).size === 10, `ten recovery codes: ${recoveryCodes}`);
    expect(await page.locator("#mfa-status").textContent() === "on", "the status says on");
    expect(await page.locator("#mfa-secret").textContent() === "", "the key is gone from the page");
    await shot("31-mfa-recovery-codes");
    await page.getByRole("button", { name: "I have saved them" }).click();
    expect(await page.locator("#mfa-recovery-codes li").count() === 0, "the codes are shown once");
    await page.getByText("10 recovery codes left.").waitFor();
  });

  await step("signing in asks for the second factor, and a TOTP code passes it", async () => {
    await signOut();
    await signInWithPassword(grace, gracePassword);
    await page.getByRole("heading", { name: "Two-factor authentication" }).waitFor();
    const names = (await context.cookies()).map((c) => c.name);
    expect(!names.includes("access_token") && !names.includes("refresh_token"), `cookies before the second step: ${names}`);
    const step2 = page.locator("#mfa-form");
    expect(await step2.getByRole("button", { name: "Use a passkey" }).isHidden(), "no passkey offered to a user without one");
    await step2.getByLabel("Authentication code").fill("12345");
    await step2.getByRole("button", { name: "Verify" }).click();
    await step2.getByText("Invalid code.").waitFor();
    await shot("32-mfa-step");
    await step2.getByLabel("Authentication code").fill(freshCode());
    await step2.getByRole("button", { name: "Verify" }).click();
    await page.getByText("Signed in.").waitFor();
    expect(await page.locator("#nav-name").textContent() === grace, "signed in as the user");
    await shot("33-mfa-signed-in");
  });

  await step("a recovery code passes the second step once", async () => {
    await signOut();
    await signInWithPassword(grace, gracePassword);
    const step2 = page.locator("#mfa-form");
    await step2.getByRole("button", { name: "Use a recovery code" }).click();
    await step2.getByLabel("Recovery code").fill(recoveryCodes[0]);
    await shot("34-mfa-recovery-code");
    await step2.getByRole("button", { name: "Verify" }).click();
    await page.getByText("Signed in.").waitFor();
    await page.getByText("9 recovery codes left.").waitFor();
    // The same code does not work twice.
    const login = await fetch(`${base}/api/auth/login/`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: grace, password: gracePassword }),
    });
    const pendingLogin = await login.json();
    expect(login.status === 401 && pendingLogin.code === "mfa_required", `the JSON login: ${login.status}`);
    const again = await fetch(`${base}/api/auth/mfa/verify/`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ mfa_token: pendingLogin.mfa_token, code: recoveryCodes[0] }),
    });
    expect(again.status === 400, `a used recovery code: ${again.status}`);
  });

  await step("a passkey from the virtual authenticator signs in alone and as the second factor", async () => {
    const cdp = await context.newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2", transport: "internal", hasResidentKey: true,
        hasUserVerification: true, isUserVerified: true,
      },
    });
    const add = page.locator("#passkey-add-form");
    await add.getByLabel("Name").fill("Journey laptop");
    // A wrong password is refused after the ceremony; the ceremony stays open, so the right
    // one finishes it without a second passkey.
    await add.getByLabel("Current password").fill("not the password");
    await add.getByRole("button", { name: "Add a passkey" }).click();
    await add.locator('.error[data-for="password"]').filter({ hasText: /\S/ }).waitFor();
    await add.getByLabel("Current password").fill(gracePassword);
    await add.getByRole("button", { name: "Add a passkey" }).click();
    await page.getByText('Passkey "Journey laptop" added.').waitFor();
    const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    expect(credentials.length === 1 && credentials[0].isResidentCredential, "one discoverable credential made");
    const item = page.locator("#passkeys li", { hasText: "Journey laptop" });
    await item.getByText("never used").waitFor();
    await item.getByRole("button", { name: "Rename" }).click();
    await page.locator("#passkeys").getByLabel("New name").fill("Virtual key");
    await page.locator("#passkeys").getByRole("button", { name: "Save" }).click();
    await page.getByText("Passkey renamed.").waitFor();
    await page.locator("#passkeys li", { hasText: "Virtual key" }).waitFor();
    await shot("35-passkey-added");

    // Alone (passkey_login is on): no address, no password.
    await signOut();
    await page.getByRole("button", { name: "Sign in with a passkey" }).click();
    await page.getByText("Signed in.").waitFor();
    expect(await page.locator("#nav-name").textContent() === grace, "the passkey signed the user in");
    await page.locator("#passkeys li", { hasText: "last used" }).waitFor();
    await shot("36-passkey-sign-in");

    // As the second factor of a password sign-in.
    await signOut();
    await signInWithPassword(grace, gracePassword);
    const step2 = page.locator("#mfa-form");
    await step2.getByRole("button", { name: "Use a passkey" }).waitFor();
    await shot("37-passkey-second-factor");
    await step2.getByRole("button", { name: "Use a passkey" }).click();
    await page.getByText("Signed in.").waitFor();
    expect(await page.locator("#nav-name").textContent() === grace, "the passkey passed the second step");

    const key = page.locator("#passkeys li", { hasText: "Virtual key" });
    await key.getByRole("button", { name: "Delete" }).click();
    await key.getByRole("button", { name: "Really delete?" }).click();
    await page.getByText("Passkey deleted.").waitFor();
    await page.waitForFunction(() => document.querySelectorAll("#passkeys li").length === 0);
    await cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId });
  });

  await step("the provider's button signs in a new user whose only way in cannot be unlinked", async () => {
    await signOut();
    await page.locator("#social-buttons").getByRole("link", { name: "Journey ID" }).waitFor();
    await shot("38-social-button");
    await page.locator("#social-buttons").getByRole("link", { name: "Journey ID" }).click();
    await page.waitForURL(`${base}/account/`);
    await page.locator("#account").waitFor();
    await page.waitForFunction((address) => document.querySelector("#nav-name").textContent === address, socialEmail);
    const identity = page.locator("#identities li", { hasText: "Journey ID" });
    await identity.waitFor();
    expect((await identity.textContent()).includes(socialEmail), "the identity names the provider's address");
    expect((await page.locator("#email-status").textContent()).trim() === "verified", "the provider vouched for the address");
    await identity.getByRole("button", { name: "Unlink" }).click();
    await page.getByText("This is the only way left to sign in to this account").waitFor();
    expect(await page.locator("#message").evaluate((box) => box.classList.contains("bad")), "shown as a refusal");
    expect(await page.locator("#identities li").count() === 1, "the identity is still linked");
    await shot("39-social-signed-in");
  });
} catch {
  // reported by step()
} finally {
  await browser.close();
  evil.close();
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
}
