#!/usr/bin/env node
// tests/browser/pages/add_card_3ds.html in headless Chromium against a running cardvault:
// cards whose issuer asks for 3-D Secure, finished with Stripe.js as a cardholder would.
// `make test` (tests/tests/integration/documents/three_ds_pages.rs runs this) or `make dev`
// (`make sample-page`).
//
//   node tests/browser/add_card_3ds.cjs FACTS_JSON OUT_DIR
//
// FACTS_JSON is .tools/dev.json or make test's stack.json. The page is served, as Chromium
// sees it, from the first demo tenant's allowed origin (http://localhost:3000), with the
// config.js its merchant's server would write. Stripe.js is localstripe's stand-in
// (<stripeUrl>/js.stripe.com/v3/, infra/localstripe_cardvault.js), whose 3-D Secure
// challenge is a modal with "Complete authentication" / "Fail authentication"; Google's
// reCAPTCHA script is the stand-in of lib.cjs. Every other request is refused.
//
// It creates a customer of that tenant and adds, one after another on the same page: a card
// that needs no authentication (4242…), Stripe's three 3-D Secure setup cards with the
// challenge passed, and 4000002760003184 once with it failed (first, so the same card can
// then be added). It checks each outcome the page shows and the statuses cardvault
// answered, then lists the customer's cards through the merchant API: the four added, the
// failed one absent, the default where the page's choices put it. It prints one JSON object
// (cards by last four digits only) and leaves OUT_DIR/add-card-3ds.png, the page with every
// outcome, and OUT_DIR/add-card-3ds-challenge.png, the first challenge as it shows. Exit 1
// on any mismatch, listing them.
"use strict";

const fs = require("fs");
const path = require("path");
const { ROOT, args, withChromium, recaptchaStandIn, merchantApi, timeout } = require("./lib.cjs");

const { facts, outDir } = args("add_card_3ds.cjs");
const tenant = facts.tenants[0];
const origin = tenant.allowedOrigin;
const PAYMENTS = facts.baseUrl + "/api/paymentsv2";
const page_html = fs.readFileSync(path.join(ROOT, "tests/browser/pages/add_card_3ds.html"), "utf8");

// What the page does with each card; `challenge` is the button pressed in the issuer's
// challenge (none: there must be no challenge).
const SCENARIOS = [
  { name: "no authentication", number: "4242424242424242", challenge: null, isDefault: true },
  { name: "3DS required, completed", number: "4000002500003155", challenge: "Complete authentication", isDefault: false },
  { name: "3DS always, failed", number: "4000002760003184", challenge: "Fail authentication", isDefault: null },
  { name: "3DS always, completed", number: "4000002760003184", challenge: "Complete authentication", isDefault: false },
  {
    name: "3DS required, completed, made default",
    number: "4000000000003220",
    challenge: "Complete authentication",
    makeDefault: true,
    isDefault: true,
  },
];

function configJs(customerId) {
  const config = {
    cardvaultUrl: facts.baseUrl,
    publicApiKey: tenant.publicApiKey,
    customerId: String(customerId),
    recaptchaSiteKey: "cardvault-local-site-key",
    stripeJsUrl: facts.stripeUrl + "/js.stripe.com/v3/",
    stripePublishableKey: "pk_test_cardvault_platform",
    stripeAccount: (tenant.stripe && tenant.stripe.accountId) || null,
  };
  return `window.CARDVAULT_PAGE = ${JSON.stringify(config, null, 2)};\n`;
}

