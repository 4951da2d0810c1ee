"""The embedded walkthrough: a local sqlite registry, three LightGBM versions, and the
GitOps loop narrated step by step through the real commands (nothing is simulated):
every state change is a git commit, and rollback is ``git revert`` + apply."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from reconciler.errors import ReconcilerError

MODEL = "demo-regressor"
STATE = """\
# yaml-language-server: $schema=../state.schema.json
# Desired state of the demo registry: which version serves as champion.
version: 1
models:
  demo-regressor:
    aliases:
      champion: 1
    description: "LightGBM regressor trained by `reconciler demo`"
    ignore:
      aliases: [candidate]   # the training pipeline's own alias: never a change or a note
    gates:
      champion:
        - {metric: val_rmse, max: 20.0}
        - {signature: compatible}
"""
PROMPT = "support-reply"
PROMPT_STATE = f"""prompts:                     # MLflow 3 prompt registry: the same loop
  {PROMPT}:
    aliases:
      production: 1
"""
TEMPLATES = (
    ("Answer the customer's question: {{question}}", "first draft"),
    ("You support AcmeDB users.\nAnswer briefly and politely: {{question}}", "name the product"),
)
Say = Callable[[str], None]
Run = Callable[[list[str]], int]


def train_versions(uri: str, folder: Path, say: Say) -> list[tuple[int, float]]:
    """Train and register three versions: a fair one, a poor one, a good one."""
    import lightgbm as lgb
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from mlflow.tracking import MlflowClient

    from reconciler.training import log_candidate

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    if client.get_experiment_by_name("reconciler-demo") is None:
        client.create_experiment("reconciler-demo", (folder / "artifacts").as_uri())
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("reconciler-demo")
    rng = np.random.default_rng(7)
    x = pd.DataFrame(rng.normal(size=(600, 4)), columns=["tenure", "spend", "visits", "calls"])
    v = x.to_numpy()
    y = 30 * v[:, 0] - 20 * v[:, 1] + 10 * v[:, 2] * v[:, 3] + rng.normal(scale=2, size=600)
    x_train, y_train, x_val, y_val = x[:450], y[:450], x[450:], y[450:]
    out = []
    for trees in (40, 2, 300):
        model = lgb.LGBMRegressor(n_estimators=trees, learning_rate=0.1, verbose=-1)
        model.fit(x_train, y_train)
        rmse = float(np.sqrt(np.mean((model.predict(x_val) - y_val) ** 2)))
        # MLflow prints "Registered model ... already exists. Creating a new version"
        # itself (not through logging); the demo says what happened in its own words
        with contextlib.redirect_stderr(io.StringIO()):
            _, version = log_candidate(
                model,
                MODEL,
                {"val_rmse": rmse},
                params={"n_estimators": trees, "learning_rate": 0.1},
                tracking_uri=uri,
                run_name=f"lgbm-{trees}-trees",
                data_version="demo-2026-11",
                signature=infer_signature(x_val, model.predict(x_val)),
            )
        say(f"  registered {MODEL} version {version}: {trees} trees, val_rmse={rmse:.2f}")
        out.append((version, rmse))
    return out


def _register_prompts(uri: str, say: Say) -> None:
    """Two versions of a prompt template, as an LLM application's team registers them."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for template, message in TEMPLATES:
        found = client.register_prompt(PROMPT, template, commit_message=message)
        say(f"  registered prompt {PROMPT} version {found.version}: {message!r}")


