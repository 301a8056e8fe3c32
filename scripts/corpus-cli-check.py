#!/usr/bin/env python3
"""The corpus through the binary, file by file: `corpus-cli-check.py
IMAGELOCK CORPUS EXPECTED` (scripts/check-corpus.sh runs it).

For every file of the corpus (SOURCES.md aside):
- `imagelock list --format json FILE` must not exit 2 (every file is valid
  for its tool), and must list exactly the references EXPECTED names for
  it (scripts/corpus/expected.txt: the format is described at its top);
- a Helm values file must warn exactly where EXPECTED's `warned` lines say
  (the images its chart composes in ways imagelock leaves to the chart);
- with a lockfile covering every reference it listed (digests made up),
  `imagelock check FILE` must not exit 2.
`pin` over every file is the differential round trip (tools/pin_roundtrip.rs).
Exits 1 naming every failure; 2 on bad usage.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile


def parse_expected(path):
    files, cur = {}, None
    for n, raw in enumerate(open(path, encoding="utf-8"), 1):
        line = raw.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("["):
            name, _, args = line[1:].partition("]")
            cur = files.setdefault(name, {"args": args.split(), "want": [], "line": n})
            continue
        if cur is None:
            sys.exit(f"{path}:{n}: a reference before any [FILE]")
        words = line.split()
        mark = "need"
        if words[0] == "warned":
            if len(words) < 3 or not words[1].isdigit():
                sys.exit(f"{path}:{n}: want `warned LINE KEY [WHY]`: {line!r}")
            cur.setdefault("warned", []).append((int(words[1]), words[2], n))
            continue
        if words[0] in ("gap", "wrong", "built"):
            mark, words = words[0], words[1:]
        if len(words) < 2 or not words[0].isdigit():
            sys.exit(f"{path}:{n}: want `[gap|wrong|built] LINE REF [WHY]` or `warned LINE KEY [WHY]`: {line!r}")
        cur["want"].append((mark, int(words[0]), words[1], n))
    return files


def run(binary, cwd, *args):
    return subprocess.run(
        [binary, "--no-config", *args], cwd=cwd, capture_output=True, text=True
    )


def listed_refs(rows):
    out = []
    for r in rows:
        ref = r["name"]
        if r["tag"]:
            ref += ":" + r["tag"]
        if r["digest"]:
            ref += "@" + r["digest"]
        out.append((r["line"], ref, r["status"] == "built"))
    return out


def compare(name, want, got, failures, expected_path):
    got_left = list(got)
    for mark, line, ref, n in want:
        hit = next((g for g in got_left if g[0] == line and g[1] == ref), None)
        where = f"{expected_path}:{n}"
        if mark == "gap":
            if hit:
                failures.append(f"{name}:{line}: {ref} is read now: make {where} a plain line")
                got_left.remove(hit)
            continue
        if hit is None:
            if mark == "wrong":
                failures.append(f"{name}:{line}: {ref} is no longer listed: remove {where}")
            else:
                failures.append(f"{name}:{line}: {ref} is not listed ({where})")
            continue
        got_left.remove(hit)
        if (mark == "built") != hit[2]:
            state = "built" if hit[2] else "not built"
            failures.append(f"{name}:{line}: {ref} is listed as {state} ({where})")
    for line, ref, built in got_left:
        failures.append(f"{name}:{line}: {ref} is listed but {expected_path} does not name it")


def is_helm_values(name, args):
    base = os.path.basename(name)
    return "--helm-values" in args or (
        base.startswith("values") and base.endswith((".yaml", ".yml"))
    )


def compare_warnings(name, spec, warnings, failures, expected_path):
    """A Helm values file's warnings are its images left to the chart's
    template: each must be named by a `warned LINE KEY` line (a warning at
    LINE whose message starts with KEY), and each such line must warn."""
    left = [(w["line"], w["message"]) for w in warnings]
    for line, key, n in spec.get("warned", []):
        hit = next((w for w in left if w[0] == line and w[1].startswith(key)), None)
        if hit is None:
            failures.append(f"{name}:{line}: no warning about {key} ({expected_path}:{n})")
            continue
        left.remove(hit)
    for line, message in left:
        failures.append(
            f"{name}:{line}: warns `{message[:160]}` but {expected_path} names no `warned {line} …` line"
        )


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: corpus-cli-check.py IMAGELOCK CORPUS EXPECTED")
    binary, corpus, expected_path = (os.path.abspath(a) for a in sys.argv[1:])
    expected = parse_expected(expected_path)
    failures, counted = [], 0
    names = sorted(
        os.path.relpath(os.path.join(d, f), corpus)
        for d, _, fs in os.walk(corpus)
        for f in fs
        if f not in ("SOURCES.md", ".gitattributes")
    )
    for name in set(expected) - set(names):
        failures.append(f"{expected_path}: [{name}] is not a file of the corpus")
    with tempfile.TemporaryDirectory() as work:
        lock = os.path.join(work, "images.lock")
        for name in names:
            spec = expected.get(name)
            if spec is None:
                failures.append(f"{name}: a corpus file {expected_path} says nothing of")
                continue
            args = [a.replace("{file}", name) for a in spec["args"]]
            o = run(binary, corpus, "--lockfile", lock, "list", "--format", "json", *args, name)
            if o.returncode not in (0, 1):
                failures.append(f"{name}: list exited {o.returncode}: {o.stderr.strip()[:800]}")
                continue
            try:
                rows = json.loads(o.stdout)["references"]
            except (ValueError, KeyError) as e:
                failures.append(f"{name}: list --format json printed no report ({e})")
                continue
            got = listed_refs(rows)
            counted += len(got)
            compare(name, spec["want"], got, failures, os.path.relpath(expected_path))
            if is_helm_values(name, spec["args"]) or spec.get("warned"):
                warnings = json.loads(o.stdout).get("warnings", [])
                compare_warnings(name, spec, warnings, failures, os.path.relpath(expected_path))
            # A lockfile covering every reference listed, then `check`.
            entries = {}
            for r in rows:
                if r["status"] == "built" or (r["digest"] and not r["tag"]):
                    continue
                tag = r["tag"] or "latest"
                fake = hashlib.sha256(f"{r['name']}:{tag}".encode()).hexdigest()
                entries[(r["name"], tag)] = r["digest"] or "sha256:" + fake
            with open(lock, "w", encoding="utf-8") as f:
                f.write("version = 1\n")
                for (n, t), d in sorted(entries.items()):
                    f.write(f'\n[[image]]\nname = "{n}"\ntag = "{t}"\ndigest = "{d}"\n')
            o = run(binary, corpus, "--lockfile", lock, "check", *args, name)
            if o.returncode not in (0, 1):
                failures.append(f"{name}: check exited {o.returncode}: {o.stderr.strip()[:800]}")
            os.remove(lock)
    for f in failures:
        print(f"corpus-cli-check: {f}", file=sys.stderr)
    if failures:
        print(f"corpus-cli-check: {len(failures)} failure(s)", file=sys.stderr)
        return 1
    print(f"corpus-cli-check: {len(names)} files listed and checked, {counted} references as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
