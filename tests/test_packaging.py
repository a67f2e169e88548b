"""The wheel must carry every sub-package and every template (a non-editable install works)."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_all_packages_and_templates(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("llm2hls-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    packages = [p.parent.relative_to(ROOT / "compiler") for p in (ROOT / "compiler").rglob("__init__.py")]
    missing = [str(p) for p in packages if f"{p.as_posix()}/__init__.py" not in names]
    assert not missing, f"packages missing from the wheel: {missing}"

    templates = [
        p.relative_to(ROOT / "templates").as_posix()
        for p in (ROOT / "templates").rglob("*")
        if p.is_file() and p.suffix in {".j2", ".h", ".cpp", ".v", ".sv", ".md"}
    ]
    assert templates, "no templates found"
    missing = [t for t in templates if f"llm2hls/templates/{t}" not in names]
    assert not missing, f"templates missing from the wheel: {missing}"
