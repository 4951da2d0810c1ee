"""Names and numbers in the state format: MLflow's rules for aliases, model names,
workspaces and tag keys, checked offline so ``validate`` catches them before any request."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
)

MAX_VERSION = 2**63 - 1
_ALIAS_RE = re.compile(r"^[\w\-]+$")
_RESERVED_ALIAS_RE = re.compile(r"^(latest|[vV]\d+)$", re.IGNORECASE)
STAGES = ("Staging", "Production")
"""Stages a state file may declare; other versions in them are moved to Archived."""


def _check_alias(name: str) -> str:
    if len(name) > 255:
        raise ValueError("alias names are at most 255 characters")
    if not _ALIAS_RE.match(name):
        raise ValueError(f"invalid alias {name!r}: use letters, digits, '_' and '-' only")
    if _RESERVED_ALIAS_RE.match(name):
        raise ValueError(f"alias {name!r} is reserved by MLflow ('latest', 'v<number>')")
    return name


def _check_model_name(name: str) -> str:
    if not name.strip():
        raise ValueError("model name must not be empty")
    if "/" in name or ":" in name:
        raise ValueError(f"invalid model name {name!r}: names cannot contain '/' or ':'")
    if name in (".", ".."):
        raise ValueError(f"invalid model name {name!r}")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        raise ValueError(
            f"invalid model name {name!r}: names cannot contain control or invisible "
            "characters (line breaks, bidi controls, zero-width characters)"
        )
    return name


WORKSPACE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
"""MLflow's workspace name rule (a Kubernetes DNS label), 2 to 63 characters."""
RESERVED_WORKSPACES = frozenset({"workspaces", "api", "ajax-api", "static-files"})


def check_workspace(name: str) -> str:
    """MLflow's rule for workspace names, checked offline (``validate``)."""
    if not 2 <= len(name) <= 63:
        raise ValueError(f"workspace {name!r}: names are 2 to 63 characters")
    if not WORKSPACE_RE.match(name):
        raise ValueError(
            f"{name!r} is not a valid workspace name: use lowercase letters, digits and inner '-' "
            "(^[a-z0-9]([-a-z0-9]*[a-z0-9])?$)"
        )
    if name in RESERVED_WORKSPACES:
        raise ValueError(f"workspace {name!r} is reserved by MLflow")
    return name


REGISTRY_RE = re.compile(r"^[a-z0-9]([-_a-z0-9]{0,38}[a-z0-9])?$")


def check_registry(name: str) -> str:
    """A registry name (``registry: staging``): lower-case letters, digits, ``-``, ``_``;
    it becomes part of environment variable names (RECONCILER_REGISTRY_<NAME>_URI)."""
    if not REGISTRY_RE.match(name):
        raise ValueError(
            f"invalid registry name {name!r}: use lower-case letters, digits, '-' and '_' "
            "(at most 40; e.g. staging, prod-eu)"
        )
    return name


def _check_tag_key(key: str) -> str:
    if not key or len(key) > 250:
        raise ValueError("tag keys are 1 to 250 characters")
    if key.startswith("reconciler."):
        raise ValueError(f"tag {key!r}: the 'reconciler.' prefix is reserved for audit tags")
    return key


AliasName = Annotated[str, AfterValidator(_check_alias)]
ModelName = Annotated[str, AfterValidator(_check_model_name)]
TagKey = Annotated[str, AfterValidator(_check_tag_key)]
WorkspaceName = Annotated[StrictStr, AfterValidator(check_workspace)]
RegistryName = Annotated[StrictStr, AfterValidator(check_registry)]
VersionNumber = Annotated[StrictInt, Field(gt=0, le=MAX_VERSION)]
"""A version number written as a plain YAML integer (``7``, not ``"7"`` or ``7.0``)."""


def _plain_key(key: object) -> object:
    """A version key is written as plain decimal digits (``017``, ``1_0`` are not)."""
    if isinstance(key, str) and not re.fullmatch(r"[1-9][0-9]{0,18}", key.strip()):
        raise ValueError(f"version {key!r}: write a plain decimal number (1, 2, ...)")
    return key


VersionKey = Annotated[int, BeforeValidator(_plain_key), Field(gt=0, le=MAX_VERSION)]
"""A version number used as a mapping key (YAML keys are read as text)."""
Number = StrictInt | StrictFloat
Tags = dict[TagKey, StrictStr]


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
