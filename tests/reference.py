"""Run a torch recurrent module the way the tests compare against: packed when lengths are given."""

from __future__ import annotations

import numpy as np
import torch


def torch_run(module, x, state, lengths, d_output, d_state):
    """Forward and backward through ``module``; returns NumPy outputs and gradients.

    → dict with output, state (h or (h, c)), d_input, d_state0 and grads (torch names).
    """
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    if state is None:
        st = None
    elif isinstance(state, tuple):
        st = tuple(torch.from_numpy(s.copy()).requires_grad_(True) for s in state)
    else:
        st = torch.from_numpy(state.copy()).requires_grad_(True)
    inp = xt
    if lengths is not None:
        inp = torch.nn.utils.rnn.pack_padded_sequence(
            xt,
            torch.from_numpy(np.asarray(lengths)),
            batch_first=module.batch_first,
            enforce_sorted=False,
        )
    out, final = module(inp, st)
    if lengths is not None:
        steps = x.shape[1] if module.batch_first else x.shape[0]
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(
            out, batch_first=module.batch_first, total_length=steps
        )
    loss = (out * torch.from_numpy(d_output)).sum()
    finals = final if isinstance(final, tuple) else (final,)
    d_finals = d_state if isinstance(d_state, tuple) else (d_state,)
    for f, d in zip(finals, d_finals, strict=True):
        loss = loss + (f * torch.from_numpy(d)).sum()
    module.zero_grad()
    loss.backward()
    as_np = lambda t: t.detach().numpy().copy()  # noqa: E731
    return {
        "output": as_np(out),
        "state": tuple(as_np(f) for f in final) if isinstance(final, tuple) else as_np(final),
        "d_input": as_np(xt.grad),
        "d_state0": None
        if st is None
        else (tuple(as_np(s.grad) for s in st) if isinstance(st, tuple) else as_np(st.grad)),
        "grads": {name: as_np(p.grad) for name, p in module.named_parameters()},
    }
