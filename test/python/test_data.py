"""python3 -m cube data: token files from text (byte-level) and from id lists, and every error."""
import struct
import subprocess
import sys

import pytest

from cube import cli, data


def run(*args):
    return cli.main(list(args))


def test_text_is_byte_tokenized(tmp_path, capsys):
    src = tmp_path / "a.txt"
    src.write_text("hé!\n", encoding="utf-8")
    out = tmp_path / "a.tok"
    assert run("data", "--text", str(src), "-o", str(out)) == 0
    blob = out.read_bytes()
    assert blob[:8] == b"CUBETOK\0"
    assert struct.unpack("<IIQ", blob[8:24]) == (1, 256, 5)
    assert list(struct.unpack("<5i", blob[24:])) == [104, 0xC3, 0xA9, 33, 10]
    assert data.read(str(out)) == (256, [104, 0xC3, 0xA9, 33, 10])
    assert "wrote 5 tokens (vocab 256)" in capsys.readouterr().out


@pytest.mark.parametrize("text", ["[1, 2, 31999]", "1 2\n31999", "1,2, 31999"])
def test_ids(tmp_path, text):
    src = tmp_path / "ids.txt"
    src.write_text(text)
    out = tmp_path / "ids.tok"
    assert run("data", "--ids", str(src), "--vocab-size", "32000", "-o", str(out)) == 0
    assert data.read(str(out)) == (32000, [1, 2, 31999])


@pytest.mark.parametrize("args,content,message", [
    (["--ids", "{src}", "--vocab-size", "10"], "1 2 10", "id 10 at position 2 is outside [0, 10)"),
    (["--ids", "{src}", "--vocab-size", "10"], "1 -2", "id -2 at position 1 is outside [0, 10)"),
    (["--ids", "{src}", "--vocab-size", "10"], "1 x", "entry 1 ('x') is not an integer id"),
    (["--ids", "{src}", "--vocab-size", "10"], "[1, 2.5]", "entry 1 (2.5) is not an integer id"),
    (["--ids", "{src}", "--vocab-size", "10"], "[1, 2", "not a JSON list of ids"),
    (["--ids", "{src}"], "1 2", "--ids needs --vocab-size"),
    (["--ids", "{src}", "--vocab-size", "0"], "1", "vocab_size 0 must be in [1, 2^31)"),
    (["--text", "{src}", "--vocab-size", "100"], "abc", "the byte-level tokenizer needs at least 256"),
    (["--text", "{src}"], "", "no tokens"),
])
def test_errors(tmp_path, capsys, args, content, message):
    src = tmp_path / "in.txt"
    src.write_text(content)
    args = [a.replace("{src}", str(src)) for a in args]
    assert run("data", *args, "-o", str(tmp_path / "x.tok")) == 1
    err = capsys.readouterr().err
    assert message in err
    assert not (tmp_path / "x.tok").exists()


def test_missing_input(tmp_path, capsys):
    assert run("data", "--text", str(tmp_path / "nope.txt"), "-o", str(tmp_path / "x.tok")) == 1
    assert "cannot read" in capsys.readouterr().err


def test_module_entry_point(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("hi")
    p = subprocess.run([sys.executable, "-m", "cube", "data", "--text", str(src), "-o", str(tmp_path / "a.tok")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
