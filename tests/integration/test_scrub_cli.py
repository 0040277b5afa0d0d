"""`hourglass scrub`: NDJSON notes in, scrubbed notes with spans out (no
cluster). Offsets are Unicode code points of the input text, checked on
text with accents, CJK and astral characters before the PHI; bad lines give
an error line and the run goes on; dates move by --shift-days in their own
format; a --lexicon file's phrases are found."""
import json
import subprocess

import hg


def run(lines, *args, stdin=True):
    data = "".join(l + "\n" for l in lines).encode()
    return subprocess.run([hg.cli_path(), "scrub", *args], input=data, capture_output=True,
                          env=hg.cli_env(), timeout=60, check=False)


def test_code_point_offsets_with_non_ascii():
    text = "Zoë 日本 😀 note: seen by Dr. Jane Doe on 03/04/2019, call 617-555-1234. Café"
    p = run([json.dumps({"id": "n1", "text": text}, ensure_ascii=False)], "--json")
    assert p.returncode == 0, p.stderr
    out = [json.loads(l) for l in p.stdout.decode().splitlines()]
    assert len(out) == 1 and out[0]["id"] == "n1"
    got = {(text[s["start"]:s["end"]], s["type"]) for s in out[0]["spans"]}
    assert ("Jane Doe", "NAME") in got
    assert ("03/04/2019", "DATE") in got
    assert ("617-555-1234", "PHONE") in got
    assert "Jane" not in out[0]["text"] and "617-555-1234" not in out[0]["text"]
    assert out[0]["text"].startswith("Zoë 日本 😀 note:") and out[0]["text"].endswith("Café")
    for s in out[0]["spans"]:
        assert 0 <= s["start"] < s["end"] <= len(text)


def test_escaped_input_and_bad_lines_do_not_stop_the_run():
    lines = [
        json.dumps({"id": 1, "text": "Mr. Kowalczyk, 92 y/o, seen 2020-01-31."}),  # \\u-escaped? no: ASCII
        "not json at all",
        json.dumps({"id": 3}),
        json.dumps({"id": 4, "text": "\u00e9t\u00e9 \U0001F600 MRN: 12345678"}),  # ensure_ascii escapes
        "",
        json.dumps({"id": 6, "text": "BP 120/80, pain 3/10, Parkinson's disease."}),
    ]
    p = run(lines, "--json", "--shift-days", "1")
    assert p.returncode == 1
    out = [json.loads(l) for l in p.stdout.decode().splitlines()]
    assert len(out) == 5, out
    assert out[0]["text"] == "Mr. [NAME], 90+ y/o, seen 2020-02-01."
    assert out[1] == {"line": 2, "error": "not JSON"}
    assert out[2]["line"] == 3 and "text" in out[2]["error"]
    text4 = "\u00e9t\u00e9 \U0001F600 MRN: 12345678"
    assert [(text4[s["start"]:s["end"]], s["type"]) for s in out[3]["spans"]] == [("12345678", "ID")]
    assert out[4]["spans"] == [] and out[4]["text"] == "BP 120/80, pain 3/10, Parkinson's disease."
    assert b"12345678" not in p.stderr and b"Kowalczyk" not in p.stderr


def test_plain_output_file_argument_and_lexicon(tmp_path):
    lex = tmp_path / "lex.txt"
    lex.write_text("# our wards\nLOCATION 7 North\nNAME Quixley\n")
    notes = tmp_path / "notes.ndjson"
    notes.write_text(json.dumps({"id": "a", "text": "Moved to 7 north, covered by Quixley."}) + "\n")
    p = subprocess.run([hg.cli_path(), "scrub", "--lexicon", str(lex), str(notes)],
                       capture_output=True, env=hg.cli_env(), timeout=60, check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == "Moved to [LOCATION], covered by [NAME].\n"
    p = subprocess.run([hg.cli_path(), "scrub", "--lexicon", str(tmp_path / "missing.txt")],
                       input=b"", capture_output=True, env=hg.cli_env(), timeout=60, check=False)
    assert p.returncode == 1 and b"missing.txt" in p.stderr
    p = subprocess.run([hg.cli_path(), "scrub", "--shift-days", "x"], input=b"",
                       capture_output=True, env=hg.cli_env(), timeout=60, check=False)
    assert p.returncode == 2


def test_surrogates_per_patient(tmp_path):
    key = tmp_path / "surrogate.key"
    key.write_bytes(bytes(range(32)))
    key.chmod(0o600)
    text = "Seen by Dr. Kowalczyk with Mrs. Kowalczyk."
    lines = [json.dumps({"id": 1, "text": text, "patient": "p1"}),
             json.dumps({"id": 2, "text": text, "patient": "p1"}),
             json.dumps({"id": 3, "text": text, "patient": "p2"})]
    p = run(lines, "--surrogate-key", str(key))
    assert p.returncode == 0, p.stderr
    a, b, c = p.stdout.decode().splitlines()
    assert "Kowalczyk" not in a and "[NAME]" not in a
    assert a == b, "same patient, same surrogates"
    assert a != c, "another patient, other surrogates"
    words = a.split()
    assert words[3] == words[6].rstrip("."), "one name, one surrogate within a note"
    key.chmod(0o644)
    p = run(lines, "--surrogate-key", str(key))
    assert p.returncode == 1 and b"0600" in p.stderr
