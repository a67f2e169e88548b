"""Versioned releases: a verified, hashed, immutable snapshot of a dataset folder.

``verify_dataset`` leaves ``verify.json`` (the records' hash and the outcome). ``release`` accepts
only a dataset whose current records were all confirmed by such a run and packs the shipped files
with a manifest, ``release.json`` (version, counts, tool versions, the verify outcome and a SHA-256
per shipped file), into ``<name>-<version>.tar.gz``; a copy of the manifest goes beside the
tarball. The working folder is left as it was, so generation can resume there. ``check_release``
tells whether an unpacked release still matches its manifest (``dataset verify`` runs it first).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import time
from collections import Counter
from pathlib import Path

from ..errors import UserError
from .toolchain import tool_versions

NAME = "llm2hls-hls-debug"
SHIPPED = ("records.jsonl", "rejected.jsonl", "config.json", "DATASET.md")
"""Files a release ships besides ``bases/*.json``: not the build cache, the generated/ designs
(``bases/`` has every one a record uses) or verify.json (summarised in the manifest)."""
_VERSION = re.compile(r"\d+\.\d+\.\d+")


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_verify_log(root: Path, checked: int, fails: list[str]) -> None:
    """Record a finished ``dataset verify`` run: which records (by hash) it checked and the outcome."""
    log = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "records_sha256": sha256(root / "records.jsonl"),
           "checked": checked, "confirmed": checked - len(fails), "failures": fails, "tools": tool_versions()}
    (root / "verify.json").write_text(json.dumps(log, indent=1) + "\n")


def shipped_files(root: Path) -> list[Path]:
    """The files of a release, in a fixed order."""
    files = [root / f for f in SHIPPED if (root / f).exists()]
    return files + sorted((root / "bases").glob("*.json"))


def release(root: Path, version: str, dest: Path | None = None) -> Path:
    """Pack the tarball (default ``root/../<name>-<version>.tar.gz``) with its manifest; return its path."""
    if not _VERSION.fullmatch(version):
        raise UserError(f"--version {version!r}: give MAJOR.MINOR.PATCH, e.g. 1.0.0")
    records = root / "records.jsonl"
    if not records.exists():
        raise UserError(f"no records in {records}; run 'llm2hls dataset generate --out {root}' first")
    vpath = root / "verify.json"
    v = json.loads(vpath.read_text()) if vpath.exists() else None
    if v is None or v["records_sha256"] != sha256(records):
        raise UserError(f"{root}: its current records were not verified; run 'llm2hls dataset verify {root}' first")
    if v["failures"]:
        raise UserError(f"{root}: verify confirmed {v['confirmed']}/{v['checked']} verdicts; a release needs all "
                        f"of them (first failure: {v['failures'][0][:120]})")
    dest = dest or root.resolve().parent / f"{NAME}-{version}.tar.gz"
    if dest.exists():
        raise UserError(f"{dest} exists: a version names one snapshot; choose a new version (or another --to)")
    recs = [json.loads(l) for l in records.read_text().splitlines() if l.strip()]
    files = shipped_files(root)
    manifest = {
        "name": NAME, "version": version, "date": time.strftime("%Y-%m-%d"),
        "records": len(recs), "verified_buggy": sum(r["verdict"]["label"] == "buggy" for r in recs),
        "equivalent": sum(r["verdict"]["label"] == "equivalent" for r in recs),
        "splits": dict(sorted(Counter(r["split"] for r in recs).items())),
        "classes": dict(sorted(Counter(c for r in recs for c in r["classes"]).items())),
        "config": json.loads((root / "config.json").read_text()) if (root / "config.json").exists() else None,
        "verify": {k: v[k] for k in ("date", "checked", "confirmed")}, "tools": tool_versions(),
        "files": {str(f.relative_to(root)): sha256(f) for f in files},
    }
    text = (json.dumps(manifest, indent=1) + "\n").encode()
    top = f"{NAME}-{version}"
    tmp = dest.with_name(dest.name + ".part")
    with tarfile.open(tmp, "w:gz") as tar:
        info = tarfile.TarInfo(f"{top}/release.json")
        info.size, info.mtime = len(text), int(time.time())
        tar.addfile(info, io.BytesIO(text))
        for f in files:
            tar.add(f, arcname=f"{top}/{f.relative_to(root)}")
    manifest_copy(dest).write_bytes(text)
    tmp.rename(dest)  # a tarball that exists is whole
    return dest


def manifest_copy(tarball: Path) -> Path:
    """Where the copy of a release's manifest goes: beside its tarball."""
    return tarball.with_name(tarball.name.removesuffix(".tar.gz") + ".release.json")


def check_release(root: Path) -> list[str]:
    """Files of an unpacked release that differ from (or are missing against) its manifest."""
    path = root / "release.json"
    if not path.exists():
        return []
    manifest = json.loads(path.read_text())
    bad = [f"{rel}: {'missing' if not (root / rel).exists() else 'differs from the release manifest'}"
           for rel, digest in manifest["files"].items()
           if not (root / rel).exists() or sha256(root / rel) != digest]
    extra = {str(f.relative_to(root)) for f in (root / "bases").glob("*.json")} - set(manifest["files"])
    return bad + [f"{rel}: not in the release manifest" for rel in sorted(extra)]
