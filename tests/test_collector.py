"""The collector paused around the imports of lasting objects (collector.py): off inside, on again after (an
exception too), what was alive frozen, nothing touched where it was off already; and, each in a fresh process,
the CLI and the loops' load leave it on, with numba's objects frozen."""

import gc

import pytest

from conftest import child
from vectorize_cli import collector


@pytest.fixture
def collector_state():
    """The test process's collector as it was, whatever the test did to it."""
    was = gc.isenabled()
    yield
    gc.unfreeze()  # back into the oldest generation: collectable again
    (gc.enable if was else gc.disable)()


def test_paused_turns_it_off_inside_and_on_after_with_what_was_made_frozen(collector_state):
    gc.unfreeze()
    assert gc.isenabled() and gc.get_freeze_count() == 0
    with collector.paused():
        assert not gc.isenabled()
        made = [[i] for i in range(5000)]  # 5,001 tracked containers
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(made) + 1  # made inside, frozen after
    with pytest.raises(KeyError):
        with collector.paused():
            raise KeyError("midway")
    assert gc.isenabled()


def test_paused_leaves_a_collector_that_is_off_alone(collector_state):
    gc.unfreeze()
    gc.disable()
    with collector.paused():
        made = [[i] for i in range(100)]
    assert not gc.isenabled() and gc.get_freeze_count() == 0 and made


def test_the_cli_runs_its_command_with_the_collector_on():
    out = child("""
import gc, sys
from vectorize_cli import cli
seen = []
run_app = cli.run_app
def spy():
    seen.append(gc.isenabled())  # the command's whole life runs here
    run_app()
cli.run_app = spy
from vectorize_cli.__main__ import main
sys.argv = ['vectorize', 'run', 'a cat', '-F', 'json']
try:
    main()
except SystemExit as e:
    assert not e.code, e.code
print(seen, gc.isenabled())
""", timeout=300).stdout.decode()
    assert out.splitlines()[-1] == "[True] True"


def test_loading_the_loops_leaves_the_collector_on_and_numbas_objects_frozen():
    pytest.importorskip("numba")
    out = child("""
import gc
from vectorize_cli import compiled
assert gc.get_freeze_count() == 0
assert compiled._load() is not None
print(gc.isenabled(), gc.get_freeze_count())
""", timeout=300).stdout.decode()
    enabled, frozen = out.split()
    assert enabled == "True"
    assert int(frozen) > 50_000  # numba and the loops make about 94,000
