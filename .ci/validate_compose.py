"""Validates docker-compose.yml against the Compose Specification schema
(no Docker engine is available to CI). Usage: validate_compose.py SPEC FILE"""
import sys

import jsonschema
import yaml

spec_path, compose_path = sys.argv[1], sys.argv[2]
with open(spec_path) as f:
    spec = yaml.safe_load(f)
with open(compose_path) as f:
    compose = yaml.safe_load(f)
# Compose merges `<<:` keys itself; PyYAML's safe loader already resolves them.
errors = sorted(jsonschema.Draft7Validator(spec).iter_errors(compose), key=lambda e: list(e.path))
for e in errors:
    print(f"{compose_path}: {'/'.join(map(str, e.path)) or '/'}: {e.message}")
if errors:
    sys.exit(1)
print(f"{compose_path}: valid against the Compose Specification")
