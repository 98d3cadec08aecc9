"""Generated cases per operation, from schemathesis's NDJSON reports; infra/fuzz.sh
prints this table and README "OpenAPI" quotes it.

    count.py [--spec openapi.yaml --min N] MAIN_REPORT.ndjson... [--also REPORT.ndjson...]

Cases are those schemathesis generated (each scenario's `cases`), not the requests sent:
a check's own extra requests (ignored_auth's, without credentials) are not cases. The
minimum is met by the MAIN reports alone (the runs with valid credentials): cases sent with
a wrong credential only ever meet the authentication check, so they count for nothing
there; `--also` reports are shown in their own column.

With --min, every operation of the spec that takes an input (a parameter or a body) must
have had at least N cases over the main reports, and every other operation at least one,
or it exits non-zero naming those short: a run that reached an operation a few times (or
never: a tag or path filter gone wrong, an operation schemathesis skipped, hypothesis
giving up on a schema) would otherwise pass as if it had been fuzzed. An operation with
no input has only a handful of distinct cases (schemathesis stops there).
"""
import argparse
import collections
import json
import os

import yaml

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def operations(spec_path):
    """Every operation of the spec, labelled as schemathesis labels it ("METHOD /path"),
    and whether it takes an input to generate."""
    with open(spec_path) as f:
        spec = yaml.safe_load(f)
    return {f"{method.upper()} {path}":
            bool(item.get("parameters") or op.get("parameters") or op.get("requestBody"))
            for path, item in spec.get("paths", {}).items()
            for method, op in item.items() if method in METHODS}


def cases(paths):
    """Generated cases per operation label over the reports at `paths`."""
    counts = collections.Counter()
    for path in paths:
        if not os.path.exists(path):
            continue  # a run that failed before reporting: it failed the script already
        with open(path) as f:
            for line in f:
                done = json.loads(line).get("ScenarioFinished")
                if done:
                    rec = done.get("recorder") or {}
                    counts[rec.get("label", "?")] += len(rec.get("cases") or {})
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec")
    ap.add_argument("--min", type=int, default=0)
    ap.add_argument("--also", nargs="*", default=[])
    ap.add_argument("reports", nargs="+")
    args = ap.parse_args()
    counts, also = cases(args.reports), cases(args.also)
    expected = operations(args.spec) if args.spec else {}
    least = {label: args.min if inputs else min(args.min, 1) for label, inputs in expected.items()}
    for label in [*expected, *also]:
        counts.setdefault(label, 0)
    width = max((len(k) for k in counts), default=10)
    print(f"  {'operation':<{width}}  {'cases':>6}  {'wrong credential':>16}")
    for label, n in sorted(counts.items()):
        short = n < least.get(label, 0)
        print(f"  {label:<{width}}  {n:6d}  {also[label]:16d}{f'  < {least[label]}' if short else ''}")
    print(f"  {'total':<{width}}  {sum(counts.values()):6d}  {sum(also.values()):16d}")
    short = sorted(f"{label} ({counts[label]} < {n})" for label, n in least.items() if counts[label] < n)
    if short:
        raise SystemExit(f"fuzz: {len(short)} operations below their minimum of cases: "
                         + ", ".join(short))


if __name__ == "__main__":
    main()
