"""The layering check itself (tests/layering.py): a call upwards and a file
in no layer are found, calls downwards and through pointers are not."""

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import layering  # noqa: E402


def build(top, files):
    for rel, text in files.items():
        src = top / rel
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_text(text)
        obj = top / "build" / "obj" / Path(rel).with_suffix(".o")
        obj.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cc", "-c", "-o", str(obj), str(src)], check=True)


def run(tmp_path, conf, files):
    build(tmp_path, files)
    (tmp_path / "layers.conf").write_text(conf)
    return layering.check(tmp_path / "build",
                          layering.parse_conf(tmp_path / "layers.conf"),
                          tmp_path)


FILES = {
    "sessiond/main.c": "void mid(void); int main(void) { mid(); return 0; }\n",
    "sessiond/mid.c": "void low(void); void mid(void) { low(); }\n",
    "sessiond/low.c": "void (*up)(void); void low(void) { if (up) up(); }\n",
    "common/util.c": "int util(void) { return 1; }\n",
}
CONF = "[sessiond]\nsessiond/main.c\nsessiond/mid.c\nsessiond/low.c\n" \
       "[common]\ncommon/util.c\n"


def test_downwards_and_callbacks_pass(tmp_path):
    assert run(tmp_path, CONF, FILES) == []


def test_a_call_upwards_is_found(tmp_path):
    files = dict(FILES)
    files["sessiond/low.c"] = "void mid(void); void low(void) { mid(); }\n"
    errors = run(tmp_path, CONF, files)
    assert errors == ["sessiond: sessiond/low.c calls mid() of "
                      "sessiond/mid.c, a layer above it"], errors


def test_a_common_module_calling_a_program_is_found(tmp_path):
    files = dict(FILES)
    files["common/util.c"] = "void low(void); int util(void) { low(); return 1; }\n"
    errors = run(tmp_path, CONF, files)
    assert any("common/util.c calls low()" in e for e in errors), errors


def test_a_file_in_no_layer_is_found(tmp_path):
    files = dict(FILES)
    files["sessiond/new.c"] = "int fresh(void) { return 2; }\n"
    errors = run(tmp_path, CONF, files)
    assert "sessiond: sessiond/new.c is in no layer of tests/layers.conf" in errors
