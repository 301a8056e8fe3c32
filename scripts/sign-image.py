#!/usr/bin/env python3
"""An independent signature producer for imagelock's tests.

cosign and notation cannot be installed on the test machines, so this script
makes what they make, from their specifications, with Python's standard
library and the `cryptography` package only (no Go, no sigstore code), and
pushes it to a registry over plain HTTP through the distribution API (the
helpers of scripts/push-image.py). Every subcommand prints ONE JSON object on
stdout describing what it wrote (digests of the signature manifests, key ids,
certificate identities, log entries), so a test can assert on it.

Subcommands
-----------
keygen --out DIR
    ECDSA P-256 key pair: DIR/cosign.pub (PKIX "BEGIN PUBLIC KEY" PEM, what
    `cosign generate-key-pair` writes as cosign.pub) and DIR/cosign.key.pem
    (unencrypted PKCS#8 PEM; NOT cosign's encrypted cosign.key format).
    Prints {public_key, private_key, key_id, hint}.

ca-init --out DIR [--rekor-url URL] [--fulcio-url URL] [--ctlog-url URL]
    A test "Fulcio-like" CA (P-384 root + intermediate, as Fulcio's), a
    Rekor-like log key, a CT log key (all ECDSA P-256 for the logs) and
    DIR/trusted_root.json in the sigstore TrustedRoot JSON form
    (protobuf-specs protos/sigstore_trustroot.proto, media type
    application/vnd.dev.sigstore.trustedroot+json;version=0.1). The log's
    entries are kept in DIR/log.json (a real RFC 6962 Merkle tree, see
    below). Prints {ca_dir, trusted_root, root, intermediate, rekor: {...},
    ctlog: {...}}.

cosign-sign HOST:PORT REPO@DIGEST (--key PRIV.pem | --keyless --ca-dir DIR
        --identity EMAIL_OR_URI --issuer URL [--expired] [--cert-ext N=V]
        [--no-sct]) [--tlog --ca-dir DIR | --no-tlog]
        [--docker-reference REF] [--digest-in-payload DIGEST]
        [--annotation k=v]... [--signature-repo REPO] [--append]
        [--tamper payload|signature|set|body]
    cosign's tag scheme (cosign specs/SIGNATURE_SPEC.md "Tag-based Discovery",
    "OCI Image Manifest V1", "Simple Signing"): the simple-signing payload
    (sigstore/sigstore pkg/signature/payload: docker-reference defaults to
    HOST:PORT/REPO as ggcr's Repository.Name(), optional is null without
    annotations) is a layer of media type
    application/vnd.dev.cosign.simplesigning.v1+json whose annotation
    dev.cosignproject.cosign/signature is the base64 DER ECDSA-P256-SHA256
    signature over the payload bytes; the manifest is tagged
    sha256-<hex>.sig in REPO (or --signature-repo). --append adds a layer to
    the existing .sig manifest (cosign's one layer per signature) instead of
    replacing it (cosign itself appends by default; here replacing is the
    default so a test starts from a known tag). The media type is the one
    SIGNATURE_SPEC.md and cosign pkg/types/media.go name,
    application/vnd.dev.cosign.simplesigning.v1+json. Keyless: dev.sigstore.cosign/certificate (leaf PEM) and
    dev.sigstore.cosign/chain (intermediate + root PEM). With a log (default
    for keyless, --tlog for keys): dev.sigstore.cosign/bundle =
    {"SignedEntryTimestamp": b64, "Payload": {"body", "integratedTime",
    "logIndex", "logID"}} (cosign pkg/cosign/bundle/rekor.go), the body being
    a hashedrekord v0.0.1 entry over sha256(payload).
    Prints {kind: "cosign", repository, subject (digest), tag,
    signature_repository, manifest_digest, layer_digest, layers (count),
    payload (as pushed), signed_payload_sha256, signature (base64), key_id
    ("sha256:" + hex SHA-256 of the SPKI DER), hint (the same, base64),
    certificate (null, or {identity, issuer, serial, not_before, not_after,
    sha256}), tlog (null, or TLOG), tampered}.
    TLOG = {kind, log_index, integrated_time, log_id (hex), tree_size,
    root_hash (hex), body_sha256}.

bundle-sign HOST:PORT REPO@DIGEST (--key PRIV.pem | --keyless ...) --ca-dir DIR
        [--predicate-type URI [--predicate FILE]] [--no-tlog]
        [--digest-in-payload D] [--empty-artifact-type]
        [--tamper payload|signature|set|proof|body]
    A sigstore bundle v0.3 (protobuf-specs protos/sigstore_bundle.proto,
    JSON by the proto3 JSON mapping: camelCase, bytes base64, int64 as
    strings). Without --predicate-type: messageSignature over the image
    manifest bytes (messageDigest = the image digest), logged as hashedrekord
    0.0.1. With --predicate-type: a DSSE envelope (payloadType
    application/vnd.in-toto+json) holding an in-toto Statement v1 about the
    digest, logged as dsse 0.0.1; `--predicate-type
    https://sigstore.dev/cosign/sign/v1` with no --predicate is exactly what
    `cosign sign` (v3, new bundle format) signs. Pushed as an OCI 1.1
    referrer (cosign specs/BUNDLE_SPEC.md "Publishing" + "Annotations"):
    artifactType and layer application/vnd.dev.sigstore.bundle.v0.3+json,
    config the empty descriptor, subject = the image descriptor; the registry
    has no referrers API (no OCI-Subject header), so the referrers tag schema
    index sha256-<hex> is pulled (or started empty), the descriptor appended
    with artifactType and the manifest's annotations, and pushed back
    (distribution-spec spec.md "Pushing Manifests with Subject", "Referrers
    Tag Schema"). --empty-artifact-type leaves artifactType OUT of the index
    descriptor (deliberately off-spec, as some registries list bundles).
    Prints {kind: "sigstore-bundle", repository, subject (the descriptor),
    content ("message-signature" or "dsse-envelope"), manifest_digest,
    manifest_size, layer_digest, referrers_tag, referrers_index_digest,
    artifact_type, predicate_type, key_id, hint, certificate, tlog, bundle
    (the bundle JSON as pushed), tampered}.

attest HOST:PORT REPO@DIGEST (--key ... | --keyless ...) --predicate-type URI
        [--predicate FILE] [--as tag|bundle|both] [--digest-in-payload D]
        [--tlog --ca-dir DIR | --no-tlog] [--append] [--empty-artifact-type]
        [--tamper payload|signature|set|proof|body]
    An in-toto Statement v1 (in-toto/attestation spec/v1/statement.md) in a
    DSSE envelope (DSSE protocol.md: the signature is over
    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body).
    tag: cosign's .att tag, layer media type
    application/vnd.dsse.envelope.v1+json holding the envelope JSON,
    annotations predicateType and an empty dev.cosignproject.cosign/signature
    (what cosign attest writes; cert/chain/bundle as for cosign-sign, the
    log entry being a dsse 0.0.1 entry whose envelopeHash is sha256 of the
    layer). bundle: as bundle-sign --predicate-type. Prints {kind:
    "attestation", repository, subject, predicate_type, key_id, hint,
    certificate, tampered, tag: null | {tag, manifest_digest, layer_digest,
    layers, tlog, statement}, bundle: null | {manifest_digest, manifest_size,
    layer_digest, referrers_tag, referrers_index_digest, content, tlog,
    bundle}}.

notation-sign HOST:PORT REPO@DIGEST --ca-dir DIR [--subject-dn DN]
        [--expired] [--expiry SECONDS] [--legacy] [--empty-artifact-type]
        [--digest-in-payload D] [--tamper payload|signature]
    A Notary Project signature (notaryproject/specifications
    specs/signature-specification.md "OCI Signatures", "Payload",
    specs/signature-envelope-jws.md): flattened JWS JSON (media type
    application/jose+json), protected header {alg ES256, cty
    application/vnd.cncf.notary.payload.v1+json, crit,
    io.cncf.notary.signingScheme notary.x509, io.cncf.notary.signingTime
    [, io.cncf.notary.expiry]}, unprotected header {x5c: leaf, intermediate,
    root; io.cncf.notary.signingAgent}, payload {"targetArtifact": the image
    descriptor}, signature = base64url(r||s) over
    ASCII(b64url(protected) "." b64url(payload)). The leaf is a code-signing
    certificate issued by the ca-init CA for --subject-dn. Pushed as a
    referrer with artifactType application/vnd.cncf.notary.signature, config
    the empty descriptor (--legacy: no artifactType, config media type
    application/vnd.cncf.notary.signature), manifest annotation
    io.cncf.notary.x509chain.thumbprint#S256, and the referrers tag schema
    index updated as for bundles. Prints {kind: "notation", repository,
    subject (descriptor), artifact_type, manifest_digest, manifest_size,
    layer_digest, referrers_tag, referrers_index_digest, subject_dn,
    thumbprints (leaf first), signing_time, leaf_not_after, envelope (the
    JWS JSON), tampered}.

sbom HOST:PORT REPO@DIGEST --format spdx|cyclonedx
    cosign attach sbom's layout: tag sha256-<hex>.sbom, one layer of media
    type text/spdx+json or application/vnd.cyclonedx+json (cosign
    pkg/types/media.go) holding a small deterministic SPDX 2.3 or CycloneDX
    1.5 JSON document, no signature. Prints {kind: "sbom", repository,
    subject, tag, manifest_digest, layer_digest, layers, media_type}.

The test transparency log (honest parts)
-----------------------------------------
Every logged entry's canonicalizedBody is what Rekor v1 stores: the entry's
Canonicalize() output (hashedrekord/dsse v0.0.1, pkg/types/*/v0.0.1/entry.go)
passed through RFC 8785 JSON canonicalisation (pkg/types/entries.go
CanonicalizeEntry): sorted keys, no whitespace; signature content base64 of
the raw DER signature, public key content base64 of the PEM of the key (or of
the leaf certificate). Entries are appended to DIR/log.json, a real RFC 6962
Merkle tree (leaf hash SHA-256(0x00 || body), node SHA-256(0x01 || l || r)).
Each tlog entry carries:
  - inclusionPromise.signedEntryTimestamp: ECDSA-SHA256 by the log key over
    RFC 8785 JSON of {body (base64 of canonicalizedBody), integratedTime,
    logID (hex SHA-256 of the log key's DER), logIndex} (cosign
    pkg/cosign/verify.go VerifySET, sigstore-go pkg/tlog VerifySET);
  - inclusionProof: the RFC 6962 audit path of the entry in the tree at the
    size right after it was appended, rootHash of that tree, and a Rekor v1
    checkpoint (signed note: "<host> - <treeID>\\n<size>\\n<b64 root>\\n",
    signature line "— <host> b64(keyhint[4] || DER sig)", rekor
    pkg/util/checkpoint.go and signed_note.go), host from --rekor-url.
Leaf certificates carry a real embedded SCT (RFC 6962 3.2, precert_entry
over the TBSCertificate without the SCT extension and the intermediate's key
hash) signed by the CT log key, unless --no-sct.

Failure modes (what a verifier must refuse)
-------------------------------------------
  --key OTHER.pem              signature by a key the policy does not name
  --digest-in-payload D        payload (simple signing, statement subject,
                               Notation targetArtifact) for another digest
  --docker-reference R         simple-signing identity of another repository
  --tamper payload             the pushed payload is not the signed bytes
  --tamper signature           the signature bytes are altered
  --tamper set|proof|body      SET over other values, inclusion proof with a
                               wrong root, log body naming another signature
  --identity/--issuer          another identity or issuer in the leaf
  --expired                    keyless: the leaf expired before the log
                               time; notation: the leaf expired (signing
                               time inside its validity)
  ca-init into another DIR     a CA and log nobody trusts (not in the
                               verifier's trusted_root.json)
  --no-tlog                    a bundle/keyless signature without log entry

What is NOT produced honestly (or not at all)
---------------------------------------------
  - No OIDC: --identity and --issuer are taken as given; nothing proves an
    OIDC token was ever seen. The CA is a local file CA, not Fulcio (no
    precertificate was ever submitted to a CT log: the SCT is computed
    locally over what the precertificate's TBS would be).
  - The log is a local file, not a Rekor server: nothing can be looked up
    online, and there is no consistency proof between checkpoints. The
    dsse entry's envelopeHash is sha256 of the envelope JSON this script
    writes (Rekor hashes the bytes the client submitted: the same idea,
    nobody else's bytes).
  - No RFC 3161 timestamps (timestampVerificationData is absent), no
    Rekor v2 (tiles) entries, no intoto 0.0.2 / rekord entries.
  - Notation: no timestamp countersignature, only the notary.x509 scheme
    (no signingAuthority), only ES256; COSE envelopes are not made.
  - cosign's private key is written unencrypted (cosign encrypts it with
    scrypt+secretbox); only the public key file matches cosign's.
  - The referrers API itself is not served (registry 2.8 has none): only
    the tag schema fallback is maintained, and its read-modify-write is
    not atomic (registry 2.8 has no conditional PUT): do not sign the same
    digest from two processes at once.
"""
import argparse
import base64
import datetime
import fcntl
import hashlib
import importlib.util
import json
import os
import struct
import sys
import time
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("push_image", os.path.join(_here, "push-image.py"))
push_image = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(push_image)
sha = push_image.sha
request = push_image.request
push_blob = push_image.push_blob

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_JSON = b"{}"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_LAYER = "application/vnd.dsse.envelope.v1+json"
BUNDLE_MT = "application/vnd.dev.sigstore.bundle.v0.3+json"
NOTATION_ARTIFACT = "application/vnd.cncf.notary.signature"
NOTATION_PAYLOAD = "application/vnd.cncf.notary.payload.v1+json"
JOSE = "application/jose+json"
INTOTO_PAYLOAD = "application/vnd.in-toto+json"
INTOTO_STATEMENT_V1 = "https://in-toto.io/Statement/v1"
ANN_SIG = "dev.cosignproject.cosign/signature"
ANN_CERT = "dev.sigstore.cosign/certificate"
ANN_CHAIN = "dev.sigstore.cosign/chain"
ANN_BUNDLE = "dev.sigstore.cosign/bundle"
OID_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
OID_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
OID_SCT_LIST = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
MANIFEST_ACCEPT = ", ".join([
    OCI_MANIFEST, OCI_INDEX,
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])
TREE_ID = 1


