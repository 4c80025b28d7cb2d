"""A minimal numpy trainer for RNN/LSTM/GRU sequence classifiers with PyTorch-identical checkpoints.

``SequenceClassifier`` (the model), ``load_model`` (our checkpoints and plain PyTorch state
dicts), ``fit`` / ``evaluate`` (training), ``Adam`` / ``SGD`` (optimisers).
"""

from graphtools.nn.classifier import SequenceClassifier, cross_entropy, load_model
from graphtools.nn.optim import SGD, Adam, clip_grad_norm
from graphtools.nn.training import Evaluation, Progress, TrainResult, evaluate, fit

__all__ = ["SequenceClassifier", "load_model", "cross_entropy", "Adam", "SGD", "clip_grad_norm",
           "fit", "evaluate", "Progress", "Evaluation", "TrainResult"]
