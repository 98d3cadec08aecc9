#!/usr/bin/env node
// tests/browser/pages/add_card_stripe_js.html in headless Chromium against a running
// cardvault: the PAN-less flow, where Stripe.js's card element makes the PaymentMethod and
// cardvault gets only its pm_ id. `make test` (tests/tests/integration/documents/
// three_ds_pages.rs runs this) or `make dev` (`make sample-page`).
//
//   node tests/browser/add_card_stripe_js.cjs FACTS_JSON OUT_DIR
//
// A tenant of its own, made with cardvault-admin as the integration tests make one
// (tests/src/stack.rs, redirect_tenant) and switched to `set-card-flow --flow stripe-js`:
// demo-a keeps the document's flow, whatever happens here. The admin CLI is
// $CARDVAULT_ADMIN or target/debug/cardvault-admin; it needs the stack's environment,
// which `make test` has exported, and which is otherwise read from $CARDVAULT_STACK_ENV,
// else the stack.env beside FACTS_JSON, else .tools/run/stack.env (`make dev`'s).
//
// The page is served, as Chromium sees it, from the first demo tenant's allowed origin
// (the new tenant allows it too), with its config.js; Stripe.js is localstripe's stand-in,
// Google's reCAPTCHA the stand-in of lib.cjs, every other request refused. Every request
// Chromium sends is looked at on its way: none to cardvault may carry a card number, in its
// URL, headers or body (the numbers go to localstripe only, and that is counted too).
//
// Cards: 4242… with no challenge, 4000002500003155 with the challenge passed, and
// 4000002760003184 with it failed. It prints one JSON object (cards by last four digits
// only) and leaves OUT_DIR/add-card-stripe-js.png, the page with every outcome. Exit 1 on
// any mismatch, listing them.
"use strict";

const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");
const { ROOT, args, withChromium, recaptchaStandIn, merchantApi, timeout } = require("./lib.cjs");

const { factsPath, facts, outDir } = args("add_card_stripe_js.cjs");
const origin = facts.tenants[0].allowedOrigin;
const PAYMENTS = facts.baseUrl + "/api/paymentsv2";
const page_html = fs.readFileSync(path.join(ROOT, "tests/browser/pages/add_card_stripe_js.html"), "utf8");

const SCENARIOS = [
  { name: "no authentication", number: "4242424242424242", challenge: null, isDefault: true },
  { name: "3DS required, completed", number: "4000002500003155", challenge: "Complete authentication", isDefault: false },
  { name: "3DS always, failed", number: "4000002760003184", challenge: "Fail authentication", isDefault: null },
];

