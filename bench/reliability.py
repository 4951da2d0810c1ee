"""Regenerate RELIABILITY.md: run the fault tests with larger counts and write the figures.

    .venv/bin/python bench/reliability.py --trials 21 --seed 1000

Runs ``tests/test_faults.py``, ``tests/test_concurrency.py``, ``tests/test_secrets.py`` and
``tests/test_hostile.py`` in one pytest run with ``FAULT_TRIALS`` / ``FAULT_SEED`` /
``FAULT_REPORT`` (crash trials) and ``FUZZ_EXAMPLES`` / ``FUZZ_REPORT`` (hostile inputs;
``--fuzz-examples``, default 1000 per Hypothesis property, seeded with ``--seed``) set,
then writes RELIABILITY.md from the records. Exits non-zero (and still writes the file)
if any test failed.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTS = [
    "tests/test_faults.py",
    "tests/test_concurrency.py",
    "tests/test_secrets.py",
    "tests/test_hostile.py",
]
FUZZ_DEFAULT = 1000


def run(
    trials: int, seed: int, fuzz_examples: int, report: Path, fuzz_report: Path
) -> tuple[int, str]:
    env = {
        **os.environ,
        "FAULT_TRIALS": str(trials),
        "FAULT_SEED": str(seed),
        "FAULT_REPORT": str(report),
        "FUZZ_EXAMPLES": str(fuzz_examples),
        "FUZZ_REPORT": str(fuzz_report),
    }
    cmd = [sys.executable, "-m", "pytest", *TESTS, "-q", "-p", "no:cacheprovider", "-rN"]
    cmd.append(f"--hypothesis-seed={seed}")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    last = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
    return proc.returncode, last.strip("= ")


TRIAL_HEADER = (
    "| seed | killed | after write # | interrupted exit | reported applied | rerun exit "
    "| converged | registry reads | desired alias absent |\n" + "| --- " * 9 + "|"
)


def mode_row(label: str, trials: list[dict[str, Any]]) -> str:
    """One summary row: trials, converged, interrupted exit non-zero, missing aliases."""
    converged = sum(1 for t in trials if t["converged"])
    nonzero = sum(1 for t in trials if t["interrupted_exit"] != 0)
    missing = sum(len(t["missing"]) for t in trials)
    return f"| {label} | {len(trials)} | {converged} | {nonzero} | {missing} |"


GROUPS = {
    "random text": "random text, up to 300 characters (Hypothesis)",
    "mutations of a valid file": "edits of a valid file (Hypothesis)",
    "named hostile files": "named hostile files (`validate`)",
    "apply --yes on a real server": "named hostile files (`apply --yes`, real server)",
}
STAGES = {
    "file": "file (size, UTF-8, symlink)",
    "restriction": "YAML restrictions (anchors, tags, depth, keys)",
    "syntax": "YAML syntax",
    "mapping": "not a mapping",
    "schema": "schema and cross-field rules",
    "internal": "internal error",
}


def stage(entry: dict[str, Any]) -> str:
    """Which layer stopped an input, from its error line (so the fuzz's reach is visible)."""
    error = str(entry["error"])
    if entry["outcome"] == "accepted":
        return "accepted"
    if entry["unexpected"]:
        return "internal"
    if any(s in error for s in ("not valid UTF-8", "limited to 1 MiB", "symlink points")):
        return "file"
    restrictions = ("not allowed in state files", "nesting", "plain scalars", "duplicate key")
    if any(s in error for s in restrictions):
        return "restriction"
    if "invalid YAML" in error:
        return "syntax"
    if "must be a mapping" in error:
        return "mapping"
    return "schema"


def cell(text: str) -> str:
    """Text as a code span that cannot break a Markdown table row."""
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`" if text else ""


HOSTILE_HEADER = (
    "| inputs | tried | accepted (exit 0) | rejected (exit 1) | tracebacks "
    "| malformed errors | internal errors | registry writes |\n" + "| --- " * 8 + "|"
)


def tally(entries: list[dict[str, Any]]) -> dict[str, int | None]:
    """Counts over hostile-input records; writes is None where no run counted them."""
    counted = [int(e["writes"]) for e in entries if e["writes"] is not None]
    return {
        "tried": len(entries),
        "accepted": sum(e["outcome"] == "accepted" for e in entries),
        "rejected": sum(e["outcome"] == "rejected" for e in entries),
        "tracebacks": sum(bool(e["traceback"]) for e in entries),
        "multi": sum(e["outcome"] == "rejected" and not e["well_formed"] for e in entries),
        "unexpected": sum(bool(e["unexpected"]) for e in entries),
        "writes": sum(counted) if counted else None,
        "applies": len(counted),
    }


def group_row(label: str, entries: list[dict[str, Any]]) -> str:
    """One row of the hostile-input table; writes are 'offline' where none were counted."""
    t = tally(entries)
    writes = "offline" if t["writes"] is None else t["writes"]
    return (
        f"| {label} | {t['tried']} | {t['accepted']} | {t['rejected']} | {t['tracebacks']} "
        f"| {t['multi']} | {t['unexpected']} | {writes} |"
    )


def hostile_section(fuzz: list[dict[str, Any]], examples: int, seed: int) -> str:
    """The hostile-input figures: per group counts, where inputs stopped, the named cases."""
    rows, stops = [], []
    for group, label in GROUPS.items():
        entries = [e for e in fuzz if e["group"] == group]
        rows.append(group_row(label, entries))
        if group in ("random text", "mutations of a valid file"):
            counts = [sum(stage(e) == s for e in entries) for s in ("accepted", *STAGES)]
            stops.append(f"| {label} | " + " | ".join(map(str, counts)) + " |")
    total = tally(fuzz)
    tried, tracebacks, multi = total["tried"], total["tracebacks"], total["multi"]
    writes, applies = total["writes"] or 0, total["applies"]
    named: dict[str, dict[str, dict[str, Any]]] = {}
    for e in fuzz:
        if e["case"]:
            named.setdefault(e["case"], {})[e["group"]] = e
    cases = []
    for case, seen in named.items():
        checked, applied = seen.get("named hostile files"), seen.get("apply --yes on a real server")
        error = str((checked or applied or {}).get("error", ""))
        cases.append(
            f"| {case} | {'' if checked is None else checked['exit']} "
            f"| {'' if applied is None else applied['exit']} "
            f"| {'' if applied is None else applied['writes']} | {cell(error)} |"
        )
    version = importlib.metadata.version("hypothesis")
    n = "\n"
    return f"""
## Hostile input (`tests/test_hostile.py`)

Two Hypothesis properties (Hypothesis {version}, `max_examples={examples}` each,
`deadline=None`, `--hypothesis-seed={seed}`; the test suite runs 150 each, unseeded) give
`reconciler validate` random text up to 300 characters, and a valid state file using
every feature with 1-6 random characters inserted and 0-5 deleted at a random position.
Named files: a YAML bomb, a `!!python/object` tag, non-UTF-8 bytes, a tab indent, a NUL
byte, a 23-digit version, 200-deep and 10000-deep nesting, a `/` in a model name, two
documents in one file, a 100 MB file, a symlink leaving `state/`, and a BOM with odd
model names (which must be accepted). The same hostile files, each next to a valid file
(sorted first) that would move an alias, are given to `reconciler apply --yes` against
the sqlite-backed mlflow server through a proxy that counts every non-GET request; the
model's observed digest is compared before and after. An input passes if it exits 0, or
exits 1 with one `error:` line per error on stderr (then a count line when there are
several) and no traceback. "Tried" counts every
run of a test body, as recorded by the tests (`FUZZ_REPORT`). `--fuzz-examples N`
(default {FUZZ_DEFAULT}) sets the examples per property.

{HOSTILE_HEADER}
{n.join(rows)}
{group_row("**total**", fuzz)}

**{tried} hostile inputs: {tracebacks} tracebacks, {multi} rejections not as
`error:` lines, {writes} registry writes in {applies} `apply --yes` runs against a real
server.** "Internal errors" are rejections by the CLI's last-resort handler
(`error: unexpected ...`): one line, but a case the loader did not anticipate.

Where the fuzz inputs stopped (first error line of each rejection):

| property | accepted | {" | ".join(STAGES.values())} |
{"| --- " * (len(STAGES) + 2)}|
{n.join(stops)}

Random text rarely gets past the YAML parser and the top-level mapping check; the edits
of a valid file are what reach the schema and cross-field rules.

Named cases (exit codes, and the `validate` error line):

| case | `validate` exit | `apply --yes` exit | registry writes | error |
| --- | --- | --- | --- | --- |
{n.join(cases)}
"""


def render(
    trials: list[dict[str, Any]],
    seed: int,
    code: int,
    summary: str,
    fuzz: list[dict[str, Any]],
    fuzz_examples: int,
) -> str:
    killed = {m: [t for t in trials if t["mode"] == m] for m in ("reconciler", "server")}
    missing = sum(len(t["missing"]) for t in trials)
    converged = sum(1 for t in trials if t["converged"])
    polls = sum(int(t["polls"]) for t in trials)
    rows = "\n".join(
        f"| {t['seed']} | {t['mode']} | {t['kill_after_writes']} | {t['interrupted_exit']} "
        f"| {'' if t['reported_applied'] is None else t['reported_applied']} "
        f"| {t['rerun_exit']} | {'yes' if t['converged'] else 'NO'} | {t['polls']} "
        f"| {len(t['missing'])} |"
        for t in trials
    )
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    extra = "" if fuzz_examples == FUZZ_DEFAULT else f" --fuzz-examples {fuzz_examples}"
    return f"""# Reliability figures

Generated by `.venv/bin/python bench/reliability.py --trials {len(trials)} --seed {seed}{extra}`
on {date} (mlflow server, sqlite backend, on loopback). The test suite runs the same tests
with 3 trials; this command runs them with more. Pytest result: **{summary}** (exit {code}).

## Crash mid-apply (`tests/test_faults.py`)

Each trial seeds two models with 25 alias changes each (10 moves, 12 adds, 3 removals
with `prune: true`; 50 changes in one plan), starts `reconciler apply --yes` as a
subprocess behind a counting proxy, and SIGKILLs either the reconciler or the
`mlflow server` just before write number *k* (drawn from the trial's seed) is forwarded.
A thread polls the registry every 30 ms throughout and records any moment where an
alias that existed before the apply and is still desired is absent (a sample every 30 ms,
so a gap shorter than that could go unseen; sets-before-removals is also what makes the
gap impossible by construction). After a server kill
the server is restarted on the same sqlite file; then apply runs again.

| | trials | converged on rerun | interrupted exit non-zero | desired alias ever absent |
| --- | --- | --- | --- | --- |
{mode_row("reconciler killed (SIGKILL)", killed["reconciler"])}
{mode_row("mlflow server killed (SIGKILL)", killed["server"])}

**Data lost: {missing} observations of a missing desired alias in {polls} registry reads;
{converged} of {len(trials)} trials converged on the first rerun.** When the server
died, the interrupted run printed one `applied` / `FAILED` / `not applied` line per
change and one `error: apply stopped: N of 50 changes applied ...` line.

{TRIAL_HEADER}
{rows}

## Other faults (same run)

- Flaky network: a proxy injecting 503s, 0.3 s delays and connection resets (RST) on
  20% of requests (seed 7, the same request faulted at most twice in a row) during an
  apply of 20 alias changes; MLflow's retries (3) carry it; exit 0 and verification passes.
- Permanently failing server (always 503, or a closed port): one `error:` line, exit 1.
- Concurrent change (`tests/test_concurrency.py`): an alias moved out of band just before
  apply's first write is named by the verification (exit 1); two applies with opposite
  desired states, started together twice: every exit 0 had verified its own state
  (checked against the last registry read each process made, captured by its proxy).
- Secrets (`tests/test_secrets.py`): no password, query token or bearer token in any
  output, saved plan or GitHub summary file, including `--debug` tracebacks.
""" + hostile_section(fuzz, fuzz_examples, seed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=21, help="crash trials (>= 20)")
    parser.add_argument("--seed", type=int, default=1000, help="first seed")
    parser.add_argument(
        "--fuzz-examples",
        type=int,
        default=FUZZ_DEFAULT,
        help="Hypothesis examples per hostile-input property",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "RELIABILITY.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report, fuzz_report = Path(tmp) / "trials.json", Path(tmp) / "fuzz.jsonl"
        code, summary = run(args.trials, args.seed, args.fuzz_examples, report, fuzz_report)
        trials = json.loads(report.read_text("utf-8")) if report.exists() else []
        lines = fuzz_report.read_text("utf-8").splitlines() if fuzz_report.exists() else []
        fuzz = [json.loads(line) for line in lines]
    text = render(trials, args.seed, code, summary, fuzz, args.fuzz_examples)
    args.out.write_text(text, "utf-8")
    print(f"{args.out}: {len(trials)} trials, {len(fuzz)} hostile inputs, pytest: {summary}")
    return code


if __name__ == "__main__":
    sys.exit(main())
