#!/usr/bin/env python3
"""Generate the scan benchmark's input: ~100 MB of Kubernetes YAML across
1,000 files, plus an images.lock covering every reference.

Usage: bench-scan.py OUTDIR [TOTAL_MB] [FILES]
"""
import hashlib
import os
import sys

out = sys.argv[1]
total_mb = float(sys.argv[2]) if len(sys.argv) > 2 else 100
files = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
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
