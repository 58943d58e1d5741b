"""Checks of single spec values that reach a node, Terraform or the Compute API verbatim.

Each function returns None for a good value, or the problem (without the field name, which the
caller puts in front) saying what to write instead. Every pattern matches the whole string
(``re.fullmatch`` with ``\\A...\\Z``), so a trailing newline never passes.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import re
from collections.abc import Iterable

from kubegce.spec.text import shown

# ----------------------------------------------------------------------------- service accounts
SERVICE_ACCOUNT_RE = re.compile(
    r"\A[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+gserviceaccount\.com\Z"
)
MAX_EMAIL = 254


def service_account_problem(value: str) -> str | None:
    """``default`` (the project's Compute Engine default service account) or a service-account email."""
    if value == "default":
        return None
    if len(value) <= MAX_EMAIL and SERVICE_ACCOUNT_RE.fullmatch(value):
        return None
    return (
        f"{shown(value)} is not a service account; write 'default' or an email like "
        "nodes@PROJECT.iam.gserviceaccount.com (lowercase letters, digits, '.', '-', '_')"
    )


# ----------------------------------------------------------------------------- ssh public keys
SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
MAX_SSH_KEY = 16 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BASE64 = re.compile(r"\A[A-Za-z0-9+/]+={0,2}\Z")


def ssh_public_key_problem(value: str) -> str | None:
    """Exactly one OpenSSH public key: ``TYPE BASE64 [COMMENT]`` on one line, the type one of
    :data:`SSH_KEY_TYPES`, the base64 blob naming the same type. Surrounding whitespace (the newline
    a ``.pub`` file ends with) is allowed: the key is stripped where it is used.

    The key material is never quoted back (a private key pasted by mistake must not reach a log)."""
    text = value.strip()
    how = "give the one line of a .pub file, like 'ssh-ed25519 AAAAC3Nza... you@host'"
    if not text:
        return f"is empty; {how}, or leave it unset"
    if "PRIVATE KEY" in text or text.startswith("-----"):
        return f"holds a private key or a PEM block, not an OpenSSH public key; {how}"
    if len(text) > MAX_SSH_KEY:
        return f"is {len(text)} characters; one public key is under {MAX_SSH_KEY}; {how}"
    lines = [line for line in re.split(r"[\r\n\u2028\u2029]+", text) if line.strip()]
    if len(lines) > 1:
        return f"holds {len(lines)} lines; give exactly one public key (one line), like 'ssh-ed25519 AAAA... you@host'"
    if _CONTROL.search(text.replace("\t", " ")):
        return f"holds a control character; {how}"
    fields = text.split(None, 2)
    key_type = fields[0]
    if key_type not in SSH_KEY_TYPES:
        if ":" in key_type and key_type.partition(":")[2] in SSH_KEY_TYPES:
            return "starts with 'USER:'; give the key alone (kubegce logs in as the user 'kubegce')"
        if key_type == "ssh-dss":
            return "is a DSA key, which OpenSSH no longer accepts; use an ed25519 key (ssh-keygen -t ed25519)"
        shown_type = shown(key_type, 30) if len(key_type) <= 60 and key_type.isprintable() else "(unreadable)"
        return f"key type {shown_type} is not one of {', '.join(SSH_KEY_TYPES)}; {how}"
    if len(fields) < 2:
        return f"has a key type but no key data; {how}"
    blob = fields[1]
    try:
        if not _BASE64.fullmatch(blob):
            raise binascii.Error("not base64")
        data = base64.b64decode(blob, validate=True)
    except binascii.Error:
        return f"the key data after {key_type} is not base64; {how}"
    length = int.from_bytes(data[:4], "big") if len(data) >= 4 else -1
    embedded = data[4 : 4 + length] if 0 < length <= 64 else b""
    if embedded != key_type.encode():
        return f"the key data is not of type {key_type} (it does not match the first word); {how}"
    if len(data) < 4 + length + 4:
        return f"the {key_type} key data is truncated; {how}"
    return None


# ----------------------------------------------------------------------------- assets
# file:///ABSOLUTE/PATH serves images that carry their own mirror (air-gapped, the boot lab)
MIRROR_FILE_RE = re.compile(r"\Afile://(?:/[A-Za-z0-9._~%+-]+)+/?\Z")
MIRROR_RE = re.compile(
    r"\Ahttps?://"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]{2,45}\])"
    r"(?::(?P<port>[0-9]{1,5}))?"
    r"(?:/[A-Za-z0-9._~%+-]+)*/?\Z"
)
MAX_URL = 2048
MANIFEST_KEYS = ("calico", "cilium", "ccm", "pd-csi")
SHA256_RE = re.compile(r"\A[0-9a-f]{64}\Z")


