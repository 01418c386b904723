import pytest

from shufflenet.utils.tables import byte_size


@pytest.mark.parametrize(
    ("nbytes", "text"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (13_824, "13.8 kB"),
        (1_370_000, "1.37 MB"),
        (37_500_000, "37.5 MB"),
        (7_526_400_000, "7.53 GB"),
    ],
)
def test_byte_size_picks_the_unit_a_reader_expects(nbytes: int, text: str) -> None:
    assert byte_size(nbytes) == text