# ---------------------------------------------------------------- encodings

def b64(b):
    return base64.b64encode(b).decode()


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jcs(obj):
    """RFC 8785 JSON canonicalisation for what this script hashes (strings,
    integers, objects, arrays): sorted keys, no whitespace, UTF-8, only
    control characters escaped -- json.dumps with these settings does exactly
    that for such values (keys here are ASCII, so code-point order is UTF-16
    order)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compact(obj):
    """Compact JSON in insertion order (what Go's json.Marshal of a struct
    gives)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der_utf8(s):
    b = s.encode()
    return b"\x0c" + der_len(len(b)) + b


def der_octets(b):
    return b"\x04" + der_len(len(b)) + b


def rfc3339(t):
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def out(obj):
    json.dump(obj, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


# --------------------------------------------------------------------- keys

def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def write(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def priv_pem(k):
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())


def pub_der(pub):
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def pub_pem(pub):
    """PKIX PEM, 64-column lines, final newline: what cosign's cosign.pub and
    sigstore's cryptoutils.MarshalPublicKeyToPEM write."""
    return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def cert_pem(c):
    return c.public_bytes(serialization.Encoding.PEM)


def cert_der(c):
    return c.public_bytes(serialization.Encoding.DER)


def key_id(pub):
    """sha256 of the SPKI DER: the RFC 6962 key id protobuf-specs recommends
    for PublicKeyIdentifier.hint (base64 there, hex here)."""
    return hashlib.sha256(pub_der(pub)).digest()


def sign(priv, data):
    """ECDSA with SHA-256 (or SHA-384 for a P-384 key), DER (ASN.1) signature."""
    h = hashes.SHA384() if priv.curve.name == "secp384r1" else hashes.SHA256()
    return priv.sign(data, ec.ECDSA(h))


def flip(sig):
    """A signature that no longer verifies, still well-formed DER."""
    b = bytearray(sig)
    b[-1] ^= 0x01
    return bytes(b)


# ----------------------------------------------------------- CA and the log

class Ca:
    """The files ca-init writes."""

    def __init__(self, d):
        self.dir = d
        self.root = load_cert(os.path.join(d, "root.pem"))
        self.intermediate = load_cert(os.path.join(d, "intermediate.pem"))
        self.intermediate_key = load_key(os.path.join(d, "intermediate.key"))
        self.rekor_key = load_key(os.path.join(d, "rekor.key"))
        self.ctlog_key = load_key(os.path.join(d, "ctlog.key"))
        with open(os.path.join(d, "ca.json")) as f:
            self.meta = json.load(f)

    @property
    def log_id(self):
        return key_id(self.rekor_key.public_key())

    @property
    def rekor_host(self):
        return self.meta["rekor_host"]


def _name(cn, org="imagelock-test"):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _serial():
    return int.from_bytes(os.urandom(20), "big") >> 1


def cmd_ca_init(a):
    os.makedirs(a.out, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    start = now - datetime.timedelta(days=1)
    end = now + datetime.timedelta(days=3650)
    root_key = ec.generate_private_key(ec.SECP384R1())
    inter_key = ec.generate_private_key(ec.SECP384R1())
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
    root = (x509.CertificateBuilder()
            .subject_name(_name("imagelock-test fulcio root")).issuer_name(_name("imagelock-test fulcio root"))
            .public_key(root_key.public_key()).serial_number(_serial())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), True)
            .add_extension(root_ski, False)
            .sign(root_key, hashes.SHA384()))
    inter = (x509.CertificateBuilder()
             .subject_name(_name("imagelock-test fulcio intermediate")).issuer_name(root.subject)
             .public_key(inter_key.public_key()).serial_number(_serial())
             .not_valid_before(start).not_valid_after(end)
             .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
             .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(inter_key.public_key()), False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), False)
             .sign(root_key, hashes.SHA384()))
    rekor_key = ec.generate_private_key(ec.SECP256R1())
    ctlog_key = ec.generate_private_key(ec.SECP256R1())
    p = lambda n: os.path.join(a.out, n)  # noqa: E731
    write(p("root.pem"), cert_pem(root))
    write(p("root.key"), priv_pem(root_key), 0o600)
    write(p("intermediate.pem"), cert_pem(inter))
    write(p("intermediate.key"), priv_pem(inter_key), 0o600)
    write(p("rekor.key"), priv_pem(rekor_key), 0o600)
    write(p("rekor.pub"), pub_pem(rekor_key.public_key()))
    write(p("ctlog.key"), priv_pem(ctlog_key), 0o600)
    write(p("ctlog.pub"), pub_pem(ctlog_key.public_key()))
    rekor_host = a.rekor_url.split("://", 1)[-1].split("/", 1)[0]
    write(p("ca.json"), compact({"rekor_url": a.rekor_url, "rekor_host": rekor_host}))
    if not os.path.exists(p("log.json")):
        write(p("log.json"), b'{"leaves":[]}')
    valid_from = rfc3339(start.timestamp())

    def log_instance(url, k):
        return {
            "baseUrl": url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": b64(pub_der(k.public_key())),
                          "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                          "validFor": {"start": valid_from}},
            "logId": {"keyId": b64(key_id(k.public_key()))},
        }

    # protobuf-specs protos/sigstore_trustroot.proto TrustedRoot, proto3 JSON.
    # certChain: "The last certificate in the chain MUST be the trust anchor".
    trusted_root = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [log_instance(a.rekor_url, rekor_key)],
        "certificateAuthorities": [{
            "subject": {"organization": "imagelock-test", "commonName": "imagelock-test fulcio root"},
            "uri": a.fulcio_url,
            "certChain": {"certificates": [{"rawBytes": b64(cert_der(inter))},
                                           {"rawBytes": b64(cert_der(root))}]},
            "validFor": {"start": valid_from},
        }],
        "ctlogs": [log_instance(a.ctlog_url, ctlog_key)],
    }
    write(p("trusted_root.json"), json.dumps(trusted_root, indent=2).encode() + b"\n")
    out({
        "ca_dir": os.path.abspath(a.out),
        "trusted_root": os.path.abspath(p("trusted_root.json")),
        "root": os.path.abspath(p("root.pem")),
        "intermediate": os.path.abspath(p("intermediate.pem")),
        "rekor": {"public_key": os.path.abspath(p("rekor.pub")), "url": a.rekor_url,
                  "log_id": key_id(rekor_key.public_key()).hex()},
        "ctlog": {"public_key": os.path.abspath(p("ctlog.pub")), "url": a.ctlog_url,
                  "log_id": key_id(ctlog_key.public_key()).hex()},
    })


