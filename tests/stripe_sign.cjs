#!/usr/bin/env node
// Stripe-Signature headers made by Stripe's own Node library (the `stripe` npm package that
// infra/tools.sh installs, pinned), not by the vault's code: what the integration tests
// (cardvault_tests::stripe_signature) and the fuzzing hook (tests/fuzz/hooks.py) send.
//
//   node tests/stripe_sign.cjs SECRET TIMESTAMP < PAYLOAD       one header, for one payload
//   node tests/stripe_sign.cjs --lines                           many: one JSON object a line
//
// With --lines it reads {"payload": "...", "secret": "whsec_...", "timestamp": 1800000000}
// per line on stdin and writes one header per line, flushed, until stdin closes: one node
// process signs a whole test run (starting one costs ~0.2 s, signing microseconds).
"use strict";

const path = require("path");

const ROOT = path.resolve(__dirname, "..");
const Stripe = require(path.join(ROOT, ".tools/npm/node_modules/stripe"));
// No request is ever made: the key only satisfies the constructor.
const webhooks = Stripe("sk_test_signing_only").webhooks;

function header({ payload, secret, timestamp }) {
  if (typeof payload !== "string" || typeof secret !== "string" || !Number.isInteger(timestamp)) {
    throw new Error("want {payload: string, secret: string, timestamp: integer}");
  }
  return webhooks.generateTestHeaderString({ payload, secret, timestamp });
}

const args = process.argv.slice(2);
if (args[0] === "--lines") {
  const lines = require("readline").createInterface({ input: process.stdin, terminal: false });
  lines.on("line", (line) => {
    if (line.trim() === "") return;
    process.stdout.write(header(JSON.parse(line)) + "\n");
  });
} else if (args.length === 2) {
  const chunks = [];
  process.stdin.on("data", (c) => chunks.push(c));
  process.stdin.on("end", () => {
    const payload = Buffer.concat(chunks).toString("utf8");
    process.stdout.write(header({ payload, secret: args[0], timestamp: Number(args[1]) }) + "\n");
  });
} else {
  console.error("usage: stripe_sign.cjs SECRET TIMESTAMP < PAYLOAD | stripe_sign.cjs --lines");
  process.exit(2);
}
