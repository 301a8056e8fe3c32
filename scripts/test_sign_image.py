"""Tests for scripts/sign-image.py against the real CNCF registry
(Debian's docker-registry 2.8) and skopeo, checking what it pushed with
`cryptography` only, from the specifications, not from the producer's code.

Run from the repository root or scripts/:
    python3 -m unittest scripts/test_sign_image.py      (or: cd scripts && python3 -m unittest test_sign_image)
Needs docker-registry, skopeo and cryptography >= 45 (x509.verification's
ExtensionPolicy); takes about 6 s.
"""
import base64
import datetime
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509 import verification as xv
from cryptography.x509.oid import ExtensionOID, ObjectIdentifier

HERE = os.path.dirname(os.path.abspath(__file__))
SIGN = os.path.join(HERE, "sign-image.py")
PUSH = os.path.join(HERE, "push-image.py")
OID_SCT = "1.3.6.1.4.1.11129.2.4.2"
BUNDLE_MT = "application/vnd.dev.sigstore.bundle.v0.3+json"


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def ecdsa_ok(pub, sig, data, h=None):
    try:
        pub.verify(sig, data, ec.ECDSA(h or hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def der_read(buf, i):
    """One DER TLV at i: (tag, header_len, content_len)."""
    tag = buf[i]
    n = buf[i + 1]
    if n < 0x80:
        return tag, 2, n
    k = n & 0x7F
    return tag, 2 + k, int.from_bytes(buf[i + 2:i + 2 + k], "big")


def der_tlv(tag, content):
    n = len(content)
    if n < 0x80:
        ln = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        ln = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + ln + content


def der_children(buf):
    out, i = [], 0
    while i < len(buf):
        tag, h, n = der_read(buf, i)
        out.append((tag, buf[i:i + h + n], buf[i + h:i + h + n]))
        i += h + n
    return out


def tbs_without_extension(tbs, oid_der):
    """What a CT verifier (certificate-transparency-go) does: the
    TBSCertificate re-encoded without the SCT list extension."""
    _, h, n = der_read(tbs, 0)
    fields = der_children(tbs[h:h + n])
    rebuilt = b""
    for tag, whole, content in fields:
        if tag == 0xA3:  # [3] EXPLICIT Extensions
            (_, _, exts), = der_children(content)
            kept = [w for _, w, c in der_children(exts) if der_children(c)[0][1] != oid_der]
            whole = der_tlv(0xA3, der_tlv(0x30, b"".join(kept)))
        rebuilt += whole
    return der_tlv(0x30, rebuilt)


def oid_der(dotted):
    parts = [int(p) for p in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        enc = [p & 0x7F]
        p >>= 7
        while p:
            enc.append(0x80 | (p & 0x7F))
            p >>= 7
        body += bytes(reversed(enc))
    return der_tlv(0x06, body)


def verify_inclusion(index, size, leaf_hash, proof, root):
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def chain_policy(store_roots, at):
    """Sigstore/Notation-style code-signing chain check: the webpki
    profile, with EKU (codeSigning, not clientAuth) and SAN (email/URI,
    empty subject) left to the caller."""
    ca = xv.ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, xv.Criticality.AGNOSTIC, None)
    ee = (xv.ExtensionPolicy.webpki_defaults_ee()
          .may_be_present(x509.ExtendedKeyUsage, xv.Criticality.AGNOSTIC, None)
          .may_be_present(x509.SubjectAlternativeName, xv.Criticality.AGNOSTIC, None))
    return (xv.PolicyBuilder().store(xv.Store(store_roots)).time(at)
            .extension_policies(ca_policy=ca, ee_policy=ee).build_client_verifier())


class SignImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("docker-registry", "skopeo"):
            if not shutil.which(tool):
                # As the project's other registry tests: fail, never skip.
                raise RuntimeError(f"{tool} is not installed (Debian package {tool})")
        cls.tmp = tempfile.mkdtemp(prefix="sign-image-test-")
        storage = os.path.join(cls.tmp, "storage")
        os.makedirs(storage)
        token = base64.b32encode(os.urandom(10)).decode()
        for _ in range(5):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
            cfg = os.path.join(cls.tmp, "config.yml")
            with open(cfg, "w") as f:
                f.write("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
                        f"http:\n  addr: 127.0.0.1:{port}\n  headers:\n    X-Sign-Test: [{token}]\n")
            with open(os.path.join(cls.tmp, "registry.log"), "w") as log:
                cls.proc = subprocess.Popen(["docker-registry", "serve", cfg], stdout=log, stderr=log,
                                            stdin=subprocess.DEVNULL)
            deadline = time.time() + 15
            up = False
            while time.time() < deadline and cls.proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as r:
                        up = r.headers.get("X-Sign-Test") == token
                        if up:
                            break
                except (urllib.error.URLError, ConnectionError):
                    pass
                time.sleep(0.05)
            if up:
                break
            cls.proc.terminate()
            cls.proc.wait()
        else:
            raise RuntimeError("docker-registry did not come up")
        cls.host = f"127.0.0.1:{port}"
        try:
            cls.prepare()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def prepare(cls):
        lines = subprocess.run([sys.executable, PUSH, cls.host, "app:v1", "app:v2", "other:v1"], check=True,
                               capture_output=True, text=True).stdout.split("\n")
        cls.digest = {l.split()[0]: l.split()[1] for l in lines if l}
        cls.keys = cls.run_json("keygen", "--out", os.path.join(cls.tmp, "k1"))
        cls.keys2 = cls.run_json("keygen", "--out", os.path.join(cls.tmp, "k2"))
        cls.ca = cls.run_json("ca-init", "--out", os.path.join(cls.tmp, "ca"))
        cls.ca2 = cls.run_json("ca-init", "--out", os.path.join(cls.tmp, "ca2"))
        cls.pub = cls.load_pub(cls.keys["public_key"])
        cls.pub2 = cls.load_pub(cls.keys2["public_key"])
        cls.rekor = cls.load_pub(cls.ca["rekor"]["public_key"])
        cls.ctlog = cls.load_pub(cls.ca["ctlog"]["public_key"])
        with open(cls.ca["root"], "rb") as f:
            cls.root = x509.load_pem_x509_certificate(f.read())
        with open(cls.ca2["root"], "rb") as f:
            cls.root2 = x509.load_pem_x509_certificate(f.read())

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # ------------------------------------------------------------ helpers

    @classmethod
    def run_json(cls, *args, check=True):
        p = subprocess.run([sys.executable, SIGN, *args], capture_output=True, text=True)
        if check and p.returncode != 0:
            raise AssertionError(f"sign-image.py {' '.join(args)} failed: {p.stderr}")
        return json.loads(p.stdout) if p.returncode == 0 else p

    @staticmethod
    def load_pub(path):
        with open(path, "rb") as f:
            data = f.read()
        assert data.startswith(b"-----BEGIN PUBLIC KEY-----\n"), data[:40]
        return serialization.load_pem_public_key(data)

    def sign(self, cmd, image, *args):
        return self.run_json(cmd, self.host, f"{image.split(':')[0]}@{self.digest[image]}", *args)

    def skopeo_raw(self, repo, ref):
        sep = "@" if ref.startswith("sha256:") else ":"
        p = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                            f"docker://{self.host}/{repo}{sep}{ref}"], capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        return p.stdout

    def blob(self, repo, digest):
        with urllib.request.urlopen(f"http://{self.host}/v2/{repo}/blobs/{digest}") as r:
            data = r.read()
        self.assertEqual("sha256:" + sha256(data), digest)
        return data

    def image_manifest(self, image):
        repo = image.split(":")[0]
        return self.skopeo_raw(repo, self.digest[image])

    def tag(self, image, suffix=None):
        t = self.digest[image].replace(":", "-")
        return f"{t}.{suffix}" if suffix else t

    def check_set(self, body_b64, integrated, log_index, log_id_hex, set_sig):
        # cosign VerifySET: RFC 8785 JSON of the RekorPayload struct.
        payload = (f'{{"body":"{body_b64}","integratedTime":{integrated},'
                   f'"logID":"{log_id_hex}","logIndex":{log_index}}}').encode()
        return ecdsa_ok(self.rekor, set_sig, payload)

    def check_checkpoint(self, envelope, root_hash, size):
        note, _, sigs = envelope.partition("\n\n")
        note += "\n"
        origin, n, root_b64 = note.rstrip("\n").split("\n")
        self.assertEqual(origin, "rekor.imagelock.test - 1")
        self.assertEqual(int(n), size)
        self.assertEqual(base64.b64decode(root_b64), root_hash)
        dash, name, sig_b64 = sigs.rstrip("\n").split(" ")
        self.assertEqual((dash, name), ("\u2014", "rekor.imagelock.test"))
        raw = base64.b64decode(sig_b64)
        der = self.rekor.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.assertEqual(raw[:4], hashlib.sha256(der).digest()[:4])
        return ecdsa_ok(self.rekor, raw[4:], note.encode())

    def check_tle(self, tle, kind):
        """A protobuf-specs TransparencyLogEntry: SET, inclusion proof,
        checkpoint; returns the decoded canonicalized body."""
        self.assertEqual(tle["kindVersion"], {"kind": kind, "version": "0.0.1"})
        body = base64.b64decode(tle["canonicalizedBody"])
        log_id = base64.b64decode(tle["logId"]["keyId"])
        self.assertEqual(log_id.hex(), self.ca["rekor"]["log_id"])
        self.assertTrue(self.check_set(tle["canonicalizedBody"], int(tle["integratedTime"]), int(tle["logIndex"]),
                                       log_id.hex(), base64.b64decode(tle["inclusionPromise"]["signedEntryTimestamp"])))
        proof = tle["inclusionProof"]
        root = base64.b64decode(proof["rootHash"])
        self.assertTrue(verify_inclusion(int(proof["logIndex"]), int(proof["treeSize"]),
                                         hashlib.sha256(b"\x00" + body).digest(),
                                         [base64.b64decode(h) for h in proof["hashes"]], root))
        self.assertTrue(self.check_checkpoint(proof["checkpoint"]["envelope"], root, int(proof["treeSize"])))
        # RFC 8785: what Rekor stores, byte for byte.
        parsed = json.loads(body)
        self.assertEqual(body, json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode())
        return parsed

    def check_leaf(self, leaf, identity, issuer, at, root=None):
        chain_policy([root or self.root], at).verify(leaf, [self.intermediate()])
        san = leaf.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        self.assertTrue(san.critical)
        self.assertEqual([g.value for g in san.value], [identity])
        self.assertEqual(len(leaf.subject), 0)
        v1 = leaf.extensions.get_extension_for_oid(ObjectIdentifier("1.3.6.1.4.1.57264.1.1")).value.value
        v2 = leaf.extensions.get_extension_for_oid(ObjectIdentifier("1.3.6.1.4.1.57264.1.8")).value.value
        self.assertEqual(v1, issuer.encode())
        self.assertEqual(v2, b"\x0c" + bytes([len(issuer)]) + issuer.encode())
        eku = leaf.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value
        self.assertEqual([o.dotted_string for o in eku], ["1.3.6.1.5.5.7.3.3"])
        self.assertTrue(leaf.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE).value.digital_signature)
        self.check_sct(leaf)

    def check_sct(self, leaf):
        scts = leaf.extensions.get_extension_for_oid(ObjectIdentifier(OID_SCT)).value
        self.assertEqual(len(scts), 1)
        sct = scts[0]
        ct_der = self.ctlog.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.assertEqual(sct.log_id, hashlib.sha256(ct_der).digest())
        tbs = tbs_without_extension(leaf.tbs_certificate_bytes, oid_der(OID_SCT))
        ikh = hashlib.sha256(self.intermediate().public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()
        ts = int(sct.timestamp.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
        signed = (b"\x00\x00" + ts.to_bytes(8, "big") + b"\x00\x01" + ikh + len(tbs).to_bytes(3, "big") + tbs
                  + b"\x00\x00")
        self.assertTrue(ecdsa_ok(self.ctlog, sct.signature, signed))

    def intermediate(self):
        with open(self.ca["intermediate"], "rb") as f:
            return x509.load_pem_x509_certificate(f.read())

    def referrers_index(self, image):
        idx = json.loads(self.skopeo_raw(image.split(":")[0], self.tag(image)))
        self.assertEqual(idx["mediaType"], "application/vnd.oci.image.index.v1+json")
        return idx

    def check_referrer(self, image, out, artifact_type, config_mt="application/vnd.oci.empty.v1+json"):
        """The referrer manifest names the image as subject, the config is
        the empty descriptor, and the tag-schema index lists it."""
        repo = image.split(":")[0]
        raw = self.skopeo_raw(repo, out["manifest_digest"])
        m = json.loads(raw)
        body = self.image_manifest(image)
        self.assertEqual(m["subject"], {"mediaType": json.loads(body)["mediaType"],
                                        "digest": self.digest[image], "size": len(body)})
        self.assertEqual(m.get("artifactType"), artifact_type)
        self.assertEqual(m["config"]["mediaType"], config_mt)
        self.assertEqual(self.blob(repo, m["config"]["digest"]), b"{}")
        self.assertEqual(len(m["layers"]), 1)
        idx = self.referrers_index(image)
        found = [d for d in idx["manifests"] if d["digest"] == out["manifest_digest"]]
        self.assertEqual(len(found), 1, "listed once in the referrers tag schema index")
        self.assertEqual(found[0]["size"], len(raw))
        self.assertEqual(found[0].get("annotations"), m.get("annotations"))
        return m, found[0]

    # -------------------------------------------------------------- tests

    def test_keygen_and_trusted_root(self):
        with open(self.keys["private_key"], "rb") as f:
            self.assertTrue(f.read().startswith(b"-----BEGIN PRIVATE KEY-----"))
        der = self.pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.assertEqual(self.keys["key_id"], "sha256:" + sha256(der))
        self.assertIsInstance(self.pub.curve, ec.SECP256R1)
        with open(self.ca["trusted_root"]) as f:
            tr = json.load(f)
        self.assertEqual(tr["mediaType"], "application/vnd.dev.sigstore.trustedroot+json;version=0.1")
        for log, pub in ((tr["tlogs"][0], self.rekor), (tr["ctlogs"][0], self.ctlog)):
            raw = base64.b64decode(log["publicKey"]["rawBytes"])
            self.assertEqual(raw, pub.public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
            self.assertEqual(base64.b64decode(log["logId"]["keyId"]), hashlib.sha256(raw).digest())
            self.assertEqual(log["publicKey"]["keyDetails"], "PKIX_ECDSA_P256_SHA_256")
            self.assertEqual(log["hashAlgorithm"], "SHA2_256")
            self.assertIn("start", log["publicKey"]["validFor"])
        certs = [x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"]))
                 for c in tr["certificateAuthorities"][0]["certChain"]["certificates"]]
        self.assertEqual(certs[-1], self.root, "the last certificate is the trust anchor")
        certs[0].verify_directly_issued_by(certs[1])
        self.root.verify_directly_issued_by(self.root)

    def test_cosign_key_signature(self):
        out = self.sign("cosign-sign", "app:v1", "--key", self.keys["private_key"])
        self.assertEqual(out["tag"], self.tag("app:v1", "sig"))
        m = json.loads(self.skopeo_raw("app", out["tag"]))
        self.assertEqual(m["mediaType"], "application/vnd.oci.image.manifest.v1+json")
        self.assertEqual(len(m["layers"]), 1)
        layer = m["layers"][0]
        self.assertEqual(layer["mediaType"], "application/vnd.dev.cosign.simplesigning.v1+json")
        payload = self.blob("app", layer["digest"])
        sig = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
        self.assertTrue(ecdsa_ok(self.pub, sig, payload))
        self.assertFalse(ecdsa_ok(self.pub2, sig, payload))
        p = json.loads(payload)
        self.assertEqual(p["critical"], {"identity": {"docker-reference": f"{self.host}/app"},
                                         "image": {"docker-manifest-digest": self.digest["app:v1"]},
                                         "type": "cosign container image signature"})
        self.assertIsNone(p["optional"])
        self.assertEqual(out["key_id"], self.keys["key_id"])

    def test_cosign_append_and_annotations(self):
        self.sign("cosign-sign", "app:v2", "--key", self.keys["private_key"], "--annotation", "env=prod")
        out = self.sign("cosign-sign", "app:v2", "--key", self.keys2["private_key"], "--append")
        self.assertEqual(out["layers"], 2)
        m = json.loads(self.skopeo_raw("app", self.tag("app:v2", "sig")))
        pubs = [self.pub, self.pub2]
        for layer, pub in zip(m["layers"], pubs):
            payload = self.blob("app", layer["digest"])
            sig = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
            self.assertTrue(ecdsa_ok(pub, sig, payload))
        self.assertEqual(json.loads(self.blob("app", m["layers"][0]["digest"]))["optional"], {"env": "prod"})
        config = json.loads(self.blob("app", m["config"]["digest"]))
        self.assertEqual(config["rootfs"]["diff_ids"], [l["digest"] for l in m["layers"]])
        # Without --append the tag holds the new signature only.
        out = self.sign("cosign-sign", "app:v2", "--key", self.keys["private_key"])
        self.assertEqual(out["layers"], 1)

    def test_cosign_failure_modes(self):
        def layer_of(out):
            m = json.loads(self.skopeo_raw(out["signature_repository"], out["tag"]))
            layer = m["layers"][-1]
            repo = out["signature_repository"]
            return (json.loads(self.blob(repo, layer["digest"])), self.blob(repo, layer["digest"]),
                    base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"]))

        other = self.digest["app:v2"]
        p, raw, sig = layer_of(self.sign("cosign-sign", "other:v1", "--key", self.keys["private_key"],
                                         "--digest-in-payload", other))
        self.assertTrue(ecdsa_ok(self.pub, sig, raw))
        self.assertEqual(p["critical"]["image"]["docker-manifest-digest"], other)
        p, raw, sig = layer_of(self.sign("cosign-sign", "other:v1", "--key", self.keys["private_key"],
                                         "--docker-reference", f"{self.host}/app"))
        self.assertTrue(ecdsa_ok(self.pub, sig, raw))
        self.assertEqual(p["critical"]["identity"]["docker-reference"], f"{self.host}/app")
        for tamper in ("payload", "signature"):
            _, raw, sig = layer_of(self.sign("cosign-sign", "other:v1", "--key", self.keys["private_key"],
                                             "--tamper", tamper))
            self.assertFalse(ecdsa_ok(self.pub, sig, raw), tamper)
        # Stored in another repository: the .sig tag is there, not in other.
        out = self.sign("cosign-sign", "other:v1", "--key", self.keys["private_key"], "--signature-repo", "sigs")
        _, raw, sig = layer_of(out)
        self.assertTrue(ecdsa_ok(self.pub, sig, raw))

    def test_cosign_keyless_with_log(self):
        ident, iss = "dev@example.com", "https://accounts.example.com"
        out = self.sign("cosign-sign", "other:v1", "--keyless", "--ca-dir", self.ca["ca_dir"], "--identity", ident,
                        "--issuer", iss, "--signature-repo", "keyless")
        m = json.loads(self.skopeo_raw("keyless", out["tag"]))
        ann = m["layers"][0]["annotations"]
        payload = self.blob("keyless", m["layers"][0]["digest"])
        leaf = x509.load_pem_x509_certificate(ann["dev.sigstore.cosign/certificate"].encode())
        chain = x509.load_pem_x509_certificates(ann["dev.sigstore.cosign/chain"].encode())
        self.assertEqual(chain[1], self.root)
        sig_b64 = ann["dev.cosignproject.cosign/signature"]
        self.assertTrue(ecdsa_ok(leaf.public_key(), base64.b64decode(sig_b64), payload))
        b = json.loads(ann["dev.sigstore.cosign/bundle"])
        pl = b["Payload"]
        self.assertTrue(self.check_set(pl["body"], pl["integratedTime"], pl["logIndex"], pl["logID"],
                                       base64.b64decode(b["SignedEntryTimestamp"])))
        at = datetime.datetime.fromtimestamp(pl["integratedTime"], datetime.timezone.utc)
        self.check_leaf(leaf, ident, iss, at)
        body = base64.b64decode(pl["body"])
        leaf_pem = ann["dev.sigstore.cosign/certificate"].encode()
        self.assertEqual(body, (
            '{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"'
            + sha256(payload) + '"}},"signature":{"content":"' + sig_b64 + '","publicKey":{"content":"'
            + base64.b64encode(leaf_pem).decode() + '"}}}}').encode())
        # Another CA's root does not anchor this leaf.
        with self.assertRaises(xv.VerificationError):
            chain_policy([self.root2], at).verify(leaf, [chain[0]])

    def test_cosign_keyless_expired(self):
        out = self.sign("cosign-sign", "other:v1", "--keyless", "--ca-dir", self.ca["ca_dir"], "--identity",
                        "https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main", "--issuer",
                        "https://token.actions.githubusercontent.com", "--expired", "--signature-repo", "expired")
        ann = json.loads(self.skopeo_raw("expired", out["tag"]))["layers"][0]["annotations"]
        leaf = x509.load_pem_x509_certificate(ann["dev.sigstore.cosign/certificate"].encode())
        t = json.loads(ann["dev.sigstore.cosign/bundle"])["Payload"]["integratedTime"]
        at = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
        self.assertGreater(at, leaf.not_valid_after_utc)
        with self.assertRaises(xv.VerificationError):
            chain_policy([self.root], at).verify(leaf, [self.intermediate()])

    def test_bundle_message_signature_with_key(self):
        out = self.sign("bundle-sign", "app:v1", "--key", self.keys["private_key"], "--ca-dir", self.ca["ca_dir"])
        m, desc = self.check_referrer("app:v1", out, BUNDLE_MT)
        self.assertEqual(desc["artifactType"], BUNDLE_MT)
        self.assertEqual(m["annotations"]["dev.sigstore.bundle.content"], "message-signature")
        layer = m["layers"][0]
        self.assertEqual(layer["mediaType"], BUNDLE_MT)
        bundle = json.loads(self.blob("app", layer["digest"]))
        self.assertEqual(bundle["mediaType"], BUNDLE_MT)
        vm = bundle["verificationMaterial"]
        self.assertEqual(base64.b64decode(vm["publicKey"]["hint"]).hex(), self.keys["key_id"].split(":")[1])
        ms = bundle["messageSignature"]
        self.assertEqual(ms["messageDigest"]["algorithm"], "SHA2_256")
        self.assertEqual(base64.b64decode(ms["messageDigest"]["digest"]).hex(), self.digest["app:v1"].split(":")[1])
        sig = base64.b64decode(ms["signature"])
        self.assertTrue(ecdsa_ok(self.pub, sig, self.image_manifest("app:v1")))
        body = self.check_tle(vm["tlogEntries"][0], "hashedrekord")
        self.assertEqual(body["spec"]["data"]["hash"],
                         {"algorithm": "sha256", "value": self.digest["app:v1"].split(":")[1]})
        self.assertEqual(base64.b64decode(body["spec"]["signature"]["content"]), sig)
        with open(self.keys["public_key"], "rb") as f:
            self.assertEqual(base64.b64decode(body["spec"]["signature"]["publicKey"]["content"]), f.read())

    def test_bundle_dsse_keyless(self):
        ident = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
        iss = "https://token.actions.githubusercontent.com"
        out = self.sign("bundle-sign", "app:v2", "--keyless", "--ca-dir", self.ca["ca_dir"], "--identity", ident,
                        "--issuer", iss, "--predicate-type", "https://sigstore.dev/cosign/sign/v1",
                        "--cert-ext", "9=https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
                        "--empty-artifact-type")
        m, desc = self.check_referrer("app:v2", out, BUNDLE_MT)
        self.assertNotIn("artifactType", desc, "--empty-artifact-type")
        self.assertEqual(m["annotations"]["dev.sigstore.bundle.predicateType"], "https://sigstore.dev/cosign/sign/v1")
        bundle = json.loads(self.blob("app", m["layers"][0]["digest"]))
        leaf = x509.load_der_x509_certificate(base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"]))
        env = bundle["dsseEnvelope"]
        self.assertEqual(env["payloadType"], "application/vnd.in-toto+json")
        self.assertEqual(len(env["signatures"]), 1)
        payload = base64.b64decode(env["payload"])
        pae = b"DSSEv1 %d application/vnd.in-toto+json %d " % (len("application/vnd.in-toto+json"), len(payload))
        sig = base64.b64decode(env["signatures"][0]["sig"])
        self.assertTrue(ecdsa_ok(leaf.public_key(), sig, pae + payload))
        st = json.loads(payload)
        self.assertEqual(st["_type"], "https://in-toto.io/Statement/v1")
        self.assertEqual(st["subject"][0]["digest"], {"sha256": self.digest["app:v2"].split(":")[1]})
        self.assertEqual(st["predicateType"], "https://sigstore.dev/cosign/sign/v1")
        tle = bundle["verificationMaterial"]["tlogEntries"][0]
        body = self.check_tle(tle, "dsse")
        self.assertEqual(body["spec"]["payloadHash"], {"algorithm": "sha256", "value": sha256(payload)})
        self.assertEqual(body["spec"]["signatures"][0]["signature"], env["signatures"][0]["sig"])
        self.assertEqual(base64.b64decode(body["spec"]["signatures"][0]["verifier"]),
                         leaf.public_bytes(serialization.Encoding.PEM))
        at = datetime.datetime.fromtimestamp(int(tle["integratedTime"]), datetime.timezone.utc)
        self.check_leaf(leaf, ident, iss, at)
        ext9 = leaf.extensions.get_extension_for_oid(ObjectIdentifier("1.3.6.1.4.1.57264.1.9")).value.value
        self.assertEqual(ext9[0], 0x0C)

    def test_bundle_failure_modes(self):
        def bundle_of(*args):
            out = self.sign("bundle-sign", "other:v1", "--key", self.keys["private_key"], "--ca-dir",
                            self.ca["ca_dir"], *args)
            m = json.loads(self.skopeo_raw("other", out["manifest_digest"]))
            return json.loads(self.blob("other", m["layers"][0]["digest"]))

        self.assertEqual(bundle_of("--no-tlog")["verificationMaterial"]["tlogEntries"], [])
        manifest = self.image_manifest("other:v1")
        for tamper in ("payload", "signature"):
            b = bundle_of("--tamper", tamper)
            self.assertFalse(ecdsa_ok(self.pub, base64.b64decode(b["messageSignature"]["signature"]), manifest))
        tle = bundle_of("--tamper", "set")["verificationMaterial"]["tlogEntries"][0]
        self.assertFalse(self.check_set(tle["canonicalizedBody"], int(tle["integratedTime"]), int(tle["logIndex"]),
                                        self.ca["rekor"]["log_id"],
                                        base64.b64decode(tle["inclusionPromise"]["signedEntryTimestamp"])))
        tle = bundle_of("--tamper", "proof")["verificationMaterial"]["tlogEntries"][0]
        p = tle["inclusionProof"]
        self.assertFalse(verify_inclusion(int(p["logIndex"]), int(p["treeSize"]),
                                          hashlib.sha256(b"\x00" + base64.b64decode(tle["canonicalizedBody"])).digest(),
                                          [base64.b64decode(h) for h in p["hashes"]], base64.b64decode(p["rootHash"])))
        b = bundle_of("--tamper", "body")
        body = json.loads(base64.b64decode(b["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]))
        self.assertNotEqual(body["spec"]["signature"]["content"], b["messageSignature"]["signature"])
        # every bundle of this test is listed once in the fallback index
        idx = self.referrers_index("other:v1")
        self.assertGreaterEqual(len(idx["manifests"]), 6)
        self.assertEqual(len({d["digest"] for d in idx["manifests"]}), len(idx["manifests"]))

    def test_attest_tag_and_bundle(self):
        pred = os.path.join(self.tmp, "provenance.json")
        with open(pred, "w") as f:
            json.dump({"buildDefinition": {"buildType": "https://example.com/build/v1"}}, f)
        out = self.sign("attest", "app:v1", "--key", self.keys["private_key"], "--predicate-type",
                        "https://slsa.dev/provenance/v1", "--predicate", pred, "--as", "both",
                        "--ca-dir", self.ca["ca_dir"], "--tlog")
        self.assertEqual(out["tag"]["tag"], self.tag("app:v1", "att"))
        m = json.loads(self.skopeo_raw("app", out["tag"]["tag"]))
        layer = m["layers"][0]
        self.assertEqual(layer["mediaType"], "application/vnd.dsse.envelope.v1+json")
        self.assertEqual(layer["annotations"]["predicateType"], "https://slsa.dev/provenance/v1")
        raw = self.blob("app", layer["digest"])
        env = json.loads(raw)
        payload = base64.b64decode(env["payload"])
        pae = b"DSSEv1 28 application/vnd.in-toto+json %d " % len(payload) + payload
        self.assertTrue(ecdsa_ok(self.pub, base64.b64decode(env["signatures"][0]["sig"]), pae))
        st = json.loads(payload)
        self.assertEqual(st["predicate"], {"buildDefinition": {"buildType": "https://example.com/build/v1"}})
        b = json.loads(layer["annotations"]["dev.sigstore.cosign/bundle"])
        body = json.loads(base64.b64decode(b["Payload"]["body"]))
        self.assertEqual(body["spec"]["envelopeHash"]["value"], sha256(raw), "cosign compares it to the layer")
        self.check_referrer("app:v1", out["bundle"], BUNDLE_MT)
        # a tampered attestation does not verify
        out = self.sign("attest", "other:v1", "--key", self.keys["private_key"], "--predicate-type",
                        "https://spdx.dev/Document", "--tamper", "payload")
        layer = json.loads(self.skopeo_raw("other", out["tag"]["tag"]))["layers"][0]
        env = json.loads(self.blob("other", layer["digest"]))
        payload = base64.b64decode(env["payload"])
        pae = b"DSSEv1 28 application/vnd.in-toto+json %d " % len(payload) + payload
        self.assertFalse(ecdsa_ok(self.pub, base64.b64decode(env["signatures"][0]["sig"]), pae))

    def check_jws(self, env):
        protected = json.loads(base64.urlsafe_b64decode(env["protected"] + "=" * (-len(env["protected"]) % 4)))
        payload = json.loads(base64.urlsafe_b64decode(env["payload"] + "=" * (-len(env["payload"]) % 4)))
        chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in env["header"]["x5c"]]
        raw = base64.urlsafe_b64decode(env["signature"] + "=" * (-len(env["signature"]) % 4))
        self.assertEqual(len(raw), 64)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        ok = ecdsa_ok(chain[0].public_key(), der, f"{env['protected']}.{env['payload']}".encode())
        return protected, payload, chain, ok

    def test_notation(self):
        out = self.sign("notation-sign", "app:v2", "--ca-dir", self.ca["ca_dir"], "--expiry", "3600")
        m, desc = self.check_referrer("app:v2", out, "application/vnd.cncf.notary.signature")
        self.assertEqual(desc["artifactType"], "application/vnd.cncf.notary.signature")
        layer = m["layers"][0]
        self.assertEqual(layer["mediaType"], "application/jose+json")
        env = json.loads(self.blob("app", layer["digest"]))
        self.assertEqual(set(env), {"payload", "protected", "header", "signature"})
        protected, payload, chain, ok = self.check_jws(env)
        self.assertTrue(ok)
        self.assertEqual(protected["alg"], "ES256")
        self.assertEqual(protected["cty"], "application/vnd.cncf.notary.payload.v1+json")
        self.assertEqual(protected["io.cncf.notary.signingScheme"], "notary.x509")
        self.assertIn("io.cncf.notary.signingTime", protected)
        self.assertEqual(protected["crit"], ["io.cncf.notary.signingScheme", "io.cncf.notary.expiry"])
        body = self.image_manifest("app:v2")
        self.assertEqual(payload, {"targetArtifact": {"mediaType": json.loads(body)["mediaType"],
                                                       "digest": self.digest["app:v2"], "size": len(body)}})
        self.assertEqual(chain[-1], self.root)
        chain_policy([self.root], datetime.datetime.now(datetime.timezone.utc)).verify(chain[0], chain[1:-1])
        ku = chain[0].extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE)
        self.assertTrue(ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign)
        self.assertEqual(json.loads(m["annotations"]["io.cncf.notary.x509chain.thumbprint#S256"]),
                         [hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest() for c in chain])
        self.assertEqual(chain[0].subject.rfc4514_string(), out["subject_dn"])

        # legacy layout: no artifactType, config media type says it; the
        # fallback index takes the config media type (distribution spec).
        out = self.sign("notation-sign", "other:v1", "--ca-dir", self.ca["ca_dir"], "--legacy")
        _, desc = self.check_referrer("other:v1", out, None, config_mt="application/vnd.cncf.notary.signature")
        self.assertEqual(desc["artifactType"], "application/vnd.cncf.notary.signature")
        for flag in ("signature", "payload"):
            out = self.sign("notation-sign", "other:v1", "--ca-dir", self.ca["ca_dir"], "--tamper", flag)
            m = json.loads(self.skopeo_raw("other", out["manifest_digest"]))
            self.assertFalse(self.check_jws(json.loads(self.blob("other", m["layers"][0]["digest"])))[3], flag)
        out = self.sign("notation-sign", "other:v1", "--ca-dir", self.ca["ca_dir"], "--expired")
        m = json.loads(self.skopeo_raw("other", out["manifest_digest"]))
        _, _, chain, ok = self.check_jws(json.loads(self.blob("other", m["layers"][0]["digest"])))
        self.assertTrue(ok)
        with self.assertRaises(xv.VerificationError):
            chain_policy([self.root], datetime.datetime.now(datetime.timezone.utc)).verify(chain[0], chain[1:-1])

    def test_index_subject(self):
        """An image index is signed by its own digest (what cosign signs by
        default): the referrer's subject is the index descriptor."""
        digest = subprocess.run([sys.executable, PUSH, self.host, "--index", "multi:v1"], check=True,
                                capture_output=True, text=True).stdout.split()[1]
        self.digest["multi:v1"] = digest
        out = self.sign("bundle-sign", "multi:v1", "--key", self.keys["private_key"], "--ca-dir",
                        self.ca["ca_dir"])
        m, _ = self.check_referrer("multi:v1", out, BUNDLE_MT)
        self.assertEqual(m["subject"]["mediaType"], "application/vnd.oci.image.index.v1+json")
        out = self.sign("cosign-sign", "multi:v1", "--key", self.keys["private_key"])
        layer = json.loads(self.skopeo_raw("multi", out["tag"]))["layers"][0]
        self.assertEqual(json.loads(self.blob("multi", layer["digest"]))["critical"]["image"],
                         {"docker-manifest-digest": digest})

    def test_sbom(self):
        for fmt, mt, key in (("spdx", "text/spdx+json", "spdxVersion"),
                             ("cyclonedx", "application/vnd.cyclonedx+json", "bomFormat")):
            out = self.sign("sbom", "app:v1", "--format", fmt)
            self.assertEqual(out["tag"], self.tag("app:v1", "sbom"))
            m = json.loads(self.skopeo_raw("app", out["tag"]))
            self.assertEqual(m["layers"][0]["mediaType"], mt)
            self.assertIn(key, json.loads(self.blob("app", m["layers"][0]["digest"])))


if __name__ == "__main__":
    unittest.main()