def cmd_keygen(a):
    os.makedirs(a.out, exist_ok=True)
    k = ec.generate_private_key(ec.SECP256R1())
    pub = os.path.join(a.out, "cosign.pub")
    priv = os.path.join(a.out, "cosign.key.pem")
    write(pub, pub_pem(k.public_key()))
    write(priv, priv_pem(k), 0o600)
    kid = key_id(k.public_key())
    out({"public_key": os.path.abspath(pub), "private_key": os.path.abspath(priv),
         "key_id": "sha256:" + kid.hex(), "hint": b64(kid)})


def sct_for(ca, tbs_without_sct, timestamp_ms):
    """RFC 6962 3.2 SignedCertificateTimestamp (v1, precert_entry) over the
    TBSCertificate as a verifier rebuilds it from the final certificate (the
    SCT list extension removed), with the issuer's SPKI hash."""
    issuer_key_hash = hashlib.sha256(pub_der(ca.intermediate.public_key())).digest()
    signed = (b"\x00" + b"\x00" + struct.pack(">Q", timestamp_ms) + struct.pack(">H", 1)
              + issuer_key_hash + struct.pack(">I", len(tbs_without_sct))[1:] + tbs_without_sct
              + struct.pack(">H", 0))
    sig = sign(ca.ctlog_key, signed)
    sct = (b"\x00" + key_id(ca.ctlog_key.public_key()) + struct.pack(">Q", timestamp_ms)
           + struct.pack(">H", 0) + b"\x04\x03" + struct.pack(">H", len(sig)) + sig)
    lst = struct.pack(">H", len(sct)) + sct
    return der_octets(struct.pack(">H", len(lst)) + lst)


