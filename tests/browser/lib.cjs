// What the browser drivers share (sample_page.cjs, add_card_3ds.cjs, add_card_stripe_js.cjs):
// the facts file, a headless Chromium that reaches nothing but what a driver lets through,
// Google's reCAPTCHA widget reduced to a stand-in, and the merchant API a merchant's server
// calls (customers, cards) with the tenant's private key.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");

const ROOT = path.resolve(__dirname, "../..");
const TOOLS = path.join(ROOT, ".tools");
const { chromium } = require(path.join(TOOLS, "npm/node_modules/playwright-core"));

/** The driver's two arguments, FACTS_JSON (.tools/dev.json or make test's stack.json) and
 * OUT_DIR, and the facts read from the first. */
function args(usage) {
  const [factsPath, outDir] = process.argv.slice(2);
  if (!factsPath || !outDir) {
    console.error(`usage: ${usage} FACTS_JSON OUT_DIR`);
    process.exit(2);
  }
  const facts = JSON.parse(fs.readFileSync(factsPath, "utf8"));
  fs.mkdirSync(outDir, { recursive: true });
  return { factsPath, facts, outDir };
}

/** Headless Chromium with a throwaway profile: `use(context)`, then the browser is closed
 * and the profile removed whatever happened. */
async function withChromium(use) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "cardvault-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // The page is handed to Chromium by a route, not read from a loopback socket, so
      // Chromium files it under the public address space and would refuse its calls to
      // cardvault (and localstripe) on 127.0.0.1 (Local Network Access). Deployed, both
      // are public; this puts them on an equal footing here.
      "--disable-features=LocalNetworkAccessChecks",
    ],
    viewport: { width: 900, height: 700 },
  });
  try {
    return await use(context);
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

/** Google's widget, reduced to what the pages use: render(id, {callback,
 * expired-callback}), reset(), and the onload callback named in the script's query string.
 * Ticking its box (#stand-in-box) hands the callback `passToken`, as Google's does once a
 * person has passed. */
function recaptchaStandIn(passToken) {
  return `
(function () {
  var widget = null;
  window.grecaptcha = {
    render: function (id, opts) {
      var el = typeof id === "string" ? document.getElementById(id) : id;
      el.innerHTML = '<label style="display:inline-block;border:1px solid #999;padding:8px;' +
        'margin:8px 0;font:14px sans-serif"><input type="checkbox" id="stand-in-box"> ' +
        "I'm not a robot <small>(reCAPTCHA stand-in)</small></label>";
      var box = document.getElementById("stand-in-box");
      box.addEventListener("change", function () {
        if (box.checked) opts.callback(${JSON.stringify(passToken)});
      });
      widget = box;
      return 0;
    },
    reset: function () { if (widget) widget.checked = false; }
  };
  var onload = new URL(document.currentScript.src).searchParams.get("onload");
  if (onload && window[onload]) window[onload]();
})();
`;
}

/** The merchant API as the merchant's server calls it, with `tenant`'s private key:
 * `post(path, body)` and `get(path)` answer the JSON, or throw naming the status. */
function merchantApi(baseUrl, privateApiKey) {
  async function call(method, pathname, body) {
    const resp = await fetch(baseUrl + pathname, {
      method,
      headers: { Authorization: "Basic " + privateApiKey, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await resp.json();
    if (!resp.ok) throw new Error(`${method} ${pathname}: ${resp.status} ${JSON.stringify(json)}`);
    return json;
  }
  return {
    post: (pathname, body) => call("POST", pathname, body),
    get: (pathname) => call("GET", pathname),
  };
}

/** Rejects after `ms` with `what`, for Promise.race: a page that never answers fails the
 * run instead of hanging it. */
function timeout(ms, what) {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: timed out`)), ms));
}

module.exports = { ROOT, TOOLS, args, withChromium, recaptchaStandIn, merchantApi, timeout };
