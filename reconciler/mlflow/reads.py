"""Reading registered models and their versions (SPEC §8), batched.

Registered models with their aliases/tags come from ``search_registered_models`` with
``name IN (...)``, versions from ``search_model_versions``. Over HTTP the two searches
run at once; registered models are read one by one only once their search has failed
(``modelread``: a page past 10 s or an error, never a late page). MLflow 2.x servers
refuse ``IN`` on names; the first refusal switches this registry object to filters they
accept (``compat.choose_read``), with the same result.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reconciler.core.observed import ObservedState
from reconciler.errors import RegistryError
from reconciler.mlflow.compat import (
    Read,
    choose_read,
    equals_literal,
    parse_version,
    refuses_in_lists,
    too_old,
)
from reconciler.mlflow.found import PROMPTS, Found, is_prompt
from reconciler.mlflow.modelread import ModelReader, Warn
from reconciler.mlflow.session import Session, quote


class Reads(Session):
    """The registry's models and versions as an ``ObservedState``."""

    in_lists: bool | None
    """Whether the server accepts ``name IN (...)``; None until a read finds out."""
    server_version: str | None
    """The server's MLflow version, asked only once it refused an ``IN`` filter."""

    _read_options: tuple[str, Warn | None] = ("auto", None)
    """``--read-models`` and the slow-read warning, kept for ``in_workspace`` copies."""

    def _start_reads(self, read_models: str | None = None, warn: Warn | None = None) -> None:
        """Fresh read state; ``read_models``/``warn`` are kept for a workspace's copy."""
        if read_models is not None:
            self._read_options = (read_models, warn)
        read_models, warn = self._read_options
        self.in_lists = None
        self.server_version = None
        self._models = ModelReader(
            self._search_models, self._get_model, self.concurrency, read_models, warn
        )
        """How registered models are read over HTTP (``--read-models``)."""
        self._readers: dict[Read, Callable[[Found], None]] = {
            Read.IN_LISTS: self._read_in_lists,
            Read.ONE_BY_ONE: self._read_one_by_one,
            Read.EVERYTHING: self._read_everything,
        }

    def read(self, names: Iterable[str], prompts: Iterable[str] = ()) -> ObservedState:
        """``names`` read as registered models and ``prompts`` as prompts (SPEC v4 §20):
        the server keeps the two apart, so each kind is its own batched read."""
        wanted, asked = sorted(set(names)), sorted(set(prompts))
        models = self._read_kind(wanted, False) if wanted or not asked else None
        found = self._read_kind(asked, True) if asked else None
        if models is None or found is None:
            return models or found or ObservedState({})
        return ObservedState({**models.models, **found.models})

    def _read_kind(self, wanted: list[str], prompts: bool) -> ObservedState:
        strategy = choose_read(wanted, self.in_lists)
        try:
            return self.read_by(strategy, wanted, prompts)
        except RegistryError as exc:
            if strategy is not Read.IN_LISTS or not refuses_in_lists(str(exc.__cause__)):
                raise
        self._learn_no_in_lists()
        return self.read_by(choose_read(wanted, self.in_lists), wanted, prompts)

    def read_by(self, strategy: Read, names: Iterable[str], prompts: bool = False) -> ObservedState:
        """The named models (or prompts) read one particular way (``read`` chooses it)."""
        found = Found(sorted(set(names)), prompts)
        self._readers[strategy](found)
        return found.observed()

    def _learn_no_in_lists(self) -> None:
        """The server refused ``name IN (...)``: an MLflow 2.x server. Remember it, and
        refuse one too old to hold aliases before anything is planned against it."""
        self.in_lists = False
        self.server_version = self._call(self._get_server_version)
        problem = too_old(self.server_version) if self.server_version else None
        if problem:
            raise RegistryError(f"the registry at {self.display_uri} {problem}")

    def _get_server_version(self) -> str | None:
        """What ``GET /version`` says (MLflow servers 1.x to 3.x answer it), or None."""
        from mlflow.utils.rest_utils import http_request

        get_creds = getattr(self._store, "get_host_creds", None)
        if get_creds is None:
            return None
        response = http_request(get_creds(), "/version", "GET", max_retries=0, timeout=10)
        text = response.text.strip() if response.status_code == 200 else ""
        return text if parse_version(text) else None

    def _read_in_lists(self, found: Found) -> None:
        """Two searches filtered with ``name IN (...)``: 3.x servers and local stores."""
        if found.wanted:
            names = ", ".join(quote(n) for n in found.wanted)
            self._read_fastest(found, found.where(f"name IN ({names})"))

    def _read_everything(self, found: Found) -> None:
        """Two unfiltered, paged searches (1000 models, 10000 versions a page)."""
        self._read_fastest(found, found.where(None))

    def _read_fastest(self, found: Found, where: str | None) -> None:
        """Versions and models at once, models by search unless it failed or
        ``--read-models get`` (``modelread``); a local store reads in turn."""
        if self.concurrency <= 1:
            self._read_where(found, where)
            return
        versions = functools.partial(self._read_versions, found, where)
        self._models.read(found.wanted, where, found.add_model, versions)

    def _search_models(self, where: str | None, max_results: int, token: str | None) -> Any:
        search = self._store.search_registered_models
        return self._call(
            lambda: search(filter_string=where, max_results=max_results, page_token=token)
        )

    def _get_model(self, name: str) -> Any:
        """The registered model ``name`` (one primary-key read), None if there is none."""
        from mlflow.exceptions import MlflowException

        try:
            return self._call(lambda: self._store.get_registered_model(name))
        except RegistryError as exc:
            cause = exc.__cause__
            if isinstance(cause, MlflowException) and cause.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def _read_versions(self, found: Found, where: str | None) -> None:
        for mv in self._paged(
            self._store.search_model_versions, filter_string=where, max_results=10000
        ):
            found.add_version(mv)

    def _read_one_by_one(self, found: Found) -> None:
        """Two searches per model with ``name = '...'``, ``concurrency`` at a time."""
        if not all(equals_literal(n) for n in found.wanted):
            return self._read_everything(found)  # a name no literal can hold

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for future in [
                pool.submit(self._read_where, found, found.where(f"name = {equals_literal(n)}"))
                for n in found.wanted
            ]:
                future.result()

    def _read_where(self, found: Found, where: str | None) -> None:
        # The store, not MlflowClient: the 3.x client appends a prompt filter that a
        # 2.9 server answers with nothing at all; prompts are dropped by ``Found``.
        for rm in self._paged(
            self._store.search_registered_models, filter_string=where, max_results=1000
        ):
            found.add_model(rm)
        self._read_versions(found, where)

    def model_names(self) -> list[str]:
        """Every registered model's name (``import`` without ``--model``), paged."""
        found = self._paged(self._store.search_registered_models, max_results=1000)
        return sorted(rm.name for rm in found if not is_prompt(rm))

    def no_prompt_registry(self) -> str | None:
        """Why this registry has no prompt registry (an MLflow 2.x server), or None: the
        server's version as the last read learnt it, else ``GET /version`` (one request)."""
        version = self.server_version or self._call(self._get_server_version)
        parsed = parse_version(version) if version else None
        if parsed is None or parsed >= (3, 0):
            return None
        return (
            f"the registry at {self.display_uri} runs MLflow {version}, which has no prompt "
            "registry: the state's prompts: need an MLflow server >= 3.0"
        )

    def prompt_names(self) -> list[str]:
        """Every prompt's name (SPEC v4 §20), paged; one search filtered on the prompt tag."""
        found = self._paged(
            self._store.search_registered_models, filter_string=PROMPTS, max_results=1000
        )
        return sorted(rm.name for rm in found)  # the server hides the tag it filtered on
