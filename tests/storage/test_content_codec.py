"""The content codec and key ring of encryption at rest (storage/encryption.py)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from threadline.storage.encryption import (
    PLAIN,
    ContentCodec,
    ContentKeyMissing,
    ContentUnreadable,
    KeyRing,
    content_codec,
    new_key_entry,
)

K1 = new_key_entry("k1")
K2 = new_key_entry("k2")
VALUE = {"type": "message", "content": [{"type": "input_text", "text": "héllo \u0000 wörld"}]}


def sealing(*entries: str) -> ContentCodec:
    return ContentCodec(KeyRing.parse(entries))


def test_a_sealed_value_opens_in_any_process_holding_its_key() -> None:
    sealed = sealing(K1).dump(VALUE)

    assert sealed.startswith("tle1:k1:") and "llo" not in sealed
    assert sealing(K1).load(sealed) == VALUE  # another process: its own data key, same ring
    assert sealing(K2, K1).load(sealed) == VALUE  # a later ring that still holds k1


def test_values_are_sealed_under_one_data_key_with_fresh_nonces() -> None:
    codec = sealing(K1)
    first, second = codec.dump(VALUE), codec.dump(VALUE)

    assert first != second
    assert first.rsplit(":", 1)[0] == second.rsplit(":", 1)[0]  # the wrapped data key


def test_plain_json_is_read_whatever_the_ring() -> None:
    plain = PLAIN.dump(VALUE)

    assert plain.startswith("{")
    assert sealing(K1).load(plain) == VALUE
    assert PLAIN.load(plain) == VALUE
    assert sealing(K1).is_current(plain) is False and PLAIN.is_current(plain) is True


def test_a_value_sealed_under_a_key_not_held_names_the_key() -> None:
    sealed = sealing(K1).dump(VALUE)

    with pytest.raises(ContentKeyMissing, match="'k1'"):
        PLAIN.load(sealed)
    with pytest.raises(ContentKeyMissing, match="'k1'"):
        sealing(K2).load(sealed)


def test_an_altered_value_or_a_different_key_under_the_same_id_is_refused() -> None:
    sealed = sealing(K1).dump(VALUE)
    body = sealed.rsplit(":", 1)[1]
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]

    with pytest.raises(ContentUnreadable):
        sealing(K1).load(sealed.rsplit(":", 1)[0] + ":" + flipped)
    impostor = "k1:" + new_key_entry("x").split(":", 1)[1]
    with pytest.raises(ContentUnreadable, match="'k1'"):
        sealing(impostor).load(sealed)
    with pytest.raises(ContentUnreadable):
        sealing(K1).load("tle1:k1:nonsense")


def test_blind_terms_hide_words_and_a_query_finds_them_under_every_key() -> None:
    old, new = sealing(K1), sealing(K2, K1)
    indexed = old.index_text(VALUE)

    assert "wörld" not in indexed and len(indexed.split()) == 2
    assert all(term.isalpha() for term in indexed.split())
    assert set(indexed.split()) <= {t for word in ("héllo", "wörld") for t in new.query_terms(word)}
    assert PLAIN.index_text(VALUE) == "héllo \u0000 wörld" and PLAIN.query_terms("x") == ["x"]


def test_key_ring_errors_name_the_key_but_never_its_secret() -> None:
    secret = base64.urlsafe_b64encode(b"s" * 16).decode()
    with pytest.raises(ValueError, match="'k1' must be 32 bytes") as short:
        KeyRing.parse([f"k1:{secret}"])
    assert secret not in str(short.value)
    with pytest.raises(ValueError, match="key 1 must be written id:base64key"):
        KeyRing.parse(["no id here"])
    with pytest.raises(ValueError, match="unique"):
        KeyRing.parse([K1, K1])
    with pytest.raises(ValueError, match="key id 'bad id'"):
        new_key_entry("bad id")


def test_keys_come_from_a_file_the_first_line_sealing(tmp_path: Path) -> None:
    file = tmp_path / "keys"
    file.write_text(f"# rotated 2026-12-04\n{K2}\n\n{K1}\n")

    codec = content_codec([], file)
    assert codec.ring is not None and [k.id for k in codec.ring.keys] == ["k2", "k1"]
    assert codec.dump(VALUE).startswith("tle1:k2:")
    with pytest.raises(ValueError, match="not both"):
        content_codec([K1], file)
    with pytest.raises(ValueError, match="cannot read"):
        content_codec([], tmp_path / "missing")
    assert content_codec([], None).sealing is False


def test_a_forked_process_seals_under_a_data_key_of_its_own() -> None:
    codec = sealing(K1)
    parent = codec.dump(VALUE).rsplit(":", 1)[0]
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report the wrapped data key it sealed under, then leave
        os.write(writer, codec.dump(VALUE).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(reader, 4096).decode()
    assert child.rsplit(":", 1)[0] != parent
    assert codec.load(child) == VALUE