def issue_leaf(ca, pub, *, identity=None, issuer=None, subject=None, not_before, not_after,
               extensions=(), want_sct=True, fulcio=True):
    """A Fulcio-style code-signing leaf (fulcio pkg/ca/common.go MakeX509 and
    pkg/certificate/extensions.go): empty subject, the identity as a critical
    SAN (email or URI), KU digitalSignature, EKU codeSigning, the OIDC issuer
    as 1.3.6.1.4.1.57264.1.1 (raw bytes, deprecated) and .1.8 (DER
    UTF8String), further .1.9-.1.24 extensions as DER UTF8String (fulcio
    docs/oid-info.md "Extension values"). With fulcio=False: a notation leaf
    with the given subject DN."""
    serial = _serial()
    b = (x509.CertificateBuilder()
         .subject_name(subject if subject is not None else x509.Name([]))
         .issuer_name(ca.intermediate.subject).public_key(pub).serial_number(serial)
         .not_valid_before(not_before).not_valid_after(not_after)
         .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), True)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.intermediate.public_key()),
                        False))
    if fulcio:
        if "@" in identity and "://" not in identity:
            san = x509.RFC822Name(identity)
        else:
            san = x509.UniformResourceIdentifier(identity)
        b = b.add_extension(x509.SubjectAlternativeName([san]), True)
        b = b.add_extension(x509.UnrecognizedExtension(OID_ISSUER_V1, issuer.encode()), False)
        b = b.add_extension(x509.UnrecognizedExtension(OID_ISSUER_V2, der_utf8(issuer)), False)
        for n, v in extensions:
            b = b.add_extension(
                x509.UnrecognizedExtension(ObjectIdentifier(f"1.3.6.1.4.1.57264.1.{n}"), der_utf8(v)), False)
    else:
        b = b.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
    if want_sct:
        pre = b.sign(ca.intermediate_key, hashes.SHA384())
        ts = int(not_before.timestamp() * 1000)
        b = b.add_extension(x509.UnrecognizedExtension(OID_SCT_LIST, sct_for(ca, pre.tbs_certificate_bytes, ts)),
                            False)
    return b.sign(ca.intermediate_key, hashes.SHA384())


# RFC 6962 2.1 Merkle tree

def _leaf(b):
    return hashlib.sha256(b"\x00" + b).digest()


def _node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def _split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves):
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node(mth(leaves[:k]), mth(leaves[k:]))


def audit_path(m, leaves):
    """RFC 6962 2.1.1 PATH(m, D[n]), leaf hashes given."""
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return audit_path(m, leaves[:k]) + [mth(leaves[k:])]
    return audit_path(m - k, leaves[k:]) + [mth(leaves[:k])]


def checkpoint(ca, size, root):
    """Rekor v1 signed checkpoint (rekor pkg/util/checkpoint.go
    CreateAndSignCheckpoint, signed_note.go): the note text, a blank line,
    and "— NAME base64(keyhash[4] || signature)"."""
    note = f"{ca.rekor_host} - {TREE_ID}\n{size}\n{b64(root)}\n"
    sig = sign(ca.rekor_key, note.encode())
    hint = hashlib.sha256(pub_der(ca.rekor_key.public_key())).digest()[:4]
    return note + "\n" + f"\u2014 {ca.rekor_host} {b64(hint + sig)}\n"