// The stack's environment for the admin CLI (AWS endpoints, keys): the caller's when it has
// them, else the stack.env file's, as bash reads it.
function adminEnv() {
  if (process.env.AWS_ENDPOINT_URL_DYNAMODB) return process.env;
  const candidates = [
    process.env.CARDVAULT_STACK_ENV,
    path.join(path.dirname(path.resolve(factsPath)), "stack.env"),
    path.join(ROOT, ".tools/run/stack.env"),
  ].filter(Boolean);
  const file = candidates.find((f) => fs.existsSync(f));
  if (!file) throw new Error(`no stack environment: set CARDVAULT_STACK_ENV (tried ${candidates.join(", ")})`);
  const out = execFileSync("bash", ["-c", 'set -a; . "$1" && env -0', "_", file]);
  const env = {};
  for (const pair of out.toString().split("\0").filter(Boolean)) {
    const at = pair.indexOf("=");
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return env;
}

function admin(env, argv) {
  const bin = process.env.CARDVAULT_ADMIN || path.join(ROOT, "target/debug/cardvault-admin");
  const { CARDVAULT_OPERATOR, ...clean } = env; // the CLI's default operator label, as the tests use
  const out = execFileSync(bin, ["--table", facts.table, ...argv], { env: clean });
  return JSON.parse(out.toString());
}

// A fresh tenant on the stripe-js flow, allowing the demo origin, on a connected account of
// its own (no two tenants share one).
function stripeJsTenant() {
  const env = adminEnv();
  const stamp = `${Date.now() % 10_000_000_000}`;
  const id = `pages-stripe-js-${stamp}`;
  admin(env, ["create-tenant", "--id", id, "--name", "pages-stripe-js"]);
  const privateApiKey = admin(env, ["issue-key", "--tenant", id]).privateApiKey;
  const publicApiKey = admin(env, ["set-public-key", "--tenant", id]).publicApiKey;
  admin(env, ["set-origins", "--tenant", id, "--origin", origin]);
  const stripeAccount = `acct_1Pj${stamp}`;
  admin(env, ["set-stripe", "--tenant", id, "--account", stripeAccount]);
  const { cardFlow } = admin(env, ["set-card-flow", "--tenant", id, "--flow", "stripe-js"]);
  return { id, privateApiKey, publicApiKey, stripeAccount, cardFlow };
}

function configJs(tenant, customerId) {
  const config = {
    cardvaultUrl: facts.baseUrl,
    publicApiKey: tenant.publicApiKey,
    customerId: String(customerId),
    recaptchaSiteKey: "cardvault-local-site-key",
    stripeJsUrl: facts.stripeUrl + "/js.stripe.com/v3/",
    stripePublishableKey: "pk_test_cardvault_platform",
    stripeAccount: tenant.stripeAccount,
  };
  return `window.CARDVAULT_PAGE = ${JSON.stringify(config, null, 2)};\n`;
}

// Whether a request carries any of the numbers, spaced or not, anywhere it could: URL,
// headers, body. (Digits only: a number split by spaces or dashes is still found.)
const NUMBERS = [...new Set(SCENARIOS.map((s) => s.number))];
function carriesNumber(request) {
  const text = [request.url(), JSON.stringify(request.headers()), request.postData() || ""].join("\n");
  const digits = text.replace(/[\s-]/g, "");
  return NUMBERS.some((n) => digits.includes(n));
}

async function main() {
  const tenant = stripeJsTenant();
  const merchant = merchantApi(facts.baseUrl, tenant.privateApiKey);
  const customer = await merchant.post("/v1/customers", { firstName: "Jane", lastName: "Roe" });
  const mismatches = [];
  const expect = (what, got, want) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      mismatches.push(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    }
  };
  // Every request to cardvault and to Stripe (localstripe), and those of them with a number.
  const seen = { vault: 0, vaultWithNumber: [], stripe: 0, stripeWithNumber: [] };

  return withChromium(async (context) => {
    await context.route("**/*", (route) => {
      const request = route.request();
      const url = new URL(request.url());
      if (url.origin === origin && url.pathname === "/add_card_stripe_js.html") {
        return route.fulfill({ contentType: "text/html; charset=utf-8", body: page_html });
      }
      if (url.origin === origin && url.pathname === "/config.js") {
        return route.fulfill({ contentType: "application/javascript", body: configJs(tenant, customer.id) });
      }
      if (url.href.startsWith("https://www.google.com/recaptcha/api.js")) {
        return route.fulfill({
          contentType: "application/javascript",
          body: recaptchaStandIn(facts.recaptcha.passToken),
        });
      }
      const where = `${request.method()} ${url.pathname}`;
      if (url.href.startsWith(facts.baseUrl + "/")) {
        seen.vault += 1;
        // Refused, not only noted: a number bound for cardvault never leaves the browser.
        if (carriesNumber(request)) {
          seen.vaultWithNumber.push(where);
          return route.abort();
        }
        return route.continue();
      }
      if (url.href.startsWith(facts.stripeUrl + "/")) {
        seen.stripe += 1;
        if (carriesNumber(request)) seen.stripeWithNumber.push(where);
        return route.continue();
      }
      return route.abort();
    });
    const page = context.pages()[0] || (await context.newPage());
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    const answers = [];
    page.on("response", async (r) => {
      if (r.request().method() !== "POST" || !r.url().startsWith(PAYMENTS)) return;
      const sent = JSON.parse(r.request().postData() || "{}");
      answers.push({
        call: sent.setupIntentClientSecret ? "confirm" : "add",
        sentFields: Object.keys(sent).sort(),
        paymentMethodId: sent.paymentMethodId || null,
        status: r.status(),
        allowOrigin: r.headers()["access-control-allow-origin"] || null,
        body: await r.json().catch(() => null),
      });
    });

    await page.goto(origin + "/add_card_stripe_js.html");
    await page.waitForSelector("#stand-in-box");
    await page.waitForSelector("#card-element input");
    await page.waitForFunction(() => !document.getElementById("submit").disabled);
    // The check itself, once, so that a clean tally means something: a request to cardvault
    // with a number in its body is caught and refused before it leaves.
    const probe = await page.evaluate(async ([url, number]) => {
      try {
        await fetch(url, { method: "POST", body: JSON.stringify({ probe: number }) });
        return "sent";
      } catch (e) {
        return "refused";
      }
    }, [PAYMENTS, NUMBERS[0]]);
    expect("a number bound for cardvault is caught", [probe, seen.vaultWithNumber.length], ["refused", 1]);
    seen.vault = 0;
    seen.vaultWithNumber = [];
    const results = [];
    for (const s of SCENARIOS) {
      const shownBefore = await page.locator("#outcomes li").count();
      await page.fill("#firstName", "Jane");
      await page.fill("#lastName", "Roe");
      // The card element (the stand-in's: one input per field, named by its placeholder).
      const field = (name) => page.locator(`#card-element input[placeholder=${name}]`);
      await field("number").fill(s.number);
      await field("exp_month").fill("12");
      await field("exp_year").fill("30");
      await field("cvc").fill("123");
      await field("postal_code").fill("10001");
      await page.setChecked("#makeDefault", Boolean(s.makeDefault));
      await page.check("#stand-in-box");
      await page.click("#submit");
      let challenged = false;
      if (s.challenge) {
        const button = page.getByRole("button", { name: s.challenge });
        await button.waitFor({ timeout: 30000 });
        challenged = true;
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
        sentFields: add.sentFields || null,
        paymentMethodIdSent: Boolean(add.paymentMethodId && add.paymentMethodId.startsWith("pm_")),
        addStatus: add.status || null,
        requiresAction: action && action.Type,
        confirmStatus: confirm && confirm.status,
        allowOrigin: [...new Set(calls.map((c) => c.allowOrigin))],
        shown,
        pageErrors: pageErrors.splice(0),
      };
      results.push(result);

      const wantAdded = s.challenge !== "Fail authentication";
      expect(`${s.name}: fields sent`, result.sentFields, [
        "customerId", "firstName", "lastName", "makeDefault", "paymentMethodId", "publicApiKey", "recaptcha",
      ]);
      expect(`${s.name}: a pm_ id sent`, result.paymentMethodIdSent, true);
      expect(`${s.name}: add status`, result.addStatus, s.challenge ? 402 : 200);
      expect(`${s.name}: RequiresAction`, result.requiresAction, s.challenge ? "setup_intent" : null);
      expect(`${s.name}: confirm posted`, Boolean(confirm), Boolean(s.challenge));
      if (s.challenge && wantAdded) expect(`${s.name}: confirm status`, result.confirmStatus, 200);
      expect(`${s.name}: CORS`, result.allowOrigin, [origin]);
      expect(`${s.name}: shown`, shown.outcome, wantAdded ? "added" : "failed");
      if (wantAdded) {
        expect(`${s.name}: masked number shown`, shown.text.includes("************" + result.last4), true);
        expect(`${s.name}: isDefault`, shown.isDefault, s.isDefault);
      } else {
        expect(`${s.name}: says authentication failed`, /authentication failed/i.test(shown.text), true);
        expect(`${s.name}: names the card`, shown.text.includes(result.last4), true);
      }
      expect(`${s.name}: page errors`, result.pageErrors, []);
    }

    const listed = await merchant.get(`/v1/customers/${customer.id}/paymentMethods/creditCard`);
    const cards = (Array.isArray(listed) ? listed : [])
      .map((c) => ({ id: c.id, last4: String(c.maskedCardNumber).slice(-4), isDefault: c.isDefault }))
      .sort((a, b) => a.id - b.id);
    const added = results.filter((r) => r.shown.outcome === "added");
    expect(
      "listed cards",
      cards.map((c) => c.id),
      added.map((r) => r.shown.id).sort((a, b) => a - b),
    );
    expect("no request to cardvault carried a card number", seen.vaultWithNumber, []);
    expect("requests to cardvault seen", seen.vault > 0, true);
    // Each card went to Stripe (the PaymentMethod), so the check above looked at real traffic.
    expect("card numbers went to Stripe", seen.stripeWithNumber.length >= SCENARIOS.length, true);

    const screenshot = path.join(outDir, "add-card-stripe-js.png");
    await page.screenshot({ path: screenshot, fullPage: true });
    const report = {
      tenant: { id: tenant.id, cardFlow: tenant.cardFlow },
      customerId: customer.id,
      scenarios: results,
      listed: cards,
      requests: seen,
      screenshot,
      mismatches,
    };
    process.stdout.write(JSON.stringify(report, null, 2) + "\n");
    if (mismatches.length) {
      console.error("add_card_stripe_js.cjs: " + mismatches.length + " mismatch(es):\n  " + mismatches.join("\n  "));
      process.exitCode = 1;
    }
  });
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
