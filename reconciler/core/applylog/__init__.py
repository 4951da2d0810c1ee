"""The apply log's rules (SPEC §12, §17), on plain data: the record every apply leaves.

Every apply, heal and converged apply is one MLflow run of the experiment
``reconciler-applies``; the lock, ``history``, the controller and the soak gate all stand
on it, so the rules that read it live together here:

- ``record``   ``ApplyRecord``: one run as plain data (its tags parsed, nothing trusted).
- ``signing``  ``RECONCILER_LOG_KEY``: the HMAC a run carries, and its check.
- ``lease``    who may write now: the lock as a lease (heartbeat, dead applies, clocks).
- ``baseline`` which runs are a model's *applied state* (repository, scope, signature,
  ancestry, clock), and which are reported as forged or foreign.
- ``history``  which verified apply carried out each alias move from git.

The MLflow adapter is ``reconciler/mlflow/applylog.py``; the shell that runs an apply
under the lease is ``reconciler/logged_apply.py``; a heal goes through the same shell.
"""
