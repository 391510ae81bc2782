"""Static check no other tool makes: every `${Name}` placeholder in each state machine
definition has a DefinitionSubstitutions entry in template.yaml, and every entry is used.
Then renders the definition with sample values so asl-validator sees the real JSON.

Usage: python tests/static/check_definitions.py template.yaml OUT_DIR
Prints the rendered file paths; exits 1 with the mismatches named.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "emulator"))
from template_facts import facts  # noqa: E402

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:]+)\}")


def main() -> int:
    template = sys.argv[1]
    out_dir = sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    root = os.path.dirname(os.path.abspath(template))
    failures = []
    for logical, sm in facts(template)["state_machines"].items():
        path = os.path.join(root, sm["definition_uri"])
        text = open(path).read()
        used = set(PLACEHOLDER.findall(text))
        declared = set(sm["substitutions"])
        for name in sorted(used - declared):
            failures.append(f"{path}: ${{{name}}} has no DefinitionSubstitutions entry in {logical}")
        for name in sorted(declared - used):
            failures.append(f"{logical}: DefinitionSubstitutions entry {name} is not used in {path}")
        rendered = PLACEHOLDER.sub(lambda m: f"arn:aws:lambda:us-east-1:123456789012:function:{m.group(1)}", text)
        json.loads(rendered)  # must still be JSON
        target = os.path.join(out_dir, os.path.basename(path))
        with open(target, "w") as f:
            f.write(rendered)
        print(target)
    for f in failures:
        print(f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
