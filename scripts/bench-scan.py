#!/usr/bin/env python3
"""Generate the scan benchmark's inputs, each about TOTAL_MB:

- manifests/: Kubernetes YAML across FILES files, plus an images.lock
  covering every reference;
- crd-mix/: copies of the corpus's two CRD bundles (argo-cd-install.yaml,
  prometheus-operator-bundle.yaml), alternating;
- block-scalars/: 100 files of manifests dense with literal and folded
  block scalars and multi-line plain scalars (scripts, configs, notes);
- dense/: one file of Deployments with twenty containers each (memory).

Usage: bench-scan.py OUTDIR [TOTAL_MB] [FILES] [CORPUS_DIR]
"""
import hashlib
import os
import sys

out = sys.argv[1]
total_mb = float(sys.argv[2]) if len(sys.argv) > 2 else 100
files = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
corpus = sys.argv[4] if len(sys.argv) > 4 else "../shared/corpus"
per_file = int(total_mb * 1024 * 1024 / files)
os.makedirs(os.path.join(out, "manifests"), exist_ok=True)

images = [f"registry.example.com/team{t}/service{s}:v1.{s % 7}.{t}" for t in range(20) for s in range(25)]
images += ["nginx:1.25", "redis:7.2", "busybox", "ghcr.io/acme/sidecar:v2"]

TEMPLATE = """---
# Deployment {i}: generated for the imagelock scan benchmark. Café ☕
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: team-{ns}
  labels:
    app.kubernetes.io/name: app-{i}
    app.kubernetes.io/part-of: bench
  annotations:
    description: "A generated deployment with a long-ish annotation to make the documents realistic in size."
spec:
  replicas: 3
  selector:
    matchLabels:
      app: app-{i}
  template:
    metadata:
      labels:
        app: app-{i}
    spec:
      serviceAccountName: app-{i}
      initContainers:
        - name: migrate
          image: "{img2}"
          command: ["/bin/migrate", "--to", "latest"]
      containers:
        - name: main
          image: {img1} # main container
          imagePullPolicy: IfNotPresent
          ports:
            - containerPort: 8080
              name: http
          env:
            - name: LOG_LEVEL
              value: info
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{cpu: "1", memory: 512Mi}}
          readinessProbe:
            httpGet: {{path: /healthz, port: http}}
            periodSeconds: 10
        - name: proxy
          image: '{img3}'
          args: ["--upstream", "http://127.0.0.1:8080"]
"""

i = 0
for f in range(files):
    parts = []
    size = 0
    while size < per_file:
        doc = TEMPLATE.format(i=i, ns=i % 13, img1=images[i % len(images)],
                              img2=images[(i * 7 + 3) % len(images)], img3=images[(i * 13 + 5) % len(images)])
        parts.append(doc)
        size += len(doc.encode())
        i += 1
    with open(os.path.join(out, "manifests", f"app-{f:04d}.yaml"), "w") as fh:
        fh.write("".join(parts))

entries = []
for img in images:
    name, _, tag = img.rpartition(":") if ":" in img.split("/")[-1] else (img, "", "latest")
    if "/" not in name:
        name = "docker.io/library/" + name
    elif "." not in name.split("/")[0]:
        name = "docker.io/" + name
    entries.append((name, tag, "sha256:" + hashlib.sha256(img.encode()).hexdigest()))
entries.sort()
with open(os.path.join(out, "images.lock"), "w") as fh:
    fh.write("# images.lock: written by imagelock. Change it with `imagelock lock` or `imagelock update`.\nversion = 1\n")
    for n, t, d in entries:
        fh.write(f'\n[[image]]\nname = "{n}"\ntag = "{t}"\ndigest = "{d}"\n')
print(f"{i} documents in {files} files under {out}/manifests")


target = int(total_mb * 1024 * 1024)

# The corpus's CRD bundles, as published, alternating until TOTAL_MB.
bundles = []
for name in ["argo-cd-install.yaml", "prometheus-operator-bundle.yaml"]:
    path = os.path.join(corpus, name)
    if not os.path.isfile(path):
        sys.exit(f"bench-scan.py: {path} is missing: pass the corpus directory (CI keeps it at ../shared/corpus)")
    with open(path, "rb") as fh:
        bundles.append(fh.read())
os.makedirs(os.path.join(out, "crd-mix"), exist_ok=True)
size = n = 0
while size < target:
    b = bundles[n % 2]
    with open(os.path.join(out, "crd-mix", f"bundle-{n:03d}.yaml"), "wb") as fh:
        fh.write(b)
    size += len(b)
    n += 1
print(f"{n} CRD bundles under {out}/crd-mix")

BLOCK = """---
apiVersion: v1
kind: ConfigMap
metadata:
  name: scripts-{i}
  annotations:
    description: >
      A folded description of the scripts in this ConfigMap, long enough
      to wrap over several lines the way hand-written notes do.
    summary: a multi-line plain scalar
      that goes on to a second line
data:
  entrypoint.sh: |
    #!/bin/sh
    set -eu
    echo "starting app-{i}: key: value # not a comment"
    for f in /etc/app/*.conf; do
      echo "- $f"
    done
    exec /app/server --port 8080
  app.conf: |-
    [server]
    port = 8080
    name = "app-{i}"

    [log]
    level = info
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate-{i}
spec:
  template:
    spec:
      containers:
        - name: migrate
          image: {img}
          command: ["/bin/sh", "-c"]
          args:
            - |
              set -e
              /bin/migrate --to latest
              echo done
      restartPolicy: Never
"""
os.makedirs(os.path.join(out, "block-scalars"), exist_ok=True)
per_file = target // 100
i = 0
for f in range(100):
    parts = []
    size = 0
    while size < per_file:
        doc = BLOCK.format(i=i, img=images[i % len(images)])
        parts.append(doc)
        size += len(doc.encode())
        i += 1
    with open(os.path.join(out, "block-scalars", f"scripts-{f:03d}.yaml"), "w") as fh:
        fh.write("".join(parts))
print(f"{i * 2} block-scalar documents in 100 files under {out}/block-scalars")

os.makedirs(os.path.join(out, "dense"), exist_ok=True)
i = 0
size = 0
with open(os.path.join(out, "dense", "dense.yaml"), "w") as fh:
    while size < target:
        containers = "".join(
            f"        - name: c{c}\n          image: {images[(i * 20 + c) % len(images)]}\n"
            for c in range(20)
        )
        doc = f"---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: dense-{i}\nspec:\n  template:\n    spec:\n      containers:\n{containers}"
        fh.write(doc)
        size += len(doc)
        i += 1
print(f"{i * 20} images in one file under {out}/dense")
