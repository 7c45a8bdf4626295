"""Specification of rnnlab.optim: update rules, torch parity, resume, clipping, schedules."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from rnnlab.errors import ConfigError, ShapeError
from rnnlab.optim import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    ConstantLR,
    CosineLR,
    RMSprop,
    StepLR,
    WarmupLR,
    clip_grad_norm,
    clip_grad_value,
    global_norm,
    make_optimizer,
    make_schedule,
)

SHAPES = {"weight_ih_l0": (4, 3), "bias_ih_l0": (4,)}
GRAD_SCALES = [3.0, 1.0, 0.1, 2.0, 0.01, 0.5]  # shrinking scales make AMSGrad's max matter


def make_params(dtype=np.float64, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


def make_grads(steps: int, dtype=np.float64, seed=1) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        {k: (GRAD_SCALES[t % 6] * rng.standard_normal(s)).astype(dtype) for k, s in SHAPES.items()}
        for t in range(steps)
    ]


def one_param(value: float) -> dict[str, np.ndarray]:
    return {"w": np.array([value])}


def run(opt, grads_by_step: list[float]) -> list[float]:
    """Step a one-parameter optimiser with scalar gradients; the parameter after each step."""
    out = []
    for g in grads_by_step:
        opt.step({"w": np.array([g])})
        out.append(float(opt.params["w"][0]))
    return out


# ------------------------------------------------------- textbook formulas, by hand

G = [0.5, -1.0, 2.0]  # the gradient at steps 1, 2, 3


def test_sgd_is_w_minus_lr_times_grad():
    assert run(SGD(one_param(1.0), lr=0.1), G) == pytest.approx([0.95, 1.05, 0.85], abs=1e-15)


def test_sgd_momentum_buffer_starts_at_first_grad_and_is_damped():
    mu, tau, lr, w, b = 0.9, 0.2, 0.1, 1.0, None
    expected = []
    for g in G:
        b = g if b is None else mu * b + (1 - tau) * g
        w = w - lr * b
        expected.append(w)
    got = run(SGD(one_param(1.0), lr=lr, momentum=mu, dampening=tau), G)
    assert got == pytest.approx(expected, abs=1e-15)


def test_nesterov_steps_along_grad_plus_mu_times_buffer():
    mu, lr, w, b = 0.9, 0.1, 1.0, None
    expected = []
    for g in G:
        b = g if b is None else mu * b + g
        w = w - lr * (g + mu * b)
        expected.append(w)
    assert run(SGD(one_param(1.0), lr=lr, momentum=mu, nesterov=True), G) == pytest.approx(
        expected, abs=1e-15
    )


def test_sgd_weight_decay_adds_lambda_w_to_the_gradient():
    lam, lr, w = 0.1, 0.5, 2.0
    expected = []
    for g in G:
        w = w - lr * (g + lam * w)
        expected.append(w)
    assert run(SGD(one_param(2.0), lr=lr, weight_decay=lam), G) == pytest.approx(expected)


def test_adagrad_divides_by_root_of_summed_squares():
    lr, eps, decay, w, s = 0.1, 1e-10, 0.5, 1.0, 0.2
    expected = []
    for t, g in enumerate(G, start=1):
        s = s + g * g
        w = w - lr / (1 + (t - 1) * decay) * g / (math.sqrt(s) + eps)
        expected.append(w)
    opt = Adagrad(one_param(1.0), lr=lr, initial_accumulator_value=0.2, lr_decay=decay)
    assert run(opt, G) == pytest.approx(expected, abs=1e-15)


def test_rmsprop_divides_by_running_rms():
    lr, alpha, eps, w, v = 0.01, 0.9, 1e-8, 1.0, 0.0
    expected = []
    for g in G:
        v = alpha * v + (1 - alpha) * g * g
        w = w - lr * g / (math.sqrt(v) + eps)
        expected.append(w)
    assert run(RMSprop(one_param(1.0), lr=lr, alpha=alpha), G) == pytest.approx(expected)


def test_centered_rmsprop_with_momentum_subtracts_squared_mean_gradient():
    lr, alpha, eps, mu, w, v, gbar, b = 0.01, 0.9, 1e-8, 0.5, 1.0, 0.0, 0.0, 0.0
    expected = []
    for g in G:
        v = alpha * v + (1 - alpha) * g * g
        gbar = alpha * gbar + (1 - alpha) * g
        b = mu * b + g / (math.sqrt(v - gbar**2) + eps)
        w = w - lr * b
        expected.append(w)
    opt = RMSprop(one_param(1.0), lr=lr, alpha=alpha, momentum=mu, centered=True)
    assert run(opt, G) == pytest.approx(expected, abs=1e-14)


def test_adam_uses_bias_corrected_moments():
    lr, b1, b2, eps, w, m, v = 0.1, 0.9, 0.999, 1e-8, 1.0, 0.0, 0.0
    expected = []
    for t, g in enumerate(G, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1**t)) / (math.sqrt(v / (1 - b2**t)) + eps)
        expected.append(w)
    got = run(Adam(one_param(1.0), lr=lr), G)
    assert got == pytest.approx(expected, abs=1e-14)
    assert got[0] == pytest.approx(1.0 - lr, abs=1e-6)  # Adam's first step is ≈ η·sign(g)


def test_amsgrad_divides_by_the_largest_second_moment_so_far():
    lr, b1, b2, eps, w, m, v, vmax = 0.1, 0.9, 0.5, 1e-8, 1.0, 0.0, 0.0, 0.0
    grads = [2.0, 0.1, 0.1]  # v falls after step 1, v_max does not
    expected = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = max(vmax, v)
        w = w - lr * (m / (1 - b1**t)) / (math.sqrt(vmax / (1 - b2**t)) + eps)
        expected.append(w)
    got = run(Adam(one_param(1.0), lr=lr, betas=(b1, b2), amsgrad=True), grads)
    assert got == pytest.approx(expected, abs=1e-14)
    assert got != pytest.approx(run(Adam(one_param(1.0), lr=lr, betas=(b1, b2)), grads))


def test_adamw_decays_weights_outside_the_gradient():
    lr, lam, b1, b2, eps, w, m, v = 0.1, 0.5, 0.9, 0.999, 1e-8, 1.0, 0.0, 0.0
    expected = []
    for t, g in enumerate(G, start=1):
        w = w * (1 - lr * lam)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1**t)) / (math.sqrt(v / (1 - b2**t)) + eps)
        expected.append(w)
    assert run(AdamW(one_param(1.0), lr=lr, weight_decay=lam), G) == pytest.approx(
        expected, abs=1e-14
    )


# -------------------------------------------------------------- parity with torch

CASES = [
    (SGD, torch.optim.SGD, {}),
    (SGD, torch.optim.SGD, {"weight_decay": 0.1}),
    (SGD, torch.optim.SGD, {"momentum": 0.9}),
    (SGD, torch.optim.SGD, {"momentum": 0.9, "dampening": 0.3, "weight_decay": 0.05}),
    (SGD, torch.optim.SGD, {"momentum": 0.8, "nesterov": True}),
    (SGD, torch.optim.SGD, {"momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    (Adagrad, torch.optim.Adagrad, {}),
    (Adagrad, torch.optim.Adagrad, {"weight_decay": 0.1, "eps": 1e-3}),
    (Adagrad, torch.optim.Adagrad, {"initial_accumulator_value": 0.3, "lr_decay": 0.05}),
    (RMSprop, torch.optim.RMSprop, {}),
    (RMSprop, torch.optim.RMSprop, {"alpha": 0.9, "eps": 1e-3, "weight_decay": 0.1}),
    (RMSprop, torch.optim.RMSprop, {"momentum": 0.9}),
    (RMSprop, torch.optim.RMSprop, {"centered": True}),
    (RMSprop, torch.optim.RMSprop, {"centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    (Adam, torch.optim.Adam, {}),
    (Adam, torch.optim.Adam, {"betas": (0.8, 0.9), "eps": 1e-4, "weight_decay": 0.1}),
    (Adam, torch.optim.Adam, {"amsgrad": True}),
    (Adam, torch.optim.Adam, {"amsgrad": True, "weight_decay": 0.1, "betas": (0.5, 0.6)}),
    (AdamW, torch.optim.AdamW, {}),
    (AdamW, torch.optim.AdamW, {"weight_decay": 0.3, "betas": (0.8, 0.9)}),
    (AdamW, torch.optim.AdamW, {"weight_decay": 0.3, "amsgrad": True}),
]
CASE_IDS = [
    "-".join([ours.__name__] + [f"{k}={v}" for k, v in kw.items()]) for ours, _, kw in CASES
]


@pytest.mark.parametrize(("ours", "theirs", "kwargs"), CASES, ids=CASE_IDS)
def test_matches_torch_optim_for_six_steps_with_a_learning_rate_change(ours, theirs, kwargs):
    params = make_params()
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    opt = ours(params, lr=0.05, **kwargs)
    ref = theirs(list(tensors.values()), lr=0.05, **kwargs)
    for t, grads in enumerate(make_grads(6)):
        if t == 3:  # as a schedule would between steps
            opt.lr = 0.02
            ref.param_groups[0]["lr"] = 0.02
        for k, tensor in tensors.items():
            tensor.grad = torch.tensor(grads[k])
        opt.step(grads)
        ref.step()
        for k, tensor in tensors.items():
            np.testing.assert_allclose(params[k], tensor.detach().numpy(), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------- in place, dtype, validation

ALL = [(cls, kw) for cls, _, kw in CASES]


@pytest.mark.parametrize(("cls", "kwargs"), ALL, ids=CASE_IDS)
def test_updates_in_place_and_float32_stays_float32(cls, kwargs):
    params = make_params(np.float32)
    arrays = dict(params)
    before = {k: v.copy() for k, v in params.items()}
    opt = cls(params, lr=0.05, **kwargs)
    for grads in make_grads(3, np.float64):  # even float64 gradients
        opt.step(grads)
    for k, W in params.items():
        assert W is arrays[k]
        assert W.dtype == np.float32
        assert not np.array_equal(W, before[k])
    for key, slot in opt.state_dict()["slots"].items():
        assert slot.dtype == np.float32, key


def test_step_names_a_missing_or_unexpected_gradient():
    opt = SGD(make_params(), lr=0.1)
    grads = make_grads(1)[0]
    with pytest.raises(ConfigError, match=r"missing.*bias_ih_l0"):
        opt.step({"weight_ih_l0": grads["weight_ih_l0"]})
    with pytest.raises(ConfigError, match=r"unexpected.*extra"):
        opt.step({**grads, "extra": np.zeros(2)})


def test_step_names_a_gradient_of_the_wrong_shape_and_changes_nothing():
    params = make_params()
    before = {k: v.copy() for k, v in params.items()}
    opt = Adam(params, lr=0.1)
    grads = {"weight_ih_l0": np.ones((4, 3)), "bias_ih_l0": np.ones(5)}
    with pytest.raises(
        ShapeError, match=r"grads\['bias_ih_l0'\] has shape \(5,\), expected \(4,\)"
    ):
        opt.step(grads)
    assert all(np.array_equal(params[k], before[k]) for k in params)
    assert opt.step_count == 0


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda p: SGD(p, lr=-0.1), "lr must be >= 0, got -0.1"),
        (lambda p: SGD(p, lr=float("nan")), "lr must be a finite number"),
        (lambda p: SGD(p, lr="0.1"), "lr must be a number"),
        (lambda p: SGD(p, lr=0.1, momentum=1.5), r"momentum must be a number in \[0, 1\)"),
        (lambda p: SGD(p, lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
        (lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening = 0"),
        (lambda p: SGD(p, lr=0.1, weight_decay=-1), "weight_decay must be >= 0"),
        (lambda p: Adagrad(p, eps=-1e-10), "eps must be >= 0"),
        (lambda p: Adagrad(p, initial_accumulator_value=-1), "initial_accumulator_value"),
        (lambda p: RMSprop(p, alpha=1.0), r"alpha must be a number in \[0, 1\), got 1.0"),
        (lambda p: RMSprop(p, centered="yes"), "centered must be True or False"),
        (lambda p: Adam(p, betas=(1.0, 0.999)), r"betas\[0\] must be a number in \[0, 1\)"),
        (lambda p: Adam(p, betas=(0.9, -0.1)), r"betas\[1\]"),
        (lambda p: Adam(p, betas=0.9), "betas must be a pair"),
        (lambda p: AdamW(p, amsgrad=1), "amsgrad must be True or False"),
        (lambda p: SGD({}, lr=0.1), "params is empty"),
        (lambda p: SGD({"w": np.arange(3)}, lr=0.1), r"params\['w'\] must be a floating-point"),
    ],
)
def test_bad_arguments_are_named_in_the_error(build, match):
    with pytest.raises(ConfigError, match=match):
        build(make_params())


def test_setting_a_negative_lr_is_refused():
    opt = Adam(make_params())
    with pytest.raises(ConfigError, match="lr"):
        opt.lr = -1.0
    assert opt.lr == 1e-3


# ------------------------------------------------------------------------ factory


@pytest.mark.parametrize(
    ("name", "cls", "attrs"),
    [
        ("sgd", SGD, {"momentum": 0.0, "nesterov": False}),
        ("momentum", SGD, {"momentum": 0.9, "nesterov": False}),
        ("nesterov", SGD, {"momentum": 0.9, "nesterov": True}),
        ("adagrad", Adagrad, {"eps": 1e-10}),
        ("rmsprop", RMSprop, {"alpha": 0.99}),
        ("adam", Adam, {"betas": (0.9, 0.999), "weight_decay": 0.0}),
        ("adamw", AdamW, {"weight_decay": 0.01}),
    ],
)
def test_make_optimizer_builds_each_name_with_its_defaults(name, cls, attrs):
    opt = make_optimizer(name, make_params(), lr=0.5)
    assert type(opt) is cls
    assert opt.lr == 0.5
    for key, value in attrs.items():
        assert getattr(opt, key) == value


def test_make_optimizer_passes_options_and_may_override_the_preset():
    opt = make_optimizer("momentum", make_params(), lr=0.1, momentum=0.5, weight_decay=0.1)
    assert (opt.momentum, opt.weight_decay) == (0.5, 0.1)


def test_make_optimizer_lists_the_known_names_and_options():
    with pytest.raises(ConfigError, match=r"unknown optimizer 'adamax'; known: sgd, .*adamw"):
        make_optimizer("adamax", make_params(), lr=0.1)
    with pytest.raises(ConfigError, match=r"no option \['momentum'\].*betas"):
        make_optimizer("adam", make_params(), lr=0.1, momentum=0.9)


# ------------------------------------------------------------------ state and resume

RESUME_CASES = [(cls, kw) for cls, kw in ALL if kw] + [(cls, {}) for cls in (SGD, Adagrad)]


def save_and_reload(state: dict, tmp_path) -> dict:
    """Through the checkpoint formats: hyper as JSON, slots as safetensors."""
    save_file(state["slots"], tmp_path / "slots.safetensors")
    meta = json.dumps({"kind": state["kind"], "hyper": state["hyper"]})
    return {**json.loads(meta), "slots": load_file(tmp_path / "slots.safetensors")}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("cls", "kwargs"), RESUME_CASES)
def test_resume_from_state_dict_reproduces_the_next_updates_bit_for_bit(
    cls, kwargs, dtype, tmp_path
):
    grads = make_grads(6, dtype)
    params = make_params(dtype)
    opt = cls(params, lr=0.05, **kwargs)
    for g in grads[:3]:
        opt.step(g)
    opt.lr = 0.03  # set by a schedule: must survive the round trip
    state = save_and_reload(opt.state_dict(), tmp_path)

    resumed_params = {k: v.copy() for k, v in params.items()}
    resumed = cls(resumed_params, lr=1.0)  # other hyper-parameters come from the state
    resumed.load_state_dict(state)
    assert (resumed.lr, resumed.step_count) == (0.03, 3)
    for g in grads[3:]:
        opt.step(g)
        resumed.step(g)
        for k in params:
            assert np.array_equal(params[k], resumed_params[k]), k


def test_state_dict_is_json_scalars_and_named_slot_arrays():
    opt = Adam(make_params(), lr=0.01, amsgrad=True)
    opt.step(make_grads(1)[0])
    state = opt.state_dict()
    assert state["kind"] == "adam"
    assert state["hyper"] == {
        "lr": 0.01,
        "weight_decay": 0.0,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "amsgrad": True,
        "step": 1,
    }
    assert sorted(state["slots"]) == sorted(f"{s}.{k}" for s in ("m", "v", "v_max") for k in SHAPES)
    state["slots"]["m.bias_ih_l0"][:] = 99.0  # a copy: the optimiser is unaffected
    assert not np.any(opt.slots["m"]["bias_ih_l0"] == 99.0)


def test_sgd_momentum_state_before_the_first_step_has_no_buffer_and_resumes():
    grads = make_grads(2)
    a = SGD(make_params(), lr=0.1, momentum=0.9)
    state = a.state_dict()
    assert state["slots"] == {}
    b = SGD(make_params(), lr=0.1, momentum=0.9)
    b.load_state_dict(state)
    for g in grads:
        a.step(g)
        b.step(g)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in SHAPES)


def adam_state() -> dict:
    opt = Adam(make_params(), lr=0.01)
    opt.step(make_grads(1)[0])
    return opt.state_dict()


def test_load_state_dict_refuses_another_kind():
    with pytest.raises(ConfigError, match="kind is 'adam' but this optimiser is 'rmsprop'"):
        RMSprop(make_params()).load_state_dict(adam_state())


def test_load_state_dict_names_missing_and_misshapen_slots_and_changes_nothing():
    opt = Adam(make_params(), lr=0.5)
    state = adam_state()
    del state["slots"]["v.weight_ih_l0"]
    with pytest.raises(ConfigError, match=r"missing \['v.weight_ih_l0'\]"):
        opt.load_state_dict(state)

    state = adam_state()
    state["slots"]["m.bias_ih_l0"] = np.zeros(7)
    with pytest.raises(
        ConfigError, match=r"'m.bias_ih_l0' has shape \(7,\).*expected shape \(4,\)"
    ):
        opt.load_state_dict(state)
    assert (opt.lr, opt.step_count) == (0.5, 0)
    assert not np.any(opt.slots["m"]["bias_ih_l0"])


def test_load_state_dict_names_bad_hyper_parameters():
    opt = Adam(make_params())
    state = adam_state()
    state["hyper"]["momentum"] = 0.9
    with pytest.raises(ConfigError, match=r"unexpected \['momentum'\]"):
        opt.load_state_dict(state)
    state = adam_state()
    state["hyper"]["betas"] = [0.9, 1.5]
    with pytest.raises(ConfigError, match=r"state_dict hyper: betas\[1\]"):
        opt.load_state_dict(state)
    state = adam_state()
    state["hyper"]["step"] = -1
    with pytest.raises(ConfigError, match="step"):
        opt.load_state_dict(state)


def test_load_state_dict_refuses_slots_of_other_parameters():
    state = adam_state()
    other = Adam({"weight_hh_l0": np.zeros((4, 4))})
    with pytest.raises(ConfigError, match=r"missing.*weight_hh_l0.*unexpected.*weight_ih_l0"):
        other.load_state_dict(state)


# ----------------------------------------------------------------------- clipping


def test_global_norm_is_the_l2_norm_of_all_gradients_together():
    grads = {"a": np.array([3.0]), "b": np.array([[4.0, 0.0]], dtype=np.float32)}
    assert global_norm(grads) == 5.0
    assert global_norm({}) == 0.0


def test_clip_grad_norm_returns_the_norm_before_and_leaves_max_norm_after():
    grads = make_grads(1)[0]
    norm_before = math.sqrt(sum(float(np.sum(g**2)) for g in grads.values()))
    assert clip_grad_norm(grads, max_norm=0.5) == pytest.approx(norm_before, rel=1e-14)
    assert global_norm(grads) == pytest.approx(0.5, rel=1e-5)


def test_clip_grad_norm_matches_torch():
    grads = make_grads(1)[0]
    tensors = [torch.tensor(g) for g in grads.values()]
    for t in tensors:
        t.grad = t.clone()
    expected_norm = torch.nn.utils.clip_grad_norm_(tensors, max_norm=0.5)
    norm = clip_grad_norm(grads, max_norm=0.5)
    assert norm == pytest.approx(expected_norm.item(), rel=1e-14)
    for g, t in zip(grads.values(), tensors, strict=True):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-14)


def test_clip_grad_norm_leaves_small_gradients_untouched():
    grads = make_grads(1)[0]
    before = {k: v.copy() for k, v in grads.items()}
    clip_grad_norm(grads, max_norm=1e6)
    assert all(np.array_equal(grads[k], before[k]) for k in grads)


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_clip_grad_norm_reports_a_non_finite_norm_and_leaves_grads_alone(bad):
    grads = {"a": np.array([1.0, bad]), "b": np.array([2.0])}
    norm = clip_grad_norm(grads, max_norm=1.0)
    assert not math.isfinite(norm)
    assert grads["b"][0] == 2.0


def test_clip_grad_norm_keeps_float32_and_validates_max_norm():
    grads = {"a": np.full(3, 10.0, dtype=np.float32)}
    clip_grad_norm(grads, 1.0)
    assert grads["a"].dtype == np.float32
    with pytest.raises(ConfigError, match="max_norm must be > 0"):
        clip_grad_norm(grads, 0.0)


def test_clip_grad_value_clamps_each_element_like_torch():
    grads = make_grads(1)[0]
    tensors = [torch.tensor(g) for g in grads.values()]
    for t in tensors:
        t.grad = t.clone()
    torch.nn.utils.clip_grad_value_(tensors, clip_value=0.7)
    clip_grad_value(grads, 0.7)
    for g, t in zip(grads.values(), tensors, strict=True):
        assert np.abs(g).max() == 0.7
        np.testing.assert_array_equal(g, t.grad.numpy())
    with pytest.raises(ConfigError, match="clip_value"):
        clip_grad_value(grads, -1.0)


# ---------------------------------------------------------------------- schedules


def test_constant_schedule():
    assert [ConstantLR(0.1).lr_at(t) for t in (0, 10, 10**6)] == [0.1, 0.1, 0.1]


def test_step_schedule_multiplies_by_gamma_every_step_size_steps():
    s = StepLR(1.0, step_size=10, gamma=0.5)
    assert [s.lr_at(t) for t in (0, 9, 10, 19, 20, 35)] == [1, 1, 0.5, 0.5, 0.25, 0.125]


def test_cosine_schedule_goes_from_base_to_min_and_stays():
    s = CosineLR(1.0, total_steps=100, min_lr=0.1)
    assert s.lr_at(0) == 1.0
    assert s.lr_at(50) == pytest.approx(0.55)
    assert s.lr_at(100) == pytest.approx(0.1)
    assert s.lr_at(500) == pytest.approx(0.1)


def test_step_and_cosine_schedules_match_torch():
    total = 20
    for ours, make_theirs in [
        (StepLR(0.1, 7, 0.3), lambda o: torch.optim.lr_scheduler.StepLR(o, 7, 0.3)),
        (
            CosineLR(0.1, total, 0.01),
            lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, total, 0.01),
        ),
    ]:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        sched = make_theirs(opt)
        for t in range(total + 1):
            assert ours.lr_at(t) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9), (ours, t)
            opt.step()
            sched.step()


def test_warmup_ramps_linearly_then_follows_the_shifted_schedule():
    s = WarmupLR(CosineLR(1.0, total_steps=10), warmup_steps=4)
    assert [s.lr_at(t) for t in range(5)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert s.lr_at(9) == pytest.approx(0.5)  # halfway through the cosine
    assert s.lr_at(14) == pytest.approx(0.0)
    assert WarmupLR(ConstantLR(0.3), 0).lr_at(0) == 0.3


def test_make_schedule_builds_each_name():
    assert make_schedule("constant", 0.1, 100).lr_at(99) == 0.1
    assert make_schedule("step", 1.0, 90).lr_at(30) == pytest.approx(0.1)
    assert make_schedule("cosine", 1.0, 100, min_lr=0.2).lr_at(100) == pytest.approx(0.2)
    s = make_schedule("warmup_cosine", 1.0, 100, warmup_steps=10)
    assert s.lr_at(0) < s.lr_at(9) < s.lr_at(10) == 1.0
    assert s.lr_at(100) == pytest.approx(0.0)
    assert make_schedule("warmup_cosine", 1.0, 100).warmup_steps == 5


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: ConstantLR(-0.1), "base_lr must be >= 0"),
        (lambda: StepLR(0.1, step_size=0), "step_size must be a positive integer, got 0"),
        (lambda: StepLR(0.1, step_size=5, gamma=0.0), "gamma must be > 0"),
        (lambda: CosineLR(0.1, total_steps=0), "total_steps"),
        (lambda: CosineLR(0.1, total_steps=10, min_lr=0.5), "min_lr must be <= base_lr"),
        (lambda: WarmupLR(0.1, 5), "schedule must be a Schedule"),
        (lambda: WarmupLR(ConstantLR(0.1), -1), "warmup_steps must be an integer >= 0"),
        (lambda: ConstantLR(0.1).lr_at(-1), "step must be an integer >= 0, got -1"),
        (lambda: make_schedule("linear", 0.1, 10), "unknown schedule 'linear'; known: constant"),
        (lambda: make_schedule("cosine", 0.1, 10, gamma=0.5), r"no option \['gamma'\].*min_lr"),
        (lambda: make_schedule("warmup_cosine", 0.1, 10, warmup_steps=10), "warmup_steps must"),
    ],
)
def test_bad_schedule_arguments_are_named_in_the_error(build, match):
    with pytest.raises(ConfigError, match=match):
        build()
