#!/usr/bin/env python3
"""Which files switch over the vocabularies that must have one meaning (issue 28): a fault
(`FaultEffect`), an attacker action (`AttackAction`) and a script step (`ScriptStep`). Each may be
switched over only where it is defined, read and written (its table, the scenario loader and
writer) and where it is carried out (the simulator's fault plan, the attacker, the script
interpreter). A new file that switches over one gives the vocabulary a second meaning: this
check fails and names it.

Faults are carried out as steps of the fault plan (`FaultStep`, EndpointHosting/FaultPlan.swift):
the simulator, the socket and the proxy switch over those steps, never over the faults. An
allowed file that no longer switches fails the check too, so the table stays true.

A file "switches over" an enum when one of its `case .x` lines names a case that only that enum
(and the table that names its cases again: `FaultKind`, `AttackKind`) declares in Sources/ (names
shared with other enums, such as `reset` or `close`, prove nothing).

Usage: scripts/check-switches.py [PACKAGE_DIR]   exit 0 when only the allowed files switch.
       scripts/check-switches.py --self-test      plants a switch in a copy and expects a failure.
"""
import os
import re
import sys

# The tables that name each case again (`FaultKind` names every `FaultEffect`): one vocabulary.
MIRRORS = {"FaultEffect": "FaultKind", "AttackAction": "AttackKind"}

VOCABULARIES = {
    "FaultEffect": ("Sources/EndpointHosting/Faults.swift", {
        "Sources/EndpointHosting/Faults.swift": "the table: kinds, parameters, explanations",
        "Sources/EndpointHosting/Written.swift": "the scenario-file writer",
        "Sources/Scenario/ScenarioLoader+Faults.swift": "the scenario-file loader",
        "Sources/EndpointHosting/FaultPlan.swift": "the fault plan: each fault's one meaning (a link shape or a step)",
        "Sources/Simulation/Swarm.swift": "the swarm's table of which faults a seed may draw",
    }),
    "AttackAction": ("Sources/EndpointHosting/Attacker.swift", {
        "Sources/EndpointHosting/Attacker.swift": "the attacker (carries its actions out)",
        "Sources/EndpointHosting/Written.swift": "the scenario-file writer",
        "Sources/Scenario/ScenarioLoader+Faults.swift": "the scenario-file loader",
    }),
    "ScriptStep": ("Sources/EndpointHosting/ScriptedEndpoint.swift", {
        "Sources/EndpointHosting/ScriptedEndpoint.swift": "the one interpreter, and the step's written form",
    }),
}

CASE_DECL = re.compile(r"^\s*(?:indirect\s+)?case\s+(.+)$")
CASE_LINE = re.compile(r"^\s*case\s+(.*?)(?::\s*(?://.*)?$|:\s)")


def enum_cases(text, enum):
    """The case names declared in `enum` (its body up to the matching brace)."""
    start = re.search(r"\benum\s+" + enum + r"\b[^{]*\{", text)
    if not start:
        return set()
    depth, i, names = 1, start.end(), set()
    body_start = i
    while depth and i < len(text):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    body = text[body_start:i]
    # Only top-level declarations of the enum itself.
    level = 0
    for line in body.splitlines():
        if level == 0:
            m = CASE_DECL.match(line)
            if m and not line.strip().startswith("case ."):
                for part in re.split(r",(?![^(]*\))", m.group(1)):
                    name = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", part)
                    if name:
                        names.add(name.group(1))
        level += line.count("{") - line.count("}")
    return names


def swift_files(root):
    for folder, _, files in os.walk(os.path.join(root, "Sources")):
        for f in sorted(files):
            if f.endswith(".swift"):
                path = os.path.join(folder, f)
                yield os.path.relpath(path, root), open(path, encoding="utf-8").read()


def self_test() -> int:
    """A copy of Sources/ with one more file that switches over a fault must fail the check."""
    import shutil
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree("Sources", os.path.join(tmp, "Sources"))
        with open(os.path.join(tmp, "Sources", "SMTPNet", "Planted.swift"), "w") as f:
            f.write("func planted(_ e: FaultEffect) {\n    switch e {\n    case .tlsCloseNotify: break\n    default: break\n    }\n}\n")
        run = subprocess.run([sys.executable, __file__, tmp], capture_output=True, text=True)
        if run.returncode == 0 or "Planted.swift switches over FaultEffect" not in run.stdout:
            print("self-test: a planted switch over FaultEffect was not caught:\n" + run.stdout)
            return 1
    print("self-test: a planted switch over FaultEffect is caught")
    return 0


def main() -> int:
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    files = dict(swift_files(root))
    declared = {}  # case name → how many enums declare it
    for text in files.values():
        for enum in re.findall(r"\benum\s+([A-Za-z_][A-Za-z0-9_]*)", text):
            for name in enum_cases(text, enum):
                declared[name] = declared.get(name, 0) + 1
    problems = []
    for enum, (home, allowed) in VOCABULARIES.items():
        own = enum_cases(files[home], enum)
        mirror = enum_cases(files[home], MIRRORS[enum]) if enum in MIRRORS else set()
        unique = {n for n in own if declared.get(n) == 1 + (n in mirror)}
        if len(unique) < 3:
            problems.append(f"{enum}: only {sorted(unique)} are its own case names; the check cannot see it")
            continue
        pattern = re.compile(r"\.(" + "|".join(sorted(unique)) + r")\b")
        switching = set()
        for path, text in files.items():
            if any(pattern.search(m.group(1)) for line in text.splitlines() if (m := CASE_LINE.match(line))):
                switching.add(path)
        for path in sorted(switching - set(allowed)):
            problems.append(f"{path} switches over {enum}: only {', '.join(sorted(allowed))} may")
        for path in sorted(set(allowed) - switching - {home}):
            problems.append(f"{path} no longer switches over {enum}: take it out of scripts/check-switches.py")
    for p in problems:
        print(p)
    if not problems:
        print("faults, attacker actions and script steps are switched over only where they are defined, read, written and carried out")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
