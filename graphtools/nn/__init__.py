"""A minimal numpy trainer for RNN/LSTM/GRU sequence classifiers with PyTorch-identical checkpoints.

``SequenceClassifier`` (the model; ``SequenceClassifier.from_state`` builds one from a state
dict), ``load_model`` (our checkpoints and plain PyTorch state dicts), ``fit`` / ``evaluate``
(training, with ``Callback``\\ s for progress, evaluation and checkpoints), ``Adam`` / ``SGD``
(optimisers).
"""

from graphtools.nn.classifier import SequenceClassifier, cross_entropy, load_model
from graphtools.nn.optim import SGD, Adam, clip_grad_norm
from graphtools.nn.training import (
    Callback, Checkpoint, EachBatch, EachEpoch, Evaluate, Evaluation, PrintProgress, Progress, TrainResult, evaluate,
    fit,
)

__all__ = ["SequenceClassifier", "load_model", "cross_entropy", "Adam", "SGD", "clip_grad_norm",
           "fit", "evaluate", "Progress", "Evaluation", "TrainResult", "Callback", "Checkpoint", "EachBatch",
           "EachEpoch", "Evaluate", "PrintProgress"]