def _pipeline_sets_candidate(uri: str, version: int) -> None:
    """What a training pipeline does after registering a version: point its alias at it."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.set_registered_model_alias(MODEL, "candidate", str(version))


def _git(folder: Path, say: Say, *args: str, show: bool = True) -> str:
    """Run git in the demo repository (its own identity, no signing, no user hooks)."""
    if show:
        say(f"$ git {' '.join(args)}")
    try:
        done = subprocess.run(
            ["git", "-c", "core.hooksPath=/dev/null", *args],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise ReconcilerError("the demo needs git, which was not found on PATH") from None
    if done.returncode != 0:
        raise ReconcilerError(f"demo step failed: git {args[0]}: {done.stderr.strip()}")
    return done.stdout


def _init_repo(folder: Path, say: Say) -> None:
    _git(folder, say, "init", "-q", "-b", "main")
    for key, value in (
        ("user.name", "reconciler demo"),
        ("user.email", "demo@example.invalid"),
        ("commit.gpgsign", "false"),
    ):
        _git(folder, say, "config", key, value, show=False)


FREEZE = '    windows:\n      - {deny: "* * * * *", duration: 1h, reason: demo freeze}\n'
SOAK = "        - {soak: 1h, in: candidate}\n"


def _windows_and_soak(
    state: Path,
    versions: list[tuple[int, float]],
    say: Say,
    step: Callable[..., None],
    commit: Callable[[str], None],
) -> None:
    """A freeze window holds a promotion until overridden; a soak gate waits for an apply."""
    say("\n== Promotion windows and soak time (docs/promotion-pipelines.md)")
    first = versions[0][0]
    state.write_text(state.read_text().replace("    ignore:\n", FREEZE + "    ignore:\n", 1))
    step(f"Add a freeze window and propose version {first}", ["promote", MODEL, str(first)])
    commit(f"Freeze {MODEL}; promote v{first}")
    step("Plan: the model is blocked until the window closes (not an error)", ["plan"])
    step("Apply holds it and exits 1", ["apply", "--yes"], expect=1)
    step(
        "Override, with a reason recorded on the apply run (tag reconciler.override)",
        ["apply", "--yes", "--override-window", "demo: approved hotfix"],
    )
    good = versions[2][0]
    state.write_text(state.read_text().replace("      champion:\n", "      champion:\n" + SOAK, 1))
    step(
        f"Require v{good} to have held `candidate` for 1h (a soak gate), and propose it",
        ["promote", MODEL, str(good)],
    )
    step(
        "The soak gate fails: the pipeline set `candidate`, no verified apply did",
        ["plan"],
        expect=1,
    )
    _git(state.parent.parent, say, "checkout", "--", "state")
    state.write_text(state.read_text().replace(FREEZE, "", 1))
    step(f"Lift the freeze and propose v{good} again", ["promote", MODEL, str(good)])
    commit(f"Lift the freeze; promote {MODEL} v{good}")
    step("Apply: no window left", ["apply", "--yes"])


def run_demo(workdir: Path, say: Say, run: Run) -> int:
    """Run the walkthrough in ``workdir/reconciler-demo``; ``run`` executes a CLI command."""
    import mlflow  # noqa: F401  # its import sets its logger to INFO: before the demo quiets it

    from reconciler.state.models import state_schema

    folder = workdir / "reconciler-demo"
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "state").mkdir(parents=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    state = folder / "state" / "models.yaml"
    common = ["--state", str(state.relative_to(workdir))]
    online = ("plan", "apply", "status", "history")

    def step(title: str, args: list[str], expect: int = 0) -> None:
        say(f"\n== {title}\n$ reconciler {' '.join(args)}")
        extra = ["--tracking-uri", uri] if args[0] in online else []
        code = run([*args, *common, *extra])
        if code != expect:
            raise ReconcilerError(f"demo step failed: reconciler {args[0]} exited {code}")

    def commit(message: str) -> None:
        _git(folder, say, "commit", "-q", "-am", message)

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    say(f"Demo registry: {folder} (sqlite registry: {uri}; the state is a git repository)")
    say("Each step shows the command you would type; --state and --tracking-uri are implied.")
    say("\n== Train three LightGBM candidates (reconciler.training.log_candidate)")
    versions = train_versions(uri, folder, say)
    (folder / "state.schema.json").write_text(json.dumps(state_schema(), indent=2) + "\n")
    state.write_text(STATE, encoding="utf-8")
    say(f"\n== Declare the desired state in {state.relative_to(workdir)} and commit it:\n{STATE}")
    _init_repo(folder, say)
    _git(folder, say, "add", "state", "state.schema.json")
    commit(f"Declare {MODEL}: champion v1")
    step("Plan: what would change (CI posts this on the pull request)", ["plan"])
    step("Apply it (CI does this on merge): one run in the apply log", ["apply", "--yes"])
    say(
        f"\n== The training pipeline moves its own alias `candidate` to v{versions[2][0]} "
        "(outside git)"
    )
    _pipeline_sets_candidate(uri, versions[2][0])
    step(
        "Plan: the state ignores `candidate`, so the pipeline's move is neither a change "
        "nor a note, and apply will never undo it",
        ["plan"],
    )
    poor = versions[1][0]
    step(
        f"Propose version {poor} (val_rmse {versions[1][1]:.1f}) as champion",
        ["promote", MODEL, str(poor)],
    )
    step("The gate blocks it: plan fails, nothing is written", ["plan"], expect=1)
    say("\n== Drop that proposal (on GitHub: close the pull request)")
    _git(folder, say, "checkout", "--", "state")
    good = versions[2][0]
    step(
        f"Propose version {good} (val_rmse {versions[2][1]:.1f}) instead",
        ["promote", MODEL, str(good)],
    )
    commit(f"Promote {MODEL} v{good}")
    step(
        "Plan passes the gates; under the change, the evidence the reviewer approves: both "
        "runs, metrics with deltas, params that differ, lineage, signature, the val_rmse trend",
        ["plan"],
    )
    step("Apply", ["apply", "--yes"])
    say("\n== Roll back: revert the promotion commit")
    _git(folder, say, "revert", "--no-edit", "HEAD")
    step(
        "Apply the revert: champion returns to v1, and the `archived` alias the promotion "
        "introduced is removed (the ownership record knows it was ours)",
        ["apply", "--yes"],
    )
    step("Status: every alias synced with git", ["status", MODEL])
    say("\n== Roll forward: revert the revert")
    _git(folder, say, "revert", "--no-edit", "HEAD")
    step("Apply", ["apply", "--yes"])
    step(
        "The second path, when a revert does not apply cleanly: swap champion and archived",
        ["rollback", MODEL],
    )
    commit(f"Roll back {MODEL}")
    step("Apply", ["apply", "--yes"])
    say("\n== And undo that rollback with git again")
    _git(folder, say, "revert", "--no-edit", "HEAD")
    step("Apply", ["apply", "--yes"])
    step(
        "Who moved champion, when, from which commit, and which apply run carried each move "
        "out (git joined with the apply log: experiment reconciler-applies)",
        ["history", MODEL],
    )
    _windows_and_soak(state, versions, say, step, commit)
    say("\n== Prompts: two template versions in the prompt registry, governed the same way")
    _register_prompts(uri, say)
    with state.open("a", encoding="utf-8") as fh:
        fh.write(PROMPT_STATE)
    commit(f"Declare prompt {PROMPT}: production v1")
    step("Apply: production -> v1", ["apply", "--yes"])
    step("Propose version 2 for production", ["promote", PROMPT, "2", "--alias", "production"])
    commit(f"Promote prompt {PROMPT} v2")
    step("Plan: the evidence is the template diff, with both commit messages", ["plan"])
    step(
        "Apply: LLM applications loading prompts:/support-reply@production get v2",
        ["apply", "--yes"],
    )
    say("\n== Load the champion and predict (reconciler.training.load)")

    from reconciler.training import load

    model = load(MODEL, "champion", tracking_uri=uri)
    import pandas as pd

    sample = pd.DataFrame(
        [[1.0, 0.0, 0.5, 0.5], [0.0, 1.0, -0.5, 0.5]],
        columns=["tenure", "spend", "visits", "calls"],
    )
    say(f"  predictions for two rows: {[round(float(p), 2) for p in model.predict(sample)]}")
    step("Status", ["status", MODEL])
    say(f"\nDone. Everything lives in {folder}; run `reconciler demo` again to start over.")
    return 0
