"""Checks template.yaml's AWS::ServerlessRepo::Application metadata offline, as `sam
publish` would read it: SAM CLI's own parser (samcli.vendor.serverlessrepo, the code `sam
publish` runs) and the constraints the SAM developer guide gives for each property
("AWS SAM template Metadata section properties": Name `[a-zA-Z0-9\\-]+` up to 140
characters; Description up to 256; Author `^[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?$` up to
127; at most 10 Labels, each `^[a-zA-Z0-9+\\-_:\\/@]+$` up to 127; LicenseUrl and ReadmeUrl
local files before `sam package`). Also: one version everywhere (template, Cargo.toml,
CHANGELOG.md) and the licence the crates declare; and samconfig.example.toml sets only
parameters the template declares.

Usage: python tests/static/check_sar_metadata.py template.yaml
"""

import os
import re
import sys
import tomllib

from samcli.vendor.serverlessrepo.parser import get_app_metadata, parse_template

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(path: str) -> None:
    problems: list[str] = []
    template = parse_template(open(path).read())
    meta = get_app_metadata(template)
    # What `sam publish` requires to create an application and a version of it.
    try:
        meta.validate(["author", "description", "name", "semantic_version"])
    except Exception as exc:  # ApplicationMetadataNotFoundError names the missing ones
        problems.append(str(exc))
    rules = [
        ("Name", meta.name, r"[a-zA-Z0-9\-]+", 140),
        ("Author", meta.author, r"[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?", 127),
        ("Description", meta.description, r"(?s).+", 256),
    ]
    for field, value, pattern, longest in rules:
        if not value or not re.fullmatch(pattern, value) or len(value) > longest:
            problems.append(f"{field}: {value!r} must match {pattern} and be at most {longest} characters")
    labels = meta.labels or []
    if len(labels) > 10:
        problems.append(f"Labels: {len(labels)} labels, at most 10")
    for label in labels:
        if not re.fullmatch(r"[a-zA-Z0-9+\-_:/@]{1,127}", label):
            problems.append(f"Labels: {label!r} must match ^[a-zA-Z0-9+\\-_:\\/@]+$ (1 to 127 characters)")
    for field, value in (("LicenseUrl", meta.license_url), ("ReadmeUrl", meta.readme_url)):
        if not value or not os.path.isfile(os.path.join(os.path.dirname(os.path.abspath(path)), value)):
            problems.append(f"{field}: {value!r} is not a local file next to the template (sam package uploads it)")
    cargo = tomllib.load(open(os.path.join(ROOT, "Cargo.toml"), "rb"))["workspace"]["package"]
    if meta.semantic_version != cargo["version"]:
        problems.append(f"SemanticVersion: {meta.semantic_version} but Cargo.toml says {cargo['version']}")
    if meta.spdx_license_id != cargo["license"]:
        problems.append(f"SpdxLicenseId: {meta.spdx_license_id} but Cargo.toml says {cargo['license']}")
    changelog = open(os.path.join(ROOT, "CHANGELOG.md")).read()
    released = re.search(r"^## \[(\d+\.\d+\.\d+)\]", changelog, re.M)
    if not released or released.group(1) != meta.semantic_version:
        problems.append(f"CHANGELOG.md: latest release {released.group(1) if released else None}, "
                        f"template says {meta.semantic_version}")
    example = tomllib.load(open(os.path.join(ROOT, "samconfig.example.toml"), "rb"))
    overrides = example["default"]["deploy"]["parameters"]["parameter_overrides"]
    declared = set(template.get("Parameters", {}))
    for item in overrides:
        name = item.split("=", 1)[0]
        if name not in declared:
            problems.append(f"samconfig.example.toml: {name} is not a parameter of {path}")
    if problems:
        print(f"{path}: AWS::ServerlessRepo::Application metadata:\n- " + "\n- ".join(problems))
        raise SystemExit(1)
    print(f"{path}: SAR metadata valid: {meta.name} {meta.semantic_version} by {meta.author}, {meta.spdx_license_id}")


if __name__ == "__main__":
    main(sys.argv[1])
