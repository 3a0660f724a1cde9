#!/usr/bin/env python3
"""Validates scenario files against docs/scenario.schema.json (what editors use), so the schema
and the loader cannot drift apart. Usage: validate-scenarios.py [FILE|DIR]... (default Scenarios/)."""
import glob
import json
import os
import sys

import jsonschema
import yaml

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
schema = json.load(open(os.path.join(root, "docs", "scenario.schema.json")))
validator = jsonschema.Draft202012Validator(schema)
paths = sys.argv[1:] or [os.path.join(root, "Scenarios")]
files = []
for p in paths:
    files += sorted(glob.glob(os.path.join(p, "*.yaml"))) if os.path.isdir(p) else [p]
bad = 0
for f in files:
    try:
        validator.validate(yaml.safe_load(open(f)))
    except jsonschema.ValidationError as e:
        bad += 1
        print(f"{f}: {'/'.join(str(x) for x in e.absolute_path)}: {e.message[:300]}")
print(f"{len(files)} scenario files checked against the schema, {bad} invalid")
sys.exit(1 if bad else 0)
