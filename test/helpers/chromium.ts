/**
 * Headless Chromium (Debian's `chromium` package) driven by playwright-core,
 * for rendering the HTML report. .ci/run installs the package; where it is
 * absent the tests that need it skip with a visible reason.
 */
import { existsSync } from "node:fs";

import { chromium, type Browser } from "playwright-core";

export const CHROMIUM_PATH: string | undefined = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].find(
  (p): p is string => Boolean(p && existsSync(p)),
);

if (!CHROMIUM_PATH) console.warn("[shortgpt tests] chromium is not installed: HTML rendering tests are skipped");

export async function launchChromium(): Promise<Browser> {
  if (!CHROMIUM_PATH) throw new Error("chromium is not installed");
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // No network in this sandbox: keep Chromium from trying to reach Google's services.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}
