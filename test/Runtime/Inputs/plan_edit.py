"""Writes a modified copy of a plan.json for the runtime's error tests.

  plan_edit.py IN OUT [PATH=JSON | -PATH]...
PATH is dotted, list indices as numbers (steps.3.args.1.buffer); PATH=JSON sets a value, -PATH deletes it.
"""
import json
import sys


def walk(root, path):
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for k in keys[:-1]:
        root = root[k]
    return root, keys[-1]


plan = json.load(open(sys.argv[1]))
for edit in sys.argv[3:]:
    if edit.startswith("-"):
        parent, key = walk(plan, edit[1:])
        del parent[key]
    else:
        path, value = edit.split("=", 1)
        parent, key = walk(plan, path)
        parent[key] = json.loads(value)
json.dump(plan, open(sys.argv[2], "w"), indent=1)
