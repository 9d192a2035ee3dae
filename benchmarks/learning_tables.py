"""The learning results of several bench_learning.py runs in one table and one sim_<task>.json.

    python benchmarks/learning_tables.py reach_around \
        docs/figures/learning_reach_around_d1000n500_n2k8.json:mog \
        docs/figures/learning_reach_around_cvae_n2k8.json:cvae ... [--write-sim]

Each argument is a learning JSON written by ``bench_learning.py`` and the head whose final result
(the last checkpoint on 100 held-out seeds) to take from it; ``:head=label`` names the row
differently. Nothing is evaluated again: the rows are the JSONs' figures, in the order given,
printed as the README's markdown table and, with ``--write-sim``, written to
``docs/figures/sim_bypass.json`` / ``sim_reach.json`` in their schema (``results[]`` with head,
episodes, successes, success_rate, modes_of_successes, train_seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from figures import write_json

HERE = os.path.dirname(os.path.abspath(__file__))
SIM_JSON = {"bypass": "sim_bypass.json", "reach_around": "sim_reach.json",
            "to_cube": "sim_husky.json"}


def pick(path: str, head: str) -> dict:
    with open(path) as f:
        figures = json.load(f)
    found = [r for r in figures["results"] if r["head"] == head]
    if not found:
        raise SystemExit(f"{path} has no result for head {head!r} (it has "
                         f"{sorted(r['head'] for r in figures['results'])})")
    row = dict(found[0])
    missing = [k for k in ("n_action_steps", "chunk_candidates") if k not in row]
    if missing and os.path.exists(row.get("checkpoint", "")):
        # results cached before the benchmark recorded them: the checkpoint's own values
        # (an evaluation that changed them recorded the change)
        import torch
        config = torch.load(row["checkpoint"], map_location="cpu", weights_only=True)["config"]
        config = json.loads(config) if isinstance(config, str) else config
        row.update({k: config.get(k, 1 if k == "chunk_candidates" else None) for k in missing})
    # results from before the benchmark recorded them (runs gone): every such run used the
    # presets' 8 executed actions and one candidate, the only way it ran then
    row.setdefault("n_action_steps", 8)
    row.setdefault("chunk_candidates", 1)
    row.update(source=os.path.relpath(path, os.path.dirname(HERE)),
               command=figures.get("commands", {}).get(head, figures.get("command", "")),
               curve=figures.get("curves", {}).get(head, []))
    return row


def table(rows: list[dict]) -> str:
    lines = ["| head | success on 100 held-out seeds | 95 % CI | failures | sides of the "
             "successes | run time: executed, candidates | training |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lo, hi = r["ci95"]
        fails = ", ".join(f"{k} {v}" for k, v in sorted(r["failures"].items())) or "-"
        sides = ", ".join(f"{k} {v}" for k, v in sorted(r["modes_of_successes"].items())) or "-"
        curve = " / ".join(f"{p['successes']}" for p in r["curve"])
        lines.append(f"| {r['label']} | {r['successes']}/{r['episodes']} | {100 * lo:.0f}-"
                     f"{100 * hi:.0f} % | {fails} | {sides} | {r.get('n_action_steps', '?')}, "
                     f"{r.get('chunk_candidates', '?')} | {r['train_steps']} steps, "
                     f"{r['train_seconds'] / 60:.1f} min (curve {curve} of "
                     f"{r['curve'][0]['episodes'] if r['curve'] else '-'}) |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=sorted(SIM_JSON))
    parser.add_argument("rows", nargs="+", metavar="JSON:HEAD[=LABEL]")
    parser.add_argument("--write-sim", action="store_true")
    parser.add_argument("--json-dir", default=os.path.join(os.path.dirname(HERE), "docs",
                                                           "figures"))
    args = parser.parse_args(argv)
    rows = []
    for spec in args.rows:
        path, _, head = spec.rpartition(":")
        head, _, label = head.partition("=")
        row = pick(path, head)
        row["label"] = label or head
        rows.append(row)
    print(table(rows))
    if args.write_sim:
        out = os.path.join(args.json_dir, SIM_JSON[args.task])
        write_json(out, {"suite": args.task, "command": " ".join(sys.argv),
                         "results": rows, "table": table(rows)}, indent=1)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