def tlog_append(ca, body, kind, tamper=None):
    """Append a canonicalized body to the test log; returns the
    protobuf-specs TransparencyLogEntry (JSON) and cosign's RekorBundle."""
    path = os.path.join(ca.dir, "log.json")
    with open(path, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        state = json.load(f)
        leaves = [bytes.fromhex(h) for h in state["leaves"]]
        leaves.append(_leaf(body))
        state["leaves"] = [h.hex() for h in leaves]
        f.seek(0)
        f.truncate()
        json.dump(state, f)
    index = len(leaves) - 1
    integrated = int(time.time())
    log_id = ca.log_id
    set_payload = {"body": b64(body), "integratedTime": integrated, "logID": log_id.hex(), "logIndex": index}
    if tamper == "set":
        set_payload = dict(set_payload, logIndex=index + 1000)
    set_sig = sign(ca.rekor_key, jcs(set_payload))
    root = mth(leaves)
    path_hashes = audit_path(index, leaves)
    if tamper == "proof":
        root = hashlib.sha256(b"not the root").digest()
    tle = {
        "logIndex": str(index),
        "logId": {"keyId": b64(log_id)},
        "kindVersion": {"kind": kind, "version": "0.0.1"},
        "integratedTime": str(integrated),
        "inclusionPromise": {"signedEntryTimestamp": b64(set_sig)},
        "inclusionProof": {
            "logIndex": str(index),
            "rootHash": b64(root),
            "treeSize": str(len(leaves)),
            "hashes": [b64(h) for h in path_hashes],
            "checkpoint": {"envelope": checkpoint(ca, len(leaves), root)},
        },
        "canonicalizedBody": b64(body),
    }
    rekor_bundle = {"SignedEntryTimestamp": b64(set_sig),
                    "Payload": {"body": b64(body), "integratedTime": integrated,
                                "logIndex": index, "logID": log_id.hex()}}
    summary = {"log_index": index, "integrated_time": integrated, "log_id": log_id.hex(), "kind": kind,
               "tree_size": len(leaves), "root_hash": root.hex(), "body_sha256": hashlib.sha256(body).hexdigest()}
    return tle, rekor_bundle, summary


def hashedrekord_body(data_sha256_hex, sig, verifier_pem):
    """rekor pkg/types/hashedrekord/v0.0.1 Canonicalize + RFC 8785."""
    return jcs({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": data_sha256_hex}},
        "signature": {"content": b64(sig), "publicKey": {"content": b64(verifier_pem)}}}})


def dsse_body(envelope_bytes, payload, sig_b64, verifier_pem):
    """rekor pkg/types/dsse/v0.0.1 Canonicalize + RFC 8785."""
    return jcs({"apiVersion": "0.0.1", "kind": "dsse", "spec": {
        "envelopeHash": {"algorithm": "sha256", "value": hashlib.sha256(envelope_bytes).hexdigest()},
        "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
        "signatures": [{"signature": sig_b64, "verifier": b64(verifier_pem)}]}})


# ---------------------------------------------------------------- signers

class Signer:
    """A key (--key) or an ephemeral key with a Fulcio-like leaf (--keyless)."""

    def __init__(self, a):
        self.ca = Ca(a.ca_dir) if getattr(a, "ca_dir", None) else None
        self.cert = None
        if a.keyless:
            if not (self.ca and a.identity and a.issuer):
                sys.exit("--keyless needs --ca-dir, --identity and --issuer")
            self.key = ec.generate_private_key(ec.SECP256R1())
            now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
            if a.expired:
                nb, na = now - datetime.timedelta(hours=2), now - datetime.timedelta(hours=2) + datetime.timedelta(
                    minutes=10)
            else:
                nb, na = now - datetime.timedelta(seconds=30), now + datetime.timedelta(minutes=10)
            exts = []
            for e in a.cert_ext or []:
                n, _, v = e.partition("=")
                exts.append((int(n), v))
            self.cert = issue_leaf(self.ca, self.key.public_key(), identity=a.identity, issuer=a.issuer,
                                   not_before=nb, not_after=na, extensions=exts, want_sct=not a.no_sct)
        elif a.key:
            self.key = load_key(a.key)
        else:
            sys.exit("give --key PRIV.pem or --keyless")
        self.identity = a.identity if a.keyless else None
        self.issuer = a.issuer if a.keyless else None

    @property
    def verifier_pem(self):
        """What Rekor records as the verifier: the leaf PEM or the key PEM."""
        return cert_pem(self.cert) if self.cert else pub_pem(self.key.public_key())

    def describe(self):
        kid = key_id(self.key.public_key())
        d = {"key_id": "sha256:" + kid.hex(), "hint": b64(kid), "certificate": None}
        if self.cert:
            d["certificate"] = {
                "identity": self.identity, "issuer": self.issuer,
                "serial": format(self.cert.serial_number, "x"),
                "not_before": rfc3339(self.cert.not_valid_before_utc.timestamp()),
                "not_after": rfc3339(self.cert.not_valid_after_utc.timestamp()),
                "sha256": hashlib.sha256(cert_der(self.cert)).hexdigest(),
            }
        return d

    def chain_pem(self):
        return cert_pem(self.ca.intermediate) + cert_pem(self.ca.root)


# ------------------------------------------------------------ registry I/O

def parse_image(s):
    repo, at, digest = s.partition("@")
    if not at or not digest.startswith("sha256:"):
        sys.exit(f"{s}: want REPO@sha256:HEX")
    return repo, digest


def get_manifest(base, repo, ref):
    status, headers, body = request("GET", f"{base}/v2/{repo}/manifests/{ref}", None,
                                    {"Accept": MANIFEST_ACCEPT})
    return status, headers, body


def subject_descriptor(base, repo, digest):
    status, headers, body = get_manifest(base, repo, digest)
    if status != 200:
        sys.exit(f"{repo}@{digest}: manifest not found ({status})")
    if sha(body) != digest:
        sys.exit(f"{repo}@{digest}: the registry served other bytes ({sha(body)})")
    mt = json.loads(body).get("mediaType") or headers.get("Content-Type")
    return {"mediaType": mt, "digest": digest, "size": len(body)}


def put_manifest(base, repo, ref, body, media_type):
    status, headers, resp = request("PUT", f"{base}/v2/{repo}/manifests/{ref}", body,
                                    {"Content-Type": media_type})
    if status != 201:
        sys.exit(f"manifest push {repo}:{ref} failed: {status} {resp[:300]!r}")
    return sha(body), headers


def tag_for(digest, suffix=None):
    """cosign's sha256-<hex>[.suffix] and the distribution spec's referrers
    tag (algorithm truncated to 32, encoded to 64 characters)."""
    alg, _, enc = digest.partition(":")
    t = f"{alg[:32]}-{enc[:64]}"
    return f"{t}.{suffix}" if suffix else t


