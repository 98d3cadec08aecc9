#!/usr/bin/env python3
"""bench/mutants.md from cargo-mutants' outcome (make mutants, infra/mutants.sh).

Reads OUT/outcomes.json (every mutant tried, with its outcome and times) and a committed
table of reasons for the mutants left missed (bench/mutants-left.tsv: a mutant's name
without its line:column, a tab, why it is left). A missed mutant with no reason there is
listed as "not triaged", so a new gap shows up in the report instead of hiding in a total.

Usage: mutants_report.py OUT[=PREFIX] [OUT...] [--rerun OUT]... [--reasons TSV] [--scope LIST]
                         [--command TEXT] [--seconds N]
--scope: `cargo mutants --list` of the whole scope, so a sample (SHARD=k/n) says what share
of each module it tried.
Several OUT directories: their mutants together, a later run's outcome for a mutant
replacing an earlier one. --rerun OUT: a re-run of the mutants that new tests were written
for; its outcomes replace those of the same mutants, and it adds none (so a sample stays
the sample it was, and the report shows the score as run and after the new tests).
"""

import argparse
import json
import re
import subprocess
import sys
from collections import Counter, OrderedDict
from pathlib import Path

# The modules the issue names, in the order the report shows them. vault and domain carry
# the 90% target.
MODULES = [
    ("shared/core/src/vault/", "vault", 0.90),
    ("shared/core/src/domain/", "domain", 0.90),
    ("shared/edge/src/dialect/", "dialect", None),
]
OUTCOMES = {
    "CaughtMutant": "caught",
    "MissedMutant": "missed",
    "Timeout": "timeout",
    "Unviable": "unviable",
}
LINE_COL = re.compile(r":\d+:\d+:")


def key(name):
    """A mutant's name without its line and column, which move with unrelated edits."""
    return LINE_COL.sub(":", name, count=1)


