#!/usr/bin/env python3
"""Compare an images.lock with `reference digest` lines (from skopeo).
Prints the number of references whose digests agree; each disagreement
goes to stderr. Usage: compare-digests.py IMAGES_LOCK LINES_FILE"""
import re
import sys

text = open(sys.argv[1]).read()
lock = {f"{n}:{t}": d for n, t, d in
        re.findall(r'name = "([^"]+)"\ntag = "([^"]+)"\ndigest = "([^"]+)"', text)}
agree = 0
for line in open(sys.argv[2]):
    ref, _, digest = line.strip().partition(" ")
    if lock.get(ref) == digest:
        agree += 1
    else:
        print(f"disagree: {ref}: imagelock {lock.get(ref)}, skopeo {digest or '(none)'}", file=sys.stderr)
print(agree)
