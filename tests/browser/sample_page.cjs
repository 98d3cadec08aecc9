#!/usr/bin/env node
// Fusebill's "Sample Code For Testing" page (seed 002, kept verbatim as the fixture
// tests/tests/integration/documents/fixtures/002/sample-page.html) in headless Chromium against a
// running cardvault: `make test` (tests/tests/integration/documents/redirect_002.rs runs this) or
// `make dev` (`make sample-page`).
//
//   node tests/browser/sample_page.cjs FACTS_JSON OUT_DIR
//
// FACTS_JSON is .tools/dev.json or make test's stack.json. The page is served, as Chromium
// sees it, from the first demo tenant's allowed origin (http://localhost:3000), with only
// hosts and keys substituted: the paymentsv2 URL points at cardvault, jQuery 2.1.1 comes
// from .tools/npm (never a CDN), and Google's reCAPTCHA script is a stand-in widget that
// hands the page the local siteverify's pass token when its box is clicked. Every other
// request is refused: nothing leaves the machine.
//
// It creates a customer of that tenant, then plays each scenario as a person would: types
// into the page's fields, ticks the box, presses "Submit Card", and records the page's two
// alerts (the request it sends, then the outcome that parseAndBuildErrorMessage builds)
// with the HTTP status and CORS header the browser got. It prints one JSON object,
// {"scenarios": [...], "screenshot": PATH}, and leaves OUT_DIR/sample-page.png: the page
// with every outcome shown under it.
"use strict";

const fs = require("fs");
const path = require("path");
const { ROOT, TOOLS, args, withChromium, recaptchaStandIn, merchantApi } = require("./lib.cjs");

const { facts, outDir } = args("sample_page.cjs");
const tenant = facts.tenants[0];
const origin = tenant.allowedOrigin;
const passToken = facts.recaptcha.passToken;

// The page as Chromium gets it: the document's text, hosts and keys substituted.
const verbatim = fs.readFileSync(
  path.join(ROOT, "tests/tests/integration/documents/fixtures/002/sample-page.html"),
  "utf8",
);
const SUBSTITUTIONS = [
  ["https://payments.subscriptionplatform.com", facts.baseUrl],
  ["http://ajax.googleapis.com", origin],
  ["https://www.google.com", origin],
  ["<Public Site Key>", "cardvault-local-site-key"],
];
let page_html = verbatim;
for (const [from, to] of SUBSTITUTIONS) {
  if (!page_html.includes(from)) throw new Error(`the sample page no longer has ${from}`);
  page_html = page_html.split(from).join(to);
}
const jquery = fs.readFileSync(path.join(TOOLS, "npm/node_modules/jquery/dist/jquery.min.js"));

// Google's widget, reduced to a box whose ticking hands the page the pass token (lib.cjs).
const RECAPTCHA_STAND_IN = recaptchaStandIn(passToken);

function scenarios(customerId) {
  const real = { CustomerId: String(customerId), PublicApiKey: tenant.publicApiKey };
  const card = { CardNumber: "4242424242424242", ExpirationYear: "30" };
  return [
    // The page exactly as it loads: "your customer id here", "your key here".
    { name: "as loaded", fields: {} },
    { name: "customer id only", fields: { CustomerId: String(customerId) } },
    { name: "no customer id", fields: { CustomerId: "", PublicApiKey: tenant.publicApiKey } },
    {
      name: "invalid card",
      fields: { ...real, CardNumber: "4111111111111112", ExpirationYear: "23", Cvv: "12" },
    },
    { name: "declined", fields: { ...real, ...card, CardNumber: "4000000000000002" } },
    {
      name: "reCAPTCHA refused",
      fields: { ...real, ...card },
      token: "not-a-real-token-" + Date.now(),
    },
    { name: "body too large", fields: { ...real, ...card, FirstName: "J".repeat(17000) } },
    { name: "added", fields: { ...real, ...card } },
  ];
}

async function main() {
  const merchant = merchantApi(facts.baseUrl, tenant.privateApiKey);
  const customer = await merchant.post("/v1/customers", { firstName: "John", lastName: "Doe" });
  return withChromium(async (context) => {
    const results = [];
    await context.route("**/*", (route) => {
      const url = new URL(route.request().url());
      if (url.origin === origin && url.pathname === "/sample.html") {
        return route.fulfill({ contentType: "text/html; charset=utf-8", body: page_html });
      }
      if (url.origin === origin && url.pathname === "/ajax/libs/jquery/2.1.1/jquery.min.js") {
        return route.fulfill({ contentType: "application/javascript", body: jquery });
      }
      if (url.origin === origin && url.pathname === "/recaptcha/api.js") {
        return route.fulfill({ contentType: "application/javascript", body: RECAPTCHA_STAND_IN });
      }
      if (url.href.startsWith(facts.baseUrl + "/")) return route.continue();
      return route.abort();
    });
    const page = context.pages()[0] || (await context.newPage());
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    for (const s of scenarios(customer.id)) {
      await page.goto(origin + "/sample.html");
      await page.waitForFunction(() => document.getElementById("stand-in-box"));
      for (const [id, value] of Object.entries(s.fields)) await page.fill("#" + id, value);
      await page.check("#stand-in-box");
      if (s.token) await page.evaluate((t) => $("input#recaptcha_token").val(t), s.token);
      const alerts = [];
      const outcome = new Promise((resolve) => {
        const onDialog = async (dialog) => {
          alerts.push(dialog.message());
          await dialog.accept();
          if (alerts.length === 2) {
            page.off("dialog", onDialog);
            resolve();
          }
        };
        page.on("dialog", onDialog);
      });
      const response = page.waitForResponse(
        (r) => r.url().startsWith(facts.baseUrl + "/api/paymentsv2") && r.request().method() === "POST"
      );
      await page.click("#mySubmit");
      const resp = await response;
      await Promise.race([
        outcome,
        new Promise((_, reject) => setTimeout(() => reject(new Error(`${s.name}: no outcome alert`)), 30000)),
      ]);
      results.push({
        name: s.name,
        status: resp.status(),
        allowOrigin: resp.headers()["access-control-allow-origin"] || null,
        sent: alerts[0].length > 300 ? alerts[0].slice(0, 300) + "…" : alerts[0],
        shown: alerts[1],
        pageErrors: pageErrors.splice(0),
      });
    }
    // The page once more, with what each scenario showed under it, for a person to look at.
    await page.goto(origin + "/sample.html");
    await page.waitForFunction(() => document.getElementById("stand-in-box"));
    await page.evaluate((rows) => {
      const box = document.createElement("div");
      box.style.cssText = "font:13px sans-serif;border-top:2px solid #333;margin-top:12px";
      box.innerHTML = "<h3>What the page showed (its alert), scenario by scenario</h3>";
      for (const r of rows) {
        const row = document.createElement("div");
        row.style.cssText = "margin:6px 0;padding:4px;background:#f4f4f4";
        const head = document.createElement("b");
        head.textContent = `${r.name} — HTTP ${r.status}, CORS ${r.allowOrigin || "none"}: `;
        const shown = document.createElement("span");
        // The page alerts HTML (a <ul> for several errors): render it as the page built it.
        shown.innerHTML = r.shown;
        row.append(head, shown);
        box.append(row);
      }
      document.body.append(box);
    }, results);
    const screenshot = path.join(outDir, "sample-page.png");
    await page.screenshot({ path: screenshot, fullPage: true });
    process.stdout.write(JSON.stringify({ scenarios: results, screenshot }, null, 2) + "\n");
  });
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
