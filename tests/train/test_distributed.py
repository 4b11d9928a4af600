"""torchrun with 2 gloo processes on CPU: the same runs as one process, through kills, resumes and changes of
the number of processes, in VLM and LM mode and with WSD budget branches; and the loss reductions' gradients.

All 2-process scenarios run in one torchrun launch (tests/train/torchrun_scenarios.py): a module fixture
prepares the runs that start on one process, launches once, and the tests compare what it wrote. The
fixture takes 60-70 s on 2 busy cores (torchrun start-up, 13 short runs on 2 processes), hence slow.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from florenz.config import to_dict
from florenz.model.florenz import FlorenzModel
from florenz.model.sizes import get_size
from florenz.train.checkpoint import rng_state
from florenz.train.loop import train

from .test_loop import assert_same_weights, losses, make_config, weights
from .torchrun_scenarios import GRADIENT_STRATEGIES, REDUCTIONS, TinyModel, gradient_problem

pytestmark = pytest.mark.slow

SCENARIOS = Path(__file__).with_name("torchrun_scenarios.py")
RUN = dict(steps=6, save_every=2, threads=1)  # checkpoints at 2 and 4; a stop before update 5 resumes at 4
WSD = dict(steps=0, samples=80, budgets=(48,), save_every=0, threads=1,
           optim={"schedule": "wsd", "cooldown_fraction": 0.5, "warmup_steps": 1})


def _stop_at_step_5(row):
    if row["step"] == 5:  # update 5 done and logged, past the checkpoint at 4: the resume redoes it
        raise KeyboardInterrupt


def _dropout_init(directory: Path) -> Path:
    """A world-xxs starting point with dropout 0.1, so that a resume must restore every rank's RNG state."""
    config = get_size("world-xxs")
    for part in (config.encoder, config.decoder):
        part.dropout = part.attention_dropout = part.activation_dropout = 0.1
    torch.manual_seed(1)
    FlorenzModel(config).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def launched(tiny_world, tmp_path_factory):
    """(directory holding every scenario's run directory, RUN/<name>, and gradients, configs by name)."""
    root = tmp_path_factory.mktemp("torchrun")
    dropout = str(_dropout_init(root / "dropout-init"))

    def run(name, **settings):
        return make_config(tiny_world, root / name, **{**RUN, **settings})

    configs = {
        "ddp": run("ddp", parallel="ddp", micro_batch_size=2),
        "fsdp": run("fsdp", parallel="fsdp"),
        "fsdp-killed": run("fsdp-killed", parallel="fsdp"),
        "fsdp-checkpointed": run("fsdp-checkpointed", parallel="fsdp", activation_checkpointing=True),
        "dropout": run("dropout", parallel="ddp", init=dropout),
        "dropout-killed": run("dropout-killed", parallel="ddp", init=dropout),
        "one-to-two": run("one-to-two", parallel="ddp"),
        "dropout-one-to-two": run("dropout-one-to-two", parallel="ddp", init=dropout),
        "two-to-one": run("two-to-one", parallel="ddp"),
        "lm-killed": run("lm-killed", parallel="fsdp", mode="lm", langs="de,fr"),
        "wsd": make_config(tiny_world, root / "wsd", parallel="ddp", **WSD),
    }
    for name in ("one-to-two", "dropout-one-to-two"):  # start on one process, resume on two
        with pytest.raises(KeyboardInterrupt):
            train(configs[name], _stop_at_step_5)
    files = {}
    for name, config in configs.items():
        files[name] = str(root / f"{name}.json")
        Path(files[name]).write_text(json.dumps(to_dict(config)))
    stop = {"stop_before_step": 5}
    plan = [{"gradients": str(root)}, {"train": files["ddp"]}, {"train": files["fsdp"]},
            {"train": files["fsdp-checkpointed"]},
            {"train": files["fsdp-killed"], **stop}, {"train": files["fsdp-killed"]},
            {"train": files["dropout"]}, {"train": files["dropout-killed"], **stop},
            {"train": files["dropout-killed"]}, {"train": files["one-to-two"]},
            {"train": files["dropout-one-to-two"], "stop_before_step": 4, "rng_out": str(root / "rng")},
            {"train": files["two-to-one"], **stop}, {"train": files["lm-killed"], **stop},
            {"train": files["lm-killed"]}, {"train": files["wsd"]}]
    (root / "plan.json").write_text(json.dumps(plan))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(SCENARIOS), str(root / "plan.json")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-5000:]
    return root, configs


@pytest.fixture(scope="module")
def single(tiny_world, tmp_path_factory):
    """The uninterrupted one-process run of the scenarios' VLM settings."""
    out = tmp_path_factory.mktemp("single") / "run"
    train(make_config(tiny_world, out, **RUN))
    return out


def assert_same_model(first: Path, second: Path, tolerance: float = 1e-5) -> None:
    """Weights equal within `tolerance`, except attention key biases: their exact gradient is 0 (a bias
    added to every key shifts each softmax row by a constant), so AdamW's update of them normalises rounding
    noise to steps of up to lr, and any change of summation order moves them by ~1e-5 (measured 1.2e-5
    after a 10-step WSD run, where every other weight stayed within 8e-7)."""
    a, b = weights(first), weights(second)
    assert a.keys() == b.keys()
    for name in a:
        limit = 10 * tolerance if name.endswith("k_proj.bias") else tolerance
        torch.testing.assert_close(a[name], b[name], rtol=limit, atol=limit, msg=name)


