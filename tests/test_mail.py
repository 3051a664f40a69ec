"""mail: MIME bodies (quoted-printable, base64, multipart, format=flowed) read as git am reads them.

The oracle is ``git am`` itself: the same bytes given to ``git am
--keep-non-patch`` and to verda-patch's apply path must give the same commit
message, author and tree.
"""

from __future__ import annotations

import base64
import quopri
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.builders import Upstream
from tests.test_patchfile import _git_am, run_git
from verda_patch.apply import mail
from verda_patch.errors import PatchError
from verda_patch.patchfile import parse_bytes


def _split(data: bytes) -> tuple[list[bytes], bytes]:
    head, _, body = data.partition(b"\n\n")
    lines = [
        line for line in head.split(b"\n") if not line.startswith((b"Content-", b"MIME-", b" "))
    ]
    return lines, body


def _qp(data: bytes) -> bytes:
    head, body = _split(data)
    extra = [b"MIME-Version: 1.0", b"Content-Type: text/plain; charset=ISO-8859-1"]
    extra.append(b"Content-Transfer-Encoding: quoted-printable")
    latin1 = body.decode("utf-8").encode("latin-1")
    return b"\n".join(head + extra) + b"\n\n" + quopri.encodestring(latin1)


def _base64(data: bytes) -> bytes:
    head, body = _split(data)
    extra = [b"MIME-Version: 1.0", b"Content-Type: text/plain; charset=UTF-8"]
    extra.append(b"Content-Transfer-Encoding: base64")
    return b"\n".join(head + extra) + b"\n\n" + base64.encodebytes(body)


def _multipart(data: bytes) -> bytes:
    head, body = _split(data)
    message, sep, patch = body.partition(b"---\n")
    extra = [b"MIME-Version: 1.0", b'Content-Type: multipart/mixed; boundary="=-=-="']
    return (
        b"\n".join(head + extra)
        + b"\n\n--=-=-=\nContent-Type: text/plain; charset=UTF-8\n"
        + b"Content-Transfer-Encoding: quoted-printable\n\n"
        + quopri.encodestring(message)
        + b"\n--=-=-=\nContent-Type: text/x-patch\nContent-Disposition: attachment\n\n"
        + sep
        + patch
        + b"\n--=-=-=--\n"
    )


def _flowed(data: bytes) -> bytes:
    head, body = _split(data)
    extra = [b"MIME-Version: 1.0", b"Content-Type: text/plain; charset=utf-8; format=flowed"]
    out = []
    for line in body.split(b"\n"):
        # space-stuff lines that start with a space, as a flowed mailer does,
        # and wrap the long first message line with a soft break
        stuffed = b" " + line if line.startswith((b" ", b">", b"From ")) else line
        if line.startswith(b"Long line") and len(line) > 20:
            out += [stuffed[:20] + b" ", stuffed[20:]]
        else:
            out.append(stuffed)
    return b"\n".join(head + extra) + b"\n\n" + b"\n".join(out)


TRANSFORMS: dict[str, Callable[[bytes], bytes]] = {
    "quoted-printable latin-1": _qp,
    "base64": _base64,
    "multipart with the patch attached": _multipart,
    "format=flowed": _flowed,
}


@pytest.fixture
def upstream(make_upstream) -> Upstream:
    up: Upstream = make_upstream()
    return up


@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_mime_mail_applies_as_git_am_applies_it(
    upstream: Upstream, transform: str, tmp_path: Path
) -> None:
    rev = upstream.commit(
        "[pci] Pass through the right device",
        {
            # a line past 76 characters: quoted-printable breaks it softly
            "sample/quota.py": "LIMITS = {'cores': 20, 'ram': 51200, 'pci': 2}  # "
            + "x" * 90
            + "\n  # indented\n",
        },
        author="Zoë Ångström <zoe@example.org>",
        body="Long line of the message that a mailer would wrap, señor.\n\n  indented",
    )
    data = TRANSFORMS[transform](upstream.format_patch(rev))
    patch = parse_bytes(data, source=Path("x.patch"))
    by_git = _git_am(upstream, rev, data)  # asserts the commit's tree, too
    assert by_git == (patch.subject, patch.author_name, patch.author_email, patch.message)
    assert _git_am(upstream, rev, mail(patch)) == by_git


def test_charset_git_cannot_convert_is_refused_like_git(tmp_path: Path) -> None:
    data = (
        b"From: a <a@example.org>\nSubject: x\nContent-Type: text/plain; charset=x-nonesuch\n"
        b"Content-Transfer-Encoding: quoted-printable\n\nbody=E9\n---\n"
        b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n"
    )
    (tmp_path / "m").write_bytes(data)
    assert run_git(tmp_path, "mailinfo", "-b", "msg", "patch", input=data).returncode != 0
    with pytest.raises(PatchError, match="cannot convert"):
        parse_bytes(data, source=Path("x.patch"))
