"""registry-reconciler: Git holds which model version serves; this tool makes MLflow agree.

The package is a folder per layer; the path says what a module may touch
(tests/test_layers.py keeps every rule below true, reading imports with ``ast``):

- ``state/``   the desired-state format (models, loading, YAML, explanations, edits, git
  history, audit). Imports only ``errors``.
- ``core/``    pure decisions on plain data: resolve (once per plan), diff, problems,
  gates, evidence, the plan, status, verification, the ``Registry`` port and ``apply``
  through it. Imports only ``state/`` and ``errors``: never ``mlflow/``, ``render/``,
  ``cli/`` or mlflow.
- ``mlflow/``  the adapter behind the port (session, reads, writes, runs and signatures,
  compat, connection). Imports ``core/``, ``state/``, ``errors``; never ``render/`` or
  ``cli/``.
- ``render/``  plans, evidence, status and imported state as text, markdown, JSON or
  YAML; pure. Imports ``core/``, ``state/``, ``errors``; never ``mlflow/`` or ``cli/``.
- ``serve/``   the controller (``reconciler serve``): its loop, HTTP face, webhook checks,
  notifications, status and model pages (alias history cached off the request path) and
  metrics; the pure decisions (drift / pending, what to heal, what is news) in
  ``serve/decide.py`` and ``serve/events.py``. Imports what ``api`` does plus ``api``
  and ``logged_apply``; never ``cli/`` or mlflow itself.
- ``cli/``     click commands (thin: parse, call one step, print) and the console. Only
  ``cli/`` imports ``cli/``.
- top level: ``errors`` (imports nothing), ``api`` (the steps behind each command:
  ``core/``, ``state/``, ``mlflow/``, ``render/``), ``logged_apply`` (the apply log and
  lock around an apply; the same imports as ``api``), ``training`` and ``demo`` (the
  demo's training: ``state/``, ``core/``, ``mlflow/``).

mlflow itself is imported only in ``mlflow/``, ``training`` and ``demo``, and always
inside a function, so ``validate``, ``promote`` and friends never pay for it. No module
imports itself back through others: zero import cycles, lazy imports included.
"""

__version__ = "0.1.0"