def test_ddp_and_fsdp_on_two_processes_match_one_process(launched, single):
    root, _ = launched
    for name in ("ddp", "fsdp"):  # ddp with 2 accumulated micro-batches per process: gradient sync skips
        assert losses(root / name) == pytest.approx(losses(single), rel=1e-5), name
        assert_same_model(root / name, single)


def test_activation_checkpointing_under_fsdp_trains_the_same_model(launched):
    root, _ = launched
    assert losses(root / "fsdp-checkpointed") == pytest.approx(losses(root / "fsdp"), rel=1e-6)
    assert_same_weights(weights(root / "fsdp-checkpointed"), weights(root / "fsdp"), 1e-6)


def test_a_killed_fsdp_run_resumes_to_the_uninterrupted_run(launched):
    root, _ = launched
    assert losses(root / "fsdp-killed") == losses(root / "fsdp")
    assert_same_weights(weights(root / "fsdp-killed"), weights(root / "fsdp"), 0)


def test_a_killed_ddp_run_with_dropout_resumes_bitwise_restoring_each_ranks_rng(launched):
    root, _ = launched
    assert losses(root / "dropout-killed") == losses(root / "dropout")
    assert_same_weights(weights(root / "dropout-killed"), weights(root / "dropout"), 0)
    state = json.loads((root / "dropout" / "trainer_state.json").read_text())
    assert len(state["rng"]) == 2 and state["rng"][0] != state["rng"][1]  # ranks draw different masks
    assert FlorenzModel.from_pretrained(root / "dropout").config.decoder.dropout == 0.1


def test_a_run_started_on_one_process_resumes_on_two_and_back(launched, single):
    """The data stream is global and the world sizes have no dropout, so only summation order differs.
    (With dropout no resume onto another process count can reproduce the masks of a run that always had
    that count: each rank's RNG stream depends on how many ranks drew before.)"""
    root, configs = launched
    assert losses(root / "one-to-two") == pytest.approx(losses(root / "ddp"), rel=1e-5)
    assert_same_model(root / "one-to-two", root / "ddp")
    resumed = train(configs["two-to-one"])  # stopped before update 5 on two processes
    assert resumed.resumed_from_step == 4
    assert losses(root / "two-to-one") == pytest.approx(losses(single), rel=1e-5)
    assert_same_model(root / "two-to-one", single)


def test_lm_mode_under_fsdp_resumes_to_the_one_process_run(launched, tiny_world, tmp_path):
    root, _ = launched
    reference = tmp_path / "lm"
    train(make_config(tiny_world, reference, mode="lm", langs="de,fr", **RUN))
    assert losses(root / "lm-killed") == pytest.approx(losses(reference), rel=1e-5)
    assert_same_model(root / "lm-killed", reference)


def test_wsd_budget_branches_under_ddp_match_one_process(launched, tiny_world, tmp_path):
    root, _ = launched
    reference = tmp_path / "wsd"
    train(make_config(tiny_world, reference, **WSD))
    for run in ("", "budget-48"):
        assert losses(root / "wsd" / run) == pytest.approx(losses(reference / run), rel=1e-5), run
        assert_same_model(root / "wsd" / run, reference / run)


@pytest.mark.parametrize("strategy", GRADIENT_STRATEGIES)
def test_both_loss_reductions_give_one_process_gradients_on_two(launched, strategy):
    """Against F.cross_entropy's own means: 'token' is the mean over all the step's target tokens,
    'micro-batch' the mean of each micro-batch's token mean (4 micro-batches, 2 per process)."""
    root, _ = launched
    initial, micro_batches = gradient_problem()
    references = {
        "token": lambda model: F.cross_entropy(
            torch.cat([model(x) for x, _ in micro_batches]).flatten(0, 1),
            torch.cat([y for _, y in micro_batches]).flatten()),
        "micro-batch": lambda model: sum(F.cross_entropy(model(x).flatten(0, 1), y.flatten())
                                         for x, y in micro_batches) / len(micro_batches),
    }
    gradients = {}
    for reduction in REDUCTIONS:
        model = TinyModel()
        model.load_state_dict(initial)
        references[reduction](model).backward()
        gradients[reduction] = {name: p.grad for name, p in model.named_parameters()}
        distributed = load_file(str(root / f"{strategy}-{reduction}.safetensors"))
        assert distributed.keys() == gradients[reduction].keys()
        for name, gradient in gradients[reduction].items():
            torch.testing.assert_close(distributed[name], gradient, rtol=1e-5, atol=1e-7, msg=name)
    assert not torch.allclose(gradients["token"]["head.weight"], gradients["micro-batch"]["head.weight"])


def test_a_rank_without_a_saved_rng_state_gets_its_own_stream_not_a_copy(launched):
    """1 -> 2 processes: rank 0 continues the saved stream, rank 1 starts its own as in a new run (seed + 1);
    a copy of rank 0's would give both ranks the same dropout masks."""
    root, configs = launched
    saved = json.loads((root / "dropout-one-to-two" / "checkpoints" / "step-00000004" /
                        "trainer_state.json").read_text())["rng"]
    ranks = [json.loads((root / "rng" / f"rank-{rank}.json").read_text()) for rank in range(2)]
    assert len(saved) == 1 and ranks[0] == saved[0]
    with torch.random.fork_rng():
        torch.manual_seed(configs["dropout-one-to-two"].seed + 1)
        fresh = rng_state()["cpu"]
    assert ranks[1]["cpu"] == fresh != ranks[0]["cpu"]
