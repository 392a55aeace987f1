"""Interrupted or killed writes lose nothing: adapter saves, run and export overwrites.

Each test makes keras-adapters write over an earlier result (an adapter
directory, a training run, an export version) and stops it at every step
that changes the file system (every `os` call that creates, renames,
removes, chmods or fsyncs, and the directory exchange): either by raising
KeyboardInterrupt there (Ctrl-C: the process's own clean-up runs), or as a
kill (SIGKILL, out of memory: nothing else reaches the disk), simulated by
raising at that step and at every later one, or by copying the whole
directory as it is at that instant. Afterwards the path must hold the
complete old result or the complete new one, and the next write to it must
leave no temporary copies behind.
"""

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

from keras_adapters import add_adapters, load_adapters, save_adapters
from keras_adapters.cli.main import main
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.export import check_export, export_saved_model, read_export_metadata
from keras_adapters.pretrained import backbone_fingerprint, load_backbone, load_preprocessor
from keras_adapters.tasks import PooledTextClassifier
from keras_adapters.training import callbacks
from keras_adapters.training.callbacks import BestAdapterCheckpoint
from keras_adapters.training import (
    RunError,
    TrainConfig,
    TrainingInterrupted,
    load_run,
    prepare_output_dir,
    train_text_classifier,
    write_run_directory,
)
from keras_adapters.tuning.text_classification import SEARCH_LAYOUT
from keras_adapters.utils import directory_swap
from keras_adapters.utils.leftovers import recover_leftovers

from helpers import bert, make_tiny_preset, write_two_class_csv

WORDS = "good great fun lovely superb bad awful boring dull poor the a movie film plot".split()


class Killed(BaseException):
    """The simulated process died at this step: nothing after it reaches the disk."""


class FileSystemSteps:
    """Calls `before(step, name)` before each file-system change the code makes.

    Patches the `os` functions through which Python code changes files and
    directories (`tempfile`, `shutil` and keras-adapters all go through
    them) and the directory exchange of `keras_adapters.utils.directory_swap`.
    Writers in C (safetensors, TensorFlow's SavedModel writer) are not
    steps: they only write inside temporary directories, and the next step
    shows their effect. `before` runs with the patches passing through, so
    it may itself copy or inspect files.
    """

    FUNCTIONS = ("mkdir", "rmdir", "rename", "replace", "remove", "unlink", "chmod", "fsync", "open")

    def __init__(self, before):
        self.before = before
        self.count = 0
        self._inside = False

    def _wrap(self, name, original):
        def step(*args, **kwargs):
            creates = name != "open" or kwargs.get("flags", args[1] if len(args) > 1 else 0) & os.O_CREAT
            if creates and not self._inside:
                self._inside = True
                self.count += 1
                try:
                    self.before(self.count - 1, name)
                finally:
                    self._inside = False
            return original(*args, **kwargs)

        return step

    @contextlib.contextmanager
    def active(self):
        with pytest.MonkeyPatch.context() as patch:
            for name in self.FUNCTIONS:
                patch.setattr(os, name, self._wrap(name, getattr(os, name)))
            patch.setattr(directory_swap, "exchange", self._wrap("exchange", directory_swap.exchange))
            yield self


def stop_at(step, how):
    """A `before` that interrupts (`"ctrl-c"`) or kills (`"kill"`) at `step`."""

    def before(count, name):
        if how == "kill" and count >= step:
            raise Killed(f"killed before step {step} ({name})")
        if how == "ctrl-c" and count == step:
            raise KeyboardInterrupt

    return before


def tree(path):
    """`{relative path: content digest (None for a folder)}`, or None if `path` is missing."""
    if not os.path.isdir(path):
        return None
    state = {}
    for root, folders, files in os.walk(path):
        for name in folders:
            state[os.path.relpath(os.path.join(root, name), path)] = None
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                state[os.path.relpath(os.path.join(root, name), path)] = hashlib.sha256(f.read()).hexdigest()
    return state


def temporary_copies(area):
    """Hidden temporary names anywhere under `area` (what interrupted writes leave)."""
    return sorted(
        os.path.relpath(os.path.join(root, name), area)
        for root, folders, files in os.walk(area)
        for name in folders + files
        if ".partial-" in name or ".old-" in name
    )


