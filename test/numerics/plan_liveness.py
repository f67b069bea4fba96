"""The memory rule of a plan.json (docs/plan-format.md, docs/codegen.md "Memory planning"), for the tests:
buffers of kind input/output/param/grad/optimizer-state share no byte with any other buffer (their own aliases
aside); activation and scratch buffers may share bytes only when their live intervals (first..last step that
names the buffer or one of its aliases) do not intersect."""

FIXED = {"input", "output", "param", "grad", "optimizer-state"}


def step_buffers(step):
    """The buffer names a step reads or writes."""
    names = []
    for a in step.get("args", []):
        if "buffer" in a:
            names.append(a["buffer"])
    for k in ("a", "b", "c", "bias", "src", "dst"):
        v = step.get(k)
        if isinstance(v, dict) and "buffer" in v:
            names.append(v["buffer"])
    return names


def intervals(plan):
    """root buffer name -> (first step, last step); buffers no step names are absent."""
    root = {b["name"]: b.get("alias_of", b["name"]) for b in plan["buffers"]}
    live = {}
    for i, s in enumerate(plan["steps"]):
        for n in step_buffers(s):
            r = root[n]
            f, l = live.get(r, (i, i))
            live[r] = (min(f, i), max(l, i))
    return live


def check_no_live_overlap(plan):
    """Asserts the rule; returns the number of pairs of roots that share memory (reuse)."""
    live = intervals(plan)
    roots = [b for b in plan["buffers"] if "alias_of" not in b and b["bytes"] > 0]
    roots.sort(key=lambda b: b["offset"])
    shared = 0
    for i, a in enumerate(roots):
        a0, a1 = a["offset"], a["offset"] + a["bytes"]
        for b in roots[i + 1:]:
            if b["offset"] >= a1:
                break
            assert a["kind"] not in FIXED and b["kind"] not in FIXED, \
                f"{a['name']} ({a['kind']}) and {b['name']} ({b['kind']}) share memory"
            la, lb = live.get(a["name"]), live.get(b["name"])
            if la and lb:
                assert la[1] < lb[0] or lb[1] < la[0], \
                    f"{a['name']} (steps {la}) and {b['name']} (steps {lb}) are live together and overlap"
            shared += 1
    return shared
