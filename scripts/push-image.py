#!/usr/bin/env python3
"""Push small, deterministic OCI images to a registry over plain HTTP,
through the distribution HTTP API (no Docker engine needed).

Usage: push-image.py HOST:PORT [--seed S] [--index] REPO:TAG...

Each image has a config blob (linux/amd64) and one uncompressed tar layer
whose content depends on the repository, the tag and the seed, so the same
arguments always give the same digest, and another seed moves the tag.
With --index, each tag is an OCI image index over linux/amd64 and
linux/arm64 images. Prints `REPO:TAG DIGEST` per tag.
"""
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def request(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def push_blob(base, repo, data):
    digest = sha(data)
    status, _, _ = request("HEAD", f"{base}/v2/{repo}/blobs/{digest}")
    if status == 200:
        return digest
    status, headers, body = request("POST", f"{base}/v2/{repo}/blobs/uploads/")
    if status != 202:
        sys.exit(f"upload start for {repo} failed: {status} {body[:200]!r}")
    loc = headers["Location"]
    if loc.startswith("/"):
        loc = base + loc
    sep = "&" if "?" in loc else "?"
    status, _, body = request("PUT", f"{loc}{sep}digest={digest}", data,
                              {"Content-Type": "application/octet-stream"})
    if status != 201:
        sys.exit(f"blob upload for {repo} failed: {status} {body[:200]!r}")
    return digest


def layer_for(text):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        data = text.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def push_manifest(base, repo, ref, body, media_type):
    status, headers, resp = request("PUT", f"{base}/v2/{repo}/manifests/{ref}", body,
                                    {"Content-Type": media_type})
    if status != 201:
        sys.exit(f"manifest push {repo}:{ref} failed: {status} {resp[:300]!r}")
    return headers.get("Docker-Content-Digest") or sha(body)


def push_image(base, repo, tag, seed, arch="amd64", as_tag=True):
    layer = layer_for(f"{repo}:{tag} seed={seed} arch={arch}\n")
    config = json.dumps({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(layer)]},
    }, sort_keys=True).encode()
    push_blob(base, repo, layer)
    push_blob(base, repo, config)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(layer), "size": len(layer)}],
    }, sort_keys=True).encode()
    ref = tag if as_tag else sha(manifest)
    digest = push_manifest(base, repo, ref, manifest, "application/vnd.oci.image.manifest.v1+json")
    return digest, len(manifest)


def push_index(base, repo, tag, seed):
    children = []
    for arch in ("amd64", "arm64"):
        digest, size = push_image(base, repo, tag, seed, arch, as_tag=False)
        children.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                         "size": size, "platform": {"architecture": arch, "os": "linux"}})
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": children}, sort_keys=True).encode()
    return push_manifest(base, repo, tag, index, "application/vnd.oci.image.index.v1+json")


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    host, args = args[0], args[1:]
    seed, index, refs = "0", False, []
    while args:
        a = args.pop(0)
        if a == "--seed":
            seed = args.pop(0)
        elif a == "--index":
            index = True
        else:
            refs.append(a)
    base = f"http://{host}"

    def one(ref):
        repo, _, tag = ref.rpartition(":")
        d = push_index(base, repo, tag, seed) if index else push_image(base, repo, tag, seed)[0]
        return f"{ref} {d}"

    with ThreadPoolExecutor(8) as pool:
        for line in pool.map(one, refs):
            print(line)


if __name__ == "__main__":
    main()
