"""Optimisers, gradient clipping and learning-rate schedules, on NumPy.

A model's parameters are a flat dict ``name -> array``; an optimiser keeps a reference
to each array and updates it in place. Every update follows ``torch.optim`` exactly, and
an optimiser's state (``state_dict``) resumes bit for bit. See ``optimizers.py`` for the
equations, ``clipping.py`` and ``schedules.py`` for the rest.
"""

from rnnlab.optim.base import Optimizer
from rnnlab.optim.clipping import clip_grad_norm, clip_grad_value, global_norm
from rnnlab.optim.optimizers import SGD, Adagrad, Adam, AdamW, RMSprop, make_optimizer
from rnnlab.optim.schedules import (
    ConstantLR,
    CosineLR,
    Schedule,
    StepLR,
    WarmupLR,
    make_schedule,
)

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "ConstantLR",
    "CosineLR",
    "Optimizer",
    "RMSprop",
    "Schedule",
    "StepLR",
    "WarmupLR",
    "clip_grad_norm",
    "clip_grad_value",
    "global_norm",
    "make_optimizer",
    "make_schedule",
]
