"""Model signatures: read from an MLmodel file's text, compared column by column. Pure.

The registry shell downloads the MLmodel; everything after that (parsing, the
difference a reviewer reads, the ``{signature: compatible}`` verdict) lives here so
it is testable on plain strings. The comparison is DeepDiff's, read back as
sentences: "column `zip` added (string)", "`age`: long -> double", "`income` removed".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from reconciler.core.observed import Column, ObservedSignature

HINT = (
    "log the model with a signature (e.g. signature=mlflow.models.infer_signature(X, "
    "model.predict(X)))"
)


def _type(spec: Mapping[str, Any]) -> str:
    kind = str(spec.get("type", "?"))
    if kind == "tensor":
        tensor = spec.get("tensor-spec") or {}
        return f"tensor {tensor.get('dtype', '?')} {list(tensor.get('shape') or [])}"
    if kind in ("array", "object", "map"):
        rest = {k: v for k, v in spec.items() if k not in ("name", "required")}
        return json.dumps(rest, sort_keys=True, separators=(",", ":"))
    return kind


def _columns(text: Any) -> tuple[Column, ...] | None:
    if not text:
        return None
    specs = json.loads(text) if isinstance(text, str) else text
    return tuple(
        Column(
            name=str(spec["name"]) if spec.get("name") is not None else f"#{i}",
            type=_type(spec),
            required=bool(spec.get("required", True)),
        )
        for i, spec in enumerate(specs)
    )


def parse_mlmodel(text: str) -> ObservedSignature:
    """The signature an MLmodel file declares (``found=False`` when it has none)."""
    try:
        data = yaml.safe_load(text)
        sig = data.get("signature") if isinstance(data, dict) else None
        if not isinstance(sig, dict) or not (sig.get("inputs") or sig.get("outputs")):
            return ObservedSignature()
        return ObservedSignature(_columns(sig.get("inputs")), _columns(sig.get("outputs")), True)
    except (yaml.YAMLError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return ObservedSignature(error=f"unreadable MLmodel signature ({type(exc).__name__})")


def _as_dict(sig: ObservedSignature) -> dict[str, dict[str, str]]:
    def side(cols: tuple[Column, ...] | None) -> dict[str, str]:
        return {c.name: c.type + ("" if c.required else " (optional)") for c in cols or ()}

    return {"inputs": side(sig.inputs), "outputs": side(sig.outputs)}


def differences(before: ObservedSignature, after: ObservedSignature) -> tuple[str, ...]:
    """What changes from ``before`` (current holder) to ``after`` (candidate), in words."""
    from deepdiff import DeepDiff

    # threshold 0: DeepDiff would otherwise report a side whose columns changed by more
    # than a third as one changed value, and the gate would read that as "same"
    diff = DeepDiff(_as_dict(before), _as_dict(after), view="tree", threshold_to_diff_deeper=0)
    out: list[tuple[str, str, str]] = []
    for kind, verb in (
        ("dictionary_item_added", "added"),
        ("dictionary_item_removed", "removed"),
        ("values_changed", "changed"),
    ):
        for level in diff.get(kind, []):
            path = level.path(output_format="list")
            if len(path) != 2:
                continue
            side, column = str(path[0]), str(path[1])
            prefix = "" if side == "inputs" else "output "
            if verb == "added":
                text = f"{prefix}column `{column}` added ({level.t2})"
            elif verb == "removed":
                text = f"{prefix}`{column}` removed"
            else:
                text = f"{prefix}`{column}`: {level.t1} -> {level.t2}"
            out.append((side, column, text))
    return tuple(text for _, _, text in sorted(out))


def summary(sig: ObservedSignature) -> str:
    """A few words for one signature: ``2 inputs, 1 output`` or why there is none."""
    if sig.error:
        return sig.error
    if not sig.found:
        return "no signature"
    n_in, n_out = len(sig.inputs or ()), len(sig.outputs or ())
    return f"{n_in} input{'s' * (n_in != 1)}, {n_out} output{'s' * (n_out != 1)}"