# ---------------------------------------------------------------------------
# Adapter directory saves (the checkpoint of every training epoch).


@pytest.fixture(scope="module")
def old_and_new_adapter():
    """Two classifiers with different adapters on one base, and a third to load into."""
    base = bert(num_layers=1)
    old, new, probe = (PooledTextClassifier(add_adapters(base, bottleneck_size=2), 2) for _ in range(3))
    rng = np.random.default_rng(1)
    for variable in new.trainable_weights:
        variable.assign(variable.numpy() + rng.normal(size=variable.shape).astype("float32"))
    return old, new, probe


def _weights(model):
    return [w.numpy() for w in model.trainable_weights]


@pytest.mark.parametrize("switch", ["exchange", "two renames"])
@pytest.mark.parametrize("how", ["ctrl-c", "kill"])
def test_adapter_save_stopped_at_each_step_leaves_old_or_new(how, switch, old_and_new_adapter, tmp_path, monkeypatch):
    old, new, probe = old_and_new_adapter
    if switch == "two renames":  # systems or file systems without renameat2(RENAME_EXCHANGE)
        monkeypatch.setattr(directory_swap, "exchange", lambda first, second: False)
    old_state = tree(save_adapters(old, tmp_path / "old"))
    new_state = tree(save_adapters(new, tmp_path / "new"))
    assert old_state != new_state
    seen = []
    for step in range(100):
        area = tmp_path / f"step{step}"
        target = area / "adapter"
        shutil.copytree(tmp_path / "old", target)
        try:
            with FileSystemSteps(stop_at(step, how)).active():
                save_adapters(new, target, overwrite=True)
        except (KeyboardInterrupt, Killed):
            pass
        else:
            break  # `step` is past the last step: the save completed
        state = tree(target)
        if state is None and how == "kill" and switch == "two renames":
            # Killed between the two renames: the old copy waits under its
            # `.old-` name, complete; the next start renames it back.
            assert [name for name in os.listdir(area) if ".old-" in name], step
            state = old_state
        assert state in (old_state, new_state), f"{how} before step {step}: {target} is incomplete"
        seen.append("old" if state == old_state else "new")
        if how == "ctrl-c" and seen[-1] == "old":
            # Interrupted before the switch: its own clean-up left nothing.
            assert temporary_copies(area) == [], step
        # The next start cleans up (what every save does first).
        recover_leftovers(target)
        assert tree(target) == state and temporary_copies(area) == [], step
    else:
        pytest.fail("the save never completed")
    # Stopped before the switch it is the old directory, after it the new one.
    assert len(seen) >= 8 and seen[0] == "old" and seen[-1] == "new", seen
    assert seen == sorted(seen, key=["old", "new"].index), seen
    # Both states load (the same bytes as the directories checked above), and
    # a save over the last interrupted one completes without leftovers.
    for saved, model in ((tmp_path / "old", old), (target, new)):
        load_adapters(probe, saved)
        assert all(np.array_equal(a, b) for a, b in zip(_weights(probe), _weights(model)))
    save_adapters(new, area / "adapter", overwrite=True)
    assert tree(area / "adapter") == new_state and temporary_copies(area) == []


def test_killed_two_rename_switch_restores_the_only_copy(old_and_new_adapter, tmp_path, monkeypatch):
    # Killed between the two renames of the fallback: `adapter` is missing and
    # the old copy waits under its `.old-` name; the next start puts it back.
    old, new, _ = old_and_new_adapter
    monkeypatch.setattr(directory_swap, "exchange", lambda first, second: False)
    target = tmp_path / "adapter"
    old_state = tree(save_adapters(old, target))

    killed = []

    def kill_after_first_rename(count, name):
        if killed or name == "rename" and any(".old-" in n for n in os.listdir(tmp_path)):
            killed.append(name)
            raise Killed

    with pytest.raises(Killed), FileSystemSteps(kill_after_first_rename).active():
        save_adapters(new, target, overwrite=True)
    assert not target.exists() and [n for n in os.listdir(tmp_path) if ".old-" in n]
    actions = recover_leftovers(target)
    assert [action for action, _ in actions] == ["restored", "removed"]
    assert tree(target) == old_state and temporary_copies(tmp_path) == []