def push_referrer(base, repo, subject, artifact_type, layer, layer_mt, annotations, *,
                  config_mt=OCI_EMPTY, empty_artifact_type=False):
    """An OCI 1.1 artifact manifest with subject, then the referrers tag
    schema fallback when the registry did not answer OCI-Subject
    (distribution-spec spec.md "Pushing Manifests with Subject")."""
    push_blob(base, repo, EMPTY_JSON)
    layer_digest = push_blob(base, repo, layer)
    m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST}
    if artifact_type:
        m["artifactType"] = artifact_type
    m["config"] = {"mediaType": config_mt, "digest": sha(EMPTY_JSON), "size": len(EMPTY_JSON)}
    m["layers"] = [{"mediaType": layer_mt, "digest": layer_digest, "size": len(layer)}]
    m["subject"] = subject
    if annotations:
        m["annotations"] = annotations
    body = compact(m)
    digest, headers = put_manifest(base, repo, sha(body), body, OCI_MANIFEST)
    result = {"manifest_digest": digest, "manifest_size": len(body), "layer_digest": layer_digest,
              "referrers_tag": tag_for(subject["digest"]), "referrers_index_digest": None}
    if headers.get("OCI-Subject"):
        return result
    # 1. pull the referrers list by the tag schema; 3. a 404 starts empty.
    tag = result["referrers_tag"]
    status, h, old = get_manifest(base, repo, tag)
    if status == 200:
        index = json.loads(old)
        if index.get("mediaType") != OCI_INDEX:
            sys.exit(f"{repo}:{tag} is not an image index; not touching it")  # 2.
    elif status == 404:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    else:
        sys.exit(f"{repo}:{tag}: {status}")
    # 4. no duplicates; 5. artifactType (else config mediaType) + annotations.
    if not any(d.get("digest") == digest for d in index["manifests"]):
        d = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body)}
        if not empty_artifact_type:
            d["artifactType"] = artifact_type or config_mt
        if annotations:
            d["annotations"] = annotations
        index["manifests"].append(d)
    ibody = compact(index)
    result["referrers_index_digest"], _ = put_manifest(base, repo, tag, ibody, OCI_INDEX)  # 6.
    return result


def push_cosign_tag(base, repo, tag, layer, layer_mt, annotations, append):
    """cosign's signature image: OCI manifest, OCI config over the layers
    (what ggcr's mutate.Append on empty.Image writes), one layer per
    signature; --append keeps the layers already under the tag."""
    layers = []
    if append:
        status, _, old = get_manifest(base, repo, tag)
        if status == 200:
            layers = json.loads(old).get("layers", [])
        elif status != 404:
            sys.exit(f"{repo}:{tag}: {status}")
    d = push_blob(base, repo, layer)
    desc = {"mediaType": layer_mt, "size": len(layer), "digest": d}
    if annotations is not None:
        desc["annotations"] = annotations
    layers.append(desc)
    config = compact({
        "architecture": "", "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"} for _ in layers],
        "os": "", "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]},
        "config": {},
    })
    push_blob(base, repo, config)
    m = compact({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                 "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": sha(config)},
                 "layers": layers})
    digest, _ = put_manifest(base, repo, tag, m, OCI_MANIFEST)
    return {"tag": tag, "manifest_digest": digest, "layer_digest": d, "layers": len(layers)}


# ------------------------------------------------------------ subcommands

def add_signer_args(p, keyless=True):
    p.add_argument("host")
    p.add_argument("image", help="REPO@sha256:HEX")
    p.add_argument("--key", help="PKCS#8 PEM private key (keygen's cosign.key.pem)")
    p.add_argument("--ca-dir", help="what ca-init wrote")
    if keyless:
        p.add_argument("--keyless", action="store_true")
        p.add_argument("--identity", help="email or URI for the leaf's SAN")
        p.add_argument("--issuer", help="OIDC issuer URL for 1.3.6.1.4.1.57264.1.1/.1.8")
        p.add_argument("--expired", action="store_true",
                       help="a leaf valid two hours ago for ten minutes (the log time is now)")
        p.add_argument("--cert-ext", action="append", metavar="N=VALUE",
                       help="Fulcio extension 1.3.6.1.4.1.57264.1.N (9..24) as UTF8String")
        p.add_argument("--no-sct", action="store_true", help="no embedded SCT in the leaf")


def statement(registry_repo, digest, predicate_type, predicate):
    alg, _, hexd = digest.partition(":")
    s = {"_type": INTOTO_STATEMENT_V1,
         "subject": [{"name": registry_repo, "digest": {alg: hexd}}],
         "predicateType": predicate_type}
    s["predicate"] = predicate
    return compact(s)