def mirror_problem(value: str) -> str | None:
    if len(value) <= MAX_URL and MIRROR_FILE_RE.fullmatch(value) and "/../" not in value + "/":
        return None
    m = MIRROR_RE.fullmatch(value) if len(value) <= MAX_URL else None
    if m and (m.group("port") is None or 0 < int(m.group("port")) < 65536):
        return None
    return (
        f"{shown(value)} is not a mirror URL; write http(s)://HOST[:PORT][/PATH] or file:///PATH (letters, digits and "
        "._~%+- in the path; no query, spaces or quotes), e.g. https://mirror.example.com/k8s"
    )


def manifest_sha256_problems(values: dict[str, str]) -> list[tuple[str, str]]:
    """(key, problem) for every bad entry of spec.assets.manifestSha256."""
    out = []
    for key, digest in values.items():
        if key not in MANIFEST_KEYS:
            out.append(
                (key, f"unknown manifest{did_you_mean(key, MANIFEST_KEYS)}; the keys are {', '.join(MANIFEST_KEYS)}")
            )
        elif not SHA256_RE.fullmatch(digest):
            out.append(
                (
                    key,
                    f"{shown(digest, 20)} is not a sha256; write the 64 lowercase hex characters "
                    "that `sha256sum FILE` prints for the manifest",
                )
            )
    return out


# ----------------------------------------------------------------------------- additional user data
USER_DATA_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
# what kubegce can deliver: shell parts run by the bootstrap (or by cloud-init), every other type is
# a cloud-init MIME part (cloud-init's part handlers); text/plain runs as shell when it starts with #!
USER_DATA_TYPES = (
    "text/x-shellscript",
    "text/cloud-config",
    "text/cloud-boothook",
    "text/cloud-config-archive",
    "text/x-include-url",
    "text/x-include-once-url",
    "text/part-handler",
    "text/jinja2",
    "text/upstart-job",
    "text/x-shellscript-per-boot",
    "text/x-shellscript-per-instance",
    "text/x-shellscript-per-once",
    "text/plain",
)


def user_data_name_problem(value: str) -> str | None:
    if USER_DATA_NAME_RE.fullmatch(value):
        return None
    return f"{shown(value)} must be a file name: 1-100 of [A-Za-z0-9._-], starting with a letter or digit"


def user_data_type_problem(value: str) -> str | None:
    if value in USER_DATA_TYPES:
        return None
    hint = did_you_mean(value.strip().lower(), USER_DATA_TYPES)
    return f"{shown(value)} is not a user-data type kubegce can deliver{hint}; use one of {', '.join(USER_DATA_TYPES)}"


# ----------------------------------------------------------------------------- images
IMAGE_NAME = r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?"
IMAGE_PROJECT = r"[a-z][-a-z0-9.:]{0,98}[a-z0-9]"
IMAGE_RE = re.compile(
    rf"\A(?:(?:https://(?:www|compute)\.googleapis\.com/compute/(?:v1|beta|alpha)/)?"
    rf"projects/{IMAGE_PROJECT}/global/images/(?:family/)?{IMAGE_NAME}"
    rf"|{IMAGE_PROJECT}/(?:family/)?{IMAGE_NAME}"
    rf"|(?:family/)?{IMAGE_NAME})\Z"
)
MAX_IMAGE = 300


def image_problem(value: str) -> str | None:
    """The shape of an image reference (the catalog decides what it is)."""
    if len(value) > MAX_IMAGE:
        return f"{shown(value)} is too long: an image reference is at most {MAX_IMAGE} characters"
    if IMAGE_RE.fullmatch(value):
        return None
    return (
        f"{shown(value)} is not an image reference; write PROJECT/FAMILY (rocky-linux-cloud/rocky-linux-9), "
        "PROJECT/IMAGE or a selfLink (lowercase letters, digits and '-')"
    )


# ----------------------------------------------------------------------------- helpers
def did_you_mean(value: str, options: Iterable[str], n: int = 1, cutoff: float = 0.6) -> str:
    """``; did you mean 'x'?`` (or ``'x' or 'y'``), or empty. Long values are cut first."""
    hints = difflib.get_close_matches(value[:100], list(options), n=n, cutoff=cutoff)
    if not hints:
        return ""
    return "; did you mean " + " or ".join(f"'{h}'" for h in hints) + "?"