def test_leftovers_of_running_processes_are_kept(tmp_path):
    parent_pid = os.getppid()  # alive: pytest's parent shell or runner
    running = tmp_path / f".adapter.partial-{parent_pid}-abc123"
    dead = tmp_path / ".adapter.partial-999999999-abc123"
    older_release = tmp_path / ".adapter.partial-k2j4_x1z"  # no pid recorded
    for path in (running, dead, older_release):
        path.mkdir()
    recover_leftovers(tmp_path / "adapter")
    assert sorted(os.listdir(tmp_path)) == [running.name]


def test_checkpoint_callback_reports_the_epoch_on_disk():
    saved = []

    def save(epoch, logs):
        if epoch == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second save
        saved.append(epoch)

    checkpoint = BestAdapterCheckpoint(save)
    checkpoint.on_epoch_end(0, {"val_accuracy": 0.5})
    with pytest.raises(KeyboardInterrupt):
        checkpoint.on_epoch_end(1, {"val_accuracy": 0.7})
    assert (checkpoint.best_epoch, checkpoint.best_value) == (1, 0.5) and saved == [1]

    def interrupted_save(epoch, logs):
        raise KeyboardInterrupt

    first = BestAdapterCheckpoint(interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        first.on_epoch_end(0, {"val_accuracy": 0.5})
    assert first.best_epoch is None  # no checkpoint exists, so none is reported


# ---------------------------------------------------------------------------
# Training runs: `train --overwrite`.


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    return make_tiny_preset(tmp_path_factory.mktemp("tiny_bert"), WORDS, num_layers=1)


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory):
    return write_two_class_csv(tmp_path_factory.mktemp("data") / "train.csv", WORDS[:5], WORDS[5:10])


def _config(preset, csv, output_dir, **overrides):
    return TrainConfig(output_dir=str(output_dir), preset=preset, dataset=f"csv:{csv}", epochs=1,
                       batch_size=8, sequence_length=8, bottleneck_size=2, **overrides)


@pytest.fixture(scope="module")
def finished_run(tiny_preset, tiny_csv, tmp_path_factory):
    """A complete run directory (an untrained model, written without training: fast)."""
    config = _config(tiny_preset, tiny_csv, tmp_path_factory.mktemp("finished") / "run")
    backbone = load_backbone(tiny_preset)
    model = PooledTextClassifier(add_adapters(backbone, bottleneck_size=2), 2)
    write_run_directory(config, model, config.load_data(), load_preprocessor(tiny_preset, 8),
                        backbone_fingerprint(backbone), best_epoch=1, history=[])
    return config.output_dir


def _copy_run(finished_run, path):
    shutil.copytree(finished_run, path)
    return tree(path)


def test_train_overwrite_killed_at_each_step_keeps_a_complete_run(finished_run, tiny_preset, tiny_csv, tmp_path):
    # The run is reached through a symbolic link: the link is followed (the
    # directory it points to is replaced) and stays a link.
    area = tmp_path / "area"
    old_state = _copy_run(finished_run, area / "real")
    os.symlink("real", area / "link")
    snapshots = tmp_path / "snapshots"

    def copy_disk(count, name):  # what a kill at this instant would leave
        shutil.copytree(area, snapshots / f"{count:04d}", symlinks=True)

    steps = FileSystemSteps(copy_disk)
    with steps.active(), contextlib.redirect_stdout(io.StringIO()):
        train_text_classifier(_config(tiny_preset, tiny_csv, area / "link", overwrite=True),
                              log=lambda message: None)
    new_state = tree(area / "real")
    assert new_state != old_state and os.readlink(area / "link") == "real"
    assert temporary_copies(area) == []
    assert steps.count >= 20
    seen = []
    for snapshot in sorted(snapshots.iterdir()):
        state = tree(snapshot / "real")
        assert state in (old_state, new_state), f"killed at {snapshot.name}: the run is incomplete"
        seen.append("old" if state == old_state else "new")
        # The next start (with --overwrite) cleans up and keeps the complete run.
        assert prepare_output_dir(snapshot / "link", overwrite=True) == str(snapshot / "real")
        assert tree(snapshot / "real") == state and temporary_copies(snapshot) == [], snapshot.name
    assert seen[0] == "old" and seen[-1] == "new" and seen == sorted(seen, key=["old", "new"].index)
    # The new run loads (the old one is byte for byte what write_run_directory wrote).
    assert load_run(area / "link").label_names == ["neg", "pos"]