def load_reasons(path):
    reasons = {}
    if path and Path(path).exists():
        for n, line in enumerate(Path(path).read_text().splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            name, sep, why = line.partition("\t")
            if not sep or not why.strip():
                sys.exit(f"{path}:{n}: expected '<mutant>\\t<reason>'")
            reasons[key(name.strip())] = why.strip()
    return reasons


def load(out_dirs, mutants=None, only_known=False):
    """{mutant name: (outcome, file, seconds)}, later directories winning; plus run facts.
    With only_known, outcomes of mutants not already in `mutants` are left out."""
    mutants = OrderedDict() if mutants is None else mutants
    runs = []
    for spec in out_dirs:
        # OUT=PREFIX: only that run's mutants in files under PREFIX (cargo-mutants 27's --re
        # lets "delete field" mutants of every file through; seen).
        out, _, prefix = spec.partition("=")
        data = json.loads((Path(out) / "outcomes.json").read_text())
        baseline = None
        for o in data["outcomes"]:
            secs = sum(p["duration"] for p in o.get("phase_results") or [])
            if o["scenario"] == "Baseline":
                baseline = secs
                continue
            m = o["scenario"]["Mutant"]
            outcome = OUTCOMES.get(o["summary"], o["summary"])
            if only_known and m["name"] not in mutants or not m["file"].startswith(prefix):
                continue
            mutants[m["name"]] = (outcome, m["file"], secs)
        runs.append(
            {
                "dir": out,
                "mutants": data["total_mutants"],
                "start": data.get("start_time"),
                "end": data.get("end_time"),
                "baseline": baseline,
            }
        )
    return mutants, runs


def module_of(path):
    for prefix, name, _ in MODULES:
        if path.startswith(prefix):
            return name
    return "other"


def pct(n, d):
    return f"{100 * n / d:.1f}%" if d else "n/a"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="+")
    ap.add_argument("--rerun", action="append", default=[])
    ap.add_argument("--reasons")
    ap.add_argument("--scope")
    ap.add_argument("--command", default="make mutants")
    ap.add_argument("--note", action="append", default=[], help="a paragraph under the header")
    ap.add_argument("--seconds", type=int)
    a = ap.parse_args()

    mutants, runs = load(a.out)
    as_run = dict(mutants)
    reruns = []
    if a.rerun:
        mutants, reruns = load(a.rerun, OrderedDict(mutants), only_known=True)
    reasons = load_reasons(a.reasons)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "?"

    in_scope = Counter()
    if a.scope:
        files = set()
        for line in Path(a.scope).read_text().splitlines():
            if line.strip():
                files.add(line.split(":", 1)[0])
                in_scope[module_of(line.split(":", 1)[0])] += 1
        # Outcomes of files the scope no longer holds (excluded since) are left out.
        for n in [n for n, (_, path, _) in mutants.items() if path not in files]:
            del mutants[n]
            as_run.pop(n, None)
    changed = sorted(n for n in mutants if mutants[n][0] != as_run[n][0])

    per_module = {name: Counter() for _, name, _ in MODULES}
    per_module_as_run = {name: Counter() for _, name, _ in MODULES}
    for _, (outcome, path, _) in as_run.items():
        per_module_as_run.setdefault(module_of(path), Counter())[outcome] += 1
    per_file = {}
    for _, (outcome, path, _) in mutants.items():
        per_module.setdefault(module_of(path), Counter())[outcome] += 1
        per_file.setdefault(path, Counter())[outcome] += 1

    w = print
    w("# Mutation score (cargo-mutants)")
    w()
    w(
        "What the unit tiers of the core and the edge (`cargo test -p cardvault-core -p cardvault --lib`) catch when one "
        "line of the business rules is broken at a time. Written by `make mutants` "
        "(infra/mutants.sh, .cargo/mutants.toml); not part of `make test`."
    )
    w()
    for note in a.note:
        w(note)
        w()
    w(f"- Command: `{a.command}`, at commit {commit}.")
    for kind, rs in (("Run", runs), ("Re-run", reruns)):
        for r in rs:
            base = f", baseline build+test {r['baseline']:.0f} s" if r["baseline"] else ""
            w(f"- {kind} {r['dir']}: {r['mutants']} mutants, {r['start']} to {r['end']}{base}.")
    if a.seconds is not None:
        w(f"- Wall time: {a.seconds // 60} min {a.seconds % 60} s.")
    times = [s for (o, _, s) in mutants.values() if o != "unviable"]
    if times:
        w(f"- Mean time per viable mutant (build + test): {sum(times) / len(times):.0f} s.")
    w(
        "- Score = caught / viable (viable = caught + missed + timeout; unviable = does not "
        "build). A timeout is a mutant whose tests hung: counted as viable, not as caught."
    )
    w()
    w(
        "| module | in scope | tried | caught | missed | timeout | unviable | score "
        "| score as run | target |"
    )
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for _, name, target in MODULES + [(None, "other", None)]:
        c = per_module.get(name)
        if not c:
            continue
        viable = c["caught"] + c["missed"] + c["timeout"]
        met = ""
        if target is not None and viable:
            met = ("met" if c["caught"] / viable >= target else "NOT met") + f" ({target:.0%})"
        scope = in_scope.get(name, "?")
        r = per_module_as_run.get(name, Counter())
        as_run_score = pct(r["caught"], r["caught"] + r["missed"] + r["timeout"])
        w(
            f"| {name} | {scope} | {sum(c.values())} | {c['caught']} | {c['missed']} "
            f"| {c['timeout']} | {c['unviable']} | {pct(c['caught'], viable)} "
            f"| {as_run_score} | {met} |"
        )
    w()
    w(
        "Score as run: before the re-runs, i.e. before the tests written for the missed "
        "mutants (none when there was no re-run)."
    )
    w()
    w("## Per file")
    w()
    w("| file | tried | caught | missed | timeout | unviable | score |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for path in sorted(per_file):
        c = per_file[path]
        viable = c["caught"] + c["missed"] + c["timeout"]
        w(
            f"| {path} | {sum(c.values())} | {c['caught']} | {c['missed']} | {c['timeout']} "
            f"| {c['unviable']} | {pct(c['caught'], viable)} |"
        )
    w()
    if changed:
        w("## Caught on re-run, by tests written for them")
        w()
        for n in changed:
            w(f"- `{n}`: {as_run[n][0]} → {mutants[n][0]}")
        w()
    w("## Missed, and why each is left")
    w()
    w("Reasons live in bench/mutants-left.tsv (keyed by the mutant's name without line:col).")
    w()
    def listed(outcome, note):
        names = sorted(n for n, (o, _, _) in mutants.items() if o == outcome)
        for n in names:
            w(f"- `{n}`{note(n)}")
        if not names:
            w("None.")

    listed("missed", lambda n: f": {reasons.get(key(n), '**not triaged**')}")
    w()
    w("## Timeouts")
    w()
    w("A mutant under which the tests did not finish in time (a loop): the run fails.")
    w()
    listed("timeout", lambda n: "")


if __name__ == "__main__":
    main()
