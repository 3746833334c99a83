"""The documentation portal's committed files: the vendored Swagger UI is what its README says, the package
ships every file the portal serves, the getting-started page's links, plans and error codes agree with the code
and the settings, and the README links the portal and keeps no second copy of the verification code."""

from __future__ import annotations

import hashlib
import re
import tomllib
from fnmatch import fnmatch

from api.portal import GETTING_STARTED, HERE
from api.schemas import ErrorBody
from services.documents import render_markdown
from tests.engine_builders import settings
from tests.paths import ROOT

VENDORED = HERE / "static" / "swagger-ui"
README = ROOT / "README.md"
GUIDE_LINK = "docs/api/getting-started.md"


def _section(text: str, heading: str) -> str:
    """A `## heading` section of a Markdown text, up to the next `## ` heading."""
    start = text.index(f"\n## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_vendored_swagger_ui_is_unchanged_from_the_package():
    listed = dict(re.findall(r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|$", (VENDORED / "README.md").read_text(), re.M))
    shipped = {path.name for path in VENDORED.iterdir() if path.name != "README.md"}
    assert set(listed) == shipped
    for name, digest in listed.items():
        assert hashlib.sha256((VENDORED / name).read_bytes()).hexdigest() == digest, name


def test_the_package_data_ships_every_file_the_portal_serves():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["api.portal"]
    files = [p.relative_to(HERE).as_posix() for p in (HERE / "templates").rglob("*") if p.is_file()]
    files += [p.relative_to(HERE).as_posix() for p in (HERE / "static").rglob("*") if p.is_file()]
    assert len(files) > 8
    assert [f for f in files if not any(fnmatch(f, pattern) for pattern in data)] == []


def test_every_link_within_the_getting_started_page_lands_on_a_heading():
    text = GETTING_STARTED.read_text(encoding="utf-8")
    ids = set(re.findall(r' id="([^"]+)"', render_markdown(text)))
    anchors = re.findall(r"\]\(#([^)]+)\)", text)
    assert len(anchors) >= 7
    assert [a for a in anchors if a not in ids] == []


def test_the_getting_started_plans_are_the_configured_defaults():
    rows = re.findall(r"^\| [^|]+\(`(\w+)`\) \| (\d+)[^|]* \| (\d+)[^|]* \|", GETTING_STARTED.read_text(), re.M)
    plans = settings().plans
    assert {plan for plan, _, _ in rows} == set(plans)
    for plan, per_minute, webhooks in rows:
        assert (int(per_minute), int(webhooks)) == (plans[plan].requests_per_minute, plans[plan].webhooks), plan


def test_the_getting_started_errors_name_every_code_of_the_contract():
    schema = ErrorBody.model_json_schema(by_alias=True)["properties"]["code"]
    if "enum" in schema:
        codes = set(schema["enum"])
    else:  # "Stable machine-readable code: unauthorized, rate_limited, …"
        codes = {code.strip(" .") for code in schema["description"].split(":", 1)[1].split(",")}
    assert {"unauthorized", "rate_limited", "invalid_parameter", "internal_error"} <= codes
    table = _section(GETTING_STARTED.read_text(encoding="utf-8"), "Errors")
    explained = set(re.findall(r"^\| \d{3} \| `(\w+)` \|", table, re.M))
    assert codes - explained == set()


def test_the_readme_links_the_portal_and_keeps_one_copy_of_the_verification_code():
    readme = README.read_text(encoding="utf-8")
    api = _section(readme, "REST API and webhooks")
    for link in ("`http://127.0.0.1:8080/docs`", "`/docs/getting-started`", "`/openapi.json`", f"]({GUIDE_LINK})"):
        assert link in api, link
    target = re.search(rf"\]\({re.escape(GUIDE_LINK)}#([\w-]+)\)", api)
    assert target is not None, "the README links the page's verification section"
    assert f'id="{target.group(1)}"' in render_markdown(GETTING_STARTED.read_text(encoding="utf-8"))
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", readme, re.M | re.S)
    assert [b for b in blocks if re.search(r"webhook-signature|compare_digest|standardwebhooks|subtle", b)] == []
