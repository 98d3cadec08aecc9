"""Cases (requests sent) per operation, from schemathesis's NDJSON reports; infra/fuzz.sh
prints this table and README "OpenAPI" quotes it."""
import collections
import json
import sys

counts = collections.Counter()
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            event = json.loads(line)
            done = event.get("ScenarioFinished")
            if done:
                rec = done.get("recorder") or {}
                counts[rec.get("label", "?")] += len(rec.get("interactions") or {})
width = max((len(k) for k in counts), default=10)
for label, n in sorted(counts.items()):
    print(f"  {label:<{width}}  {n:6d}")
print(f"  {'total':<{width}}  {sum(counts.values()):6d}")
