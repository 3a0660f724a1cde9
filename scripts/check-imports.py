#!/usr/bin/env python3
"""Every module a target imports is declared in Package.swift, and every declared dependency is
imported (docs/design.md, "Dependency arrows"); docs/design.md's module table agrees with
Package.swift. SwiftPM lets transitive dependencies through
(even with --explicit-target-dependency-import-check), so this reads the manifest as SwiftPM
sees it (`swift package dump-package`) and compares it with each target's `import` lines.

Usage: scripts/check-imports.py [PACKAGE_DIR]   exit 0 when they agree, 1 with one line per mismatch.
"""
import json
import os
import re
import subprocess
import sys

# Modules of the toolchain and the OS: imported without a declaration.
SYSTEM = {"Foundation", "FoundationEssentials", "XCTest", "Testing", "Synchronization", "Dispatch",
          "Glibc", "Darwin", "Musl", "_Concurrency", "Swift"}
IMPORT = re.compile(r"^\s*(?:@[A-Za-z_]+(?:\([^)]*\))?\s+)*import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?([A-Za-z_][A-Za-z0-9_]*)", re.M)


CORES = {"SMTPCore", "SMTPServer", "SMTPClient", "SMTPTLS"}


def check_module_table(root, manifest):
    """docs/design.md's module table against Package.swift: every module of Sources/ has a row,
    every row names real modules, and each module declares only what its row's "may import"
    cell allows (backticked modules; "the cores"; "nothing"; "everything above"; a product or
    system library by its name)."""
    with open(os.path.join(root, "docs", "design.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("## Modules", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| `")]
    targets = {t["name"]: t for t in manifest["targets"] if t["type"] in ("regular", "executable", "system") and not t.get("path")}
    problems, seen, above = [], set(), set()
    for cells in rows:
        names = re.findall(r"`([A-Za-z0-9_]+)`", cells[0])
        allowed_text = cells[2]
        allowed = set(re.findall(r"`([A-Za-z0-9_]+)`", allowed_text))
        if "the cores" in allowed_text:
            allowed |= CORES
        allowed |= set(re.findall(r"\b(NIO[A-Za-z]+|Yams|ArgumentParser|OpenSSL)\b", allowed_text))
        if "OpenSSL" in allowed:
            allowed.add("COpenSSL")
        everything = "everything above" in allowed_text
        for name in names:
            seen.add(name)
            if name not in targets:
                problems.append(f"docs/design.md: the module table names {name}, which Package.swift does not declare")
                continue
            for dep in target_dependencies(targets[name]):
                if dep in allowed or (everything and (dep in above or dep not in targets)):
                    continue
                problems.append(f"{name}: depends on {dep}, which its row in docs/design.md's module table does not allow")
        above |= set(names)
    for name in sorted(set(targets) - seen):
        problems.append(f"docs/design.md: the module table has no row for {name}")
    return problems


def target_dependencies(target):
    return [next(iter(dep.values()))[0] for dep in target["dependencies"]]


def main() -> int:
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    manifest = json.loads(subprocess.run(["swift", "package", "--package-path", root, "dump-package"],
                                         check=True, capture_output=True, text=True).stdout)
    executables = {t["name"] for t in manifest["targets"] if t["type"] == "executable"}
    problems = []
    for target in manifest["targets"]:
        if target["type"] in ("system", "binary", "plugin"):
            continue
        name = target["name"]
        default = "Tests" if target["type"] == "test" else "Sources"
        path = os.path.join(root, target.get("path") or os.path.join(default, name))
        declared = set()
        for dep in target["dependencies"]:
            kind, value = next(iter(dep.items()))
            if value[0] not in executables:  # a test may depend on a tool to have it built
                declared.add(value[0])  # byName, target and product all put the module name first
        imported = {}
        for folder, _, files in os.walk(path):
            for f in sorted(files):
                if not f.endswith(".swift"):
                    continue
                file = os.path.join(folder, f)
                with open(file, encoding="utf-8") as handle:
                    for module in IMPORT.findall(handle.read()):
                        if module not in SYSTEM and module != name:
                            imported.setdefault(module, os.path.relpath(file, root))
        if not any(f.endswith(".swift") for _, _, fs in os.walk(path) for f in fs):
            continue  # a C target: its #include lines are the compiler's business
        for module in sorted(set(imported) - declared):
            problems.append(f"{name}: imports {module} ({imported[module]}) without declaring it in Package.swift")
        for module in sorted(declared - set(imported)):
            problems.append(f"{name}: declares {module} in Package.swift but no file imports it")
    problems += check_module_table(root, manifest)
    for p in problems:
        print(p)
    if not problems:
        print(f"imports agree with Package.swift ({len(manifest['targets'])} targets)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
