"""registry-reconciler: Git holds which model version serves; this tool makes MLflow agree."""

__version__ = "0.1.0"
