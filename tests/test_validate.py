"""statuses validate: every file checked, every problem printed, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .test_payloads import analysis, folder


def validate(*args: str | bytes, stdin: str | None = None, **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "statuses", "validate", *args], input=stdin, capture_output=True,
                          text=True, **options)


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr


def test_huge_integers_and_deep_nesting_are_checked_not_crashed(tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps(folder(time_updated=0)).replace('"time_updated": 0', '"time_updated": ' + "9" * 5000))
    result = validate(str(huge))
    no_traceback(result)
    assert (result.returncode, result.stdout) == (
        1, f"{huge}: time_updated: <an integer of 5,000 digits> is not a time in Unix seconds\n")
    nested = '{"k": ' * 900 + '"a1"' + "}" * 900  # json.dumps itself would not go this deep
    doc = json.dumps(folder(analysis(analyse_id="A", analysis_id="B"))).replace('"A"', nested).replace('"B"', nested)
    result = validate("-", stdin=doc)
    no_traceback(result)
    assert result.returncode == 1 and result.stdout.startswith("<stdin>: analyses[0].analysis_id: conflicts with")
    too_deep = validate("-", stdin="[" * 100_000 + "]" * 100_000)
    no_traceback(too_deep)
    assert too_deep.returncode == 2 and too_deep.stderr == "statuses: <stdin>: cannot read: nested deeper than " \
                                                           "about 10,000 levels\n"


def test_a_closed_stdin_is_unreadable_not_a_crash() -> None:
    result = subprocess.run(f"{sys.executable} -m statuses validate - <&-", shell=True, capture_output=True,
                            text=True)
    no_traceback(result)
    assert (result.returncode, result.stderr) == (2, "statuses: <stdin>: cannot read: standard input is closed\n")


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    many = tmp_path / "many.json"
    many.write_text(json.dumps([folder(analysis(state="NOPE")) for _ in range(20_000)]))
    with subprocess.Popen([sys.executable, "-m", "statuses", "validate", str(many)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None and process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()
        errors = process.stderr.read()
        code = process.wait()
    assert first.startswith(f"{many}: folders[0].analyses[0].state:")
    assert "Traceback" not in errors and errors == ""
    assert code == 1


def test_an_undecodable_file_name_is_shown_escaped(tmp_path: Path) -> None:
    name = os.fsencode(tmp_path) + b"/caf\xe9.json"
    with open(name, "w") as handle:
        json.dump(folder(analysis(state="NOPE")), handle)
    result = validate(os.fsdecode(name), env={**os.environ, "PYTHONIOENCODING": "utf-8", "LC_ALL": "C.UTF-8"})
    no_traceback(result)
    assert result.returncode == 1 and result.stdout.startswith(f"{tmp_path}/caf\\xe9.json: analyses[0].state:")


def test_every_file_is_checked_even_after_an_unreadable_one(tmp_path: Path) -> None:
    bad, good, broken = tmp_path / "bad.json", tmp_path / "good.json", tmp_path / "broken.json"
    bad.write_text(json.dumps(folder(analysis(state="NOPE"))))
    good.write_text(json.dumps(folder()))
    broken.write_bytes(b"\xff\xfe{")
    result = validate(str(tmp_path / "missing.json"), str(bad), str(broken), str(good))
    no_traceback(result)
    assert result.returncode == 2
    assert result.stdout == f"{bad}: analyses[0].state: 'NOPE' is not one of PROCESSING, FAILED, FINISHED\n"
    assert result.stderr.splitlines() == [
        f"statuses: {tmp_path / 'missing.json'}: cannot read: No such file or directory",
        f"statuses: {broken}: cannot read: not UTF-8 (byte 0xff at offset 0)"]
    assert validate(str(bad)).returncode == 1 and validate(str(good)).returncode == 0
    stdin = validate("-", stdin="{")
    assert stdin.returncode == 2 and stdin.stderr.startswith("statuses: <stdin>: not JSON:")
    report = json.loads(validate("--json", str(bad), str(broken)).stdout)
    assert (report["consistent"], report["unreadable"], len(report["problems"])) == (False, 1, 1)


def test_folders_of_one_list_must_agree_with_each_other(tmp_path: Path) -> None:
    listing = [folder(), folder(folder_id="f2", analyses=[analysis(folder_id="f2")]),
               folder(resolution_status="PROCESSING", system_resolution="PROCESSING",
                      analyses=[analysis(state="PROCESSING", resolution_status="PROCESSING")]),
               folder()]
    result = validate("-", stdin=json.dumps({"items": listing}))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "<stdin>: items[1].analyses[0].analyse_id: 'a1' is also in items[0], folder 'f1'",
        "<stdin>: items[2].folder_id: 'f1' is also items[0], where it is FINISHED/SUCCESS, not PROCESSING/PROCESSING"]


def test_without_times_what_does_not_depend_on_time_is_still_checked() -> None:
    lone = folder(analysis(time_updated=None), system_resolution="DECLINED")
    result = validate("-", stdin=json.dumps(lone))
    assert result.stdout == "<stdin>: system_resolution: DECLINED but the last-finished group 'g1' has result SUCCESS\n"
    same = folder(analysis(time_updated=None), analysis(analyse_id="a2", group_id="g2", time_updated=None),
                  system_resolution="DECLINED")
    assert "no group that may have finished last has that result ('g1' SUCCESS, 'g2' SUCCESS)" in \
        validate("-", stdin=json.dumps(same)).stdout
    undecided = folder(analysis(time_updated=None),
                       analysis(analyse_id="a2", group_id="g2", time_updated=None, resolution_status="DECLINED"),
                       system_resolution="DECLINED")
    assert validate("-", stdin=json.dumps(undecided)).returncode == 0


def test_web_sdk_bodies_are_recognised() -> None:
    assert validate("-", stdin=json.dumps({"state": "finished"})).returncode == 0
    bodies = [{"state": "finished", "analyses": {"quality": {"state": "processing", "resolution": ""}}},
              {"state": "processing", "folder_id": "f1", "analyses": {"quality": {"state": "processing",
                                                                                  "resolution": ""}}}]
    result = validate("-", stdin=json.dumps(bodies))
    assert (result.returncode, result.stdout) == (1, "<stdin>: folders[0].state: FINISHED but an analysis is "
                                                     "PROCESSING\n")


def test_the_issues_990_levels_are_read_and_closed_streams_are_not_a_crash(tmp_path: Path) -> None:
    nested = '{"k": ' * 990 + '"a1"' + "}" * 990
    doc = json.dumps(folder(analysis(analyse_id="A", analysis_id="B"))).replace('"A"', nested).replace('"B"', nested)
    result = validate("-", stdin=doc)
    no_traceback(result)
    assert result.returncode == 1 and "analyses[0].analysis_id: conflicts with analyse_id" in result.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(folder(analysis(state="NOPE"))))
    closed_out = subprocess.run(f"{sys.executable} -m statuses validate {bad} missing.json >&-", shell=True,
                                capture_output=True, text=True, cwd=tmp_path)
    no_traceback(closed_out)
    assert closed_out.returncode == 2
    gone_err = subprocess.run(f"{sys.executable} -m statuses validate m1 m2 m3 2>&1 >/dev/null | head -c1; "
                              "exit ${PIPESTATUS[0]}", shell=True, executable="/bin/bash", capture_output=True,
                              text=True, cwd=tmp_path)
    assert (gone_err.returncode, gone_err.stdout) == (2, "s")
