"""tinymoat-info's command line: every mistake is one line on stderr and exit status 2."""

import pytest

from tinymoat.info import main


@pytest.mark.parametrize("argv,message", [
    (["tiny-moat-0", "--input-size", "100000"],
     "input size 100000x100000 needs about 2.27e+7 GiB for stage 2's attention scores"),
    (["moat-4", "--input-size", "4096"], "more than the 8 GiB limit"),
    (["tiny-moat-0", "--input-size", "-32"], "not a positive multiple of 32"),
])
def test_impossible_input_sizes_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tinymoat-info: error: ") and message in err[0]
    assert captured.out == ""


def test_largest_usual_size_still_counts(capsys):
    assert main(["tiny-moat-0", "--input-size", "1024"]) == 0
    assert capsys.readouterr().out.startswith("tiny-moat-0 at 1024x1024")