async function main() {
  const merchant = merchantApi(facts.baseUrl, tenant.privateApiKey);
  const customer = await merchant.post("/v1/customers", { firstName: "Jane", lastName: "Roe" });
  const mismatches = [];
  const expect = (what, got, want) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      mismatches.push(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    }
  };

  return withChromium(async (context) => {
    await context.route("**/*", (route) => {
      const url = new URL(route.request().url());
      if (url.origin === origin && url.pathname === "/add_card_3ds.html") {
        return route.fulfill({ contentType: "text/html; charset=utf-8", body: page_html });
      }
      if (url.origin === origin && url.pathname === "/config.js") {
        return route.fulfill({ contentType: "application/javascript", body: configJs(customer.id) });
      }
      if (url.href.startsWith("https://www.google.com/recaptcha/api.js")) {
        return route.fulfill({
          contentType: "application/javascript",
          body: recaptchaStandIn(facts.recaptcha.passToken),
        });
      }
      if (url.href.startsWith(facts.baseUrl + "/")) return route.continue();
      if (url.href.startsWith(facts.stripeUrl + "/")) return route.continue();
      return route.abort();
    });
    const page = context.pages()[0] || (await context.newPage());
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    // cardvault's answers to the page, in order: the add, then (after a challenge) the confirm.
    const answers = [];
    page.on("response", async (r) => {
      if (r.request().method() !== "POST" || !r.url().startsWith(PAYMENTS)) return;
      const sent = JSON.parse(r.request().postData() || "{}");
      answers.push({
        call: sent.setupIntentClientSecret ? "confirm" : "add",
        status: r.status(),
        allowOrigin: r.headers()["access-control-allow-origin"] || null,
        body: await r.json().catch(() => null),
      });
    });

    await page.goto(origin + "/add_card_3ds.html");
    await page.waitForSelector("#stand-in-box");
    const results = [];
    for (const s of SCENARIOS) {
      const shownBefore = await page.locator("#outcomes li").count();
      await page.fill("#cardNumber", s.number);
      await page.fill("#expiry", "12/30");
      await page.fill("#cvv", "123");
      await page.fill("#firstName", "Jane");
      await page.fill("#lastName", "Roe");
      await page.setChecked("#makeDefault", Boolean(s.makeDefault));
      await page.check("#stand-in-box");
      await page.click("#submit");
      let challenged = false;
      if (s.challenge) {
        // localstripe's modal stands for the issuer's page: a person reads it and answers.
        const button = page.getByRole("button", { name: s.challenge });
        await button.waitFor({ timeout: 30000 });
        challenged = true;
        if (!results.some((r) => r.challenged)) {
          await page.screenshot({ path: path.join(outDir, "add-card-3ds-challenge.png"), fullPage: true });
        }
        await button.click();
      }
      const row = page.locator("#outcomes li").nth(shownBefore);
      await Promise.race([row.waitFor({ timeout: 30000 }), timeout(31000, `${s.name}: no outcome`)]);
      const shown = await row.evaluate((li) => ({
        outcome: li.dataset.outcome,
        id: li.dataset.id ? Number(li.dataset.id) : null,
        isDefault: li.dataset.isDefault === undefined ? null : li.dataset.isDefault === "true",
        text: li.textContent,
      }));
      const calls = answers.splice(0);
      const add = calls.find((c) => c.call === "add") || {};
      const confirm = calls.find((c) => c.call === "confirm") || null;
      const action = (add.body && add.body.RequiresAction) || null;
      const result = {
        name: s.name,
        last4: s.number.slice(-4),
        challenge: s.challenge,
        challenged,
        addStatus: add.status,
        requiresAction: action && {
          type: action.Type,
          idIsSetupIntent: /^seti_/.test(action.Id),
          clientSecretNamesIt: action.ClientSecret.startsWith(action.Id + "_secret_"),
          paymentMethodId: action.PaymentMethodId,
        },
        confirmStatus: confirm && confirm.status,
        allowOrigin: [...new Set(calls.map((c) => c.allowOrigin))],
        shown,
        pageErrors: pageErrors.splice(0),
      };
      results.push(result);

      const wantAdded = s.challenge !== "Fail authentication";
      expect(`${s.name}: add status`, add.status, s.challenge ? 402 : 200);
      expect(`${s.name}: RequiresAction`, action && action.Type, s.challenge ? "setup_intent" : null);
      expect(`${s.name}: confirm posted`, Boolean(confirm), Boolean(s.challenge));
      if (s.challenge && wantAdded) expect(`${s.name}: confirm status`, confirm && confirm.status, 200);
      if (s.challenge && !wantAdded) {
        expect(`${s.name}: confirm after a failure is refused`, confirm && confirm.status !== 200, true);
      }
      expect(`${s.name}: CORS`, result.allowOrigin, [origin]);
      expect(`${s.name}: shown`, shown.outcome, wantAdded ? "added" : "failed");
      if (wantAdded) {
        expect(`${s.name}: masked number shown`, shown.text.includes("************" + result.last4), true);
        expect(`${s.name}: isDefault`, shown.isDefault, s.isDefault);
        if (action) expect(`${s.name}: the pending card's id`, shown.id, action.PaymentMethodId);
      } else {
        expect(`${s.name}: says authentication failed`, /authentication failed/i.test(shown.text), true);
        expect(`${s.name}: names the card`, shown.text.includes(result.last4), true);
      }
      expect(`${s.name}: page errors`, result.pageErrors, []);
    }

    // The customer's cards as the merchant's server sees them: the four added (the failed
    // attempt neither listed nor pending), the last one the default.
    const listed = await merchant.get(`/v1/customers/${customer.id}/paymentMethods/creditCard`);
    const cards = (Array.isArray(listed) ? listed : listed.paymentMethods || listed.items || [])
      .map((c) => ({ id: c.id, last4: String(c.maskedCardNumber).slice(-4), isDefault: c.isDefault }))
      .sort((a, b) => a.id - b.id);
    const added = results.filter((r) => r.shown.outcome === "added");
    expect(
      "listed cards",
      cards.map((c) => c.id).sort((a, b) => a - b),
      added.map((r) => r.shown.id).sort((a, b) => a - b),
    );
    expect("listed default", cards.filter((c) => c.isDefault).map((c) => c.last4), ["3220"]);

    const screenshot = path.join(outDir, "add-card-3ds.png");
    await page.screenshot({ path: screenshot, fullPage: true });
    const challengeScreenshot = path.join(outDir, "add-card-3ds-challenge.png");
    const report = {
      customerId: customer.id,
      scenarios: results,
      listed: cards,
      screenshot,
      challengeScreenshot,
      mismatches,
    };
    process.stdout.write(JSON.stringify(report, null, 2) + "\n");
    if (mismatches.length) {
      console.error("add_card_3ds.cjs: " + mismatches.length + " mismatch(es):\n  " + mismatches.join("\n  "));
      process.exitCode = 1;
    }
  });
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
