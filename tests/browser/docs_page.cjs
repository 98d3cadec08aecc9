#!/usr/bin/env node
// The API reference that `make dev` serves at /docs (Redoc over openapi.yaml, both from the
// router) in headless Chromium: every tag of the document must render as a section, and
// every operation's summary must be on the page. Leaves OUT_DIR/docs.png.
//
//   node tests/browser/docs_page.cjs FACTS_JSON OUT_DIR
//
// Run by tests/tests/integration/docs_page.rs (make test). Requests that leave the router are refused:
// the page must work with nothing from a CDN.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");

const ROOT = path.resolve(__dirname, "../..");
const { chromium } = require(path.join(ROOT, ".tools/npm/node_modules/playwright-core"));

const [factsPath, outDir] = process.argv.slice(2);
if (!factsPath || !outDir) {
  console.error("usage: docs_page.cjs FACTS_JSON OUT_DIR");
  process.exit(2);
}
const base = JSON.parse(fs.readFileSync(factsPath, "utf8")).baseUrl;

// The top-level tags and the operations' summaries, read from the YAML as the generator
// writes it (one `- name:` per tag under `tags:`, `summary:` on one line).
const yaml = fs.readFileSync(path.join(ROOT, "openapi.yaml"), "utf8");
const tags = [];
let inTags = false;
for (const line of yaml.split("\n")) {
  if (/^tags:/.test(line)) inTags = true;
  else if (inTags && line.startsWith("- name: ")) tags.push(line.slice(8).trim());
  else if (/^\S/.test(line) && !line.startsWith("- ")) inTags = false;
}
const summaries = [...yaml.matchAll(/^ {6}summary: (.+)$/gm)].map((m) => m[1].replace(/^'|'$/g, "").replace(/''/g, "'"));

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "cardvault-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  const outside = [];
  try {
    const page = await context.newPage();
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(base) || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
      outside.push(url);
      return route.abort();
    });
    const resp = await page.goto(`${base}/docs`, { waitUntil: "load" });
    if (!resp || resp.status() !== 200) throw new Error(`/docs answered ${resp && resp.status()}`);
    // Redoc renders each tag as an <h2>/<h1> section heading once the document is parsed.
    await page.waitForSelector(".api-content", { timeout: 60000 });
    const missing = [];
    for (const tag of tags) {
      const n = await page.locator("h1, h2").filter({ hasText: tag }).count();
      if (n === 0) missing.push(`tag ${tag}`);
    }
    const text = await page.locator(".api-content").innerText();
    for (const s of summaries) if (!text.includes(s)) missing.push(`operation ${s}`);
    const shot = path.join(outDir, "docs.png");
    await page.screenshot({ path: shot });
    console.log(JSON.stringify({ tags, operations: summaries.length, missing, outside, screenshot: shot }));
    if (tags.length !== 5 || missing.length || outside.length) process.exitCode = 1;
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
