#!/usr/bin/env python3
"""Writes the seed corpora tests/fuzz/corpus/<target>/ from the project's own files.

Seeds are the inputs the project already has: the example policy and config, the deployment
configs, the YAML in the docs, the policy/config/audit text in the unit tests, every audit event
type written by the real writer (audit_samples), and the dev PKI's certificates as DER. Each seed
is named by the SHA-1 of its bytes (as libFuzzer names what it finds). Run again after adding a
target or when the formats change:

    tests/fuzz/make_corpus.py --audit-samples build/tests/unit/audit/audit_samples

Without --audit-samples the audit seeds from the writer are kept as they are.
"""
import argparse
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
MAX_SEED = 8192  # bytes; the fuzzers' default max_len follows the largest seed


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


def raw_strings(pattern):
    """C++ raw string literals in the unit tests matching pattern."""
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "unit", "*", "*.cpp"))):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for m in re.finditer(r'R"([^(\s]{0,16})\((.*?)\)\1"', text, re.S):
            if re.search(pattern, m.group(2)):
                out.append(m.group(2).encode())
    return out


def doc_blocks(pattern):
    """```yaml blocks of README.md and docs/*.md matching pattern."""
    out = []
    for path in ["README.md"] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            text = f.read()
        for m in re.finditer(r"```yaml\n(.*?)```", text, re.S):
            if re.search(pattern, m.group(1)):
                out.append(m.group(1).encode())
    return out


def policy_dir(path):
    """A policy directory as policy_loader_fuzz's input: files joined by NUL, at most 4."""
    files = [read(p) for p in sorted(glob.glob(os.path.join(ROOT, path, "*.yaml")))]
    if not files:
        return []
    head, tail = files[:3], files[3:]
    return [b"\0".join(head + [b"\n---\n".join(tail)] if tail else head)]


def policy_seeds():
    seeds = [read(p) for p in sorted(glob.glob(os.path.join(ROOT, "policy", "*.yaml")))]
    seeds += policy_dir("policy")
    for d in sorted(glob.glob(os.path.join(ROOT, "tests", "unit", "policy", "fixtures", "*"))):
        seeds += policy_dir(os.path.relpath(d, ROOT))
    return seeds + doc_blocks(r"(?m)^kind:|^to:") + raw_strings(r"(?m)^kind: ")


def config_seeds():
    seeds = [read("config/egressd.yaml")]
    seeds += [read(os.path.relpath(p, ROOT)) for p in sorted(glob.glob(os.path.join(ROOT, "deploy", "*", "egressd.yaml")))]
    # The config embedded in the Kubernetes ConfigMap (a block scalar under egressd.yaml: |).
    for path in sorted(glob.glob(os.path.join(ROOT, "deploy", "kubernetes", "**", "*.yaml"), recursive=True)):
        text = read(os.path.relpath(path, ROOT)).decode()
        m = re.search(r"(?m)^( *)egressd\.yaml: \|\n((?:\1  .*\n|\n)+)", text)
        if m:
            indent = len(m.group(1)) + 2
            seeds.append("".join(line[indent:] + "\n" for line in m.group(2).splitlines()).encode())
    return seeds + doc_blocks(r"(?m)^listeners:") + raw_strings(r"(?m)^listeners:")


def audit_seeds(samples_bin):
    seeds = [s for s in raw_strings(r'^\{"v":1') if b"\n" in s or b'"event"' in s]
    if samples_bin:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "audit.jsonl")
            subprocess.run([samples_bin, out], check=True, stdout=subprocess.DEVNULL)
            with open(out, "rb") as f:
                log = f.read()
        lines = log.splitlines(keepends=True)
        seeds += [log, b"".join(lines[:3])]
        seeds += [line for line in lines]  # one record each: every event type on its own
    else:
        keep = os.path.join(CORPUS, "audit_reader_fuzz")
        seeds += [open(p, "rb").read() for p in sorted(glob.glob(os.path.join(keep, "*")))]
    return seeds


def identity_seeds():
    seeds = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([os.path.join(ROOT, "certs", "make-dev-certs.sh"), tmp], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for pem in sorted(glob.glob(os.path.join(tmp, "*.pem"))):
            der = subprocess.run(["openssl", "x509", "-in", pem, "-outform", "DER"], check=True,
                                 capture_output=True).stdout
            seeds.append(der)
    # The same bytes are also checked as a URI (spiffe_id_error).
    seeds += [b"spiffe://corp.example/ns/payments/sa/api", b"spiffe://corp.example/a/../b",
              b"spiffe://CORP.example/%41?x#y", b"https://etl.analytics.corp.example/"]
    return seeds


def write(target, seeds):
    d = os.path.join(CORPUS, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    names = set()
    for s in seeds:
        if not s or len(s) > MAX_SEED:
            continue
        name = hashlib.sha1(s).hexdigest()
        if name not in names:
            names.add(name)
            with open(os.path.join(d, name), "wb") as f:
                f.write(s)
    print(f"{target}: {len(names)} seeds, {sum(os.path.getsize(os.path.join(d, n)) for n in names)} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--audit-samples", help="path of the audit_samples test binary")
    args = ap.parse_args()
    audit = audit_seeds(args.audit_samples)
    write("policy_loader_fuzz", policy_seeds())
    write("config_loader_fuzz", config_seeds())
    write("audit_reader_fuzz", audit)
    write("client_identity_fuzz", identity_seeds())
    return 0


if __name__ == "__main__":
    sys.exit(main())