def test_train_overwrite_interrupted_keeps_the_earlier_run(finished_run, tiny_preset, tiny_csv, tmp_path, monkeypatch):
    old_state = _copy_run(finished_run, tmp_path / "run")

    def interrupt(self, logs=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(callbacks.TrainingLog, "on_train_begin", interrupt, raising=False)
    with pytest.raises(TrainingInterrupted) as error:
        train_text_classifier(_config(tiny_preset, tiny_csv, tmp_path / "run", overwrite=True),
                              log=lambda message: None)
    assert error.value.kept_run == str(tmp_path / "run") and error.value.checkpoint is None
    assert "earlier run in" in str(error.value) and "left unchanged" in str(error.value)
    assert tree(tmp_path / "run") == old_state and temporary_copies(tmp_path) == []


def test_train_overwrite_with_a_bad_preset_keeps_the_earlier_run(finished_run, tiny_csv, tmp_path):
    old_state = _copy_run(finished_run, tmp_path / "run")
    args = ["train", "--preset", str(tmp_path / "no-such-preset"), "--dataset", f"csv:{tiny_csv}",
            "--output-dir", str(tmp_path / "run"), "--overwrite"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "Error:" in result.output
    assert tree(tmp_path / "run") == old_state and temporary_copies(tmp_path) == []


def _thesis(path):
    (path / "src").mkdir(parents=True)
    (path / "thesis.tex").write_text("\\chapter{Results}")
    (path / "adapter").mkdir()
    (path / "adapter" / "notes.md").write_text("not a keras-adapters adapter")
    return tree(path)


@pytest.mark.parametrize(
    "case, expected",
    [
        ("thesis", "holds no keras-adapters run (no run.json; found adapter, src, thesis.tex)"),
        ("foreign run.json", "has a run.json that keras-adapters did not write"),
        ("truncated run.json", "has a run.json that keras-adapters cannot read"),
        ("run and more", "holds a keras-adapters run but also thesis.tex"),
    ],
)
def test_overwrite_refuses_what_keras_adapters_did_not_write(case, expected, finished_run, tmp_path):
    target = tmp_path / "out"
    if case == "thesis":
        _thesis(target)
    elif case == "foreign run.json":
        target.mkdir()
        (target / "run.json").write_text('{"format": "somebody-else/run"}')
    elif case == "truncated run.json":
        _copy_run(finished_run, target)
        (target / "run.json").write_text((target / "run.json").read_text()[:40])
    else:
        _copy_run(finished_run, target)
        (target / "thesis.tex").write_text("mine")
    before = tree(target)
    with pytest.raises(RunError) as error:
        prepare_output_dir(target, overwrite=True)
    assert expected in str(error.value) and str(target) in str(error.value)
    assert "refusing to replace it" in str(error.value)
    assert tree(target) == before


def test_cli_overwrite_refuses_a_folder_that_merely_has_an_adapter_subfolder(tiny_preset, tiny_csv, tmp_path):
    before = _thesis(tmp_path / "thesis")
    result = CliRunner().invoke(main, ["train", "--preset", tiny_preset, "--dataset", f"csv:{tiny_csv}",
                                       "--output-dir", str(tmp_path / "thesis"), "--overwrite"])
    assert result.exit_code == 1 and "holds no keras-adapters run" in result.output
    assert "Traceback" not in result.output and tree(tmp_path / "thesis") == before


def test_search_directories_are_recognised_by_results_json(tmp_path):
    old_style = tmp_path / "old-style"
    old_style.mkdir()
    (old_style / "trials").mkdir()
    (old_style / "results.json").write_text(json.dumps(
        {"objective": "val_accuracy", "settings": {}, "backbone_fingerprint": "x", "trials": []}))
    assert prepare_output_dir(old_style, overwrite=True, layout=SEARCH_LAYOUT) == str(old_style)
    only_trials = tmp_path / "trials-only"
    (only_trials / "trials").mkdir(parents=True)
    with pytest.raises(RunError, match="holds no keras-adapters search"):
        prepare_output_dir(only_trials, overwrite=True, layout=SEARCH_LAYOUT)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "results.json").write_text('{"accuracy": 0.9}')
    with pytest.raises(RunError, match="has a results.json that keras-adapters did not write"):
        prepare_output_dir(foreign, overwrite=True, layout=SEARCH_LAYOUT)


@contextlib.contextmanager
def read_only(path):
    """Makes directory `path` unwritable, also for root (immutable attribute)."""
    if os.geteuid() != 0:
        os.chmod(path, 0o555)
        try:
            yield
        finally:
            os.chmod(path, 0o755)
        return
    # chmod does not stop root; the immutable attribute does, where the file
    # system and the container's capabilities allow setting it.
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)],
                                                        capture_output=True).returncode:
        pytest.skip("running as root without `chattr +i`: no way to make a directory read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_read_only_output_location_gives_a_clear_error(tiny_preset, tiny_csv, old_and_new_adapter, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    with read_only(locked):
        result = CliRunner().invoke(main, ["train", "--preset", tiny_preset, "--dataset",
                                           f"csv:{tiny_csv}", "--output-dir", str(locked / "run")])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert f"Cannot write {locked / 'run'}" in result.output
        with pytest.raises(KerasAdaptersError, match=f"Cannot write {locked}/m/1: cannot create"):
            export_saved_model(old_and_new_adapter[0], locked, "m")
    assert os.listdir(locked) == []


# ---------------------------------------------------------------------------
# Export versions: `export --overwrite` (TF Serving polls BASE/NAME).


def test_export_overwrite_killed_at_each_step_keeps_a_complete_version(old_and_new_adapter, tmp_path):
    old, new, _ = old_and_new_adapter
    base = tmp_path / "serving"
    version = base / "m" / "1"
    export_saved_model(old, base, "m", version=1)
    old_state = tree(version)
    snapshots = tmp_path / "snapshots"

    def copy_disk(count, name):
        shutil.copytree(base, snapshots / f"{count:04d}")

    steps = FileSystemSteps(copy_disk)
    with steps.active():
        export_saved_model(new, base, "m", version=1, overwrite=True)
    new_state = tree(version)
    assert new_state != old_state and temporary_copies(base) == []
    assert steps.count >= 10
    seen = []
    for snapshot in sorted(snapshots.iterdir()):
        # What TF Serving would load: every directory named by an integer.
        versions = [name for name in os.listdir(snapshot / "m") if name.isdigit()]
        assert versions == ["1"], snapshot.name
        state = tree(snapshot / "m" / "1")
        assert state in (old_state, new_state), f"killed at {snapshot.name}: the version is incomplete"
        seen.append("old" if state == old_state else "new")
        # The next export to this model cleans up first, even one that then
        # fails fast (here: the version exists).
        with pytest.raises(FileExistsError):
            export_saved_model(new, snapshot, "m", version=1)
        assert tree(snapshot / "m" / "1") == state and temporary_copies(snapshot) == [], snapshot.name
    assert seen[0] == "old" and seen[-1] == "new" and seen == sorted(seen, key=["old", "new"].index)
    # The new version loads in TensorFlow's C++ loader and matches Keras (the
    # old one is byte for byte what a plain export wrote).
    assert check_export(str(version)).passed


def test_truncated_export_metadata_names_the_file(tmp_path):
    extra = tmp_path / "m" / "1" / "assets.extra"
    extra.mkdir(parents=True)
    (extra / "keras_adapters_export.json").write_text('{"format": "keras-adapters/saved-mo')
    with pytest.raises(KerasAdaptersError, match="keras_adapters_export.json' is not valid JSON"):
        read_export_metadata(tmp_path / "m" / "1")
    result = CliRunner().invoke(main, ["check-export", str(tmp_path / "m" / "1")])
    assert result.exit_code == 1 and "keras_adapters_export.json" in result.output
    assert "Traceback" not in result.output
