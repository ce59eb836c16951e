"""The spec versions running encounters started with, kept so a restart does not change them.

A Discord encounter can run for days while its author edits the spec. Within one process the
encounter holds its own `Bundle`; across a restart only the session survives, and it names
the spec by SHA-256. So each spec version an encounter starts with is written once, by its
hash, under `DATA_DIR/spec-versions/`, and a resumed encounter whose spec has changed on disk
is given its own version back (with today's persona, party and lore, which the session does
not pin).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from mardonar.content.bundle import Bundle
from mardonar.content.models import Spec
from mardonar.content.yamlpos import YamlSyntaxError, load_yaml
from mardonar.files import atomic_write_text

log = logging.getLogger(__name__)

VERSIONS_DIR = "spec-versions"


class SpecVersions:
    """`DATA_DIR/spec-versions/<sha256>.yaml`: the exact bytes of each spec version played."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir / VERSIONS_DIR

    def keep(self, bundle: Bundle) -> None:
        """Remember `bundle`'s spec version (once: the file name is its content's hash)."""
        path = self.folder / f"{bundle.spec_sha256}.yaml"
        if path.exists():
            return
        text = bundle.spec_path.read_text(encoding="utf-8")
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)

    def pinned(self, current: Bundle, spec_sha256: str) -> Bundle:
        """`current` with the spec version `spec_sha256` instead of today's, if it was kept
        and still fits today's model; otherwise `current` (said in the log)."""
        if current.spec_sha256 == spec_sha256:
            return current
        path = self.folder / f"{spec_sha256}.yaml"
        try:
            text = path.read_text(encoding="utf-8")
            spec = Spec.model_validate(load_yaml(text, positions=False).data)
        except FileNotFoundError:
            log.warning(
                "spec %s changed since its encounter started and that version was not kept; "
                "playing the version on disk",
                current.spec.id,
            )
            return current
        except (OSError, ValueError, YamlSyntaxError) as error:
            log.warning(
                "spec %s: the version the encounter started with cannot be used (%s); playing "
                "the version on disk",
                current.spec.id,
                str(error).splitlines()[0],
            )
            return current
        return dataclasses.replace(current, spec=spec, spec_path=path, spec_sha256=spec_sha256)