def pae(payload_type, body):
    """DSSE v1 pre-authentication encoding (secure-systems-lab/dsse
    protocol.md)."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def dsse_envelope(signer, payload, keyid, tamper):
    sig = sign(signer.key, pae(INTOTO_PAYLOAD, payload))
    if tamper == "signature":
        sig = flip(sig)
    if tamper == "payload":
        payload = payload.replace(b"}", b" }", 1)
    env = {"payloadType": INTOTO_PAYLOAD, "payload": b64(payload),
           "signatures": [{"keyid": keyid, "sig": b64(sig)}]}
    return env, payload, sig


def read_predicate(a):
    if getattr(a, "predicate", None):
        with open(a.predicate, "rb") as f:
            return json.loads(f.read())
    return {}


def cmd_cosign_sign(a):
    base = f"http://{a.host}"
    repo, digest = parse_image(a.image)
    signer = Signer(a)
    use_tlog = (a.keyless or a.tlog) and not a.no_tlog
    if use_tlog and not signer.ca:
        sys.exit("a log entry needs --ca-dir")
    optional = None
    if a.annotation:
        optional = dict(kv.split("=", 1) for kv in a.annotation)
    # sigstore/sigstore pkg/signature/payload SimpleContainerImage
    payload = compact({
        "critical": {
            "identity": {"docker-reference": a.docker_reference or f"{a.host}/{repo}"},
            "image": {"docker-manifest-digest": a.digest_in_payload or digest},
            "type": "cosign container image signature",
        },
        "optional": optional,
    })
    sig = sign(signer.key, payload)
    if a.tamper == "signature":
        sig = flip(sig)
    annotations = {ANN_SIG: b64(sig)}
    if signer.cert:
        annotations[ANN_CERT] = cert_pem(signer.cert).decode()
        annotations[ANN_CHAIN] = signer.chain_pem().decode()
    tlog = None
    if use_tlog:
        body_sig = flip(sig) if a.tamper == "body" else sig
        body = hashedrekord_body(hashlib.sha256(payload).hexdigest(), body_sig, signer.verifier_pem)
        _, rekor_bundle, tlog = tlog_append(signer.ca, body, "hashedrekord", a.tamper)
        annotations[ANN_BUNDLE] = compact(rekor_bundle).decode()
    pushed = payload
    if a.tamper == "payload":
        pushed = payload.replace(b'"critical":{', b'"critical":{ ', 1)
    sig_repo = a.signature_repo or repo
    r = push_cosign_tag(base, sig_repo, tag_for(digest, "sig"), pushed, SIMPLESIGNING, annotations, a.append)
    out(dict(signer.describe(), kind="cosign", repository=repo, subject=digest, signature_repository=sig_repo,
             payload=pushed.decode(), signed_payload_sha256=hashlib.sha256(payload).hexdigest(),
             signature=b64(sig), tlog=tlog, tampered=a.tamper, **r))


def make_bundle(a, signer, base, repo, digest, subject, predicate_type, predicate, tamper):
    """protobuf-specs Bundle v0.3, proto3 JSON."""
    use_tlog = not a.no_tlog
    if use_tlog and not signer.ca:
        sys.exit("a log entry needs --ca-dir (or --no-tlog)")
    kid = key_id(signer.key.public_key())
    if signer.cert:
        # 0.3 with keyless: form (3), the leaf only.
        material = {"certificate": {"rawBytes": b64(cert_der(signer.cert))}}
        keyid = ""
    else:
        material = {"publicKey": {"hint": b64(kid)}}
        keyid = b64(kid)  # "the key hints MUST be exactly the same" (DSSE)
    if predicate_type:
        payload = statement(f"{a.host}/{repo}", a.digest_in_payload or digest, predicate_type, predicate)
        env, payload, sig = dsse_envelope(signer, payload, keyid, tamper)
        content = {"dsseEnvelope": env}
        kind = "dsse"
        if use_tlog:
            sig_b64 = b64(flip(sig)) if tamper == "body" else b64(sig)
            body = dsse_body(compact(env), payload, sig_b64, signer.verifier_pem)
    else:
        _, _, manifest = get_manifest(base, repo, digest)
        signed = manifest + b"\n" if tamper == "payload" else manifest
        sig = sign(signer.key, signed)
        if tamper == "signature":
            sig = flip(sig)
        content = {"messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": b64(bytes.fromhex(digest.split(":")[1]))},
            "signature": b64(sig)}}
        kind = "hashedrekord"
        if use_tlog:
            body = hashedrekord_body(digest.split(":")[1], flip(sig) if tamper == "body" else sig,
                                     signer.verifier_pem)
    tlog = None
    material["tlogEntries"] = []
    if use_tlog:
        tle, _, tlog = tlog_append(signer.ca, body, kind, tamper)
        material["tlogEntries"] = [tle]
    bundle = {"mediaType": BUNDLE_MT, "verificationMaterial": material}
    bundle.update(content)
    return bundle, ("dsse-envelope" if predicate_type else "message-signature"), tlog


def push_bundle(a, base, repo, subject, bundle, content, predicate_type):
    layer = compact(bundle)
    ann = {"dev.sigstore.bundle.content": content,
           "org.opencontainers.image.created": rfc3339(time.time())}
    if predicate_type:
        ann["dev.sigstore.bundle.predicateType"] = predicate_type
    return push_referrer(base, repo, subject, BUNDLE_MT, layer, BUNDLE_MT, ann,
                         empty_artifact_type=a.empty_artifact_type)


def cmd_bundle_sign(a):
    base = f"http://{a.host}"
    repo, digest = parse_image(a.image)
    signer = Signer(a)
    subject = subject_descriptor(base, repo, digest)
    predicate = read_predicate(a) if a.predicate_type else None
    bundle, content, tlog = make_bundle(a, signer, base, repo, digest, subject, a.predicate_type, predicate,
                                        a.tamper)
    r = push_bundle(a, base, repo, subject, bundle, content, a.predicate_type)
    out(dict(signer.describe(), kind="sigstore-bundle", repository=repo, subject=subject, content=content,
             artifact_type=BUNDLE_MT, predicate_type=a.predicate_type, tlog=tlog, bundle=bundle,
             tampered=a.tamper, **r))


def cmd_attest(a):
    base = f"http://{a.host}"
    repo, digest = parse_image(a.image)
    signer = Signer(a)
    predicate = read_predicate(a)
    result = {"kind": "attestation", "repository": repo, "subject": digest, "predicate_type": a.predicate_type,
              "tag": None, "bundle": None, "tampered": a.tamper}
    result.update(signer.describe())
    if a.as_ in ("tag", "both"):
        payload = statement(f"{a.host}/{repo}", a.digest_in_payload or digest, a.predicate_type, predicate)
        env, payload, sig = dsse_envelope(signer, payload, "", a.tamper)
        layer = compact(env)
        ann = {ANN_SIG: "", "predicateType": a.predicate_type}
        if signer.cert:
            ann[ANN_CERT] = cert_pem(signer.cert).decode()
            ann[ANN_CHAIN] = signer.chain_pem().decode()
        tlog = None
        if (a.keyless or a.tlog) and not a.no_tlog:
            if not signer.ca:
                sys.exit("a log entry needs --ca-dir")
            body = dsse_body(layer, payload, b64(sig), signer.verifier_pem)
            _, rekor_bundle, tlog = tlog_append(signer.ca, body, "dsse", a.tamper)
            ann[ANN_BUNDLE] = compact(rekor_bundle).decode()
        r = push_cosign_tag(base, repo, tag_for(digest, "att"), layer, DSSE_LAYER, ann, a.append)
        result["tag"] = dict(r, tlog=tlog, statement=json.loads(payload))
    if a.as_ in ("bundle", "both"):
        subject = subject_descriptor(base, repo, digest)
        bundle, content, tlog = make_bundle(a, signer, base, repo, digest, subject, a.predicate_type, predicate,
                                            a.tamper)
        r = push_bundle(a, base, repo, subject, bundle, content, a.predicate_type)
        result["bundle"] = dict(r, tlog=tlog, bundle=bundle, content=content)
    out(result)


def parse_dn(s):
    oids = {"CN": NameOID.COMMON_NAME, "O": NameOID.ORGANIZATION_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
            "C": NameOID.COUNTRY_NAME, "ST": NameOID.STATE_OR_PROVINCE_NAME, "L": NameOID.LOCALITY_NAME}
    attrs = []
    for part in s.split(","):
        k, _, v = part.strip().partition("=")
        attrs.append(x509.NameAttribute(oids[k.strip().upper()], v.strip()))
    return x509.Name(attrs)


def cmd_notation_sign(a):
    base = f"http://{a.host}"
    repo, digest = parse_image(a.image)
    ca = Ca(a.ca_dir)
    subject = subject_descriptor(base, repo, digest)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    if a.expired:
        nb, na = now - datetime.timedelta(days=3), now - datetime.timedelta(days=2)
    else:
        nb, na = now - datetime.timedelta(minutes=1), now + datetime.timedelta(days=365)
    leaf = issue_leaf(ca, key.public_key(), subject=parse_dn(a.subject_dn), not_before=nb, not_after=na,
                      want_sct=False, fulcio=False)
    chain = [leaf, ca.intermediate, ca.root]
    signing_time = now - datetime.timedelta(days=2, hours=12) if a.expired else now
    # signature-envelope-jws.md "Protected Headers"
    protected = {"alg": "ES256", "cty": NOTATION_PAYLOAD,
                 "io.cncf.notary.signingScheme": "notary.x509",
                 "io.cncf.notary.signingTime": rfc3339(signing_time.timestamp()),
                 "crit": ["io.cncf.notary.signingScheme"]}
    if a.expiry is not None:
        protected["io.cncf.notary.expiry"] = rfc3339(now.timestamp() + a.expiry)
        protected["crit"].append("io.cncf.notary.expiry")
    target = dict(subject, digest=a.digest_in_payload or digest)
    payload = compact({"targetArtifact": target})  # signature-specification.md "Payload"
    p64, h64 = b64url(payload), b64url(compact(protected))
    der = sign(key, f"{h64}.{p64}".encode())
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # JWS ES256 is r || s (RFC 7518 3.4)
    if a.tamper == "signature":
        raw = raw[:-1] + bytes([raw[-1] ^ 1])
    if a.tamper == "payload":
        p64 = b64url(compact({"targetArtifact": dict(target, size=target["size"] + 1)}))
    envelope = compact({"payload": p64, "protected": h64,
                        "header": {"x5c": [b64(cert_der(c)) for c in chain],
                                   "io.cncf.notary.signingAgent": "imagelock-sign-image.py/1"},
                        "signature": b64url(raw)})
    thumbs = [hashlib.sha256(cert_der(c)).hexdigest() for c in chain]
    ann = {"io.cncf.notary.x509chain.thumbprint#S256": json.dumps(thumbs, separators=(",", ":")),
           # notation-go notation.go: the creation time is the signing time
           "org.opencontainers.image.created": protected["io.cncf.notary.signingTime"]}
    if a.legacy:
        res = push_referrer(base, repo, subject, None, envelope, JOSE, ann, config_mt=NOTATION_ARTIFACT,
                            empty_artifact_type=a.empty_artifact_type)
    else:
        res = push_referrer(base, repo, subject, NOTATION_ARTIFACT, envelope, JOSE, ann,
                            empty_artifact_type=a.empty_artifact_type)
    out(dict(res, kind="notation", repository=repo, subject=subject, subject_dn=leaf.subject.rfc4514_string(),
             thumbprints=thumbs, signing_time=protected["io.cncf.notary.signingTime"],
             leaf_not_after=rfc3339(na.timestamp()), envelope=json.loads(envelope), tampered=a.tamper,
             artifact_type=None if a.legacy else NOTATION_ARTIFACT))


def cmd_sbom(a):
    base = f"http://{a.host}"
    repo, digest = parse_image(a.image)
    name = f"{a.host}/{repo}"
    if a.format == "spdx":
        mt = "text/spdx+json"
        doc = {"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
               "name": name, "documentNamespace": f"https://imagelock.invalid/spdx/{digest}",
               "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: imagelock-sign-image.py"]},
               "packages": [{"SPDXID": "SPDXRef-image", "name": name, "downloadLocation": "NOASSERTION",
                             "versionInfo": digest}]}
    else:
        mt = "application/vnd.cyclonedx+json"
        doc = {"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
               "metadata": {"component": {"type": "container", "name": name, "version": digest}},
               "components": []}
    r = push_cosign_tag(base, repo, tag_for(digest, "sbom"), compact(doc), mt, None, False)
    out(dict(r, kind="sbom", repository=repo, subject=digest, media_type=mt))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("keygen")
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_keygen)

    p = sub.add_parser("ca-init")
    p.add_argument("--out", required=True)
    p.add_argument("--rekor-url", default="https://rekor.imagelock.test")
    p.add_argument("--fulcio-url", default="https://fulcio.imagelock.test")
    p.add_argument("--ctlog-url", default="https://ctfe.imagelock.test/test")
    p.set_defaults(fn=cmd_ca_init)

    p = sub.add_parser("cosign-sign")
    add_signer_args(p)
    p.add_argument("--tlog", action="store_true", help="log a key signature too (needs --ca-dir)")
    p.add_argument("--no-tlog", action="store_true")
    p.add_argument("--docker-reference")
    p.add_argument("--digest-in-payload")
    p.add_argument("--annotation", action="append", metavar="K=V")
    p.add_argument("--signature-repo")
    p.add_argument("--append", action="store_true")
    p.add_argument("--tamper", choices=["payload", "signature", "set", "body"])
    p.set_defaults(fn=cmd_cosign_sign)

    p = sub.add_parser("bundle-sign")
    add_signer_args(p)
    p.add_argument("--no-tlog", action="store_true")
    p.add_argument("--predicate-type")
    p.add_argument("--predicate")
    p.add_argument("--digest-in-payload")
    p.add_argument("--empty-artifact-type", action="store_true")
    p.add_argument("--tamper", choices=["payload", "signature", "set", "proof", "body"])
    p.set_defaults(fn=cmd_bundle_sign)

    p = sub.add_parser("attest")
    add_signer_args(p)
    p.add_argument("--predicate-type", required=True)
    p.add_argument("--predicate")
    p.add_argument("--as", dest="as_", choices=["tag", "bundle", "both"], default="tag")
    p.add_argument("--tlog", action="store_true")
    p.add_argument("--no-tlog", action="store_true")
    p.add_argument("--append", action="store_true")
    p.add_argument("--digest-in-payload")
    p.add_argument("--empty-artifact-type", action="store_true")
    p.add_argument("--tamper", choices=["payload", "signature", "set", "proof", "body"])
    p.set_defaults(fn=cmd_attest)

    p = sub.add_parser("notation-sign")
    p.add_argument("host")
    p.add_argument("image")
    p.add_argument("--ca-dir", required=True)
    p.add_argument("--subject-dn", default="CN=imagelock test signer,O=imagelock-test")
    p.add_argument("--expired", action="store_true")
    p.add_argument("--expiry", type=int, metavar="SECONDS", help="io.cncf.notary.expiry, relative to now")
    p.add_argument("--legacy", action="store_true")
    p.add_argument("--empty-artifact-type", action="store_true")
    p.add_argument("--digest-in-payload")
    p.add_argument("--tamper", choices=["payload", "signature"])
    p.set_defaults(fn=cmd_notation_sign)

    p = sub.add_parser("sbom")
    p.add_argument("host")
    p.add_argument("image")
    p.add_argument("--format", choices=["spdx", "cyclonedx"], required=True)
    p.set_defaults(fn=cmd_sbom)

    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
