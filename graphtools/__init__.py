"""graphtools: expander analysis of recurrent neural network layers.

Reads RNN/LSTM/GRU checkpoints, turns every weight matrix into a bipartite
graph and measures how good an expander it is (spectral gaps, Ramanujan
checks).  See ``graphtools.analysis.analyze_checkpoint`` for the main entry.
"""

from graphtools.errors import GraphtoolsError

__version__ = "0.1.0"

__all__ = ["GraphtoolsError", "__version__"]
